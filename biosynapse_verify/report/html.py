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
import json
import logging
import math
from collections.abc import Mapping
from typing import Any

import jinja2

from biosynapse_verify.report.certificate import to_json_value, validate_certificate
from biosynapse_verify.report.derivations import math_pieces, select_derivations

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
# Nested objects are tables down to this depth and compact JSON below it.
MAX_TABLE_DEPTH = 2
# Compact JSON text longer than this is cut, with a pointer to certificate.json.
MAX_JSON_CHARS = 600
# Timings are shown to this many significant digits.
SECONDS_DIGITS = 3
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

# Section key -> (heading, [(field key, label)]). Several keys may share a
# label where pipeline versions name a field differently. Fields not listed
# are shown after the listed ones, under their own key.
SECTIONS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "certificate": (
        "Lyapunov certificate",
        [
            ("method", "search method"),
            ("strategy", "search strategy"),
            ("beta", "β in dV/dt ≤ −β ‖x − x*‖² (1/s)"),
            ("lambda_min_P", "λ_min(P) (normalised to ≥ 1)"),
            ("lambda_max_P", "λ_max(P)"),
            ("alpha", "decay rate α = β / λ_max(P) (1/s)"),
            ("decay_rate", "decay rate γ with −(AᵀP + PA) ⪰ 2γP (1/s)"),
            ("kappa", "condition number κ(P) = λ_max / λ_min"),
            ("condition_number_P", "condition number κ(P) = λ_max / λ_min"),
            ("transient_factor", "transient factor √κ(P)"),
            ("bound", "bound"),
            ("bound_formula", "bound"),
        ],
    ),
    "check": (
        "Rigorous check",
        [
            ("claim", "claim checked"),
            ("method", "method"),
            ("valid", "valid"),
            ("margin", "margin (lower bound on λ_min of the proven matrix)"),
            ("lambda_min_P_lower", "λ_min(P), lower bound"),
            ("growth_rate_lower", "growth rate max Re λ(A), lower bound (1/s)"),
            ("reason", "reason"),
            ("seconds", "time (s)"),
            ("n", "dimension n of A (free coordinates)"),
        ],
    ),
    "equilibrium": (
        "Equilibrium",
        [
            ("kind", "kind"),
            ("residual_norm", "residual ‖F(x*)‖"),
            ("relative_residual", "relative residual of F(x*) = 0"),
            ("newton_steps", "Newton steps"),
            ("n_free", "free coordinates"),
            ("n_fixed_at_bounds", "coordinates held at a weight bound"),
            ("outward_margin_per_s", "smallest outward drift at the bounds (1/s)"),
            ("inside_bounds", "inside the weight bounds"),
        ],
    ),
    "spectrum": (
        "Spectrum of A (floating point)",
        [
            ("spectral_abscissa", "spectral abscissa max Re λ (1/s)"),
            ("n_eigenvalues", "eigenvalues computed"),
            ("n_positive_real_part", "eigenvalues with Re λ > 0"),
            ("rightmost", "rightmost eigenvalues [Re, Im] (1/s)"),
        ],
    ),
    "equilibria": ("Interior and boundary equilibria", []),
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
            ("dt_s", "time step (s)"),
            ("duration", "simulated time per seed (s)"),
            ("duration_s", "simulated time per seed (s)"),
            ("wall_time", "wall-clock time (s)"),
            ("wall_time_s", "wall-clock time (s)"),
            ("rates", "firing rates (Hz)"),
            ("mean_rate_Hz", "mean firing rates (Hz)"),
            ("weights", "weights"),
            ("final_weights", "final weights"),
            ("bimodality", "bimodality"),
        ],
    ),
}
# Top-level keys that have their own place on the page.
PLACED_KEYS = frozenset(
    {
        "format",
        "network",
        "source",
        "verdict",
        "reason",
        "claim",
        "scope",
        "refutation",
        "ladder",
        "decay",
        "versions",
        "tolerances",
        "hashes",
        "timings",
        "arrays",
        "recheck",
        "spec",
        "derivations",
        "backend_comparison",
    }
    | set(SECTIONS)
)
# Keys inside "ladder" (when it is an object) shown elsewhere on the page.
LADDER_PLACED_KEYS = frozenset({"attempts", "candidate", "instability", "tolerances"})
# Labels of the ladder's own fields; others are shown under their key.
LADDER_LABELS = {
    "n": "dimension n of A (free coordinates)",
    "options": "search options",
    "reason": "outcome of the search",
}
# Column of a mode's largest eigenvector entries, written "index: magnitude";
# magnitudes of a unit vector need only MAGNITUDE_DIGITS significant digits.
TOP_ENTRIES_LABEL = "largest entries (index: magnitude)"
MAGNITUDE_DIGITS = 3
# Keys of a refutation that hold [Re, Im] pairs of the leading eigenvalues.
EIGENVALUE_PAIR_KEYS = ("leading_eigenvalues", "eigenvalues_near_axis")


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
        "other": _labelled_rows(
            {k: v for k, v in plain.items() if k not in PLACED_KEYS}
        ),
        "extra_scope": _extra_scope(plain.get("scope")),
        "spec_json": _spec_json(plain.get("spec")),
        "derivations": _derivation_views(plain),
        "recheck": _recheck_view(plain.get("recheck")),
        "comparison": _comparison_view(plain.get("backend_comparison")),
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
    environment.filters["inline_list"] = _format_inline_list
    environment.filters["json_text"] = _format_json_text
    environment.filters["seconds"] = _format_seconds
    environment.tests["scalar_list"] = _is_scalar_list
    environment.tests["scalar_list_list"] = _is_scalar_list_list
    environment.tests["record_list"] = _is_record_list
    environment.tests["nested_mapping"] = _is_nested_mapping
    environment.globals["MAX_LIST_ITEMS"] = MAX_LIST_ITEMS
    environment.globals["DISPLAY_DIGITS"] = DISPLAY_DIGITS
    environment.globals["MAX_TABLE_DEPTH"] = MAX_TABLE_DEPTH
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


