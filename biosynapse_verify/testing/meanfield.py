"""Certify a network's mean-field dynamics for a given transfer function, without simulation.

``biosynapse-verify verify`` calibrates each population's rate transfer
function against the spiking simulator, which takes tens of seconds. For
property tests over many networks that is too slow, so
:func:`certify_mean_field` takes the transfer functions as given and runs
the rest of the analysis: equilibrium, Jacobian, certificate search,
rigorous check. When ``out_dir`` is given it writes a certificate folder in
the pipeline's format (``certificate.json`` with ``A.npz``, ``P.npz``,
``x_star.npz``, ``free.npz``), which ``biosynapse-verify check`` re-verifies.
A refutation also stores its Chetaev matrix as ``P_chetaev.npz``.

The verdict is about the mean-field model with these transfer functions,
not about the spiking network: no simulation is run.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from biosynapse_verify import __version__
from biosynapse_verify.check import CheckResult, check_instability, check_lyapunov
from biosynapse_verify.dynamics.calibration import static_weights
from biosynapse_verify.dynamics.equilibrium import (
    Equilibrium,
    EquilibriumError,
    find_boundary,
    find_interior,
    settle_rates,
)
from biosynapse_verify.dynamics.meanfield import MeanFieldModel
from biosynapse_verify.dynamics.transfer import SoftplusTransfer
from biosynapse_verify.spec.loader import spec_hash
from biosynapse_verify.spec.schema import NetworkSpec
from biosynapse_verify.spec.structure import build_structure

__all__ = ["MeanFieldOutcome", "certify_mean_field", "check_candidate"]

logger = logging.getLogger(__name__)

# The default start scans the mean weight drift at this many weight levels
# and refines the first sign change by this many bisections (2**-40 of the
# range), which puts Newton well inside its basin on the uniform line.
START_LEVELS = 33
START_BISECTIONS = 40

SCOPE = (
    "The certificate is for the averaged (mean-field) learning dynamics with the "
    "transfer functions given by the caller; no simulation was run and phi was "
    "not calibrated."
)


@dataclass
class MeanFieldOutcome:
    """Result of :func:`certify_mean_field`.

    Attributes
    ----------
    verdict : {"certified", "refuted", "inconclusive"}
    reason : str
        The rigorous check's sentence, or why there is no verdict.
    equilibrium : Equilibrium or None
        The judged equilibrium.
    A : scipy.sparse.csr_matrix or None
        Jacobian at the equilibrium, restricted to the free coordinates.
    check : CheckResult or None
        The rigorous check of the candidate found by the search.
    beta : float or None
        Decay constant of a certified result, in 1/s.
    growth_rate_lower : float or None
        Proven lower bound on max Re lambda(A) of a refuted result, in 1/s.
    search : SearchOutcome or None
        What the certificate search returned (see
        :func:`biosynapse_verify.certify.search_certificate`).
    certificate : dict
        The certificate record (as written, when ``path`` is set).
    path : Path or None
        The written ``certificate.json``.
    """

    verdict: str
    reason: str
    equilibrium: Equilibrium | None = None
    A: sp.csr_matrix | None = None
    check: CheckResult | None = None
    beta: float | None = None
    growth_rate_lower: float | None = None
    search: Any = None
    certificate: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def _uniform_state(model: MeanFieldModel, level: float) -> np.ndarray:
    """Return a state with every weight at ``level`` of its range.

    Rates are set to the fast steady state for those weights.
    """
    x = np.zeros(model.n)
    lower, upper = model.bounds()
    x[model.n_rates :] = lower + level * (upper - lower)
    return settle_rates(model, x)


def _start_state(model: MeanFieldModel) -> np.ndarray:
    """Start of the equilibrium search: a zero of the mean weight drift on the uniform line.

    Every weight is set to the same fraction of its range, and the mean
    weight drift is scanned over :data:`START_LEVELS` fractions. The first
    sign change is refined by bisection. Without a sign change, weights
    start mid-way between their bounds.
    """
    if model.n_weights == 0:
        return _uniform_state(model, 0.5)
    levels = np.linspace(0.0, 1.0, START_LEVELS)
    drift = [
        model.drift(_uniform_state(model, level))[model.n_rates :].mean()
        for level in levels
    ]
    changes = np.flatnonzero(np.sign(drift[:-1]) * np.sign(drift[1:]) < 0)
    if changes.size == 0:
        return _uniform_state(model, 0.5)
    low, high = levels[changes[0]], levels[changes[0] + 1]
    low_sign = np.sign(drift[changes[0]])
    for _ in range(START_BISECTIONS):
        middle = 0.5 * (low + high)
        value = model.drift(_uniform_state(model, middle))[model.n_rates :].mean()
        if np.sign(value) == low_sign:
            low = middle
        else:
            high = middle
    return _uniform_state(model, 0.5 * (low + high))


def _equilibrium(
    model: MeanFieldModel, start: np.ndarray
) -> tuple[Equilibrium | None, str]:
    """Find the equilibrium that the spec's analysis section requests."""
    kind = model.spec.analysis.equilibrium
    try:
        if kind == "interior":
            return find_interior(model, start), ""
        return find_boundary(model, start), ""
    except EquilibriumError as err:
        return None, f"no {kind} equilibrium found: {err}"


