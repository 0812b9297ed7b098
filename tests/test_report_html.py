"""Tests of the HTML certificate page, on realistic synthetic certificates.

The builders below make certificates shaped like the verify pipeline's output
for the Song et al. (2000) network (1000 inputs onto one neuron, so 1001 state
variables). The numbers are invented but consistent with each other
(alpha = beta / lambda_max(P), kappa = lambda_max / lambda_min).
"""

from __future__ import annotations

import hashlib
import html as html_module
import re

import numpy as np
import pytest

from biosynapse_verify.report import (
    CERTIFICATE_FORMAT,
    MEAN_FIELD_SENTENCE,
    CertificateFormatError,
    plot_decay_rates,
    plot_distance,
    plot_spectrum,
    plot_weight_histograms,
    render_html,
)

N_INPUTS = 1000


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sample_certificate(verdict: str = "certified") -> dict:
    """Build a full certificate dict for the given verdict."""
    beta, lambda_max = 0.00412, 10.3
    certificate = {
        "format": dict(CERTIFICATE_FORMAT),
        "network": "song2000",
        "verdict": verdict,
        "equilibrium": {
            "kind": "interior",
            "residual_norm": 3.1e-13,
            "newton_iterations": 6,
        },
        "ladder": [
            {
                "strategy": "identity",
                "applied": True,
                "result": "failed",
                "reason": "symmetric part of A has eigenvalue +0.85 1/s, from the "
                "rate-weight coupling",
                "seconds": 0.21,
            },
            {
                "strategy": "diagonal",
                "applied": True,
                "result": "succeeded",
                "reason": "comparison matrix of A is Hurwitz; P from one sparse solve",
                "seconds": 0.0043,
            },
            {
                "strategy": "block_diagonal",
                "applied": False,
                "result": "not run",
                "reason": "an earlier strategy succeeded",
                "seconds": 0.0,
            },
        ],
        "calibration": {
            "transfer_function": "LIF rate, fitted to 24 drive levels",
            "rms_error": 0.41,
            "max_error": 1.2,
        },
        "simulation": {
            "backend": "torch",
            "seeds": list(range(8)),
            "duration": 600.0,
            "wall_time": 84.2,
            "rates": {"input_mean": 10.0, "output_mean": 14.8, "output_std": 1.2},
            "weights": {
                "mean": 0.0021,
                "fraction_near_0": 0.02,
                "fraction_near_w_max": 0.0,
                "w_max": 0.015,
            },
            "bimodality": {"coefficient": 0.31, "bimodal": False},
        },
        "decay": {
            "labels": ["sum of weights", "slowest weight mode", "rate"],
            "predicted": [0.0412, 0.00412, 100.0],
            "measured": [0.0398, 0.0047, 96.1],
        },
        "versions": {
            "package": "0.1.0",
            "python": "3.11.2",
            "numpy": "2.2.6",
            "scipy": "1.15.3",
            "torch": "2.13.0",
            "cvxpy": "1.6.5",
            "scs": "3.2.7",
            "flint": "0.7.1",
        },
        "tolerances": {
            "newton_residual": {
                "value": 1e-10,
                "justification": "far below the 1e-6 rate resolution of the simulation",
            },
            "check_margin": {"value": 0.0, "justification": "strict inequality"},
        },
        "hashes": {"spec": _sha("spec"), "A": _sha("A")},
        "timings": {
            "simulate": 84.2,
            "equilibrium": 0.8,
            "certify": 0.21,
            "check": 0.012,
        },
    }
    if verdict == "certified":
        certificate["claim"] = (
            "The interior equilibrium of the mean-field learning dynamics of "
            "song2000 (1001 states) is exponentially stable with decay rate "
            "alpha = 4.0e-4 1/s."
        )
        certificate["certificate"] = {
            "method": "diagonal",
            "beta": beta,
            "lambda_min_P": 1.0,
            "lambda_max_P": lambda_max,
            "alpha": beta / lambda_max,
            "kappa": lambda_max,
            "bound": "||x(t) - x*|| <= sqrt(kappa) exp(-alpha t) ||x(0) - x*||",
        }
        certificate["check"] = {
            "method": "interval Gershgorin with outward rounding",
            "valid": True,
            "margin": 2.7e-4,
            "reason": "all 1001 rows strictly diagonally dominant",
            "seconds": 0.012,
        }
    elif verdict == "refuted":
        certificate["network"] = "song2000_additive"
        certificate["claim"] = (
            "The interior equilibrium of the mean-field learning dynamics of "
            "song2000_additive is unstable: A has 999 eigenvalues with positive "
            "real part (weight competition)."
        )
        certificate["ladder"] = []
        certificate["refutation"] = {
            "n_unstable": N_INPUTS - 1,
            "leading_eigenvalues": [[0.00231, 0.0]] * 14,
            "modes": [
                {
                    "index": 1,
                    "description": "weight difference, sum of weights unchanged",
                    "participation": 0.5,
                },
                {"index": 2, "description": "weight difference", "participation": 0.33},
            ],
            "growth_rate_lower": 0.00229,
        }
        certificate["check"] = {
            "method": "eigenvalue enclosure (arb ball arithmetic)",
            "valid": True,
            "margin": 0.00229,
            "reason": "enclosure of Re(lambda) is [0.00229, 0.00233]",
            "seconds": 1.7,
        }
    else:
        certificate["claim"] = (
            "No certificate was found and no instability was proved for the "
            "mean-field learning dynamics of song2000."
        )
        certificate["ladder"][1]["result"] = "failed"
        certificate["ladder"][1]["reason"] = "comparison matrix of A is not Hurwitz"
        certificate["ladder"][2].update(
            applied=True, result="failed", reason="SCS reached its iteration limit"
        )
    return certificate


