"""The ``verify`` job: simulate, calibrate, linearise, certify, check, report.

Each stage is a short function; :func:`verify` runs them in order and
returns a :class:`VerifyOutcome` with the verdict, the certificate record and
the paths written. Progress goes to a ``progress(stage, fraction)`` callback so
the command line can draw it; the library itself only logs.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from biosynapse_verify import __version__
from biosynapse_verify.dynamics.calibration import calibrate_transfer, static_weights
from biosynapse_verify.dynamics.equilibrium import (
    RELATIVE_RESIDUAL_TOL,
    Equilibrium,
    EquilibriumError,
    find_boundary,
    find_interior,
    relative_residual,
    settle_rates,
)
from biosynapse_verify.dynamics.meanfield import MeanFieldModel
from biosynapse_verify.errors import NumericalFailure
from biosynapse_verify.evidence import distance_series, fit_decay_rate, weight_summary
from biosynapse_verify.forgetting import measure_forgetting
from biosynapse_verify.spec.loader import spec_hash
from biosynapse_verify.spec.schema import NetworkSpec
from biosynapse_verify.spec.structure import NetworkStructure, build_structure

if TYPE_CHECKING:
    from biosynapse_verify.certify import SearchOptions

__all__ = ["NumericalFailure", "VerifyOptions", "VerifyOutcome", "verify"]

logger = logging.getLogger(__name__)

Progress = Callable[[str, float], None]

EXIT_CERTIFIED = 0
EXIT_NOT_CERTIFIED = 1

# Dense eigenvalues are computed up to this size for the spectrum plot and the
# predicted decay rates; beyond it ARPACK finds the rightmost ones.
DENSE_SPECTRUM_MAX = 3000
# Above this state size the equilibrium search avoids sparse LU: Newton steps
# are solved by GMRES preconditioned with each neuron's block (its rate and
# input weights). SuperLU fills in the recurrent rate block of a network with
# 10^4 neurons and takes minutes per step; GMRES needs about 15 iterations.
ITERATIVE_NEWTON_MIN_N = 20_000
ITERATIVE_NEWTON_MAX_STEPS = 40
# Relative residual of each Newton step's GMRES solve. Inexact Newton still
# gains up to six orders of magnitude per step. A much smaller value cannot
# be reached near the solution of a stiff Jacobian because GMRES stalls at
# the rounding level of A x: with 1e-12, steps near the solution of
# networks/ei_10k.yaml (n = 160209) took 900 to 1200 iterations and about
# 3 minutes each on two cores.
ITERATIVE_NEWTON_RTOL = 1e-6
# Eigenvalues shown for such large Jacobians, and the tolerance of the
# shift-invert solves; about 40 s for n = 160209 on two cores.
SHIFT_INVERT_K = 8
SHIFT_INVERT_RTOL = 1e-8
# A neuron counts as silent at an equilibrium when phi'(drive) is below this
# fraction of its transfer function's gain. Below threshold the softplus rate,
# its slope, and so the STDP drift of the weights onto the neuron and their
# eigenvalues all scale with phi' / gain, so these weights barely learn.
SILENT_SLOPE_FRACTION = 1e-6
# Calibration extends this far (as a fraction of the weight range) above 1.5
# times the largest mean final weight, so Newton's iterates stay on fitted ground.
CALIBRATION_HEADROOM = 0.1


@dataclass
class VerifyOptions:
    """Settings of one ``verify`` run that are not part of the spec.

    Attributes
    ----------
    backend : str
        Simulator backend name.
    out_dir : Path or None
        Report folder; ``reports/<network>`` when None.
    duration : float or None
        Simulated time in seconds, overriding the spec.
    seeds : list of int or None
        Trial seeds, overriding the spec.
    backend_options : dict
        Keyword arguments of the backend's constructor, for example
        ``{"device": "cuda"}`` for torch or ``{"run_config": "fixed_pt"}``
        for Lava.
    compare_backend : str or None
        A second backend that simulates the spec with the same seeds; the
        report then shows both side by side with two-sample tests
        (:func:`~biosynapse_verify.simulate.compare.run_backend_comparison`).
    compare_options : dict
        Keyword arguments of the second backend's constructor.
    pdf : bool
        Write certificate.pdf when WeasyPrint imports; False skips it.
    """

    backend: str = "torch"
    out_dir: Path | None = None
    duration: float | None = None
    seeds: list[int] | None = None
    backend_options: dict = field(default_factory=dict)
    compare_backend: str | None = None
    compare_options: dict = field(default_factory=dict)
    pdf: bool = True


@dataclass
class VerifyOutcome:
    """Result of :func:`verify`."""

    verdict: str
    exit_code: int
    certificate: dict
    paths: dict[str, Path] = field(default_factory=dict)


def _no_progress(stage: str, fraction: float) -> None:
    return None


def verify(
    spec: NetworkSpec, options: VerifyOptions | None = None, progress: Progress = _no_progress
) -> VerifyOutcome:
    """Run the whole verification of ``spec`` and write its report.

    Raises
    ------
    NumericalFailure
        When the simulation produces non-finite values or no equilibrium can
        be found.
    """
    from biosynapse_verify.simulate import get_backend

    options = options or VerifyOptions()
    timings: dict[str, float] = {}
    structure = build_structure(spec)
    backend = get_backend(options.backend, **options.backend_options)

    with _timed(timings, "simulation"):
        sim = backend.run(
            spec,
            seeds=options.seeds,
            duration=options.duration,
            progress=lambda f: progress("simulate", f),
        )
    _require_finite(sim)
    with _timed(timings, "calibration"):
        fits = calibrate_transfer(
            spec,
            structure,
            backend,
            progress=lambda f: progress("calibrate", f),
            max_level=_calibration_ceiling(spec, sim),
        )
    model = MeanFieldModel(
        spec,
        structure,
        {name: fit.transfer for name, fit in fits.items()},
        static_weights(structure, sim.seeds[0]),
    )
    with _timed(timings, "equilibrium"):
        states = _simulated_states(model, sim)
        interior, boundary, notes = _equilibria(model, spec, states)
    judged = interior if spec.analysis.equilibrium == "interior" else boundary

    analysis = _analyse(judged, model, timings, progress)
    record = _record(
        spec, options, sim, fits, model, states, interior, boundary, judged, analysis, notes
    )
    if options.compare_backend is not None:
        from biosynapse_verify.simulate.compare import run_backend_comparison

        with _timed(timings, "comparison"):
            record["backend_comparison"] = run_backend_comparison(
                spec, backend, sim, options.compare_backend, options.compare_options,
                seeds=options.seeds, duration=options.duration,
                progress=lambda f: progress("compare", f),
            )
    if spec.forgetting is not None:
        with _timed(timings, "forgetting"):
            forgetting = measure_forgetting(
                spec,
                backend,
                progress=lambda f: progress("forgetting", f),
                seeds=options.seeds,
            )
        record["forgetting"] = forgetting.to_dict()
        analysis["forgetting_figure"] = forgetting.figure()
    record["timings"] = timings
    paths = _write(spec, options, record, analysis, sim, model, states, judged)
    exit_code = EXIT_CERTIFIED if record["verdict"] == "certified" else EXIT_NOT_CERTIFIED
    return VerifyOutcome(record["verdict"], exit_code, record, paths)


# --------------------------------------------------------------------- stages
class _timed:
    def __init__(self, timings: dict[str, float], name: str) -> None:
        self.timings, self.name = timings, name

    def __enter__(self) -> None:
        self.start = time.perf_counter()
        logger.info("stage %s started", self.name)

    def __exit__(self, *exc: object) -> None:
        self.timings[self.name] = time.perf_counter() - self.start
        logger.info("stage %s took %.2f s", self.name, self.timings[self.name])


def _require_finite(sim: object) -> None:
    for name, weights in sim.weights.items():
        if not np.all(np.isfinite(weights)):
            raise NumericalFailure(
                f"simulation produced non-finite weights in projection {name!r}; "
                "reduce dt or check the plasticity parameters"
            )


def _calibration_ceiling(spec: NetworkSpec, sim: object) -> float:
    """Highest calibration level: the largest mean final weight, plus headroom.

    Levels are fractions of each plastic projection's range; the ceiling is
    1.5 times the largest seed-mean final level plus 0.1, capped at 1.
    """
    levels = [0.0]
    for proj in spec.projections:
        if proj.plasticity is not None:
            final = sim.weights[proj.name][:, -1]
            levels.append(float(np.mean((final - proj.w_min) / (proj.w_max - proj.w_min))))
    return float(min(1.0, 1.5 * max(levels) + CALIBRATION_HEADROOM))


def _simulated_states(model: MeanFieldModel, sim: object) -> np.ndarray:
    """Stack the simulation into states ``(B, R, n)`` at the record times.

    The rate at a record time is the rate measured over the interval that
    ends there; at t = 0 the first interval's rate is used.
    """
    rates = np.concatenate(
        [sim.window_rates[p.name] for p in model.spec.populations], axis=2
    )
    rates = np.concatenate([rates[:, :1], rates], axis=1)
    batch, records = rates.shape[:2]
    states = np.empty((batch, records, model.n))
    states[..., : model.n_rates] = rates
    for block in model.plastic_blocks():
        proj = block.structure.spec
        states[..., block.weight_slice] = sim.weights[proj.name] / proj.w_max
    return states


def _end_state(model: MeanFieldModel, states: np.ndarray, fraction: float) -> np.ndarray:
    """Seed-averaged state over the last ``fraction`` of the record."""
    records = states.shape[1]
    start = min(records - 1, int(np.floor(records * (1.0 - fraction))))
    x = states[:, start:, :].mean(axis=(0, 1))
    x[model.n_rates :] = states[:, -1, model.n_rates :].mean(axis=0)
    return x


def _equilibria(
    model: MeanFieldModel, spec: NetworkSpec, states: np.ndarray
) -> tuple[Equilibrium | None, Equilibrium | None, list[str]]:
    """Find the interior equilibrium (two starts) and a boundary equilibrium."""
    notes: list[str] = []
    x_end = _end_state(model, states, spec.analysis.settle_fraction)
    interior = None
    starts = {"simulator end state (seed average)": x_end}
    uniform = x_end.copy()
    uniform[model.n_rates :] = x_end[model.n_rates :].mean()
    starts["uniform weights at the end-state mean"] = uniform
    for label, start in starts.items():
        try:
            if model.n > ITERATIVE_NEWTON_MIN_N:
                start = settle_rates(model, start, iterative=True)
                start = _newton_block_jacobi(model, start)
            interior = find_interior(model, start)
            interior.notes.append(f"Newton started from the {label}")
            interior.notes.extend(_silent_neuron_notes(model, interior.x))
            break
        except EquilibriumError as err:
            notes.append(f"interior Newton from the {label} failed: {err}")
    boundary = None
    if model.n > ITERATIVE_NEWTON_MIN_N and spec.analysis.equilibrium == "interior":
        # find_boundary integrates the clipped dynamics with sparse LU solves of
        # the rate block at every step, which does not scale to large networks.
        notes.append(
            f"boundary equilibrium not searched: n = {model.n} exceeds "
            f"{ITERATIVE_NEWTON_MIN_N} and the spec judges the interior equilibrium"
        )
    else:
        boundary_start = states[0, -1].copy()
        boundary_start[: model.n_rates] = x_end[: model.n_rates]
        try:
            boundary = find_boundary(model, boundary_start)
        except EquilibriumError as err:
            notes.append(f"boundary equilibrium search failed: {err}")
    if interior is None and boundary is None:
        raise NumericalFailure("no equilibrium found: " + "; ".join(notes))
    return interior, boundary, notes


def _silent_neuron_notes(model: MeanFieldModel, x: np.ndarray) -> list[str]:
    """Return a note counting the neurons that are silent at state ``x``, if any."""
    drive = model.drive(x)
    silent = 0
    for pop in model.spec.populations:
        start = model.rate_offsets[pop.name]
        transfer = model.transfers[pop.name]
        slope = transfer.slope(drive[start : start + pop.size])
        silent += int(np.sum(slope < SILENT_SLOPE_FRACTION * transfer.gain))
    if silent == 0:
        return []
    return [
        f"{silent} of {model.n_rates} neurons are silent at this equilibrium "
        f"(phi' below {SILENT_SLOPE_FRACTION:g} of the gain): the weights onto them "
        "barely learn, so A has eigenvalues near zero in those directions"
    ]


def _newton_block_jacobi(model: MeanFieldModel, x0: np.ndarray) -> np.ndarray:
    """Run damped inexact Newton on F(x) = 0 with block-Jacobi GMRES steps.

    Each step's linear solve stops at the relative residual
    ITERATIVE_NEWTON_RTOL, and Newton stops at the relative residual that
    :func:`find_interior` accepts, so that function confirms the result
    without a sparse LU step.

    Raises
    ------
    EquilibriumError
        If the residual is still above the tolerance after
        ITERATIVE_NEWTON_MAX_STEPS steps, or a step is not finite.
    """
    from biosynapse_verify.certify.blocks import BlockJacobiSolver

    labels = _state_structure(model).blocks
    x = x0.copy()
    for step in range(ITERATIVE_NEWTON_MAX_STEPS):
        residual = relative_residual(model, x)
        if residual <= RELATIVE_RESIDUAL_TOL:
            return x
        drift = model.drift(x)
        solver = BlockJacobiSolver(model.jacobian(x), labels, rtol=ITERATIVE_NEWTON_RTOL)
        delta, info = solver.solve(-drift)
        if not np.all(np.isfinite(delta)):
            raise EquilibriumError(f"block-Jacobi Newton step {step} gave non-finite values")
        x = _damped_step(model, x, delta, float(np.linalg.norm(drift)))
        logger.debug(
            "block-Jacobi Newton step %d: relative residual %.3g, |F| = %.3g, "
            "GMRES info %d, %d iterations",
            step, residual, np.linalg.norm(drift), info, solver.iterations,
        )
    residual = relative_residual(model, x)
    if residual > RELATIVE_RESIDUAL_TOL:
        raise EquilibriumError(
            f"block-Jacobi Newton stopped after {ITERATIVE_NEWTON_MAX_STEPS} steps at "
            f"relative residual {residual:.3g} (tolerance {RELATIVE_RESIDUAL_TOL:g})"
        )
    return x


def _damped_step(
    model: MeanFieldModel, x: np.ndarray, delta: np.ndarray, norm: float
) -> np.ndarray:
    """Halve the step until |F| decreases (at most 30 times); rates stay >= 0."""
    step = 1.0
    for _ in range(30):
        trial = x + step * delta
        trial[: model.n_rates] = np.maximum(trial[: model.n_rates], 0.0)
        if np.linalg.norm(model.drift(trial)) < norm:
            return trial
        step *= 0.5
    return trial


def _jacobian_of(judged: Equilibrium, model: MeanFieldModel) -> sp.csr_matrix:
    jac = model.jacobian(judged.x)
    if judged.free.all():
        return jac
    index = np.flatnonzero(judged.free)
    return jac[index][:, index].tocsr()


def _state_structure(model: MeanFieldModel) -> object:
    """Return the StateStructure of the model: fast rates, one block per neuron."""
    from biosynapse_verify.certify import network_structure

    posts = [b.target_offset + b.structure.post for b in model.plastic_blocks()]
    weight_post = np.concatenate(posts) if posts else np.zeros(0, dtype=np.int64)
    return network_structure(model.n_rates, weight_post)


def _spectrum(jac: sp.csr_matrix, labels: np.ndarray | None = None) -> np.ndarray:
    """Return eigenvalues of the Jacobian for the report: all, or the rightmost.

    Up to DENSE_SPECTRUM_MAX all of them. Above ITERATIVE_NEWTON_MIN_N (with
    the block labels of the state) the SHIFT_INVERT_K eigenvalues nearest 0,
    by shift-invert Arnoldi with block-Jacobi GMRES solves: for these stable
    or nearly stable networks they are the slow weight modes, and the
    rightmost-real-part search does not converge in reasonable time on a
    stiff matrix of that size. In between, ARPACK's rightmost 64.
    """
    import scipy.sparse.linalg as spla

    n = jac.shape[0]
    if n <= DENSE_SPECTRUM_MAX:
        return np.linalg.eigvals(jac.toarray())
    if n > ITERATIVE_NEWTON_MIN_N and labels is not None:
        from biosynapse_verify.certify.blocks import BlockJacobiSolver

        solver = BlockJacobiSolver(jac, labels, rtol=SHIFT_INVERT_RTOL)
        inverse = spla.LinearOperator(
            (n, n), matvec=lambda v: solver.solve(v)[0], dtype=np.float64
        )
        values = spla.eigs(
            inverse, k=SHIFT_INVERT_K, which="LM", tol=SHIFT_INVERT_RTOL,
            return_eigenvectors=False,
        )
        return 1.0 / values
    k = min(64, n - 2)
    return spla.eigs(jac, k=k, which="LR", return_eigenvectors=False)


def _search_options(jac: sp.csr_matrix) -> SearchOptions:
    """Return the search options for a Jacobian of this size.

    Above ITERATIVE_NEWTON_MIN_N no instability evidence is sought when the
    ladder finds no candidate: ARPACK's rightmost eigenvalues took 880 s at
    n = 160330 on two shared cores, and the Chetaev certificate that would
    turn them into a refutation needs a dense Lyapunov solve, which stops at
    lyapunov_max_n. The report's spectrum comes from :func:`_spectrum`.
    """
    from biosynapse_verify.certify import SearchOptions

    if jac.shape[0] > ITERATIVE_NEWTON_MIN_N:
        return SearchOptions(find_instability=False)
    return SearchOptions()


def _skipped_large_analysis(judged: Equilibrium, model: MeanFieldModel) -> str | None:
    """Return why a large network's spectrum and search are skipped, or None.

    Above ITERATIVE_NEWTON_MIN_N they take minutes, and they cannot change
    the verdict when the interior fixed point lies outside the weight
    bounds (see :func:`_verdict`) or when neurons are silent there. The
    weights onto a silent neuron have eigenvalues within
    SILENT_SLOPE_FRACTION of zero relative to an active neuron's, so no
    certificate can prove a decay rate for them. On such a Jacobian the
    shift-invert solves also fail to converge: on ei_10k with a 17.5 mV bias
    the spectrum had not finished after 10 minutes.
    """
    if model.n <= ITERATIVE_NEWTON_MIN_N or judged.kind != "interior":
        return None
    if not judged.inside_bounds:
        return (
            "the interior fixed point lies outside the weight bounds, so the "
            f"spectrum and the certificate search of this n = {model.n} state "
            "were skipped; analyse the boundary equilibrium instead "
            "(analysis.equilibrium: boundary)"
        )
    silent = _silent_neuron_notes(model, judged.x)
    if silent:
        return (
            f"{silent[0]}; no certificate can prove a decay rate for them, so the "
            f"spectrum and the certificate search of this n = {model.n} state were "
            "skipped"
        )
    return None


def _analyse(
    judged: Equilibrium | None,
    model: MeanFieldModel,
    timings: dict[str, float],
    progress: Progress,
) -> dict:
    """Linearise at the judged equilibrium, search a certificate and check it."""
    from biosynapse_verify.certify import search_certificate
    from biosynapse_verify.check import check_instability, check_lyapunov

    if judged is None:
        return {
            "verdict": "inconclusive",
            "reason": "no equilibrium of the requested kind was found",
        }
    skipped = _skipped_large_analysis(judged, model)
    if skipped is not None:
        return {"verdict": "inconclusive", "reason": skipped}
    jac = _jacobian_of(judged, model)
    progress("certify", 0.0)
    structure = _state_structure(model).restricted(np.flatnonzero(judged.free))
    with _timed(timings, "spectrum"):
        eigenvalues = _spectrum(jac, structure.blocks)
    with _timed(timings, "search"):
        search = search_certificate(
            jac, structure=structure, options=_search_options(jac), eigenvalues=eigenvalues
        )
    progress("certify", 0.5)
    analysis = {"A": jac, "eigenvalues": eigenvalues, "search": search, "check": None}
    with _timed(timings, "check"):
        if search.candidate is not None:
            c = search.candidate
            analysis["check"] = check_lyapunov(
                jac, c.P, c.beta, transform=c.transform, rate=c.decay_rate or 0.0
            )
        elif search.instability is not None and search.instability.chetaev is not None:
            ch = search.instability.chetaev
            analysis["check"] = check_instability(jac, ch.P, ch.gamma, ch.witness)
    progress("certify", 1.0)
    analysis.update(_verdict(judged, search, analysis["check"]))
    return analysis


def _verdict(judged: Equilibrium, search: object, check: object) -> dict[str, str]:
    """Combine equilibrium validity, search and rigorous check into a verdict."""
    if judged.kind == "interior" and not judged.inside_bounds:
        return {
            "verdict": "inconclusive",
            "reason": "the interior fixed point lies outside the weight bounds; "
            "analyse the boundary equilibrium instead (analysis.equilibrium: boundary)",
        }
    if judged.kind == "boundary" and (judged.outward_margin or 1.0) <= 0:
        return {
            "verdict": "inconclusive",
            "reason": "a weight held at a bound has zero or inward drift, so the "
            "boundary state is not an equilibrium of the clipped dynamics",
        }
    if check is None:
        return {"verdict": "inconclusive", "reason": search.reason()}
    if not check.valid:
        return {
            "verdict": "inconclusive",
            "reason": f"the rigorous check rejected the {check.claim} claim: {check.reason}",
        }
    if check.claim == "stable":
        return {"verdict": "certified", "reason": check.reason}
    return {"verdict": "refuted", "reason": check.reason}


# ------------------------------------------------------------------- record
SCOPE = (
    "The certificate is for the averaged (mean-field) learning dynamics; the "
    "simulation is evidence for the spiking network."
)


def matrix_hash(matrix: sp.spmatrix | np.ndarray) -> str:
    """Return the SHA-256 of a matrix in canonical CSR form (shape, indices, values)."""
    from biosynapse_verify.hashing import canonical_matrix_sha256

    return canonical_matrix_sha256(matrix)


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    versions = {"biosynapse-verify": __version__, "python": platform.python_version()}
    for package in ("numpy", "scipy", "torch", "cvxpy", "scs", "python-flint", "sympy"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _spectral_summary(eigenvalues: np.ndarray, count: int = 8) -> dict:
    order = np.argsort(-eigenvalues.real)
    top = eigenvalues[order[:count]]
    return {
        "spectral_abscissa": float(eigenvalues.real.max()),
        "n_eigenvalues": int(eigenvalues.size),
        "n_positive_real_part": int(np.sum(eigenvalues.real > 0)),
        "rightmost": [[float(z.real), float(z.imag)] for z in top],
        "note": "floating-point eigenvalues, shown as evidence; the verdict rests on the rigorous check",
    }


def _other_equilibrium(
    eq: Equilibrium | None, model: MeanFieldModel, judged: Equilibrium | None, analysis: dict
) -> dict | None:
    """Summarise an equilibrium and its spectrum (reused when it is the judged one)."""
    if eq is None:
        return None
    summary = eq.to_dict()
    if eq is judged and "eigenvalues" in analysis:
        eigenvalues = analysis["eigenvalues"]
    elif eq is judged:
        # The analysis was skipped (see _skipped_large_analysis), and the
        # shift-invert spectrum would not converge either.
        summary["spectrum"] = None
        return summary
    else:
        labels = _state_structure(model).restricted(np.flatnonzero(eq.free)).blocks
        eigenvalues = _spectrum(_jacobian_of(eq, model), labels)
    summary["spectrum"] = _spectral_summary(eigenvalues)
    return summary


def _claim(verdict: str, judged: Equilibrium | None, analysis: dict) -> str:
    kind = judged.kind if judged else "requested"
    if verdict == "certified":
        cert = analysis["search"].candidate
        return (
            f"V(x) = 1/2 (x - x*)' P (x - x*) with lambda_min(P) >= 1 satisfies "
            f"dV/dt <= -{cert.beta:.6g} ||x - x*||^2 for the linearised mean-field "
            f"dynamics at the {kind} equilibrium x*, so x* is locally exponentially stable."
        )
    if verdict == "refuted":
        growth = analysis["check"].growth_rate_lower
        return (
            f"The linearised mean-field dynamics at the {kind} equilibrium have an "
            f"eigenvalue with real part at least {growth:.6g} 1/s, so x* is unstable."
        )
    return f"No verdict on the {kind} equilibrium: {analysis['reason']}"


def _record(
    spec: NetworkSpec,
    options: VerifyOptions,
    sim: object,
    fits: dict,
    model: MeanFieldModel,
    states: np.ndarray,
    interior: Equilibrium | None,
    boundary: Equilibrium | None,
    judged: Equilibrium | None,
    analysis: dict,
    notes: list[str],
) -> dict:
    verdict = analysis["verdict"]
    record: dict = {
        "format": {"name": "biosynapse-verify certificate", "version": 1},
        "network": spec.name,
        "source": spec.source,
        "verdict": verdict,
        "reason": analysis["reason"],
        "claim": _claim(verdict, judged, analysis),
        "scope": SCOPE,
        "state": {
            "n": int(model.n if judged is None else judged.free.sum()),
            "n_rates": model.n_rates,
            "n_weights": model.n_weights,
            "coordinates": "rates in Hz, then plastic weights as fractions of w_max",
        },
        "equilibrium": None if judged is None else judged.to_dict(),
        "equilibria": {
            "interior": _other_equilibrium(interior, model, judged, analysis),
            "boundary": _other_equilibrium(boundary, model, judged, analysis),
            "notes": notes,
        },
        "calibration": _calibration_record(fits, model, states, spec),
        "simulation": _simulation_record(sim, spec),
        "versions": _versions(),
        "hashes": {"spec": spec_hash(spec)},
        "spec": spec.model_dump(mode="json"),
    }
    if "A" in analysis:
        record["hashes"]["A"] = matrix_hash(analysis["A"])
        record["spectrum"] = _spectral_summary(analysis["eigenvalues"])
        record.update(_search_and_check_record(analysis))
        record["decay"] = _decay_record(analysis, judged, model, states, sim)
    return record


def _search_and_check_record(analysis: dict) -> dict:
    search, check = analysis["search"], analysis["check"]
    out = {"ladder": search.to_dict(), "check": None if check is None else check.to_dict()}
    if search.candidate is not None:
        out["certificate"] = search.candidate.to_dict()
    if search.instability is not None:
        out["refutation"] = search.instability.to_dict()
    out["tolerances"] = dict(getattr(search, "tolerances", {}) or {})
    if check is not None:
        out["tolerances"].update(getattr(check, "tolerances", {}) or {})
    return out


def _calibration_record(
    fits: dict, model: MeanFieldModel, states: np.ndarray, spec: NetworkSpec
) -> dict:
    """Fit quality, plus how well phi predicts the simulated end-state rates."""
    x_end = _end_state(model, states, spec.analysis.settle_fraction)
    drive = model.drive(x_end)
    out = {}
    for pop in spec.populations:
        part = slice(model.rate_offsets[pop.name], model.rate_offsets[pop.name] + pop.size)
        predicted = fits[pop.name].transfer.rate(drive[part])
        measured = x_end[part]
        entry = fits[pop.name].to_dict()
        entry["end_state_rate_measured_Hz"] = float(measured.mean())
        entry["end_state_rate_predicted_Hz"] = float(predicted.mean())
        entry["end_state_rms_error_Hz"] = float(np.sqrt(np.mean((predicted - measured) ** 2)))
        out[pop.name] = entry
    return out


def _simulation_record(sim: object, spec: NetworkSpec) -> dict:
    weights = {}
    for proj in spec.projections:
        if proj.plasticity is None:
            continue
        weights[proj.name] = weight_summary(
            sim.weights[proj.name][:, -1], proj.w_min, proj.w_max
        )
    rates = {
        pop.name: float(sim.mean_rates(pop.name).mean()) for pop in spec.populations
    }
    return {
        "backend": sim.backend,
        "seeds": list(sim.seeds),
        "dt_s": sim.dt,
        "duration_s": sim.duration,
        "wall_time_s": sim.wall_time,
        "mean_rate_Hz": rates,
        "final_weights": weights,
    }


def _certified_rate(candidate: object) -> float:
    """Return the proven decay rate of ||x - x*|| in 1/s.

    That is the checked rate gamma with -(A^T P + P A) >= 2 gamma P when the
    strategy claims one, else beta / lambda_max(P).
    """
    if getattr(candidate, "decay_rate", None):
        return float(candidate.decay_rate)
    return float(candidate.alpha)


def _decay_record(
    analysis: dict,
    judged: Equilibrium,
    model: MeanFieldModel,
    states: np.ndarray,
    sim: object,
) -> dict:
    weights_only = judged.free.copy()
    weights_only[: model.n_rates] = False
    times = np.asarray(sim.record_times)
    distance = distance_series(states, judged.x, weights_only).mean(axis=0)
    measured = fit_decay_rate(times, distance) if weights_only.any() else {"rate": None}
    eigenvalues = analysis["eigenvalues"]
    out = {
        "measured_weight_decay_rate_per_s": measured["rate"],
        "measured_window_s": [measured.get("t_start"), measured.get("t_stop")],
        "measured_fit": measured.get("window") or measured.get("reason"),
        "predicted_slowest_rate_per_s": float(-eigenvalues.real.max()),
        "note": "positive rates decay, negative rates grow; the measured rate is a "
        "log-linear fit of the seed-mean weight distance from x* above its noise floor",
    }
    if analysis["search"].candidate is not None:
        out["certified_rate_per_s"] = _certified_rate(analysis["search"].candidate)
    return out


# ------------------------------------------------------------------- output
def _figures(
    record: dict,
    analysis: dict,
    sim: object,
    model: MeanFieldModel,
    states: np.ndarray,
    judged: Equilibrium | None,
) -> dict[str, bytes]:
    """Draw the report's figures from the simulation and the analysis."""
    from biosynapse_verify.report import (
        plot_decay_rates,
        plot_distance,
        plot_spectrum,
        plot_weight_histograms,
    )

    figures: dict[str, bytes] = {}
    if "forgetting_figure" in analysis:
        figures["forgetting"] = analysis["forgetting_figure"]
    times = np.asarray(sim.record_times)
    for proj in model.spec.projections:
        if proj.plasticity is not None:
            figures[f"weights_{proj.name}"] = plot_weight_histograms(
                times,
                sim.weights[proj.name],
                proj.w_min,
                proj.w_max,
                title=f"Weights of {proj.name} over time (all seeds)",
            )
    if "eigenvalues" in analysis:
        figures["spectrum"] = plot_spectrum(
            analysis["eigenvalues"],
            title=f"Spectrum of A at the {judged.kind} equilibrium",
        )
        weights_only = judged.free.copy()
        weights_only[: model.n_rates] = False
        curve = judged.free if not weights_only.any() else weights_only
        distance = distance_series(states, judged.x, curve)
        bound = None
        if analysis["verdict"] == "certified":
            # ||x_w(t) - x_w*|| <= ||x(t) - x*|| <= sqrt(kappa) e^{-rate t} ||x(0) - x*||,
            # started from the largest full-state distance over seeds.
            c = analysis["search"].candidate
            start = distance_series(states[:, :1], judged.x, judged.free).max()
            rate = _certified_rate(c)
            bound = np.sqrt(c.lambda_max_P / c.lambda_min_P) * np.exp(-rate * times) * start
        figures["distance"] = plot_distance(
            times,
            distance,
            bound,
            title="Weight distance ||u(t) - u*|| (fractions of w_max) and the certified bound",
        )
        decay = record.get("decay", {})
        measured = decay.get("measured_weight_decay_rate_per_s")
        if measured is not None:
            predicted = [decay["predicted_slowest_rate_per_s"]]
            labels = ["slowest eigenvalue of A"]
            if "certified_rate_per_s" in decay:
                predicted.append(decay["certified_rate_per_s"])
                labels.append("certified decay rate")
            figures["decay_rates"] = plot_decay_rates(
                predicted, [measured] * len(predicted), labels
            )
    return figures


