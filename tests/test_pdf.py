"""PDF certificates: every page readable at 100% zoom, with figures and derivations."""

from __future__ import annotations

import importlib.util
import itertools
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from biosynapse_verify.report import (
    decay_rate_figure,
    distance_figure,
    plot_decay_rates,
    plot_distance,
    plot_spectrum,
    plot_weight_histograms,
    render_html,
)
from biosynapse_verify.report.derivations import (
    load_derivations,
    math_pieces,
    select_derivations,
)
from biosynapse_verify.testing import (
    REFERENCE_TRANSFER,
    certify_mean_field,
    feedforward_spec,
)

weasyprint = pytest.importorskip("weasyprint")
from weasyprint.formatting_structure import boxes  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
# Smallest type that reads comfortably on paper at 100% zoom (in CSS px,
# 96 per inch): 7 pt.
MIN_FONT_PX = 7.0 * 96.0 / 72.0
# Layout positions are floats; half a CSS pixel is below what a reader sees.
LAYOUT_SLACK_PX = 0.5


def _figures(A: object, rng: np.random.Generator) -> dict[str, bytes]:
    """Figures like the pipeline's, drawn from the Jacobian and synthetic runs."""
    times = np.linspace(0.0, 20.0, 201)
    weights = np.clip(
        0.3
        + 0.1
        * rng.standard_normal((2, times.size, 10))
        * np.exp(-times / 5)[None, :, None],
        0.0,
        0.6,
    )
    distance = 3.0 * np.exp(-0.3 * times)[None, :] + 0.05 * rng.random((2, times.size))
    bound = 1e4 * np.exp(-0.001 * times)
    return {
        "weights_feedforward": plot_weight_histograms(
            times,
            weights,
            0.0,
            0.6,
            title="Weights of feedforward over time (all seeds)",
        ),
        "spectrum": plot_spectrum(
            np.linalg.eigvals(A.toarray()), title="Spectrum of A"
        ),
        "distance": plot_distance(
            times,
            distance,
            bound,
            title="Weight distance ||u(t) - u*|| (fractions of w_max) and the certified bound",
        ),
        "decay_rates": plot_decay_rates(
            [0.59, 0.0005],
            [0.2, 0.2],
            ["slowest eigenvalue of A", "certified rate alpha"],
        ),
    }


def _page(spec: object, tmp_path: Path, figure_names: tuple[str, ...]) -> str:
    outcome = certify_mean_field(spec, {"post": REFERENCE_TRANSFER}, out_dir=tmp_path)
    figures = _figures(outcome.A, np.random.default_rng(0))
    return render_html(
        outcome.certificate, {name: figures[name] for name in figure_names}
    )


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    certified = feedforward_spec(name="pdf_certified", n_inhibitory=3)
    refuted = feedforward_spec(name="pdf_refuted", rule="power_law")
    every_figure = ("weights_feedforward", "spectrum", "distance", "decay_rates")
    return {
        "certified": _page(
            certified, tmp_path_factory.mktemp("certified"), every_figure
        ),
        "refuted": _page(refuted, tmp_path_factory.mktemp("refuted"), ("spectrum",)),
    }


@pytest.fixture(scope="module")
def documents(pages: dict[str, str]) -> dict[str, object]:
    return {name: weasyprint.HTML(string=page).render() for name, page in pages.items()}


def _content_boxes(page: object) -> list[object]:
    """Boxes of the document body on one page (the footer's margin boxes excluded)."""
    root = page._page_box.children[0]
    return [root, *root.descendants()]


def _content_limits(page: object) -> tuple[float, float]:
    page_box = page._page_box
    left = page_box.content_box_x()
    return left, left + page_box.width


def _rectangle(box: object) -> tuple[float, float, float, float]:
    """Return the border box (x, y, width, height): what is drawn, without margins."""
    return (
        box.border_box_x(),
        box.border_box_y(),
        box.border_width(),
        box.border_height(),
    )


# ------------------------------------------------------------------ layout
@pytest.mark.parametrize("name", ["certified", "refuted"])
def test_no_box_crosses_page_margins(documents: dict, name: str) -> None:
    for number, page in enumerate(documents[name].pages, start=1):
        left, right = _content_limits(page)
        for box in _content_boxes(page):
            if not hasattr(box, "position_x") or box.width is None:
                continue
            x, _, width, _ = _rectangle(box)
            described = (
                f"page {number}: {type(box).__name__} {getattr(box, 'text', '')[:40]!r}"
            )
            assert x >= left - LAYOUT_SLACK_PX, described
            assert x + width <= right + LAYOUT_SLACK_PX, described