def sample_figures(verdict: str = "certified", seed: int = 0) -> dict[str, bytes]:
    """Build the four report figures from synthetic data."""
    # Spectrum: 999 slow weight modes (stable or not), one slow and one fast rate mode.
    rng = np.random.default_rng(seed)
    sign = -1.0 if verdict == "certified" else 1.0
    eigenvalues = np.concatenate(
        [
            sign * rng.uniform(0.002, 0.05, N_INPUTS - 1)
            + 1j * rng.normal(0, 1e-4, N_INPUTS - 1),
            [-0.04, -100.0],
        ]
    )

    # Weights of 4 seeds drift from uniform to one mode (certified) or to both bounds.
    times = np.linspace(0.0, 600.0, 61)
    w_max = 0.015
    start = rng.uniform(0, w_max, (4, 1, N_INPUTS))
    target = 0.4 * w_max if verdict == "certified" else w_max * (start > 0.5 * w_max)
    blend = 1.0 - np.exp(-times / 150.0)[None, :, None]
    weights = np.clip(
        start
        + (target - start) * blend
        + rng.normal(0, 0.05 * w_max, (4, times.size, N_INPUTS)),
        0,
        w_max,
    )

    # Distances of 8 seeds decay at alpha, under the bound sqrt(kappa) e^(-alpha t) d0.
    alpha, kappa = 0.004, 10.3
    distance = np.exp(-alpha * times)[None, :] * rng.uniform(0.5, 1.0, (8, 1))
    distance *= np.exp(rng.normal(0, 0.05, distance.shape))
    bound = np.sqrt(kappa) * np.exp(-alpha * times) * distance[:, 0].max()

    return {
        "spectrum": plot_spectrum(eigenvalues, title="Eigenvalues of A"),
        "weights": plot_weight_histograms(times, weights, 0.0, w_max, title="Weights"),
        "distance": plot_distance(times, distance, bound, title="Distance to x*"),
        "decay": plot_decay_rates(
            [0.0412, 0.00412, 100.0], [0.0398, 0.0047, 96.1], ["sum", "slowest", "rate"]
        ),
    }