def _format_seconds(value: Any) -> str:
    """Format a duration in seconds to ``SECONDS_DIGITS`` significant digits."""
    if isinstance(value, float) and math.isfinite(value) and value != 0.0:
        return f"{value:.{SECONDS_DIGITS}g}"
    return format_value(value)


def _format_inline_list(value: list[Any]) -> str:
    """Format a list of scalars, or of scalar lists, on one line.

    Items after the first ``MAX_LIST_ITEMS`` are counted, not shown.
    """
    nested = bool(value) and isinstance(value[0], list)
    separator = "; " if nested else ", "
    visible = separator.join(format_value(item) for item in value[:MAX_LIST_ITEMS])
    hidden = len(value) - MAX_LIST_ITEMS
    more = f", … ({hidden} more in certificate.json)" if hidden > 0 else ""
    return f"{visible}{more}" if nested else f"[{visible}{more}]"


def _format_json_text(value: Any) -> str:
    """Return compact JSON of a deeply nested value, cut at ``MAX_JSON_CHARS``."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    if len(text) <= MAX_JSON_CHARS:
        return text
    return text[:MAX_JSON_CHARS] + " … (cut; see certificate.json)"


def _key_label(key: str) -> str:
    """Turn a JSON key into a readable label ("wall_time" -> "wall time")."""
    return str(key).replace("_", " ")


def _is_scalar_list(value: Any) -> bool:
    """Return True for a list of numbers, strings, booleans or nulls."""
    return isinstance(value, list) and all(
        item is None or isinstance(item, (bool, int, float, str)) for item in value
    )


def _is_scalar_list_list(value: Any) -> bool:
    """Return True for a non-empty list of scalar lists, such as [re, im] pairs."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, list) and _is_scalar_list(item) for item in value)
    )