def _validity_problem(eq: Equilibrium) -> str:
    """Return why the equilibrium cannot be judged, or an empty string."""
    if eq.kind == "interior" and not eq.inside_bounds:
        return "the interior fixed point lies outside the weight bounds"
    if eq.kind == "boundary" and (eq.outward_margin or 1.0) <= 0:
        return "a weight held at a bound has zero or inward drift"
    return ""


def check_candidate(A: sp.csr_matrix, candidate: Any) -> CheckResult:
    """Check a search candidate rigorously, with its shear and decay rate if any."""
    return check_lyapunov(
        A,
        candidate.P,
        candidate.beta,
        transform=getattr(candidate, "transform", None),
        rate=getattr(candidate, "decay_rate", None) or 0.0,
    )


def _search_and_check(A: sp.csr_matrix) -> tuple[Any, CheckResult | None]:
    """Search a certificate (or Chetaev data) for A and check it rigorously."""
    from biosynapse_verify.certify import search_certificate

    search = search_certificate(A)
    if search.candidate is not None:
        c = search.candidate
        return search, check_candidate(A, c)
    chetaev = _chetaev(search)
    if chetaev is not None:
        return search, check_instability(A, chetaev.P, chetaev.gamma, chetaev.witness)
    return search, None


def _chetaev(search: Any) -> Any:
    """Return the search's Chetaev candidate, or None."""
    if search is None or search.instability is None:
        return None
    return search.instability.chetaev


def certify_mean_field(
    spec: NetworkSpec,
    transfers: Mapping[str, SoftplusTransfer],
    *,
    out_dir: str | Path | None = None,
    start: np.ndarray | None = None,
) -> MeanFieldOutcome:
    """Judge the stability of ``spec``'s mean-field dynamics with given transfer functions.

    Parameters
    ----------
    spec : NetworkSpec
        The network; its ``analysis.equilibrium`` chooses the interior or the
        boundary equilibrium. Static weights are drawn for the first seed
        of ``spec.simulation.seeds``.
    transfers : mapping of str to SoftplusTransfer
        The rate function of every LIF population, by population name.
    out_dir : str or Path, optional
        Write a certificate folder here.
    start : ndarray, shape (n,), optional
        Start of the equilibrium search: rates (Hz) then weights as
        fractions of w_max. By default weights sit mid-way between their
        bounds and rates at the matching fast steady state.

    Returns
    -------
    MeanFieldOutcome

    Raises
    ------
    ValueError
        If a population has no transfer function.
    NotImplementedError
        If the spec is outside the mean-field model (a plastic projection
        from a LIF population).
    """
    missing = [p.name for p in spec.populations if p.name not in transfers]
    if missing:
        raise ValueError(
            f"transfers has no function for population(s) {', '.join(missing)}; "
            "give one SoftplusTransfer per LIF population"
        )
    structure = build_structure(spec)
    seed = spec.simulation.seeds[0]
    model = MeanFieldModel(
        spec, structure, dict(transfers), static_weights(structure, seed)
    )
    eq, problem = _equilibrium(model, _start_state(model) if start is None else start)
    outcome = MeanFieldOutcome(verdict="inconclusive", reason=problem, equilibrium=eq)
    if eq is not None:
        _judge(model, eq, outcome)
    outcome.certificate = _record(spec, model, transfers, seed, outcome)
    if out_dir is not None:
        outcome.path = _write(Path(out_dir), outcome)
    logger.info("mean-field verdict for %s: %s", spec.name, outcome.verdict)
    return outcome


def _judge(model: MeanFieldModel, eq: Equilibrium, outcome: MeanFieldOutcome) -> None:
    """Fill the verdict, Jacobian, check and search data of ``outcome``."""
    index = np.flatnonzero(eq.free)
    A = model.jacobian(eq.x)[index][:, index].tocsr()
    if not np.all(np.isfinite(A.data)):
        # For example a power-law weight dependence with 0 < mu < 1 has an
        # infinite derivative at a weight bound.
        outcome.reason = (
            "the Jacobian has non-finite entries at the equilibrium, so the "
            "linearisation does not exist there"
        )
        return
    outcome.A = A
    problem = _validity_problem(eq)
    search, check = _search_and_check(A)
    outcome.search, outcome.check = search, check
    if problem:
        outcome.reason = problem
    elif check is None:
        outcome.reason = search.reason()
    elif not check.valid:
        outcome.reason = (
            f"the rigorous check rejected the {check.claim} claim: {check.reason}"
        )
    else:
        outcome.verdict = "certified" if check.claim == "stable" else "refuted"
        outcome.reason = check.reason
        if check.claim == "stable":
            outcome.beta = float(search.candidate.beta)
        else:
            outcome.growth_rate_lower = check.growth_rate_lower