def _write(
    spec: NetworkSpec,
    options: VerifyOptions,
    record: dict,
    analysis: dict,
    sim: object,
    model: MeanFieldModel,
    states: np.ndarray,
    judged: Equilibrium | None,
) -> dict[str, Path]:
    """Write the report folder; ``record`` is completed in place to match the JSON.

    The record gets the re-check command, a note on the PDF, and null for
    every non-finite float (JSON has none), with the places listed under
    ``non_finite_values``. The PDF is written when WeasyPrint can be imported.
    """
    from biosynapse_verify.recheck import recheck_instructions
    from biosynapse_verify.report import replace_non_finite, write_report
    from biosynapse_verify.report.writer import CERTIFICATE_JSON

    out_dir = options.out_dir or Path("reports") / spec.name
    record["recheck"] = recheck_instructions(out_dir / CERTIFICATE_JSON)
    pdf_problem = _pdf_unavailable() if options.pdf else PDF_NOT_REQUESTED
    record["pdf"] = _pdf_record(pdf_problem)
    finite, replaced = replace_non_finite(record)
    if replaced:
        logger.warning(
            "%d non-finite values written as null: %s", len(replaced), "; ".join(replaced)
        )
        finite["non_finite_values"] = {
            "replaced_by_null": replaced,
            "note": "JSON has no NaN or infinity, so these values are written as null",
        }
    # The caller's dict is returned in VerifyOutcome and must equal the file.
    record.update(finite)
    arrays = _report_arrays(analysis, judged)
    figures = _figures(record, analysis, sim, model, states, judged)
    return write_report(out_dir, record, figures, arrays, pdf=pdf_problem is None)