def _is_record_list(value: Any) -> bool:
    """Return True for a non-empty list of objects, shown as one table."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) for item in value)
    )


def _is_nested_mapping(value: Any) -> bool:
    """Return True for an object that contains another object or a list of objects."""
    return isinstance(value, dict) and any(
        isinstance(item, dict) or _is_record_list(item) for item in value.values()
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
    """Return the bound with kappa and the proven rate filled in, when both are numbers.

    The rate is the checked decay rate gamma of a structured certificate
    when it has one (-(A^T P + P A) >= 2 gamma P gives exp(-gamma t)), else
    alpha = beta / lambda_max(P).
    """
    kappa = section.get("kappa", section.get("condition_number_P"))
    alpha = section.get("decay_rate")
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool):
        alpha = section.get("alpha")
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
    """Return the ladder's steps, the succeeding step, a summary and other fields.

    The ladder is either a list of steps or an object whose ``attempts`` are
    the steps. A step has ``strategy``, ``applied``, ``reason``, ``seconds``
    and either a ``result`` string or a ``succeeded`` flag.
    """
    if ladder is None:
        return None
    steps, rows = ladder, []
    if isinstance(ladder, dict):
        steps = ladder.get("attempts", [])
        rows = [
            (LADDER_LABELS.get(key, _key_label(key)), value)
            for key, value in sorted(ladder.items())
            if key not in LADDER_PLACED_KEYS
        ]
    if not isinstance(steps, list) or not all(isinstance(step, dict) for step in steps):
        logger.warning("ladder steps are not a list of objects; shown as a plain value")
        return {"steps": [], "winner": None, "summary": None, "raw": ladder, "rows": []}
    winner = next((i for i, step in enumerate(steps) if _succeeded(step)), None)
    return {
        "steps": [{**step, "result": _step_result(step)} for step in steps],
        "winner": winner,
        "summary": _ladder_summary(steps, winner),
        "raw": None,
        "rows": rows,
    }


def _succeeded(step: dict[str, Any]) -> bool:
    """Return True when a ladder step produced a certificate."""
    if step.get("succeeded") is True:
        return True
    result = step.get("result")
    return isinstance(result, str) and result.strip().lower() in SUCCESS_RESULTS


def _step_result(step: dict[str, Any]) -> Any:
    """Return the step's result string, derived from its flags when absent."""
    if "result" in step:
        return step["result"]
    if step.get("applied") is False:
        return "not applicable"
    if "succeeded" in step:
        return "succeeded" if step["succeeded"] else "failed"
    return None


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
    plural = "strategy" if winner == 1 else "strategies"
    return (
        f"Strategy {name} succeeded after {winner} cheaper {plural} ({earlier}) "
        "did not apply or failed; their reasons are in the table."
    )


def _refutation_view(refutation: Any) -> dict[str, Any] | None:
    """Split the refutation into eigenvalue rows and the remaining fields."""
    if refutation is None:
        return None
    if not isinstance(refutation, dict):
        return {"eigenvalues": [], "rows": [("refutation", refutation)]}
    pair_key = next(
        (k for k in EIGENVALUE_PAIR_KEYS if _is_pair_list(refutation.get(k))), None
    )
    eigenvalues = refutation[pair_key] if pair_key else []
    labels = {
        "summary": "summary",
        "n_unstable": "number of eigenvalues with Re λ > 0",
        "n_marginal": "eigenvalues too close to the axis to classify",
        "spectral_abscissa": "spectral abscissa max Re λ (1/s)",
        "growth_rate_lower": "growth rate, lower bound (1/s)",
        "modes": "unstable modes",
    }
    ordered = [k for k in labels if k in refutation]
    ordered += sorted(k for k in refutation if k not in labels and k != pair_key)
    rows = []
    for key in ordered:
        value = _modes_view(refutation[key]) if key == "modes" else refutation[key]
        rows.append((labels.get(key, _key_label(key)), value))
    return {"eigenvalues": eigenvalues, "rows": rows}


def _modes_view(modes: Any) -> Any:
    """Write each mode's largest eigenvector entries on one line, "index: magnitude".

    Shown as a list of records, every entry would take its own line in a
    narrow column, and a handful of modes would fill pages.
    """
    if not _is_record_list(modes):
        return modes
    return [_mode_view(mode) for mode in modes]


def _mode_view(mode: dict[str, Any]) -> dict[str, Any]:
    entries = mode.get("top_entries")
    valid = _is_record_list(entries) and all(
        {"index", "magnitude"} <= set(entry) for entry in entries
    )
    if not valid:
        return mode
    # A no-break space keeps each index on the line of its magnitude.
    text = ", ".join(
        f"{format_value(entry['index'])}:\u00a0{_format_magnitude(entry['magnitude'])}"
        for entry in entries
    )
    first = [key for key in ("eigenvalue", "classification") if key in mode]
    rest = [key for key in mode if key not in first and key != "top_entries"]
    view = {key: mode[key] for key in first + rest}
    view[TOP_ENTRIES_LABEL] = text
    return view


