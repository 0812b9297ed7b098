"""Rebuild the mean-field model from a certificate and recompute its Jacobian.

The model is rebuilt from three recorded inputs only: the spec (checked
against ``hashes.spec``), the fitted transfer function of each population
(``calibration.<population>.parameters``) and the static weights drawn for
the first simulation seed. The stored equilibrium ``x*`` is then checked to
be an equilibrium, and the Jacobian A at ``x*``, restricted to the free
coordinates, is recomputed and compared with ``hashes.A``.

Bit-exactness: on the machine and library versions that wrote the
certificate, the recomputed A is bit-identical to the stored one (the same
float operations run in the same order). numpy's ``exp`` and ``log``
may round differently on other CPUs or numpy builds (SIMD versus scalar
paths), so a hash mismatch alone does not reject a certificate. Then the
stored ``A.npz`` must itself match ``hashes.A``, and the recomputed A must
agree with it entrywise within :data:`A_RECOMPUTE_RTOL`. Either way the
rigorous check runs on the A recomputed here.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from biosynapse_verify.dynamics.calibration import static_weights
from biosynapse_verify.dynamics.equilibrium import (
    RELATIVE_RESIDUAL_TOL,
    _residual_scale,
)
from biosynapse_verify.dynamics.meanfield import MeanFieldModel
from biosynapse_verify.dynamics.transfer import SoftplusTransfer
from biosynapse_verify.hashing import canonical_matrix_sha256
from biosynapse_verify.recheck.bundle import CertificateBundle, require
from biosynapse_verify.recheck.errors import (
    RecheckRejection,
    UnreadableCertificateError,
)
from biosynapse_verify.spec.loader import SpecError, parse_spec, spec_hash
from biosynapse_verify.spec.schema import NetworkSpec
from biosynapse_verify.spec.structure import build_structure

__all__ = [
    "A_RECOMPUTE_RTOL",
    "JacobianReproduction",
    "RebuiltState",
    "canonical_matrix_sha256",
    "check_equilibrium",
    "rebuild_model",
    "rebuild_spec",
    "recompute_jacobian",
    "stored_state",
]

logger = logging.getLogger(__name__)

A_RECOMPUTE_RTOL = 1e-10
"""Largest accepted |A_recomputed - A_stored| relative to the row's largest entry.

