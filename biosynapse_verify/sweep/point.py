"""The analysis of one sweep point, without the long simulation of ``verify``.

For each point the sweep builds the mean-field model from a calibrated
transfer function and finds the judged equilibrium by Newton from
mean-field starts (uniform weights, rates from phi). It then runs the same
linearisation, certificate search, rigorous check and verdict as the verify
pipeline. The calibration runs a short spiking simulation, so it is done once per distinct
neuron and input configuration (:func:`calibration_key`) and shared. On
request each point also runs a short spiking simulation with learning on,
whose final weights give the measured weight distribution.

These functions run on Dask workers: they take and return plain data
(spec mappings, dicts and :class:`~biosynapse_verify.dynamics.TransferFit`).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import socket
import time
from typing import Any

import numpy as np
from scipy.optimize import brentq

from biosynapse_verify.dynamics.calibration import calibrate_transfer, static_weights
from biosynapse_verify.dynamics.equilibrium import (
    Equilibrium,
    EquilibriumError,
    find_boundary,
    find_interior,
)
from biosynapse_verify.dynamics.meanfield import MeanFieldModel
from biosynapse_verify.dynamics.transfer import SoftplusTransfer, TransferFit
from biosynapse_verify.errors import NumericalFailure
from biosynapse_verify.evidence import weight_summary
from biosynapse_verify.spec.loader import parse_spec
from biosynapse_verify.spec.schema import NetworkSpec
from biosynapse_verify.spec.structure import build_structure, initial_weights
from biosynapse_verify.sweep.columns import ETA_STAR_NOTE

__all__ = [
    "INTERIOR_START_LEVELS",
    "analyse_point",
    "calibrate_point",
    "calibration_key",
    "calibration_task",
    "find_judged_equilibrium",
    "fits_from_json",
    "fits_to_json",
    "point_task",
]

logger = logging.getLogger(__name__)

# Newton for the interior equilibrium starts from uniform weights at the
# levels (fractions of each plastic range) where the mean weight drift
# vanishes, then from these fixed levels, until one converges.
INTERIOR_START_LEVELS = (0.5, 0.25, 0.75, 0.1, 0.9)
# The mean weight drift of uniform weights is scanned for sign changes at
# this many levels, evenly spaced inside (0, 1), and Brent's method refines
# each change. The ends stay off the bounds, where the power-law derivatives
# are singular.
SCAN_LEVELS = 25
SCAN_MARGIN = 0.01
# Rates of the start state come from this many fixed-point passes
# r <- phi(d(r, u)); one pass is exact without recurrent projections.
START_RATE_PASSES = 5


# ---------------------------------------------------------------- calibration
def calibration_key(spec: NetworkSpec, max_level: float) -> str:
    """Return the hash of everything the transfer-function calibration depends on.

    That is the inputs, the populations, the connectivity and static weights,
    the weight ranges of plastic projections, the time step, the calibration
    settings and the first trial seed, which draws the static weights. The
    STDP parameters and the simulation length do not matter, because the
    calibration runs with learning off.
    """
    data = spec.model_dump(mode="json")
    projections = []
    for proj in data["projections"]:
        proj = dict(proj)
        plastic = proj.pop("plasticity") is not None
        if plastic:
            proj.pop("weight")
        projections.append({**proj, "plastic": plastic})
    relevant = {
        "inputs": data["inputs"],
        "populations": data["populations"],
        "projections": projections,
        "dt": data["simulation"]["dt"],
        "first_seed": data["simulation"]["seeds"][0],
        "connectivity_seed": data["simulation"]["connectivity_seed"],
        "calibration": data["analysis"]["calibration"],
        "max_level": max_level,
    }
    canonical = json.dumps(relevant, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def calibrate_point(spec_data: dict, max_level: float) -> dict[str, TransferFit]:
    """Fit the transfer function of every population of ``spec_data``.

    Runs :func:`~biosynapse_verify.dynamics.calibration.calibrate_transfer`
    with the torch backend (learning off, one batch row per weight level).

    Raises
    ------
    NumericalFailure
        If too few calibration levels fire to fit the function.
    """
    from biosynapse_verify.simulate import get_backend

    spec = parse_spec(spec_data)
    structure = build_structure(spec)
    try:
        return calibrate_transfer(spec, structure, get_backend("torch"), max_level=max_level)
    except ValueError as err:
        raise NumericalFailure(f"calibration of {spec.name!r} failed: {err}") from None


def fits_to_json(fits: dict[str, TransferFit]) -> dict[str, dict]:
    """Return the fits as JSON-ready dicts (parameters, points and errors)."""
    return {
        name: {
            "transfer": fit.transfer.to_dict(),
            "drive_V": fit.drive.tolist(),
            "rate_Hz": fit.rate.tolist(),
            "rms_error_Hz": fit.rms_error,
            "max_abs_error_Hz": fit.max_abs_error,
        }
        for name, fit in fits.items()
    }


def fits_from_json(data: dict[str, dict]) -> dict[str, TransferFit]:
    """Rebuild the fits written by :func:`fits_to_json`."""
    return {
        name: TransferFit(
            transfer=SoftplusTransfer(**entry["transfer"]),
            drive=np.asarray(entry["drive_V"], dtype=np.float64),
            rate=np.asarray(entry["rate_Hz"], dtype=np.float64),
            rms_error=float(entry["rms_error_Hz"]),
            max_abs_error=float(entry["max_abs_error_Hz"]),
        )
        for name, entry in data.items()
    }


# ---------------------------------------------------------------- equilibrium
def _settled_start(model: MeanFieldModel, weights: np.ndarray) -> np.ndarray:
    """Return a state with the given normalised weights and rates from phi."""
    x = np.zeros(model.n)
    x[model.n_rates :] = weights
    for _ in range(START_RATE_PASSES):
        drive = model.drive(x)
        for pop in model.spec.populations:
            part = slice(model.rate_offsets[pop.name], model.rate_offsets[pop.name] + pop.size)
            x[part] = model.transfers[pop.name].rate(drive[part])
    return x


def _uniform_weights(model: MeanFieldModel, level: float) -> np.ndarray:
    lower, upper = model.bounds()
    return lower + level * (upper - lower)


def _mean_weight_drift(model: MeanFieldModel, level: float) -> float:
    """Return the mean weight drift (1/s) of uniform weights at ``level``."""
    x = _settled_start(model, _uniform_weights(model, level))
    return float(model.drift(x)[model.n_rates :].mean())


def _uniform_roots(model: MeanFieldModel) -> list[tuple[float, bool]]:
    """Return the levels where the mean drift of uniform weights changes sign.

    For a network whose plastic synapses all see the same input rate, the
    symmetric interior equilibrium has uniform weights at such a level, so
    Newton starts there next to the solution.

    Returns
    -------
    list of (level, attracting)
        ``attracting`` is True where the drift falls through zero, so the
        uniform weight mode is pulled towards the level.
    """
    levels = np.linspace(SCAN_MARGIN, 1.0 - SCAN_MARGIN, SCAN_LEVELS)
    drifts = [_mean_weight_drift(model, level) for level in levels]
    roots = []
    for k in range(SCAN_LEVELS - 1):
        low, high = drifts[k], drifts[k + 1]
        if not (np.isfinite(low) and np.isfinite(high)) or low * high > 0 or low == high:
            continue
        level = (
            float(levels[k])
            if low == 0.0
            else brentq(lambda u: _mean_weight_drift(model, u), levels[k], levels[k + 1])
        )
        roots.append((level, high < low))
    return roots


def _start_levels(model: MeanFieldModel, spec: NetworkSpec) -> list[float]:
    """Order the Newton starts: attracting roots first, nearest the initial weights.

    Several uniform roots are common: a silent state at low weights, where
    phi is flat, and the active state that the network reaches from its
    initial weights. Attracting roots come first, each group ordered by the
    distance to the mean initial weight of the first seed, then the fixed
    :data:`INTERIOR_START_LEVELS`.
    """
    lower, upper = model.bounds()
    initial = _initial_weights(model, spec.simulation.seeds[0])
    target = float(np.mean((initial - lower) / (upper - lower)))
    roots = sorted(_uniform_roots(model), key=lambda r: (not r[1], abs(r[0] - target)))
    return [level for level, _ in roots] + list(INTERIOR_START_LEVELS)


def _initial_weights(model: MeanFieldModel, seed: int) -> np.ndarray:
    """Return the spec's initial plastic weights for ``seed``, normalised."""
    parts = [
        initial_weights(block.structure, seed) / block.structure.spec.w_max
        for block in model.plastic_blocks()
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


def find_judged_equilibrium(
    model: MeanFieldModel, spec: NetworkSpec
) -> tuple[Equilibrium | None, list[str]]:
    """Find the equilibrium that ``spec.analysis.equilibrium`` names.

    The interior one by Newton from uniform weights, first at the levels
    where their mean drift vanishes (see :func:`_start_levels`), then at
    :data:`INTERIOR_START_LEVELS`; a boundary one by integrating the clipped
    dynamics from the spec's initial weights of the first seed (a uniform
    start would keep the symmetry that weight competition needs to break).

    Returns
    -------
    equilibrium : Equilibrium or None
        None when no start converged.
    notes : list of str
        One line per failed start.
    """
    notes: list[str] = []
    if spec.analysis.equilibrium == "boundary":
        start = _settled_start(model, _initial_weights(model, spec.simulation.seeds[0]))
        try:
            return find_boundary(model, start), notes
        except EquilibriumError as err:
            return None, [f"boundary equilibrium search failed: {err}"]
    if model.n_weights == 0:
        return find_interior(model, _settled_start(model, np.zeros(0))), notes
    for level in _start_levels(model, spec):
        start = _settled_start(model, _uniform_weights(model, level))
        try:
            equilibrium = find_interior(model, start)
        except EquilibriumError as err:
            notes.append(f"Newton from uniform weights at {level:.4g} of the range failed: {err}")
            continue
        equilibrium.notes.append(
            f"Newton started from uniform weights at {level:.4g} of the range"
        )
        return equilibrium, notes
    return None, notes


# ------------------------------------------------------------------ analysis
def _no_progress(stage: str, fraction: float) -> None:
    return None


def _eta_star(candidate: Any, model: MeanFieldModel) -> float | None:
    """Return the largest certified eta of the first plastic projection, if known.

    A strategy that bounds the learning rate (the two-time-scale composite
    certificate) reports in its details the factor ``eta_factor_max`` by which
    every plastic projection's eta can be scaled. Other strategies report
    nothing, and the column stays null.
    """
    factor = (getattr(candidate, "details", None) or {}).get("eta_factor_max")
    blocks = model.plastic_blocks()
    if factor is None or not blocks:
        return None
    return float(factor) * blocks[0].structure.spec.plasticity.eta


def _verdict_columns(
    analysis: dict, judged: Equilibrium | None, model: MeanFieldModel
) -> dict[str, Any]:
    """Flatten the pipeline's analysis of one equilibrium into table columns."""
    row: dict[str, Any] = {"verdict": analysis["verdict"], "reason": analysis["reason"]}
    if judged is None or "search" not in analysis:
        return row
    eigenvalues = analysis["eigenvalues"]
    row["spectral_abscissa_per_s"] = float(eigenvalues.real.max())
    row["n_unstable"] = int(np.sum(eigenvalues.real > 0))
    row["state_dimension"] = int(analysis["A"].shape[0])
    candidate = analysis["search"].candidate
    check = analysis["check"]
    if check is not None:
        row["check_method"] = check.method
    if analysis["verdict"] == "certified":
        row["strategy"] = candidate.strategy
        row["beta"] = float(candidate.beta)
        row["decay_rate_per_s"] = float(candidate.alpha)
        row["lambda_max_P"] = float(candidate.lambda_max_P)
        row["eta_star"] = _eta_star(candidate, model)
    if analysis["verdict"] == "refuted":
        row["growth_rate_lower_per_s"] = float(check.growth_rate_lower)
    return row


def _equilibrium_columns(judged: Equilibrium | None, model: MeanFieldModel) -> dict[str, Any]:
    if judged is None:
        return {}
    weights = judged.x[model.n_rates :]
    return {
        "equilibrium_kind": judged.kind,
        "equilibrium_inside_bounds": bool(judged.inside_bounds),
        "equilibrium_weight_mean": float(weights.mean()) if weights.size else None,
        "equilibrium_rate_Hz": float(judged.x[: model.n_rates].mean()),
    }


def _simulation_columns(
    spec: NetworkSpec, duration: float, seeds: list[int]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Simulate with learning on; return table columns and per-projection detail."""
    from biosynapse_verify.simulate import get_backend

    sim = get_backend("torch").run(spec, seeds=seeds, duration=duration)
    summaries = {}
    for proj in spec.projections:
        if proj.plasticity is None:
            continue
        final = sim.weights[proj.name][:, -1]
        if not np.all(np.isfinite(final)):
            raise NumericalFailure(
                f"simulation produced non-finite weights in projection {proj.name!r}"
            )
        summaries[proj.name] = weight_summary(final, proj.w_min, proj.w_max)
    rates = np.concatenate([sim.mean_rates(pop.name) for pop in spec.populations], axis=None)
    row: dict[str, Any] = {
        "sim_duration_s": float(sim.duration),
        "sim_seeds": len(sim.seeds),
        "sim_rate_Hz": float(np.mean(rates)),
    }
    if summaries:
        first = next(iter(summaries.values()))
        row.update(
            sim_weight_mean=first["mean"],
            sim_weight_std=first["std"],
            sim_fraction_near_min=first["fraction_near_min"],
            sim_fraction_near_max=first["fraction_near_max"],
            sim_bimodality_coefficient=first["bimodality_coefficient"],
        )
    return row, {"final_weights": summaries, "wall_time_s": sim.wall_time}


def analyse_point(
    spec_data: dict,
    fits: dict[str, TransferFit],
    simulate: dict | None = None,
) -> dict[str, Any]:
    """Analyse one point: equilibrium, certificate search, rigorous check, verdict.

    Parameters
    ----------
    spec_data : dict
        The point's spec mapping.
    fits : dict of str to TransferFit
        The calibrated transfer function of every population.
    simulate : dict or None
        ``{"duration": seconds, "seeds": [...]}`` to also run a short spiking
        simulation with learning on; None to skip it.

    Returns
    -------
    dict
        ``row``: the point's result columns (see
        :mod:`biosynapse_verify.sweep.columns`), without key and axis
        columns; ``details``: equilibrium notes, the search's reason per
        strategy and the simulation summary of every plastic projection.
    """
    from biosynapse_verify.pipeline import _analyse

    started = time.perf_counter()
    spec = parse_spec(spec_data)
    structure = build_structure(spec)
    transfers = {name: fit.transfer for name, fit in fits.items()}
    model = MeanFieldModel(
        spec, structure, transfers, static_weights(structure, spec.simulation.seeds[0])
    )
    timings: dict[str, float] = {}
    row: dict[str, Any] = {
        "calibration_rms_error_Hz": max(fit.rms_error for fit in fits.values()),
        "eta_star": None,
    }
    details: dict[str, Any] = {"eta_star_note": ETA_STAR_NOTE}

    try:
        t0 = time.perf_counter()
        judged, notes = find_judged_equilibrium(model, spec)
        timings["equilibrium"] = time.perf_counter() - t0
        analysis = _analyse(judged, model, timings, _no_progress)
    except (NumericalFailure, np.linalg.LinAlgError, FloatingPointError) as err:
        row.update(verdict="failed", reason=f"{type(err).__name__}: {err}")
        judged, notes, analysis = None, [], {}
    if analysis:
        row.update(_verdict_columns(analysis, judged, model))
        row.update(_equilibrium_columns(judged, model))
        details["equilibrium"] = None if judged is None else judged.to_dict()
        details["equilibrium_notes"] = notes
        if "search" in analysis:
            details["search"] = [
                {"strategy": a.strategy, "applied": a.applied, "reason": a.reason}
                for a in analysis["search"].attempts
            ]

    if simulate is not None:
        t0 = time.perf_counter()
        try:
            columns, details["simulation"] = _simulation_columns(
                spec, float(simulate["duration"]), list(simulate["seeds"])
            )
            row.update(columns)
        except NumericalFailure as err:
            details["simulation"] = {"error": str(err)}
        row["simulation_s"] = time.perf_counter() - t0

    row.update(
        equilibrium_s=timings.get("equilibrium"),
        search_s=timings.get("search"),
        check_s=timings.get("check"),
        point_s=time.perf_counter() - started,
        worker=f"{socket.gethostname()}:{os.getpid()}",
        finished_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )
    logger.info("point of %s: %s in %.2f s", spec.name, row["verdict"], row["point_s"])
    return {"row": row, "details": details}


# ----------------------------------------------------------- Dask tasks
def calibration_task(spec_data: dict, max_level: float) -> dict[str, Any]:
    """Calibrate once for a group of points; return ``{"fits", "seconds"}``."""
    started = time.perf_counter()
    fits = calibrate_point(spec_data, max_level)
    return {"fits": fits, "seconds": time.perf_counter() - started}


def point_task(
    spec_data: dict, calibration: dict[str, Any], simulate: dict | None
) -> dict[str, Any]:
    """Analyse one point with the output of :func:`calibration_task`."""
    result = analyse_point(spec_data, calibration["fits"], simulate)
    result["row"]["calibration_s"] = calibration["seconds"]
    return result
