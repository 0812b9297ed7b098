"""Exact positive-definiteness proofs in integer arithmetic (python-flint).

Both tests work on the exact value X = X_int * 2**e of the float data.

Exact-residual test. Let L be any lower-triangular matrix with dyadic entries
(here a floating-point Cholesky factor of X - delta I, rounded to fixed point)
and delta > 0 a float. Put E = X - L L^T - delta I, computed exactly. E is
symmetric, so its eigenvalues lie in [-||E||_inf, ||E||_inf], where ||E||_inf
is the maximum absolute row sum. For every x,

    x^T X x = ||L^T x||^2 + delta ||x||^2 + x^T E x >= (delta - ||E||_inf) ||x||^2,

so lambda_min(X) >= delta - ||E||_inf, and X is positive definite when
delta > ||E||_inf. The floating-point Cholesky only supplies L; nothing about
its accuracy has to be trusted.

Sylvester test. A symmetric X is positive definite if and only if all its
leading principal minors are positive. The fraction-free (Bareiss) LU without
row exchanges has the k-th leading principal minor as its k-th pivot. Its cost
grows quickly with n, so it serves small matrices whose lambda_min lies below
floating-point resolution. When it succeeds, lambda_min(X) >= det X / R**(n-1),
where R is the maximum absolute row sum of X, because det X is the product of
the eigenvalues and none of them exceeds R.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import scipy.linalg
from flint import fmpz, fmpz_mat

from biosynapse_verify.check.dyadic import (
    DyadicMatrix,
    dyadic_from_float,
    dyadic_matrix,
    dyadic_to_fraction,
)
from biosynapse_verify.check.estimate import smallest_eigenpair
from biosynapse_verify.check.result import DefinitenessOutcome
from biosynapse_verify.check.rounding import float_down, float_nearest, float_up

__all__ = [
    "exact_lyapunov_form",
    "exact_shifted",
    "prove_definite_exact",
    "prove_definite_sylvester",
]

logger = logging.getLogger(__name__)

DELTA_FRACTIONS = (0.99, 0.875, 0.5, 0.125)
"""Shifts delta of the exact-residual test, as fractions of the lambda_min estimate.

A shift close to lambda_min gives a tight lower bound but a nearly singular
X - delta I; the smaller ones are tried when the first Cholesky fails or its
residual is too large.
"""

FIXED_POINT_BITS = 61
"""The Cholesky factor is rounded to integers below 2**61 in magnitude (int64-safe)."""

WELL_SCALED_MIN = 2.0**-900
WELL_SCALED_MAX = 2.0**900
"""Range of max |X_float| in which the float approximation is trusted as is.

Outside it, products in the approximation may have overflowed or lost
precision to underflow, so the exact matrix is rescaled by a power of two.
"""

MANTISSA_BITS_KEPT = 62
"""Leading bits of each integer kept when the float approximation is rebuilt."""

SYLVESTER_MAX_N = 80
"""Largest n for the Sylvester fallback.