def _report_arrays(analysis: dict, judged: Equilibrium | None) -> dict[str, object]:
    """Return the arrays that ``biosynapse-verify check`` needs, by name.

    These are A on the free coordinates, x* and the free mask, plus P (and
    the shear of a factored P) for a certificate or the Chetaev matrix for
    a refutation.
    """
    from biosynapse_verify.recheck import CHETAEV_ARRAY

    arrays: dict[str, object] = {}
    if "A" in analysis:
        arrays["A"] = sp.csr_matrix(analysis["A"])
        if analysis["search"].candidate is not None:
            candidate = analysis["search"].candidate
            # A structured P is stored as its sparse middle factor, plus the
            # shear N when the certificate is (I + N)^T P (I + N).
            arrays["P"] = candidate.P if sp.issparse(candidate.P) else np.asarray(candidate.P)
            if candidate.transform is not None:
                arrays["P_transform"] = sp.csr_matrix(candidate.transform)
        instability = analysis["search"].instability
        if instability is not None and instability.chetaev is not None:
            arrays[CHETAEV_ARRAY] = np.asarray(instability.chetaev.P)
    if judged is not None:
        arrays["x_star"] = judged.x
        arrays["free"] = judged.free.astype(np.int8)
    return arrays


PDF_INSTALL_COMMAND = "pip install 'biosynapse-verify[pdf]'"
PDF_NOT_REQUESTED = "not requested (--no-pdf)"


def _pdf_unavailable() -> str | None:
    """Return why WeasyPrint cannot be used, or None when it imports.

    WeasyPrint raises OSError on import when its system libraries (Pango)
    are missing.
    """
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError) as err:
        logger.warning(
            "certificate.pdf skipped: WeasyPrint cannot be imported (%s); install it "
            "with %s",
            err,
            PDF_INSTALL_COMMAND,
        )
        return f"WeasyPrint cannot be imported ({err})"
    return None


def _pdf_record(problem: str | None) -> dict:
    if problem is None:
        return {"written": True, "file": "certificate.pdf"}
    if problem == PDF_NOT_REQUESTED:
        return {"written": False, "reason": problem}
    return {
        "written": False,
        "reason": f"{problem}; the HTML page has the same content",
        "install": PDF_INSTALL_COMMAND,
    }