@pytest.fixture(scope="module")
def figures() -> dict[str, bytes]:
    return sample_figures()


def _visible_text(page: str) -> str:
    """Return the page's text with tags removed and entities decoded."""
    body = page.split("<body>", 1)[1]
    return html_module.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


@pytest.mark.parametrize(
    ("verdict", "css_class", "title"),
    [
        ("certified", "banner certified", "Certified stable"),
        ("refuted", "banner refuted", "Refuted: unstable"),
        ("inconclusive", "banner inconclusive", "Inconclusive"),
    ],
)
def test_banner_per_verdict(verdict, css_class, title, figures):
    certificate = sample_certificate(verdict)
    page = render_html(certificate, figures)
    assert f'class="{css_class}"' in page
    assert title in page
    text = _visible_text(page)
    assert certificate["claim"] in text
    assert MEAN_FIELD_SENTENCE in text


def test_mean_field_sentence_exact():
    assert MEAN_FIELD_SENTENCE == (
        "The certificate is for the averaged (mean-field) learning dynamics; "
        "the simulation is evidence for the spiking network."
    )


def test_certified_numbers_shown(figures):
    certificate = sample_certificate("certified")
    text = _visible_text(render_html(certificate, figures))
    assert "0.00412" in text  # beta
    assert "10.3" in text  # lambda_max(P)
    assert f"{0.00412 / 10.3:.6g}" in text  # alpha
    assert "interval Gershgorin with outward rounding" in text
    assert "0.00027" in text  # check margin
    assert "sqrt(kappa) exp(-alpha t)" in text
    assert f"≤ {np.sqrt(10.3):.6g} · exp(−0.0004 t / s)" in text


def test_ladder_names_winner(figures):
    page = render_html(sample_certificate("certified"), figures)
    text = _visible_text(page)
    assert "Strategy diagonal succeeded after 1 cheaper strategy (identity)" in text
    assert "rate-weight coupling" in text
    winner_rows = re.findall(r'<tr class="winner">\s*<td>([^<]*)</td>', page)
    assert winner_rows == ["diagonal"]


def test_ladder_without_success(figures):
    text = _visible_text(render_html(sample_certificate("inconclusive"), figures))
    assert "None of the 3 strategies produced a certificate." in text
    assert "SCS reached its iteration limit" in text


def test_refutation_evidence_shown(figures):
    page = render_html(sample_certificate("refuted"), figures)
    text = _visible_text(page)
    assert "Refutation evidence" in text
    assert "999" in text
    assert "0.00231" in text
    assert "weight difference, sum of weights unchanged" in text
    assert '<table class="records">' in page  # modes: one row per mode
    assert "2 more in certificate.json" in text  # 14 eigenvalues, 12 shown


def test_refuted_without_evidence_says_so():
    certificate = sample_certificate("refuted")
    del certificate["refutation"]
    text = _visible_text(render_html(certificate, {}))
    assert "records no refutation evidence" in text


def test_certified_has_no_refutation_section(figures):
    page = render_html(sample_certificate("certified"), figures)
    assert 'id="refutation"' not in page


def test_figures_embedded_as_data_uris(figures):
    page = render_html(sample_certificate(), figures)
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == 4
    assert all(src.startswith("data:image/png;base64,") for src in sources)


def test_page_loads_nothing_external(figures):
    page = render_html(sample_certificate(), figures)
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:|//)", page, re.IGNORECASE)
    assert "url(" not in page
    assert "@import" not in page


def test_versions_hashes_tolerances_shown(figures):
    certificate = sample_certificate()
    text = _visible_text(render_html(certificate, figures))
    assert certificate["hashes"]["spec"] in text
    assert certificate["hashes"]["A"] in text
    assert "2.13.0" in text
    assert "far below the 1e-6 rate resolution" in text
    assert "biosynapse-verify check certificate.json" in text


