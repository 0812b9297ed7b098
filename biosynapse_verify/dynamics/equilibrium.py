"""Equilibria of the mean-field dynamics: interior (Newton) and on the weight bounds.

An interior equilibrium solves ``F(x) = 0`` with every weight inside its
bounds. A boundary equilibrium is an equilibrium of the clipped dynamics:
some weights sit at a bound with their drift pointing outward (so clipping
holds them there), and the remaining free coordinates solve ``F = 0``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from biosynapse_verify.dynamics.meanfield import MeanFieldModel

__all__ = [
    "RELATIVE_RESIDUAL_TOL",
    "Equilibrium",
    "EquilibriumError",
    "find_boundary",
    "find_interior",
    "relative_residual",
]

logger = logging.getLogger(__name__)

# Newton stops when every component of F is below this fraction of the
# magnitude of the terms that make it up (a relative residual); 1e-10 leaves
# five orders of magnitude above float64 cancellation error in those sums.
RELATIVE_RESIDUAL_TOL = 1e-10
MAX_NEWTON_STEPS = 60
# Relative residual of the GMRES solves of settle_rates(iterative=True);
# Newton's outer loop corrects what each inexact step leaves.
SETTLE_GMRES_RTOL = 1e-8
# Projected Euler on the clipped slow dynamics: each step moves the fastest
# weight by this fraction of its range, and integration stops when the fastest
# free weight moves by less than CLIPPED_STEP_TOL per step.
CLIPPED_STEP = 0.01
CLIPPED_STEP_TOL = 1e-9
CLIPPED_STABILITY = 0.5
MAX_CLIPPED_STEPS = 20_000


class EquilibriumError(RuntimeError):
    """Newton's method did not reach an equilibrium."""


@dataclass
class Equilibrium:
    """A state where the (possibly clipped) mean-field drift vanishes.

    Attributes
    ----------
    kind : {"interior", "boundary"}
    x : ndarray, shape (n,)
        The state: rates (Hz) then normalised weights.
    free : ndarray of bool, shape (n,)
        Coordinates that are not held at a bound (all True for interior).
    residual : float
        Largest relative residual of the free coordinates.
    newton_steps : int
    outward_margin : float or None
        For a boundary equilibrium, the smallest outward drift (1/s) of the
        fixed coordinates; positive means every clipped weight is held.
    inside_bounds : bool
        Whether every weight lies within its bounds.
    notes : list of str
    """

    kind: str
    x: np.ndarray
    free: np.ndarray
    residual: float
    newton_steps: int
    outward_margin: float | None = None
    inside_bounds: bool = True
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "relative_residual": self.residual,
            "newton_steps": self.newton_steps,
            "n_free": int(self.free.sum()),
            "n_fixed_at_bounds": int((~self.free).sum()),
            "outward_margin_per_s": self.outward_margin,
            "inside_bounds": self.inside_bounds,
            "notes": list(self.notes),
        }


def _residual_scale(model: MeanFieldModel, x: np.ndarray) -> np.ndarray:
    """Magnitude of the terms summed in each component of F (same units as F)."""
    rates = x[: model.n_rates]
    drive = model.drive(x)
    scale = np.empty(model.n)
    phi = np.concatenate(
        [
            model.transfers[p.name].rate(drive[model.rate_offsets[p.name]:][: p.size])
            for p in model.spec.populations
        ]
    )
    scale[: model.n_rates] = (np.abs(phi) + np.abs(rates) + 1.0) / model.tau_rate
    for block in model.plastic_blocks():
        proj = block.structure
        pl = proj.spec.plasticity
        post = block.target_offset + proj.post
        nu = model._presynaptic_rates(block, rates)
        term = pl.eta * nu * (np.abs(rates[post]) + 1.0) * (
            pl.a_plus * pl.tau_plus + pl.a_minus * pl.tau_minus
        )
        scale[block.weight_slice] = term / proj.spec.w_max + 1e-300
    return scale


def relative_residual(model: MeanFieldModel, x: np.ndarray) -> float:
    """Return the relative residual max_i |F_i(x)| / scale_i of a state.

    Newton stops once this is at most :data:`RELATIVE_RESIDUAL_TOL`; scale_i
    is the magnitude of the terms summed in F_i (see :func:`_residual_scale`).
    """
    return float(np.max(np.abs(model.drift(x)) / _residual_scale(model, x)))


