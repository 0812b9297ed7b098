"""The appendix of symbolic derivations that a certificate relies on.

The derivations live in ``proofs/`` at the repository root (sympy scripts,
see ``proofs/README.md``); each returns a title, a statement, sympy's LaTeX
and its assumptions. Running them takes about half a minute, so the
package carries their output in ``derivations.json`` beside this module,
and :func:`select_derivations` picks the ones a certificate relies on.
Refresh the file after changing a proof::

    python -m biosynapse_verify.report.derivations

The LaTeX is drawn to PNG with matplotlib's mathtext (:func:`math_pieces`).
Mathtext covers a subset of LaTeX, so a piece it cannot parse, such as a
``pmatrix`` environment, is shown as LaTeX source instead, and the page
says which.
"""

from __future__ import annotations

import argparse
import base64
import functools
import importlib.util
import io
import json
import logging
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DERIVATIONS_FILE",
    "MathPiece",
    "load_derivations",
    "math_pieces",
    "select_derivations",
    "write_derivations",
]

logger = logging.getLogger(__name__)

DERIVATIONS_FILE = Path(__file__).with_name("derivations.json")
PROOFS_DIR = Path(__file__).resolve().parents[2] / "proofs"
ENTRY_KEYS = ("name", "title", "statement", "latex", "assumptions")

MATH_FONT_SIZE = 11.0
"""Point size of rendered formulas, a little above the 10.5 pt body text."""
MATH_DPI = 200
"""Resolution of formula images; 200 dpi stays sharp on paper at 100% zoom."""
CONTENT_WIDTH_IN = 7.0
"""Width available to a formula on the A4 page (182 mm text width, less padding)."""
MIN_MATH_SCALE = 0.75
"""Formulas wider than the page are shrunk down to this scale (8 pt); wider
ones are shown as LaTeX source, which wraps, because smaller type is hard to
read at 100% zoom."""

# Mathtext lacks these LaTeX spellings; each is replaced by one it knows.
_MATHTEXT_SPELLINGS = (
    (re.compile(r"\\le(?![A-Za-z])"), r"\\leq"),
    (re.compile(r"\\ge(?![A-Za-z])"), r"\\geq"),
    # Mathtext sets \frac in text style, which shrinks nested fractions (in
    # exponents, for example) below readable size, so every fraction is drawn
    # in display style.
    (re.compile(r"\\t?frac(?![A-Za-z])"), r"\\dfrac"),
    (re.compile(r"\\big(?![A-Za-z])"), ""),
)


# ---------------------------------------------------------------- selection
def _uses(value: Any, needle: str) -> bool:
    """Return True if ``needle`` occurs in any string nested in ``value``."""
    if isinstance(value, str):
        return needle in value
    if isinstance(value, Mapping):
        return any(_uses(item, needle) for item in value.values())
    if isinstance(value, list):
        return any(_uses(item, needle) for item in value)
    return False


def _rules(certificate: Mapping[str, Any]) -> set[str]:
    """Return the STDP rules of the certificate's spec."""
    spec = certificate.get("spec")
    projections = spec.get("projections", []) if isinstance(spec, Mapping) else []
    rules = set()
    for projection in projections:
        plasticity = (
            projection.get("plasticity") if isinstance(projection, Mapping) else None
        )
        if isinstance(plasticity, Mapping):
            rules.add(str(plasticity.get("rule")))
    return rules


def _reasons(certificate: Mapping[str, Any]) -> dict[str, str]:
    """Map each derivation the certificate relies on to why, in appendix order."""
    reasons = {
        "window_integrals": "the mean-field drift dw/dt and its spike-triggered "
        "term c+, from which the dynamics F(x) are built",
    }
    simulation = certificate.get("simulation")
    if isinstance(simulation, Mapping) and "backend" in simulation:
        reasons["trace_stdp_closed_form"] = (
            "the simulator's trace implementation of pair STDP, which produced the "
            "simulation evidence"
        )
    if "A" in certificate.get("hashes", {}):
        reasons["jacobian_entries"] = "the Jacobian A = dF/dx at the equilibrium"
    if _rules(certificate) & {"multiplicative", "additive"}:
        reasons["multiplicative_fixed_point"] = (
            "the fixed point and diagonal entries of multiplicative STDP, and the "
            "unstable directions of additive STDP"
        )
    certificate_section = certificate.get("certificate")
    if _uses(certificate_section, "two_time") or _uses(
        certificate_section, "time_scale"
    ):
        reasons["two_time_scales"] = "the composite (two time scales) Lyapunov function"
    if _uses(certificate.get("check"), "exact-residual"):
        reasons["exact_residual_check"] = (
            "the exact-residual test that proved positive definiteness"
        )
    check = certificate.get("check")
    claim = check.get("claim") if isinstance(check, Mapping) else None
    if certificate.get("verdict") == "refuted" or claim == "unstable":
        reasons["chetaev_instability"] = "the Chetaev argument behind the refutation"
    if "forgetting" in certificate:
        reasons["forgetting_bound"] = "the analytic forgetting bound"
    return reasons


@functools.lru_cache(maxsize=1)
def load_derivations() -> dict[str, dict[str, Any]]:
    """Return the stored derivation entries by proof name, in appendix order.

    Raises
    ------
    FileNotFoundError
        If ``derivations.json`` is missing from the installed package.
    """
    stored = json.loads(DERIVATIONS_FILE.read_text(encoding="utf-8"))
    return {entry["name"]: entry for entry in stored["derivations"]}