def _format_magnitude(value: Any) -> str:
    """Format an eigenvector entry's magnitude to ``MAGNITUDE_DIGITS`` digits."""
    if isinstance(value, float) and math.isfinite(value) and value != 0.0:
        return f"{value:.{MAGNITUDE_DIGITS}g}"
    return format_value(value)


def _is_pair_list(value: Any) -> bool:
    """Return True for a list of [re, im] number pairs."""
    return isinstance(value, list) and all(
        isinstance(pair, list)
        and len(pair) == 2
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in pair)
        for pair in value
    )


def _decay_rows(decay: Any) -> dict[str, Any] | None:
    """Return (label, predicted, measured) rows and the remaining decay fields.

    Rows are made when ``predicted`` and ``measured`` are lists of one length;
    ``labels`` names them, or they are numbered.
    """
    if decay is None:
        return None
    if not isinstance(decay, dict):
        return {"pairs": [], "rest": [("decay", decay)]}
    predicted, measured = decay.get("predicted"), decay.get("measured")
    paired = (
        isinstance(predicted, list)
        and isinstance(measured, list)
        and len(predicted) == len(measured)
    )
    if not paired:
        return {"pairs": [], "rest": _labelled_rows(decay)}
    labels = decay.get("labels")
    if not isinstance(labels, list) or len(labels) != len(predicted):
        labels = [f"mode {i + 1}" for i in range(len(predicted))]
    rest = {
        k: v for k, v in decay.items() if k not in {"predicted", "measured", "labels"}
    }
    pairs = list(zip(labels, predicted, measured, strict=True))
    return {"pairs": pairs, "rest": _labelled_rows(rest)}


def _labelled_rows(fields: dict[str, Any]) -> list[tuple[str, Any]]:
    """Return (readable label, value) rows of ``fields``, sorted by key."""
    return [(_key_label(key), value) for key, value in sorted(fields.items())]


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


def _figure_kind(name: str) -> tuple[int, str | None]:
    """Return the sort position and the known figure kind that ``name`` starts with.

    "weights_feedforward" is a "weights" figure and "decay_rates" a "decay"
    figure. Names of no known kind sort last, in their given order.
    """
    for position, kind in enumerate(FIGURE_CAPTIONS):
        if name == kind or name.startswith(kind + "_"):
            return position, kind
    return len(FIGURE_CAPTIONS), None


def _extra_scope(scope: Any) -> str | None:
    """Return the certificate's own scope statement when it adds to the fixed one."""
    if not isinstance(scope, str) or not scope.strip():
        return None
    if scope.strip() == MEAN_FIELD_SENTENCE:
        return None
    return scope


def _spec_json(spec: Any) -> str | None:
    """Return the validated network spec as indented JSON for the appendix."""
    if spec is None:
        return None
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False)


def _recheck_view(recheck: Any) -> dict[str, Any] | None:
    """Return the recorded re-check command and the remaining fields, if any."""
    if recheck is None:
        return None
    if isinstance(recheck, str):
        return {"command": recheck, "rows": []}
    if not isinstance(recheck, dict):
        return {"command": None, "rows": [("recheck", recheck)]}
    rest = {k: v for k, v in recheck.items() if k != "command"}
    return {"command": recheck.get("command"), "rows": _labelled_rows(rest)}