def test_calibration_and_simulation_shown(figures):
    text = _visible_text(render_html(sample_certificate(), figures))
    assert "RMS error of the fit (Hz)" in text
    assert "0.41" in text
    assert "torch" in text
    assert "fraction near w max" in text
    assert "96.1" in text  # measured decay rate


def test_text_is_escaped():
    certificate = sample_certificate()
    certificate["network"] = "<script>alert(1)</script>"
    certificate["claim"] = "x < y & <b>bold</b>"
    certificate["check"]["reason"] = "<img src=x onerror=alert(1)>"
    page = render_html(certificate, {})
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page
    assert "<b>bold</b>" not in page
    assert "<img src=x" not in page


def test_minimal_certificate_renders():
    minimal = {
        "format": dict(CERTIFICATE_FORMAT),
        "network": "tiny",
        "verdict": "inconclusive",
        "hashes": {"spec": _sha("tiny")},
        "versions": {"package": "0.1.0", "python": "3.11"},
    }
    text = _visible_text(render_html(minimal, {}))
    assert "No claim recorded" in text
    assert text.count("Not recorded in this certificate.") >= 6
    assert "No arrays stored with this certificate." in text


def test_unknown_fields_still_shown():
    certificate = sample_certificate()
    certificate["forgetting"] = {"epochs": [1, 2], "rate": 0.12}
    certificate["check"]["new_field"] = "kept"
    text = _visible_text(render_html(certificate, {}))
    assert "Other recorded fields" in text
    assert "forgetting" in text
    assert "0.12" in text
    assert "new field" in text
    assert "kept" in text


def test_long_lists_truncated():
    certificate = sample_certificate()
    certificate["simulation"]["rates"] = [float(i) for i in range(1000)]
    text = _visible_text(render_html(certificate, {}))
    assert "988 more in certificate.json" in text
    assert "999.0" not in text


def test_non_png_figure_rejected():
    with pytest.raises(ValueError, match=r"figures\['spectrum'\]: expected PNG bytes"):
        render_html(sample_certificate(), {"spectrum": b"GIF89a..."})


def test_invalid_core_key_rejected():
    certificate = sample_certificate()
    certificate["verdict"] = "probably fine"
    with pytest.raises(CertificateFormatError, match="verdict"):
        render_html(certificate, {})


def test_render_is_deterministic(figures):
    certificate = sample_certificate()
    assert render_html(certificate, figures) == render_html(certificate, figures)


def test_pdf_renders_with_weasyprint(figures):
    weasyprint = pytest.importorskip("weasyprint")
    page = render_html(sample_certificate("refuted"), figures)
    document = weasyprint.HTML(string=page).render()
    assert 2 <= len(document.pages) <= 12
    pdf = document.write_pdf()
    assert pdf.startswith(b"%PDF")


def pipeline_style_certificate() -> dict:
    """Build a certificate shaped like the verify pipeline's record.

    The ladder is an object with ``attempts`` that carry a ``succeeded``
    flag, the refutation lists ``eigenvalues_near_axis``, the package version
    is stored under "biosynapse-verify", and the spec is included.
    """
    certificate = sample_certificate("refuted")
    certificate["versions"] = {"biosynapse-verify": "0.1.0", "python": "3.11.2"}
    certificate["reason"] = "Proven by exact: Q is positive definite."
    certificate["scope"] = MEAN_FIELD_SENTENCE
    certificate["source"] = "Song, Miller & Abbott (2000) Nat. Neurosci. 3:919-926"
    certificate["spec"] = {"name": "song2000_additive", "inputs": [{"size": 1000}]}
    certificate["ladder"] = {
        "status": "instability",
        "reason": "no strategy found a certificate; A has unstable eigenvalues",
        "attempts": [
            {
                "strategy": "identity",
                "applied": True,
                "succeeded": False,
                "reason": "symmetric part not negative definite",
                "seconds": 0.000250871,
            },
            {
                "strategy": "diagonal",
                "applied": False,
                "succeeded": False,
                "reason": "A is not Hurwitz",
                "seconds": 0.0,
            },
        ],
        "options": {"sdp_max_n": 150},
    }
    certificate["refutation"] = {
        "n_unstable": 999,
        "eigenvalues_near_axis": [[0.00231, 0.0], [-0.04, 0.0]],
        "modes": [
            {
                "eigenvalue": [0.00231, 0.0],
                "classification": "real",
                "top_entries": [{"index": 3, "magnitude": 0.7}],
            }
        ],
        "chetaev": {"gamma": 0.001, "details": {"deep": {"deeper": {"x": 1}}}},
        "summary": "999 eigenvalues with Re > 0",
    }
    return certificate