def _newton(
    model: MeanFieldModel, x0: np.ndarray, free: np.ndarray
) -> tuple[np.ndarray, float, int]:
    """Damped Newton on the free coordinates; the others stay at x0."""
    x = x0.copy()
    index = np.flatnonzero(free)
    for step in range(MAX_NEWTON_STEPS + 1):
        scale = _residual_scale(model, x)[index]
        f = model.drift(x)[index]
        residual = float(np.max(np.abs(f) / scale)) if index.size else 0.0
        if residual <= RELATIVE_RESIDUAL_TOL or step == MAX_NEWTON_STEPS:
            return x, residual, step
        jac = model.jacobian(x)[index][:, index]
        try:
            delta = spla.spsolve(sp.csc_matrix(jac), -f)
        except RuntimeError as err:  # singular factor
            raise EquilibriumError(f"Newton step {step}: singular Jacobian ({err})")
        if not np.all(np.isfinite(delta)):
            raise EquilibriumError(f"Newton step {step}: singular Jacobian")
        x = _line_search(model, x, index, delta, scale, residual)
    raise AssertionError("unreachable")


def _line_search(
    model: MeanFieldModel,
    x: np.ndarray,
    index: np.ndarray,
    delta: np.ndarray,
    scale: np.ndarray,
    residual: float,
) -> np.ndarray:
    """Halve the Newton step until the scaled residual decreases (at most 30 times)."""
    step = 1.0
    for _ in range(30):
        trial = x.copy()
        trial[index] += step * delta
        trial[: model.n_rates] = np.maximum(trial[: model.n_rates], 0.0)
        value = np.max(np.abs(model.drift(trial)[index]) / scale)
        if np.isfinite(value) and value < residual:
            return trial
        step *= 0.5
    return trial


def find_interior(model: MeanFieldModel, x0: np.ndarray) -> Equilibrium:
    """Solve ``F(x) = 0`` by Newton from ``x0`` (the simulator's end state).

    Raises
    ------
    EquilibriumError
        If Newton does not reach :data:`RELATIVE_RESIDUAL_TOL`.
    """
    free = np.ones(model.n, dtype=bool)
    x, residual, steps = _newton(model, x0, free)
    if residual > RELATIVE_RESIDUAL_TOL:
        raise EquilibriumError(
            f"Newton stopped after {steps} steps at relative residual "
            f"{residual:.3g} (tolerance {RELATIVE_RESIDUAL_TOL:g})"
        )
    lower, upper = model.bounds()
    weights = x[model.n_rates :]
    inside = bool(np.all(weights >= lower) and np.all(weights <= upper))
    notes = []
    if not inside:
        outside = int(np.sum((weights < lower) | (weights > upper)))
        notes.append(
            f"{outside} of {weights.size} equilibrium weights lie outside their "
            "bounds, so this fixed point of the unclipped drift is not reached "
            "by the clipped dynamics"
        )
    logger.info("interior equilibrium after %d Newton steps, residual %.2g", steps, residual)
    return Equilibrium("interior", x, free, residual, steps, inside_bounds=inside, notes=notes)


def settle_rates(
    model: MeanFieldModel, x: np.ndarray, steps: int = 50, iterative: bool = False
) -> np.ndarray:
    """Return ``x`` with its rates at the fast steady state ``r = phi(d(r, u))``.

    Newton on the rate block alone; the weights stay as given. Without
    recurrent projections one step is exact.

    Parameters
    ----------
    model : MeanFieldModel
    x : ndarray, shape (n,)
        State whose weights are kept.
    steps : int
        Most Newton steps taken.
    iterative : bool
        Solve each Newton step by GMRES with a Jacobi preconditioner instead
        of sparse LU, whose factor fills in the recurrent rate block of a
        large network.
    """
    x = x.copy()
    n_r = model.n_rates
    for _ in range(steps):
        drive = model.drive(x)
        phi, slope, _ = model._transfer_arrays(drive)
        residual = phi - x[:n_r]
        if np.max(np.abs(residual)) <= RELATIVE_RESIDUAL_TOL * (1.0 + np.max(np.abs(phi))):
            break
        jac = sp.diags(slope) @ model._drive_by_rate(x) - sp.identity(n_r)
        if iterative:
            step = _jacobi_gmres(sp.csr_matrix(jac), residual)
        else:
            step = spla.spsolve(sp.csc_matrix(jac), residual)
        x[:n_r] = np.maximum(x[:n_r] - step, 0.0)
    return x


