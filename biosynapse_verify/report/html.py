"""Render a certificate as one self-contained HTML page, and optionally as PDF.

The page embeds its figures as base64 PNG data URIs and its CSS inline, and
loads nothing from elsewhere, so it can be archived or mailed as one file.
It uses no JavaScript, and its print CSS lays it out for A4, so WeasyPrint
turns it into a PDF unchanged.

Sections the pipeline did not record are shown as "not recorded" or left
out. Keys the page does not know are still shown under their own names, so
a newer pipeline never has fields hidden from the reader.
"""

from __future__ import annotations

import base64
import logging
import math
from collections.abc import Mapping
from typing import Any

import jinja2

from biosynapse_verify.report.certificate import to_json_value, validate_certificate

__all__ = ["MEAN_FIELD_SENTENCE", "render_html", "render_pdf"]

logger = logging.getLogger(__name__)

MEAN_FIELD_SENTENCE = (
    "The certificate is for the averaged (mean-field) learning dynamics; "
    "the simulation is evidence for the spiking network."
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Significant digits shown on the page. certificate.json keeps every bit.
DISPLAY_DIGITS = 6
# Longer lists are cut on the page, with a pointer to certificate.json.
MAX_LIST_ITEMS = 12
# Ladder results that mean the strategy produced a certificate.
SUCCESS_RESULTS = frozenset({"succeeded", "success", "certified", "found", "valid"})

VERDICT_TITLES = {
    "certified": "Certified stable",
    "refuted": "Refuted: unstable",
    "inconclusive": "Inconclusive",
}
FIGURE_CAPTIONS = {
    "spectrum": "Eigenvalues of the Jacobian A at the equilibrium. Red points "
    "have positive real part; the shaded half-plane is unstable.",
    "weights": "Weight distribution in simulation: histograms at several times "
    "(all seeds pooled) and the distribution over time.",
    "distance": "Distance of each simulated seed from the equilibrium beside the "
    "certified bound √κ e^(−αt) ‖x(0) − x*‖ of the mean-field dynamics.",
    "decay": "Decay rates predicted by the mean-field Jacobian against those "
    "measured in simulation.",
}
FIGURE_TITLES = {
    "spectrum": "Spectrum of A",
    "weights": "Weights",
    "distance": "Convergence to the equilibrium",
    "decay": "Decay rates",
}

# Section key -> (heading, [(field key, label)]). Fields not listed are shown
# after the listed ones, under their own key.
SECTIONS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "certificate": (
        "Lyapunov certificate",
        [
            ("method", "search method"),
            ("beta", "β in dV/dt ≤ −β ‖x − x*‖² (1/s)"),
            ("lambda_min_P", "λ_min(P) (normalised to ≥ 1)"),
            ("lambda_max_P", "λ_max(P)"),
            ("alpha", "decay rate α = β / λ_max(P) (1/s)"),
            ("decay_rate", "decay rate α = β / λ_max(P) (1/s)"),
            ("kappa", "condition number κ(P) = λ_max / λ_min"),
            ("bound", "bound"),
            ("bound_formula", "bound"),
        ],
    ),
    "check": (
        "Rigorous check",
        [
            ("method", "method"),
            ("valid", "valid"),
            ("margin", "margin"),
            ("reason", "reason"),
            ("seconds", "time (s)"),
        ],
    ),
    "equilibrium": (
        "Equilibrium",
        [("kind", "kind"), ("residual_norm", "residual ‖F(x*)‖")],
    ),
    "calibration": (
        "Rate calibration of the transfer function φ",
        [
            ("transfer_function", "transfer function"),
            ("fit", "fit"),
            ("rms_error", "RMS error of the fit (Hz)"),
        ],
    ),
    "simulation": (
        "Simulation summary",
        [
            ("backend", "backend"),
            ("seeds", "seeds"),
            ("duration", "simulated time per seed (s)"),
            ("wall_time", "wall-clock time (s)"),
            ("rates", "firing rates (Hz)"),
            ("weights", "weights"),
            ("bimodality", "bimodality"),
        ],
    ),
}
# Top-level keys that have their own place on the page.
PLACED_KEYS = frozenset(
    {
        "format",
        "network",
        "verdict",
        "claim",
        "refutation",
        "ladder",
        "decay",
        "versions",
        "tolerances",
        "hashes",
        "timings",
        "arrays",
        "recheck",
    }
    | set(SECTIONS)
)