def _versions() -> dict[str, str]:
    import importlib.metadata as metadata

    versions = {"biosynapse-verify": __version__, "python": platform.python_version()}
    for package in ("numpy", "scipy", "python-flint"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _claim(outcome: MeanFieldOutcome) -> str:
    if outcome.verdict == "certified":
        return (
            f"V(x) = 1/2 (x - x*)' P (x - x*) with lambda_min(P) >= 1 satisfies "
            f"dV/dt <= -{outcome.beta:.6g} ||x - x*||^2 for the linearised mean-field "
            f"dynamics at the {outcome.equilibrium.kind} equilibrium x*."
        )
    if outcome.verdict == "refuted":
        return (
            f"The linearised mean-field dynamics at the {outcome.equilibrium.kind} "
            f"equilibrium have an eigenvalue with real part at least "
            f"{outcome.growth_rate_lower:.6g} 1/s, so x* is unstable."
        )
    return f"No verdict: {outcome.reason}"


def _record(
    spec: NetworkSpec,
    model: MeanFieldModel,
    transfers: Mapping[str, SoftplusTransfer],
    seed: int,
    outcome: MeanFieldOutcome,
) -> dict[str, Any]:
    """Build the certificate record in the pipeline's format."""
    from biosynapse_verify.pipeline import matrix_hash
    from biosynapse_verify.report import CERTIFICATE_FORMAT

    eq = outcome.equilibrium
    record: dict[str, Any] = {
        "format": dict(CERTIFICATE_FORMAT),
        "network": spec.name,
        "source": spec.source,
        "verdict": outcome.verdict,
        "reason": outcome.reason,
        "claim": _claim(outcome),
        "scope": SCOPE,
        "state": {
            "n": int(model.n if eq is None else eq.free.sum()),
            "n_rates": model.n_rates,
            "n_weights": model.n_weights,
            "coordinates": "rates in Hz, then plastic weights as fractions of w_max",
        },
        "equilibrium": None if eq is None else eq.to_dict(),
        "calibration": {
            name: {
                "function": "softplus: gain*width*log(1+exp((u-threshold)/width))",
                "parameters": transfer.to_dict(),
                "source": "given by the caller; not calibrated against simulation",
            }
            for name, transfer in transfers.items()
        },
        "simulation": {"seeds": [seed], "note": "no simulation was run"},
        "versions": _versions(),
        "hashes": {"spec": spec_hash(spec)},
        "spec": spec.model_dump(mode="json"),
    }
    if outcome.A is not None:
        search = outcome.search
        record["hashes"]["A"] = matrix_hash(outcome.A)
        record["ladder"] = _finite_or_none(search.to_dict())
        record["check"] = None if outcome.check is None else outcome.check.to_dict()
        if search.candidate is not None:
            record["certificate"] = search.candidate.to_dict()
        if search.instability is not None:
            record["refutation"] = _finite_or_none(search.instability.to_dict())
    return record


def _finite_or_none(value: Any) -> Any:
    """Replace non-finite floats in nested dicts and lists with None.

    JSON has no NaN or infinity, so a search diagnostic that is not finite
    is written as null.
    """
    from biosynapse_verify.report import replace_non_finite

    return replace_non_finite(value)[0]


def _write(out_dir: Path, outcome: MeanFieldOutcome) -> Path:
    """Write the certificate folder and return the path of certificate.json."""
    from biosynapse_verify.recheck import recheck_instructions
    from biosynapse_verify.report import write_report

    arrays: dict[str, Any] = {}
    if outcome.A is not None:
        arrays["A"] = sp.csr_matrix(outcome.A)
        if outcome.search.candidate is not None:
            candidate = outcome.search.candidate
            # As the pipeline stores them: a structured P as its sparse middle
            # factor W, plus the shear N of a factored P.
            P = candidate.P
            arrays["P"] = sp.csr_matrix(P) if sp.issparse(P) else np.asarray(P)
            if getattr(candidate, "transform", None) is not None:
                arrays["P_transform"] = sp.csr_matrix(candidate.transform)
        chetaev = _chetaev(outcome.search)
        if chetaev is not None:
            arrays["P_chetaev"] = np.asarray(chetaev.P)
    if outcome.equilibrium is not None:
        arrays["x_star"] = outcome.equilibrium.x
        arrays["free"] = outcome.equilibrium.free.astype(np.int8)
    path = out_dir / "certificate.json"
    outcome.certificate["recheck"] = recheck_instructions(path)
    paths = write_report(out_dir, outcome.certificate, {}, arrays)
    return paths["certificate.json"]