def _jacobi_gmres(jac: sp.csr_matrix, rhs: np.ndarray) -> np.ndarray:
    """Solve ``jac @ step = rhs`` by GMRES with the inverse diagonal as preconditioner.

    The rate Jacobian is phi' dd/dr - I, whose diagonal is -1 unless a
    neuron synapses onto itself; a zero diagonal entry is left unscaled.
    """
    diagonal = jac.diagonal()
    safe = np.where(diagonal != 0.0, diagonal, 1.0)
    preconditioner = spla.LinearOperator(
        jac.shape, matvec=lambda v: v / safe, dtype=np.float64
    )
    step, info = spla.gmres(
        jac, rhs, rtol=SETTLE_GMRES_RTOL, atol=0.0, restart=60, maxiter=20, M=preconditioner
    )
    if info != 0:
        logger.debug("rate-settling GMRES stopped with info %d", info)
    return step


def run_clipped(
    model: MeanFieldModel, x0: np.ndarray, max_steps: int = MAX_CLIPPED_STEPS
) -> tuple[np.ndarray, float]:
    """Integrate the clipped slow dynamics from ``x0`` with rates at steady state.

    Projected Euler: each step moves every weight by at most
    :data:`CLIPPED_STEP` of its range along its drift and clips it to its
    bounds. The step is also capped at :data:`CLIPPED_STABILITY` over the
    largest diagonal entry of the weight Jacobian at ``x0``, so Euler stays
    stable near a stable point. Integration stops once no free weight moves
    by more than :data:`CLIPPED_STEP_TOL` of its range per step, or after
    ``max_steps``.

    Returns
    -------
    x : ndarray
        The state reached.
    model_time : float
        The model time integrated, in seconds.
    """
    lower, upper = model.bounds()
    n_r = model.n_rates
    x = settle_rates(model, x0)
    stiffness = float(np.max(np.abs(model.jacobian(x).diagonal()[n_r:]), initial=0.0))
    h_max = CLIPPED_STABILITY / stiffness if stiffness > 0 else np.inf
    elapsed = 0.0
    for _ in range(max_steps):
        drift = model.drift(x)[n_r:]
        weights = x[n_r:]
        moving = ~(((weights <= lower) & (drift < 0)) | ((weights >= upper) & (drift > 0)))
        largest = float(np.max(np.abs(drift[moving]))) if moving.any() else 0.0
        if largest == 0.0:
            break
        h = min(h_max, CLIPPED_STEP / largest)
        x[n_r:] = np.clip(weights + h * drift, lower, upper)
        x = settle_rates(model, x)
        elapsed += h
        if largest * h <= CLIPPED_STEP_TOL:
            break
    return x, elapsed


def find_boundary(model: MeanFieldModel, x0: np.ndarray, max_rounds: int = 20) -> Equilibrium:
    """Find an equilibrium of the clipped dynamics reached from ``x0``.

    First the clipped slow dynamics are integrated from ``x0`` (see
    :func:`run_clipped`), which carries weights that are repelled from an
    unstable interior point to the bounds. Then weights at a bound are fixed
    there and Newton solves for the free coordinates; each round releases
    fixed weights whose drift points inward and fixes free weights that left
    the box, until the assignment no longer changes. The result is a
    candidate only: its stability is decided by the Jacobian of the free
    coordinates and the outward drift of the fixed ones.
    """
    lower, upper = model.bounds()
    n_r = model.n_rates
    x, model_time = run_clipped(model, x0)
    at_lower = x[n_r:] <= lower
    at_upper = x[n_r:] >= upper
    for round_ in range(max_rounds):
        x[n_r:][at_lower] = lower[at_lower]
        x[n_r:][at_upper] = upper[at_upper]
        free = np.concatenate([np.ones(n_r, bool), ~(at_lower | at_upper)])
        x, residual, steps = _newton(model, x, free)
        drift = model.drift(x)[n_r:]
        weights = x[n_r:]
        new_lower = (at_lower & (drift <= 0)) | (free[n_r:] & (weights < lower))
        new_upper = (at_upper & (drift >= 0)) | (free[n_r:] & (weights > upper))
        new_lower &= ~new_upper
        if np.array_equal(new_lower, at_lower) and np.array_equal(new_upper, at_upper):
            break
        at_lower, at_upper = new_lower, new_upper
    outward = np.concatenate([-drift[at_lower], drift[at_upper]])
    margin = float(outward.min()) if outward.size else None
    notes = [
        f"clipped slow dynamics integrated for {model_time:.4g} s of model time from "
        "the simulator's end state",
        f"assignment of weights to bounds settled after {round_ + 1} rounds",
    ]
    logger.info("boundary equilibrium: %d weights fixed, margin %s", (~free).sum(), margin)
    return Equilibrium(
        "boundary",
        x,
        free,
        residual,
        steps,
        outward_margin=margin,
        inside_bounds=True,
        notes=notes,
    )