fflu took about 1 s of CPU at n = 80 on the roughly 110-bit entries of a
Lyapunov form (0.25 s at n = 60), and its cost grows about as n**4.5.
"""


def _add_scalar_identity(matrix: DyadicMatrix, value: float) -> DyadicMatrix:
    """Return ``matrix + value * I`` exactly."""
    numerator, exponent = dyadic_from_float(value)
    if numerator == 0:
        return matrix
    common = min(matrix.exponent, exponent)
    ints = matrix.rescaled(common)
    if ints is matrix.ints:
        ints = ints * 1
    diagonal_step = numerator << (exponent - common)
    for i in range(ints.nrows()):
        ints[i, i] += diagonal_step
    return DyadicMatrix(ints, common)


def exact_lyapunov_form(
    A: np.ndarray, P: np.ndarray, sign: int, shift: float
) -> DyadicMatrix:
    """Form X = sign * (A^T P + P A) - 2 * shift * I exactly.

    Parameters
    ----------
    A, P : ndarray, shape (n, n)
        Dense float64; P symmetric.
    sign : {-1, +1}
    shift : float

    Returns
    -------
    DyadicMatrix, shape (n, n)
        Symmetric, because A^T P = (P A)^T when P is symmetric.
    """
    A_exact = dyadic_matrix(A)
    P_exact = dyadic_matrix(P)
    product = P_exact.ints * A_exact.ints
    symmetric = product + product.transpose()
    if sign < 0:
        symmetric = -symmetric
    form = DyadicMatrix(symmetric, A_exact.exponent + P_exact.exponent)
    return _add_scalar_identity(form, -2.0 * shift)


def exact_shifted(P: np.ndarray, floor: float) -> DyadicMatrix:
    """Form P - floor * I exactly."""
    return _add_scalar_identity(dyadic_matrix(P), -floor)


def _max_abs_row_sum(matrix: fmpz_mat) -> fmpz:
    """Return max_i sum_j |matrix[i, j]| exactly."""
    return max(sum(map(abs, row)) for row in matrix.tolist())


@dataclass(frozen=True)
class _ResidualAttempt:
    """One exact-residual test with shift ``delta``."""

    delta: float
    lower_bound: Fraction | None
    residual_norm: Fraction | None
    note: str

    def to_dict(self) -> dict[str, object]:
        return {
            "delta": self.delta,
            "residual_inf_norm_upper": (
                None if self.residual_norm is None else float_up(self.residual_norm)
            ),
            "lower_bound": None
            if self.lower_bound is None
            else float_down(self.lower_bound),
            "note": self.note,
        }


def _fixed_point_factor(lower: np.ndarray) -> tuple[fmpz_mat, int]:
    """Round a float factor to integers ``L_int`` with ``L ~= L_int * 2**-bits``."""
    largest = float(np.max(np.abs(lower)))
    bits = FIXED_POINT_BITS - math.frexp(largest)[1]
    scaled = np.rint(np.ldexp(lower, bits)).astype(np.int64)
    n = lower.shape[0]
    return fmpz_mat(n, n, scaled.ravel().tolist()), bits


def _residual_attempt(
    X: DyadicMatrix, X_float: np.ndarray, delta: float
) -> _ResidualAttempt:
    """Run the exact-residual test with shift ``delta``."""
    n = X_float.shape[0]
    shifted = X_float - delta * np.eye(n)
    try:
        lower = scipy.linalg.cholesky(shifted, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return _ResidualAttempt(delta, None, None, "floating-point Cholesky failed")

    factor, bits = _fixed_point_factor(lower)
    gram = factor * factor.transpose()
    delta_numerator, delta_exponent = dyadic_from_float(delta)
    common = min(X.exponent, -2 * bits, delta_exponent)
    residual = X.rescaled(common) - gram * fmpz(1 << (-2 * bits - common))
    delta_scaled = delta_numerator << (delta_exponent - common)
    for i in range(n):
        residual[i, i] -= delta_scaled

    norm = _max_abs_row_sum(residual)
    residual_norm = dyadic_to_fraction(norm, common)
    if delta_scaled <= norm:
        return _ResidualAttempt(
            delta, None, residual_norm, "residual exceeds the shift"
        )
    lower_bound = dyadic_to_fraction(delta_scaled - int(norm), common)
    return _ResidualAttempt(delta, lower_bound, residual_norm, "")


def _exact_rayleigh(X: DyadicMatrix, vector: np.ndarray) -> Fraction:
    """Return x^T X x exactly for the float vector x."""
    column = dyadic_matrix(vector)
    value = (column.ints.transpose() * X.ints * column.ints)[0, 0]
    return dyadic_to_fraction(value, X.exponent + 2 * column.exponent)


def _leading_minor(X: fmpz_mat, size: int) -> fmpz:
    """Return the determinant of the leading ``size`` x ``size`` block."""
    rows = [row[:size] for row in X.tolist()[:size]]
    return fmpz_mat(rows).det()


def prove_definite_sylvester(X: DyadicMatrix, label: str) -> DefinitenessOutcome:
    """Decide positive definiteness of X exactly from its leading principal minors.

    Parameters
    ----------
    X : DyadicMatrix, shape (n, n)
        Symmetric.
    label : str
        The matrix in words, for the outcome.

    Returns
    -------
    DefinitenessOutcome
        ``proven`` or ``refuted`` is always True: the test is a decision.
    """
    n = X.ints.nrows()
    permutation, _, _, upper = X.ints.fflu()
    minors = [upper[k, k] for k in range(n)]
    if not permutation.is_one():
        # A row exchange happens only at a zero pivot; find that minor directly.
        first_zero = next(k for k in range(n) if permutation[k, k] != 1)
        minors = minors[:first_zero] + [_leading_minor(X.ints, first_zero + 1)]

    failing = next((k for k, minor in enumerate(minors) if minor <= 0), None)
    if failing is not None:
        return DefinitenessOutcome(
            matrix=label,
            method="sylvester",
            proven=False,
            refuted=True,
            note=f"its leading principal minor of order {failing + 1} is not positive",
            details={"failing_minor_order": failing + 1},
        )

    row_sum = _max_abs_row_sum(X.ints)
    bound = Fraction(int(minors[-1]), int(row_sum) ** (n - 1)) * dyadic_to_fraction(
        1, X.exponent
    )
    return DefinitenessOutcome(
        matrix=label,
        method="sylvester",
        proven=True,
        lower_bound=float_down(bound),
        details={"determinant_bits": int(minors[-1]).bit_length()},
    )


def _needs_rescaling(X_float: np.ndarray) -> bool:
    """Whether the float approximation overflowed or lost its precision to underflow."""
    if not np.all(np.isfinite(X_float)):
        return True
    largest = float(np.max(np.abs(X_float)))
    return largest != 0 and not WELL_SCALED_MIN <= largest <= WELL_SCALED_MAX


def _rescaled(X: DyadicMatrix) -> tuple[DyadicMatrix, np.ndarray, int]:
    """Return X * 2**-k, its float approximation, and k, with max |X * 2**-k| near 1."""
    rows = X.ints.tolist()
    bits = max(int(entry).bit_length() for row in rows for entry in row)
    scale = bits + X.exponent
    drop = max(bits - MANTISSA_BITS_KEPT, 0)
    approximation = np.array(
        [[float(int(entry) >> drop) for entry in row] for row in rows]
    )
    approximation = np.ldexp(approximation, drop + X.exponent - scale)
    return DyadicMatrix(X.ints, X.exponent - scale), approximation, scale


def _scale_outcome(outcome: DefinitenessOutcome, scale: int) -> DefinitenessOutcome:
    """Undo a power-of-two rescaling in the bounds of an outcome."""
    factor = Fraction(2) ** scale
    lower = outcome.lower_bound
    estimate = outcome.estimate
    return dataclasses.replace(
        outcome,
        lower_bound=None if lower is None else float_down(Fraction(lower) * factor),
        estimate=None
        if estimate is None
        else float_nearest(Fraction(estimate) * factor),
        details={**outcome.details, "scaled_by_power_of_two": -scale},
    )


def prove_definite_exact(
    X: DyadicMatrix,
    X_float: np.ndarray,
    label: str,
    sylvester_max_n: int = SYLVESTER_MAX_N,
) -> DefinitenessOutcome:
    """Prove X positive definite exactly, or refute it.

    When ``X_float`` overflowed or underflowed, the test runs on X * 2**-k
    instead, which has the same definiteness, and scales the bounds back.
    The Parameters and Returns are those of :func:`_prove_definite_exact_at_scale`.
    """
    if not _needs_rescaling(X_float):
        return _prove_definite_exact_at_scale(X, X_float, label, sylvester_max_n)
    scaled, approximation, scale = _rescaled(X)
    logger.debug("rescaled %s by 2**%d before the exact test", label, -scale)
    outcome = _prove_definite_exact_at_scale(
        scaled, approximation, label, sylvester_max_n
    )
    return _scale_outcome(outcome, scale)


def _prove_definite_exact_at_scale(
    X: DyadicMatrix,
    X_float: np.ndarray,
    label: str,
    sylvester_max_n: int,
) -> DefinitenessOutcome:
    """Prove X positive definite exactly, or refute it.

    Tries the exact-residual test at the shifts :data:`DELTA_FRACTIONS` of
    the estimated lambda_min. If none succeeds, it evaluates x^T X x exactly
    for the estimated eigenvector (x^T X x <= 0 refutes X), and for
    n <= ``sylvester_max_n`` it decides with the Sylvester test.

    Parameters
    ----------
    X : DyadicMatrix, shape (n, n)
        Exact symmetric matrix.
    X_float : ndarray, shape (n, n)
        A floating-point approximation of X, used for estimates and the
        Cholesky factor only.
    label : str
        The matrix in words, for the outcome.
    sylvester_max_n : int

    Returns
    -------
    DefinitenessOutcome
    """
    n = X_float.shape[0]
    estimate, vector = smallest_eigenpair(X_float)
    attempts: list[_ResidualAttempt] = []
    if estimate > 0:
        for fraction in DELTA_FRACTIONS:
            attempt = _residual_attempt(X, X_float, fraction * estimate)
            attempts.append(attempt)
            if attempt.lower_bound is not None:
                return DefinitenessOutcome(
                    matrix=label,
                    method="exact-residual",
                    proven=True,
                    lower_bound=float_down(attempt.lower_bound),
                    estimate=estimate,
                    details={"attempts": [a.to_dict() for a in attempts]},
                )
    details: dict[str, object] = {"attempts": [a.to_dict() for a in attempts]}

    rayleigh = _exact_rayleigh(X, vector)
    details["eigenvector_rayleigh_value"] = float(rayleigh)
    if rayleigh <= 0:
        return DefinitenessOutcome(
            matrix=label,
            method="exact-residual",
            proven=False,
            estimate=estimate,
            refuted=True,
            note=(
                f"an exact test vector x gives x^T ({label}) x = "
                f"{float(rayleigh):.3g} <= 0"
            ),
            details=details,
        )

    if n <= sylvester_max_n:
        logger.debug(
            "exact-residual test inconclusive for %s; running Sylvester", label
        )
        decided = prove_definite_sylvester(X, label)
        merged = {**details, **decided.details}
        return DefinitenessOutcome(
            **{**decided.to_dict(), "estimate": estimate, "details": merged}
        )

    return DefinitenessOutcome(
        matrix=label,
        method="exact-residual",
        proven=False,
        estimate=estimate,
        note=(
            f"its smallest eigenvalue, about {estimate:.3g}, is too small relative "
            "to its entries for the exact-residual test"
        ),
        details=details,
    )