def render_html(certificate: Mapping[str, Any], figures: Mapping[str, bytes]) -> str:
    """Render ``certificate`` and ``figures`` as one self-contained HTML page.

    Parameters
    ----------
    certificate : Mapping
        The certificate, as for :func:`write_certificate_json`. Its core keys
        are validated; every other section is optional.
    figures : Mapping[str, bytes]
        PNG images by name. The names ``spectrum``, ``weights``, ``distance``
        and ``decay`` get a caption and come first; others follow in order.

    Returns
    -------
    str
        The HTML document.

    Raises
    ------
    CertificateFormatError
        If a core key of ``certificate`` is missing or invalid.
    ValueError
        If a figure is not PNG data.
    """
    plain = to_json_value(certificate)
    validate_certificate(plain)
    context = {
        "cert": plain,
        "verdict": plain["verdict"],
        "verdict_title": VERDICT_TITLES[plain["verdict"]],
        "mean_field_sentence": MEAN_FIELD_SENTENCE,
        "sections": {key: _section_view(key, plain) for key in SECTIONS},
        "ladder": _ladder_view(plain.get("ladder")),
        "refutation": _refutation_view(plain.get("refutation")),
        "decay_rows": _decay_rows(plain.get("decay")),
        "tolerance_rows": _tolerance_rows(plain.get("tolerances")),
        "figures": _figure_views(figures),
        "other": {k: v for k, v in sorted(plain.items()) if k not in PLACED_KEYS},
    }
    return _environment().get_template("certificate.html.j2").render(**context)


def render_pdf(html: str) -> bytes:
    """Return the PDF of a page from :func:`render_html`, made with WeasyPrint.

    Raises
    ------
    ImportError
        If WeasyPrint is not installed; install the ``pdf`` extra.
    """
    try:
        import weasyprint
    except ImportError as err:
        raise ImportError(
            "PDF output needs WeasyPrint, which is not installed; run "
            "`pip install 'biosynapse-verify[pdf]'` or write HTML only"
        ) from err
    return weasyprint.HTML(string=html).write_pdf()


def _environment() -> jinja2.Environment:
    """Build the Jinja2 environment: autoescape on, undefined names raise."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("biosynapse_verify.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["num"] = format_value
    environment.filters["label"] = _key_label
    environment.filters["columns"] = _record_columns
    environment.tests["scalar_list"] = _is_scalar_list
    environment.tests["record_list"] = _is_record_list
    environment.globals["MAX_LIST_ITEMS"] = MAX_LIST_ITEMS
    environment.globals["DISPLAY_DIGITS"] = DISPLAY_DIGITS
    return environment


def format_value(value: Any) -> str:
    """Format a scalar for the page: ``DISPLAY_DIGITS`` significant digits."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value == 0.0 or not math.isfinite(value):
            return repr(value)
        return f"{value:.{DISPLAY_DIGITS}g}"
    if isinstance(value, list) and _is_scalar_list(value):
        return "[" + ", ".join(format_value(item) for item in value) + "]"
    return str(value)


def _key_label(key: str) -> str:
    """Turn a JSON key into a readable label ("wall_time" -> "wall time")."""
    return str(key).replace("_", " ")


def _is_scalar_list(value: Any) -> bool:
    """Return True for a list of numbers, strings, booleans or nulls."""
    return isinstance(value, list) and all(
        item is None or isinstance(item, (bool, int, float, str)) for item in value
    )


def _is_record_list(value: Any) -> bool:
    """Return True for a non-empty list of objects, shown as one table."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) for item in value)
    )


def _record_columns(records: list[dict[str, Any]]) -> list[str]:
    """Return the union of the records' keys, in order of first appearance."""
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(record))
    return list(columns)


def _section_view(key: str, certificate: dict[str, Any]) -> dict[str, Any]:
    """Return the heading and (label, value) rows of a known section."""
    heading, fields = SECTIONS[key]
    section = certificate.get(key)
    if section is None:
        return {"heading": heading, "rows": [], "recorded": False}
    if not isinstance(section, dict):
        return {"heading": heading, "rows": [(key, section)], "recorded": True}
    labels = dict(fields)
    rows = [(labels[name], section[name]) for name, _ in fields if name in section]
    if key == "certificate":
        rows += _numeric_bound_row(section)
    rows += [
        (_key_label(name), value)
        for name, value in sorted(section.items())
        if name not in labels
    ]
    return {"heading": heading, "rows": rows, "recorded": True}


def _numeric_bound_row(section: dict[str, Any]) -> list[tuple[str, str]]:
    """Return the bound with kappa and alpha filled in, when both are numbers."""
    kappa = section.get("kappa")
    alpha = section.get("alpha", section.get("decay_rate"))
    numbers = (kappa, alpha)
    if not all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in numbers
    ):
        return []
    if kappa < 1:
        return []
    bound = (
        f"‖x(t) − x*‖ ≤ {format_value(math.sqrt(kappa))} · "
        f"exp(−{format_value(alpha)} t / s) · ‖x(0) − x*‖"
    )
    return [("bound with these numbers", bound)]