def select_derivations(certificate: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return the derivations ``certificate`` relies on, each with a ``why`` key.

    A certificate that records its own ``derivations`` list keeps it; the
    stored entries are used otherwise.
    """
    recorded = certificate.get("derivations")
    if isinstance(recorded, list):
        return [dict(entry) for entry in recorded if isinstance(entry, Mapping)]
    stored = load_derivations()
    order = list(stored)
    chosen = sorted(
        _reasons(certificate).items(), key=lambda item: order.index(item[0])
    )
    return [{**stored[name], "why": why} for name, why in chosen if name in stored]


# ---------------------------------------------------------------- rendering
@dataclass(frozen=True)
class MathPiece:
    """One formula of a derivation, as an image or as LaTeX source.

    Attributes
    ----------
    latex : str
        The piece's LaTeX, as sympy wrote it.
    uri : str or None
        PNG data URI when mathtext drew the piece; None for source.
    width_pt : float
        Width of the image at 100% zoom, in points (0 for source).
    problem : str
        Why the piece is shown as source; empty for an image.
    """

    latex: str
    uri: str | None
    width_pt: float = 0.0
    problem: str = ""


def _split_top_level(latex: str, separator: str) -> list[str]:
    """Split ``latex`` at ``separator`` outside braces and environments."""
    pieces, current, depth, i = [], [], 0, 0
    while i < len(latex):
        if depth == 0 and latex.startswith(separator, i):
            pieces.append("".join(current))
            current, i = [], i + len(separator)
            continue
        if latex.startswith("\\begin", i) or latex[i] == "{":
            depth += 1
        elif latex.startswith("\\end", i) or latex[i] == "}":
            depth -= 1
        current.append(latex[i])
        i += 1
    pieces.append("".join(current))
    return pieces


def _formula_pieces(latex: str) -> list[str]:
    """Split a derivation's LaTeX into displayed lines at ``\\\\`` and ``\\quad``."""
    pieces = []
    for line in _split_top_level(latex, "\\\\"):
        for piece in _split_top_level(line, "\\quad"):
            piece = piece.strip().rstrip(",").strip()
            if piece:
                pieces.append(piece)
    return pieces


@functools.lru_cache(maxsize=256)
def _render_piece(latex: str) -> MathPiece:
    """Draw one piece with mathtext, or explain why it stays LaTeX source."""
    from matplotlib import mathtext
    from matplotlib.font_manager import FontProperties
    from PIL import Image

    text = latex
    for pattern, replacement in _MATHTEXT_SPELLINGS:
        text = pattern.sub(replacement, text)
    buffer = io.BytesIO()
    try:
        mathtext.math_to_image(
            f"${text}$",
            buffer,
            dpi=MATH_DPI,
            format="png",
            prop=FontProperties(size=MATH_FONT_SIZE),
        )
    except ValueError as err:
        first = (
            str(err).strip().splitlines()[-1]
            if str(err).strip()
            else type(err).__name__
        )
        return MathPiece(
            latex, None, problem=f"mathtext cannot parse it ({first.strip()})"
        )
    data = buffer.getvalue()
    width_in = Image.open(io.BytesIO(data)).size[0] / MATH_DPI
    if width_in * MIN_MATH_SCALE > CONTENT_WIDTH_IN:
        return MathPiece(
            latex,
            None,
            problem=f"it is {width_in:.1f} in wide, too wide to print readably",
        )
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return MathPiece(latex, uri, width_pt=width_in * 72.0)


def math_pieces(latex: str) -> list[MathPiece]:
    """Return the displayed pieces of a derivation's LaTeX, drawn where mathtext can."""
    return [_render_piece(piece) for piece in _formula_pieces(latex)]


# ------------------------------------------------------------------ refresh
def _load_runner(proofs_dir: Path) -> Any:
    """Import ``proofs/run_all.py`` by path (proofs/ is not an installed package)."""
    path = proofs_dir / "run_all.py"
    spec = importlib.util.spec_from_file_location("proofs.run_all", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(
            f"{path}: not found; pass --proofs with the proofs folder"
        )
    module = importlib.util.module_from_spec(spec)
    sys.modules["proofs.run_all"] = module
    spec.loader.exec_module(module)
    return module


def write_derivations(
    proofs_dir: Path = PROOFS_DIR, path: Path = DERIVATIONS_FILE
) -> Path:
    """Run every proof and store its appendix entry in ``path``.

    Raises
    ------
    RuntimeError
        If a proof fails (from ``proofs/run_all.derive_all``).
    """
    import sympy

    runner = _load_runner(proofs_dir)
    entries = runner.derive_all()
    stored = {
        "generated_by": "python -m biosynapse_verify.report.derivations",
        "sympy": sympy.__version__,
        "derivations": [
            {"name": name, **{key: entry[key] for key in ENTRY_KEYS if key != "name"}}
            for name, entry in zip(runner.PROOF_NAMES, entries, strict=True)
        ],
    }
    path.write_text(
        json.dumps(stored, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    load_derivations.cache_clear()
    logger.info("wrote %d derivations to %s", len(entries), path)
    return path


def main(argv: list[str] | None = None) -> int:
    """Refresh ``derivations.json`` from the proofs (command-line entry)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--proofs", type=Path, default=PROOFS_DIR, help="the proofs folder"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write_derivations(args.proofs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