Used only when A is not reproduced bit for bit. Each entry is a short chain
of float operations, so libraries that round exp or log differently move it
by a few units of roundoff (about 1e-15 relative to the row). Changing a
recorded parameter moves entries by far more, and 1e-10 matches the relative
residual at which the equilibrium solver stops.
"""

SPEC_STEP = "spec"
MODEL_STEP = "model"
EQUILIBRIUM_STEP = "equilibrium"
JACOBIAN_STEP = "Jacobian"
TRANSFER_PARAMETERS = ("gain", "width", "threshold")


@dataclass(frozen=True)
class RebuiltState:
    """The stored equilibrium and free-coordinate mask, checked against the model.

    Attributes
    ----------
    x : ndarray, shape (n_full,)
        Equilibrium state: rates (Hz) then weights as fractions of w_max.
    free : ndarray of bool, shape (n_full,)
        Coordinates that are not held at a weight bound.
    kind : {"interior", "boundary"}
    """

    x: np.ndarray
    free: np.ndarray
    kind: str


@dataclass(frozen=True)
class JacobianReproduction:
    """How the recomputed Jacobian compares with the certificate's.

    Attributes
    ----------
    A : scipy.sparse.csr_matrix, shape (n, n)
        Jacobian at x* restricted to the free coordinates, recomputed here.
    bit_exact : bool
        Whether its canonical SHA-256 equals ``hashes.A``.
    max_relative_difference : float
        0.0 when bit-exact; otherwise the largest entrywise difference from the
        stored A.npz relative to its row's largest entry.
    """

    A: sp.csr_matrix
    bit_exact: bool
    max_relative_difference: float

    def describe(self) -> str:
        """Return a clause saying how A was reproduced."""
        if self.bit_exact:
            return "A recomputed from the spec bit-exactly"
        return (
            "A recomputed from the spec within "
            f"{self.max_relative_difference:.2g} relative of the stored A "
            "(not bit-exact)"
        )




def rebuild_spec(bundle: CertificateBundle) -> NetworkSpec:
    """Validate the recorded spec and compare its SHA-256 with ``hashes.spec``."""
    data = require(bundle.record, "spec", bundle.path)
    try:
        spec = parse_spec(data, origin="spec")
    except SpecError as err:
        raise RecheckRejection(
            SPEC_STEP, f"the recorded spec is invalid: {err}"
        ) from None
    digest = spec_hash(spec)
    recorded = bundle.record["hashes"]["spec"]
    if digest != recorded:
        raise RecheckRejection(
            SPEC_STEP,
            f"the recorded spec has SHA-256 {digest[:16]}... but hashes.spec is "
            f"{recorded[:16]}...; the spec was changed after the certificate was written",
        )
    return spec


def _transfer(bundle: CertificateBundle, population: str) -> SoftplusTransfer:
    """Return the recorded softplus of one population, with its values checked."""
    parameters = require(
        bundle.record, f"calibration.{population}.parameters", bundle.path
    )
    values = {}
    for key in TRANSFER_PARAMETERS:
        value = parameters.get(key) if isinstance(parameters, dict) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UnreadableCertificateError(
                f"{bundle.path}: calibration.{population}.parameters.{key} must be "
                f"a number, got {value!r}"
            )
        values[key] = float(value)
    if (
        not all(math.isfinite(v) for v in values.values())
        or min(values["gain"], values["width"]) <= 0
    ):
        raise RecheckRejection(
            MODEL_STEP,
            f"calibration.{population}.parameters {values} are not a valid softplus "
            "(gain and width must be finite and positive)",
        )
    return SoftplusTransfer(**values)


def _first_seed(bundle: CertificateBundle) -> int:
    seeds = require(bundle.record, "simulation.seeds", bundle.path)
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
    ):
        raise UnreadableCertificateError(
            f"{bundle.path}: simulation.seeds must be a non-empty list of integers, "
            f"got {seeds!r}"
        )
    return seeds[0]


def rebuild_model(bundle: CertificateBundle, spec: NetworkSpec) -> MeanFieldModel:
    """Build the mean-field model from the spec, transfer fits and static weights."""
    structure = build_structure(spec)
    transfers = {pop.name: _transfer(bundle, pop.name) for pop in spec.populations}
    seed = _first_seed(bundle)
    try:
        return MeanFieldModel(
            spec, structure, transfers, static_weights(structure, seed)
        )
    except NotImplementedError as err:
        raise RecheckRejection(MODEL_STEP, f"the spec has no mean-field model: {err}")


def stored_state(bundle: CertificateBundle, model: MeanFieldModel) -> RebuiltState:
    """Return the stored x* and free mask after checking their shapes and values."""
    kind = require(bundle.record, "equilibrium.kind", bundle.path)
    x = np.asarray(bundle.array("x_star", "as the equilibrium state"))
    free = np.asarray(bundle.array("free", "as the mask of free coordinates"))
    for name, array in (("x_star", x), ("free", free)):
        if array.shape != (model.n,):
            raise RecheckRejection(
                EQUILIBRIUM_STEP,
                f"{name} has shape {array.shape} but the spec's mean-field state has "
                f"{model.n} coordinates",
            )
    if x.dtype != np.float64 or not np.all(np.isfinite(x)):
        raise RecheckRejection(EQUILIBRIUM_STEP, "x_star must be finite float64 values")
    if not np.all((free == 0) | (free == 1)):
        raise RecheckRejection(EQUILIBRIUM_STEP, "free must hold only 0 and 1")
    expected = model.spec.analysis.equilibrium
    if kind != expected:
        raise RecheckRejection(
            EQUILIBRIUM_STEP,
            f"equilibrium.kind is {kind!r} but the spec's analysis.equilibrium asks "
            f"for {expected!r}",
        )
    return RebuiltState(x=x, free=free.astype(bool), kind=kind)


def check_equilibrium(model: MeanFieldModel, state: RebuiltState) -> str:
    """Check that x* is an equilibrium of the kind recorded; return a summary.

    The free coordinates must have relative residual at most
    ``RELATIVE_RESIDUAL_TOL`` (the solver's own stopping rule) and weights
    must lie within their bounds. For a boundary equilibrium every fixed
    weight must sit exactly at a bound with its drift pointing outward.
    """
    index = np.flatnonzero(state.free)
    drift = model.drift(state.x)
    scale = _residual_scale(model, state.x)
    residual = float(np.max(np.abs(drift[index]) / scale[index])) if index.size else 0.0
    if not math.isfinite(residual) or residual > RELATIVE_RESIDUAL_TOL:
        raise RecheckRejection(
            EQUILIBRIUM_STEP,
            f"x* is not an equilibrium of the rebuilt model: relative residual "
            f"{residual:.3g} exceeds {RELATIVE_RESIDUAL_TOL:g}",
        )
    _check_bounds(model, state, drift)
    summary = f"x* is a{'n' if state.kind == 'interior' else ''} {state.kind} "
    summary += f"equilibrium (relative residual {residual:.2g})"
    return summary


def _check_bounds(
    model: MeanFieldModel, state: RebuiltState, drift: np.ndarray
) -> None:
    """Check the weight bounds and, on the boundary, the outward drift."""
    lower, upper = model.bounds()
    n_rates = model.n_rates
    weights = state.x[n_rates:]
    outside = (weights < lower) | (weights > upper)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise RecheckRejection(
            EQUILIBRIUM_STEP,
            f"weight coordinate {n_rates + i} of x* is {float(weights[i])!r}, "
            f"outside its bounds [{float(lower[i])!r}, {float(upper[i])!r}]",
        )
    if state.kind == "interior":
        if not state.free.all():
            raise RecheckRejection(
                EQUILIBRIUM_STEP,
                "an interior equilibrium must have every coordinate free",
            )
        return
    if not state.free[:n_rates].all():
        raise RecheckRejection(EQUILIBRIUM_STEP, "rate coordinates must be free")
    fixed = ~state.free[n_rates:]
    at_lower, at_upper = fixed & (weights == lower), fixed & (weights == upper)
    if not np.array_equal(at_lower | at_upper, fixed):
        raise RecheckRejection(
            EQUILIBRIUM_STEP, "a weight held fixed does not sit exactly at a bound"
        )
    outward = np.concatenate([-drift[n_rates:][at_lower], drift[n_rates:][at_upper]])
    if outward.size and not outward.min() > 0:
        raise RecheckRejection(
            EQUILIBRIUM_STEP,
            f"a weight held at a bound has drift {outward.min():.3g} 1/s pointing "
            "inward or zero, so clipping does not hold it there",
        )


def recompute_jacobian(
    bundle: CertificateBundle, model: MeanFieldModel, state: RebuiltState
) -> JacobianReproduction:
    """Recompute A at x* on the free coordinates and compare it with the record."""
    index = np.flatnonzero(state.free)
    A = model.jacobian(state.x)[index][:, index].tocsr()
    recorded = require(bundle.record, "hashes.A", bundle.path)
    stored = bundle.array("A", "to confirm the recorded Jacobian")
    stored_digest = canonical_matrix_sha256(stored)
    if stored_digest != recorded:
        raise RecheckRejection(
            JACOBIAN_STEP,
            f"A.npz has canonical SHA-256 {stored_digest[:16]}... but hashes.A is "
            f"{recorded[:16]}...; the stored Jacobian is not the one certified",
        )
    if canonical_matrix_sha256(A) == recorded:
        return JacobianReproduction(A=A, bit_exact=True, max_relative_difference=0.0)
    difference = _max_relative_difference(A, sp.csr_matrix(stored))
    if not difference <= A_RECOMPUTE_RTOL:
        raise RecheckRejection(
            JACOBIAN_STEP,
            f"the Jacobian recomputed from the spec differs from the stored A by "
            f"{difference:.3g} relative (tolerance {A_RECOMPUTE_RTOL:g}); the spec, "
            "transfer parameters or x* do not produce the certified A",
        )
    logger.warning(
        "A is not bit-exact on this machine; it agrees with the stored A within %.2g",
        difference,
    )
    return JacobianReproduction(
        A=A, bit_exact=False, max_relative_difference=difference
    )


def _max_relative_difference(recomputed: sp.csr_matrix, stored: sp.csr_matrix) -> float:
    """Return max |a - b| over entries, each relative to its row's largest magnitude."""
    if recomputed.shape != stored.shape:
        raise RecheckRejection(
            JACOBIAN_STEP,
            f"the recomputed A has shape {recomputed.shape} but the stored A has "
            f"shape {stored.shape}",
        )
    difference = abs(recomputed - stored).tocsr()
    row_scale = np.maximum(
        abs(recomputed).max(axis=1).toarray().ravel(),
        abs(stored).max(axis=1).toarray().ravel(),
    )
    worst = 0.0
    for row in range(difference.shape[0]):
        start, stop = difference.indptr[row], difference.indptr[row + 1]
        if start == stop:
            continue
        largest = float(difference.data[start:stop].max())
        if largest > 0:
            worst = max(worst, largest / row_scale[row] if row_scale[row] else math.inf)
    return worst