def _derivation_views(certificate: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the derivations the certificate relies on, with formulas drawn.

    An empty list when the stored derivations are not installed, so a page
    still renders; the template then says the appendix is missing.
    """
    try:
        entries = select_derivations(certificate)
    except (FileNotFoundError, ValueError) as err:
        logger.warning("derivations appendix left out: %s", err)
        return []
    views = []
    for entry in entries:
        pieces = math_pieces(str(entry.get("latex", "")))
        problems = sorted({piece.problem for piece in pieces if piece.problem})
        views.append({**entry, "pieces": pieces, "problems": problems})
    return views


def _figure_views(figures: Mapping[str, bytes]) -> list[dict[str, str]]:
    """Return name, title, caption and data URI of each figure, known kinds first."""
    ordered = sorted(figures, key=lambda name: _figure_kind(name)[0])
    return [_figure_view(name, figures[name]) for name in ordered]


def _figure_view(name: str, data: bytes) -> dict[str, str]:
    """Check that ``data`` is a PNG and describe it for the template."""
    if not isinstance(data, (bytes, bytearray)) or not bytes(data).startswith(
        PNG_SIGNATURE
    ):
        raise ValueError(
            f"figures[{name!r}]: expected PNG bytes (from the plot_* functions), "
            f"got {type(data).__name__} without the PNG signature"
        )
    _, kind = _figure_kind(name)
    if kind is None:
        title, caption = _key_label(name), ""
    else:
        title, caption = FIGURE_TITLES[kind], FIGURE_CAPTIONS[kind]
        # "weights_feedforward" -> "Weights: feedforward"; "decay_rates" keeps
        # its title because the suffix is already in it.
        suffix = _key_label(name[len(kind) :].lstrip("_"))
        if suffix and suffix.lower() not in title.lower():
            title = f"{title}: {suffix}"
    encoded = base64.b64encode(bytes(data)).decode("ascii")
    return {
        "name": name,
        "title": title,
        "caption": caption,
        "uri": f"data:image/png;base64,{encoded}",
    }


def _comparison_view(comparison: Any) -> dict[str, Any] | None:
    """Lay out a backend comparison: runs side by side, tests, Lava's parameters.

    Returns None when nothing was compared, and a plain value row when the
    record has an unexpected shape.
    """
    if comparison is None:
        return None
    runs = comparison.get("runs") if isinstance(comparison, dict) else None
    if not _is_record_list(runs):
        logger.warning("backend_comparison has no list of runs; shown as a plain value")
        return {"raw": comparison}
    mapping = comparison.get("lava_mapping") or {}
    return {
        "raw": None,
        "alpha": comparison.get("alpha"),
        "agree": comparison.get("agree"),
        "labels": [run.get("label") for run in runs],
        "rows": _comparison_rows(runs, comparison.get("models") or {}),
        "tests": comparison.get("tests") or [],
        "notes": comparison.get("notes") or [],
        "parameters": mapping.get("parameters") or [],
        "approximations": mapping.get("approximations") or [],
        "warnings": mapping.get("warnings") or [],
        "run_config": mapping.get("run_config"),
        "scaling": mapping.get("scaling"),
    }


def _comparison_rows(
    runs: list[dict[str, Any]], models: dict[str, Any]
) -> list[tuple[str, list[Any]]]:
    """Return (quantity, value per run) rows for the side-by-side table."""

    def row(label: str, get: Any) -> tuple[str, list[Any]]:
        return label, [get(run) for run in runs]

    rows = [
        row("simulated model", lambda run: models.get(run.get("label"))),
        row("backend", lambda run: run.get("backend")),
        row("seeds", lambda run: run.get("seeds")),
        row("simulated time per seed (s)", lambda run: run.get("duration_s")),
        row("wall-clock time (s)", lambda run: run.get("wall_time_s")),
    ]
    populations = _names_in(runs, "populations")
    for pop in populations:
        rows.append(row(f"{pop}: mean rate (Hz)", _field("populations", pop, "mean_rate_Hz")))
        rows.append(row(
            f"{pop}: rate sd over seeds (Hz)",
            _field("populations", pop, "rate_std_over_seeds_Hz"),
        ))
    labels = {
        "mean": "final weight mean",
        "std": "final weight sd",
        "fraction_near_min": "fraction near w_min",
        "fraction_near_max": "fraction near w_max",
    }
    for proj in _names_in(runs, "projections"):
        for key, label in labels.items():
            rows.append(row(f"{proj}: {label}", _field("projections", proj, key)))
    return rows


def _names_in(runs: list[dict[str, Any]], group: str) -> list[str]:
    names: dict[str, None] = {}
    for run in runs:
        if isinstance(run.get(group), dict):
            names.update(dict.fromkeys(run[group]))
    return list(names)


def _field(group: str, name: str, key: str) -> Any:
    def get(run: dict[str, Any]) -> Any:
        entry = (run.get(group) or {}).get(name)
        return entry.get(key) if isinstance(entry, dict) else None

    return get