@pytest.mark.parametrize("name", ["certified", "refuted"])
def test_text_is_at_least_7pt(documents: dict, name: str) -> None:
    for number, page in enumerate(documents[name].pages, start=1):
        for box in _content_boxes(page):
            if isinstance(box, boxes.TextBox) and box.text.strip():
                size = box.style["font_size"]
                assert size >= MIN_FONT_PX, (
                    f"page {number}: {box.text[:40]!r} is {size} px"
                )


def _overlap(first: tuple, second: tuple) -> bool:
    ax, ay, aw, ah = first
    bx, by, bw, bh = second
    return (
        min(ax + aw, bx + bw) - max(ax, bx) > LAYOUT_SLACK_PX
        and min(ay + ah, by + bh) - max(ay, by) > LAYOUT_SLACK_PX
    )


@pytest.mark.parametrize("name", ["certified", "refuted"])
def test_text_and_images_never_overlap(documents: dict, name: str) -> None:
    for number, page in enumerate(documents[name].pages, start=1):
        drawn = [
            box
            for box in _content_boxes(page)
            if (isinstance(box, boxes.TextBox) and box.text.strip())
            or isinstance(box, boxes.ReplacedBox)
        ]
        for first, second in itertools.combinations(drawn, 2):
            assert not _overlap(_rectangle(first), _rectangle(second)), (
                f"page {number}: {getattr(first, 'text', 'image')[:30]!r} overlaps "
                f"{getattr(second, 'text', 'image')[:30]!r}"
            )


def test_images_fit_one_page(documents: dict) -> None:
    page = documents["certified"].pages[0]
    height = page._page_box.height
    images = [
        box
        for page in documents["certified"].pages
        for box in _content_boxes(page)
        if isinstance(box, boxes.ReplacedBox)
    ]
    assert len(images) >= 4
    for image in images:
        assert image.margin_height() <= height


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs pdftoppm (poppler)")
def test_first_page_rasterizes(documents: dict, tmp_path: Path) -> None:
    pdf = tmp_path / "certificate.pdf"
    pdf.write_bytes(documents["refuted"].write_pdf())
    assert pdf.read_bytes().startswith(b"%PDF")
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "40",
            "-png",
            "-f",
            "1",
            "-l",
            "1",
            str(pdf),
            str(tmp_path / "page"),
        ],
        check=True,
    )
    from PIL import Image

    image = np.asarray(Image.open(next(tmp_path.glob("page*.png"))).convert("L"))
    assert image.shape[0] > image.shape[1]
    assert (image < 128).mean() > 0.005, "the first page is blank"


# --------------------------------------------------------------- derivations
def test_certified_appendix_lists_model_derivations(pages: dict) -> None:
    page = pages["certified"]
    for name in ("window_integrals", "jacobian_entries", "multiplicative_fixed_point"):
        assert f'id="derivation-{name}"' in page
    assert 'id="derivation-chetaev_instability"' not in page
    assert '<img class="formula"' in page


def test_refuted_appendix_lists_chetaev(pages: dict) -> None:
    assert 'id="derivation-chetaev_instability"' in pages["refuted"]


def test_relied_on_derivations_follow_certificate() -> None:
    certificate = {
        "verdict": "refuted",
        "hashes": {"A": "0" * 64},
        "spec": {"projections": [{"plasticity": {"rule": "additive"}}]},
        "check": {"claim": "unstable", "details": {"Q": {"method": "exact-residual"}}},
        "simulation": {"backend": "torch"},
    }
    names = [entry["name"] for entry in select_derivations(certificate)]
    assert names == [
        "window_integrals",
        "trace_stdp_closed_form",
        "jacobian_entries",
        "multiplicative_fixed_point",
        "exact_residual_check",
        "chetaev_instability",
    ]
    assert all(entry["why"] for entry in select_derivations(certificate))


def test_recorded_derivations_are_kept() -> None:
    recorded = [{"name": "custom", "title": "t", "latex": "x", "why": "w"}]
    assert select_derivations({"derivations": recorded}) == recorded


def test_matrix_falls_back_to_source() -> None:
    latex = r"\Lambda = \begin{pmatrix}a & b\\ c & d\end{pmatrix} \succ 0"
    (piece,) = math_pieces(latex)
    assert piece.uri is None
    assert piece.latex == latex
    assert piece.problem.startswith("mathtext cannot parse it")