def _ladder_view(ladder: Any) -> dict[str, Any] | None:
    """Return the ladder rows, the succeeding step and a one-sentence summary."""
    if ladder is None:
        return None
    if not isinstance(ladder, list) or not all(
        isinstance(step, dict) for step in ladder
    ):
        logger.warning("ladder is not a list of objects; shown as a plain value")
        return {"rows": [], "winner": None, "summary": None, "raw": ladder}
    winner = next((i for i, step in enumerate(ladder) if _succeeded(step)), None)
    return {
        "rows": ladder,
        "winner": winner,
        "summary": _ladder_summary(ladder, winner),
        "raw": None,
    }


def _succeeded(step: dict[str, Any]) -> bool:
    """Return True when a ladder step produced a certificate."""
    result = step.get("result")
    return isinstance(result, str) and result.strip().lower() in SUCCESS_RESULTS


def _ladder_summary(ladder: list[dict[str, Any]], winner: int | None) -> str:
    """Say which strategy succeeded and how many cheaper ones were tried first."""
    if not ladder:
        return "No strategy was run."
    if winner is None:
        return f"None of the {len(ladder)} strategies produced a certificate."
    name = ladder[winner].get("strategy", f"step {winner + 1}")
    if winner == 0:
        return f"The cheapest strategy, {name}, succeeded."
    earlier = ", ".join(str(step.get("strategy", "?")) for step in ladder[:winner])
    return (
        f"Strategy {name} succeeded after {winner} cheaper "
        f"{'strategy' if winner == 1 else 'strategies'} ({earlier}) did not apply "
        "or failed; their reasons are in the table."
    )


def _refutation_view(refutation: Any) -> dict[str, Any] | None:
    """Split the refutation into eigenvalue rows and the remaining fields."""
    if refutation is None:
        return None
    if not isinstance(refutation, dict):
        return {"eigenvalues": [], "rows": [("refutation", refutation)]}
    pairs = refutation.get("leading_eigenvalues")
    eigenvalues = []
    if isinstance(pairs, list) and all(
        isinstance(p, list) and len(p) == 2 for p in pairs
    ):
        eigenvalues = pairs
    labels = {
        "n_unstable": "number of eigenvalues with Re λ > 0",
        "growth_rate_lower": "growth rate, lower bound (1/s)",
        "modes": "unstable modes",
    }
    skip = {"leading_eigenvalues"} if eigenvalues else set()
    ordered = [k for k in labels if k in refutation]
    ordered += sorted(k for k in refutation if k not in labels and k not in skip)
    rows = [(labels.get(k, _key_label(k)), refutation[k]) for k in ordered]
    return {"eigenvalues": eigenvalues, "rows": rows}


def _decay_rows(decay: Any) -> dict[str, Any] | None:
    """Pair predicted and measured decay rates by label when they line up."""
    if decay is None:
        return None
    if isinstance(decay, dict):
        predicted = decay.get("predicted")
        measured = decay.get("measured")
        labels = decay.get("labels")
        lengths = {len(x) for x in (predicted, measured) if isinstance(x, list)}
        if (
            len(lengths) == 1
            and isinstance(predicted, list)
            and isinstance(measured, list)
        ):
            if not isinstance(labels, list) or len(labels) != len(predicted):
                labels = [f"mode {i + 1}" for i in range(len(predicted))]
            rest = {
                k: v
                for k, v in decay.items()
                if k not in {"predicted", "measured", "labels"}
            }
            return {"pairs": list(zip(labels, predicted, measured)), "rest": rest}
    return {"pairs": [], "rest": {"decay": decay}}


def _tolerance_rows(tolerances: Any) -> list[tuple[str, Any, Any]] | None:
    """Return (name, value, justification) rows from the tolerances section."""
    if tolerances is None:
        return None
    if not isinstance(tolerances, dict):
        return [("tolerances", tolerances, None)]
    rows = []
    for name, entry in sorted(tolerances.items()):
        if isinstance(entry, dict) and "value" in entry:
            rows.append((name, entry["value"], entry.get("justification")))
        else:
            rows.append((name, entry, None))
    return rows


def _figure_views(figures: Mapping[str, bytes]) -> list[dict[str, str]]:
    """Return title, caption and data URI of each figure, known names first."""
    ordered = [name for name in FIGURE_CAPTIONS if name in figures]
    ordered += [name for name in figures if name not in FIGURE_CAPTIONS]
    views = []
    for name in ordered:
        data = figures[name]
        if not isinstance(data, (bytes, bytearray)) or not bytes(data).startswith(
            PNG_SIGNATURE
        ):
            raise ValueError(
                f"figures[{name!r}]: expected PNG bytes (from the plot_* functions), "
                f"got {type(data).__name__} without the PNG signature"
            )
        encoded = base64.b64encode(bytes(data)).decode("ascii")
        views.append(
            {
                "name": name,
                "title": FIGURE_TITLES.get(name, _key_label(name)),
                "caption": FIGURE_CAPTIONS.get(name, ""),
                "uri": f"data:image/png;base64,{encoded}",
            }
        )
    return views
