"""Measure each LIF population's rate transfer function in the spiking simulator.

The population is simulated with learning off at ``points`` weight levels,
one level per batch row: every plastic weight is set to
``w_min + level (w_max - w_min)`` with levels evenly spaced on
``[0, max_level]``, and
static weights keep their draw for the first trial seed. Each neuron's
measured rate and mean drive give one (drive, rate) point; a softplus is
fitted to the points of each population.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from biosynapse_verify.dynamics.meanfield import MeanFieldModel
from biosynapse_verify.dynamics.transfer import TransferFit, fit_softplus
from biosynapse_verify.spec.schema import NetworkSpec
from biosynapse_verify.spec.structure import NetworkStructure, initial_weights

__all__ = ["calibrate_transfer", "static_weights"]

logger = logging.getLogger(__name__)

# The first fifth of each calibration run is discarded as the transient
# (several membrane and synaptic time constants at the default 4 s).
TRANSIENT_FRACTION = 0.2
# Populations with more (drive, rate) points than this are averaged into
# drive-quantile bins before fitting, which keeps the fit cheap.
MAX_FIT_POINTS = 256


def static_weights(structure: NetworkStructure, seed: int) -> dict[str, np.ndarray]:
    """Return the weights of every non-plastic projection for trial ``seed``."""
    return {
        name: initial_weights(proj, seed)
        for name, proj in structure.projections.items()
        if not proj.plastic
    }


def calibrate_transfer(
    spec: NetworkSpec,
    structure: NetworkStructure,
    backend: object,
    progress: Callable[[float], None] | None = None,
    max_level: float = 1.0,
) -> dict[str, TransferFit]:
    """Fit the transfer function of every LIF population from simulation.

    Parameters
    ----------
    spec, structure
        The network and its synapses.
    backend
        A simulator backend (see :mod:`biosynapse_verify.simulate`).
    progress
        Called with the fraction of the calibration run done.
    max_level : float
        Highest weight level, as a fraction of each plastic projection's
        range. Calibrating only up to a little above the weights the network
        actually reaches keeps the fit accurate where the analysis uses it.

    Returns
    -------
    dict of str to TransferFit
        One fit per population, keyed by population name.
    """
    settings = spec.analysis.calibration
    if not 0.0 < max_level <= 1.0:
        raise ValueError(f"max_level must be in (0, 1], got {max_level}")
    levels = np.linspace(0.0, max_level, settings.points)
    seeds = [settings.seed + k for k in range(settings.points)]
    static = static_weights(structure, spec.simulation.seeds[0])
    overrides = _calibration_weights(structure, levels, static)

    record = settings.duration * (1.0 - TRANSIENT_FRACTION)
    calibration_spec = spec.model_copy(
        update={
            "simulation": spec.simulation.model_copy(
                update={"duration": settings.duration, "record_interval": record}
            )
        }
    )
    logger.info(
        "calibrating transfer functions: %d levels, %.3g s each",
        settings.points,
        settings.duration,
    )
    result = backend.run(
        calibration_spec,
        seeds=seeds,
        learning=False,
        initial_weights=overrides,
        progress=progress,
    )
    model = MeanFieldModel(spec, structure, transfers={}, static_weights=static)
    rates = np.concatenate(
        [result.window_rates[p.name][:, -1, :] for p in spec.populations], axis=1
    )
    drives = np.stack(
        [
            model.drive(model.pack(rates[k], _plastic_row(structure, overrides, k)))
            for k in range(settings.points)
        ]
    )
    return {
        pop.name: _fit_population(spec, model, pop.name, drives, rates)
        for pop in spec.populations
    }


def _calibration_weights(
    structure: NetworkStructure, levels: np.ndarray, static: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    overrides = {}
    for name, proj in structure.projections.items():
        if proj.plastic:
            low, high = proj.spec.w_min, proj.spec.w_max
            row = low + levels * (high - low)
            overrides[name] = np.repeat(row[:, None], proj.size, axis=1)
        else:
            overrides[name] = np.repeat(static[name][None, :], levels.size, axis=0)
    return overrides


def _plastic_row(
    structure: NetworkStructure, overrides: dict[str, np.ndarray], k: int
) -> dict[str, np.ndarray]:
    return {
        name: overrides[name][k]
        for name, proj in structure.projections.items()
        if proj.plastic
    }


def _fit_population(
    spec: NetworkSpec,
    model: MeanFieldModel,
    name: str,
    drives: np.ndarray,
    rates: np.ndarray,
) -> TransferFit:
    pop = spec.population(name)
    part = slice(model.rate_offsets[name], model.rate_offsets[name] + pop.size)
    drive = drives[:, part].ravel()
    rate = rates[:, part].ravel()
    if drive.size > MAX_FIT_POINTS:
        drive, rate = _bin_by_drive(drive, rate, MAX_FIT_POINTS)
    threshold_guess = pop.v_threshold - pop.v_rest
    fit = fit_softplus(drive, rate, threshold_guess)
    logger.info(
        "population %s: transfer rms error %.3g Hz over %d points",
        name,
        fit.rms_error,
        drive.size,
    )
    return fit


def _bin_by_drive(
    drive: np.ndarray, rate: np.ndarray, bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Average points into ``bins`` groups of equal count, ordered by drive."""
    order = np.argsort(drive)
    groups = np.array_split(order, bins)
    return (
        np.array([drive[g].mean() for g in groups]),
        np.array([rate[g].mean() for g in groups]),
    )