def test_simple_formula_drawn_as_image() -> None:
    (piece,) = math_pieces(r"x^\top M x \ge (\delta - \|E\|_\infty)\|x\|^2")
    assert piece.uri.startswith("data:image/png;base64,")
    assert 0 < piece.width_pt < 7.0 * 72


def test_formula_split_at_line_breaks() -> None:
    pieces = math_pieces(r"a = 1,\\ b = \frac{1}{2},\quad c = 3")
    assert [piece.latex for piece in pieces] == ["a = 1", r"b = \frac{1}{2}", "c = 3"]


def _proof_names() -> tuple[str, ...]:
    """Return proofs/run_all.py's PROOF_NAMES without running any proof."""
    name = "proofs.run_all"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, REPO_ROOT / "proofs" / "run_all.py"
        )
        runner = importlib.util.module_from_spec(spec)
        # dataclasses look the module up in sys.modules while it executes.
        sys.modules[name] = runner
        spec.loader.exec_module(runner)
    return sys.modules[name].PROOF_NAMES


def test_stored_derivations_cover_every_proof() -> None:
    stored = load_derivations()
    assert tuple(stored) == _proof_names()
    for entry in stored.values():
        assert entry["title"].strip()
        assert entry["latex"].strip()


@pytest.mark.slow
def test_stored_derivations_match_proofs(tmp_path: Path) -> None:
    from biosynapse_verify.report.derivations import write_derivations

    path = write_derivations(path=tmp_path / "derivations.json")
    import json

    fresh = {
        entry["name"]: entry for entry in json.loads(path.read_text())["derivations"]
    }
    for name, entry in load_derivations().items():
        assert fresh[name]["title"] == entry["title"], name
        assert fresh[name]["latex"] == entry["latex"], name
        assert fresh[name]["assumptions"] == entry["assumptions"], name


# ------------------------------------------------------------------- figures
def _pixel_box(artist: object, renderer: object) -> object:
    return artist.get_window_extent(renderer)


def test_distance_legend_and_note_clear_of_axes() -> None:
    times = np.linspace(0.0, 20.0, 101)
    distance = np.vstack([3.0 * np.exp(-0.3 * times), 2.0 * np.exp(-0.2 * times)])
    figure = distance_figure(times, distance, 1e4 * np.exp(-1e-3 * times), title="d")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw_without_rendering()
    boxes_by_name = {
        "axes": figure.axes[0].get_window_extent(renderer),
        "legend": _pixel_box(figure.axes[0].get_legend(), renderer),
        "title": _pixel_box(figure.axes[0].title, renderer),
        "x label": _pixel_box(figure.axes[0].xaxis.label, renderer),
    }
    (note,) = [text for text in figure.texts if "exceed the bound" in text.get_text()]
    boxes_by_name["note"] = _pixel_box(note, renderer)
    for first, second in itertools.combinations(boxes_by_name, 2):
        assert not boxes_by_name[first].overlaps(boxes_by_name[second]), (first, second)


def test_decay_labels_stay_inside_axes() -> None:
    figure = decay_rate_figure(
        [0.59, 0.0005], [0.2, 0.2], ["slowest eigenvalue of A", "certified rate alpha"]
    )
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw_without_rendering()
    axes_box = _pixel_box(figure.axes[0], renderer)
    for label in figure.axes[0].texts:
        box = _pixel_box(label, renderer)
        assert axes_box.x0 <= box.x0, label.get_text()
        assert box.x1 <= axes_box.x1, label.get_text()


@pytest.mark.parametrize(
    ("predicted", "measured"),
    [
        ([0.597028, 0.525049], [0.260401, 0.260401]),  # vanrossum2000's report
        ([0.05, 0.08, 0.11], [0.9, 0.9, 0.9]),  # left-aligned, stacked downwards
    ],
)
def test_decay_labels_never_overlap(predicted: list, measured: list) -> None:
    labels = ["slowest eigenvalue of A", "certified rate alpha", "third rate"]
    figure = decay_rate_figure(predicted, measured, labels[: len(predicted)])
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw_without_rendering()
    texts = figure.axes[0].texts
    assert len(texts) == len(predicted)
    for first, second in itertools.combinations(texts, 2):
        # The white box behind the text; the annotation's own extent also
        # covers its leader line.
        first_box = _pixel_box(first.get_bbox_patch(), renderer)
        second_box = _pixel_box(second.get_bbox_patch(), renderer)
        assert not first_box.overlaps(second_box), (
            first.get_text(),
            second.get_text(),
        )