def test_pipeline_ladder_object():
    page = render_html(pipeline_style_certificate(), {})
    text = _visible_text(page)
    assert "None of the 2 strategies produced a certificate." in text
    assert "not applicable" in text
    assert "failed" in text
    assert "0.000251" in text  # seconds shown to 3 significant digits
    assert "sdp max n" in text
    assert "no strategy found a certificate" in text


def test_pipeline_refutation_pairs_in_table():
    page = render_html(pipeline_style_certificate(), {})
    rows = re.findall(
        r'<tr><td class="num">(\d+)</td><td class="num">([^<]*)</td>', page
    )
    assert rows == [("1", "0.00231"), ("2", "-0.04")]
    assert "999 eigenvalues with Re &gt; 0" in page


def test_deep_nesting_shown_as_json():
    page = render_html(pipeline_style_certificate(), {})
    assert '<code class="json">' in page
    assert "{&#34;deeper&#34;: {&#34;x&#34;: 1}}" in page


def test_banner_shows_reason_and_source():
    text = _visible_text(render_html(pipeline_style_certificate(), {}))
    assert "Reason: Proven by exact: Q is positive definite." in text
    assert "Model source: Song, Miller & Abbott (2000)" in text
    assert text.count(MEAN_FIELD_SENTENCE) == 1  # scope equal to it is not repeated


def test_spec_appendix_shown():
    text = _visible_text(render_html(pipeline_style_certificate(), {}))
    assert "Appendix: network spec as validated" in text
    assert '"name": "song2000_additive"' in text


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("weights_feedforward", "Weights: feedforward"),
        ("decay_rates", "Decay rates"),
        ("spectrum", "Spectrum of A"),
        ("raster", "raster"),
    ],
)
def test_figure_titles_by_name(figures, name, title):
    page = render_html(sample_certificate(), {name: figures["decay"]})
    assert f"<strong>{title}.</strong>" in page


def test_figures_ordered_by_kind(figures):
    named_figures = {
        "raster": figures["decay"],
        "decay_rates": figures["decay"],
        "weights_ff": figures["weights"],
        "spectrum": figures["spectrum"],
    }
    page = render_html(sample_certificate(), named_figures)
    order = re.findall(r'<figure id="figure-([^"]+)">', page)
    assert order == ["spectrum", "weights_ff", "decay_rates", "raster"]


def test_mode_entries_on_one_line():
    certificate = pipeline_style_certificate()
    certificate["refutation"]["modes"][0]["top_entries"] = [
        {"index": 3, "magnitude": 0.70710678},
        {"index": 12, "magnitude": 0.5},
    ]
    page = render_html(certificate, {})
    assert "largest entries (index: magnitude)" in _visible_text(page)
    # No-break spaces keep each index with its magnitude.
    assert "3:\u00a00.707, 12:\u00a00.5" in page


def test_nested_object_gets_full_width():
    certificate = pipeline_style_certificate()
    certificate["check"] = {
        "details": {"Q": {"details": {"attempts": 2}, "method": "exact"}}
    }
    page = render_html(certificate, {})
    assert '<tr class="short"><th colspan="2">details</th></tr>' in page
    assert '<tr class="short"><th colspan="2">Q</th></tr>' in page
    # An object without objects inside stays beside its label.
    assert "<tr><th>details</th><td>" in page
