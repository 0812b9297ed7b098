"""Verified floating-point proof of positive definiteness (Rump's method).

Cholesky backward error. If the floating-point Cholesky factorisation of a
symmetric float matrix B runs to completion (every pivot positive) and
returns L, then L L^T = B + dB with |dB| <= gamma_{k+1} |L| |L^T| entrywise,
where k <= n bounds the length of the inner products, for any order of
evaluation and barring underflow (the classical bound, restated by Rump and
Jeannerod, SIAM J. Matrix Anal. Appl. 35(2):684-698, 2014).

Consequence. Put d_i = ||L[i, :]||_2. Then |dB_ij| <= gamma d_i d_j, so
||dB||_2 <= gamma sum_i d_i**2, and d_i**2 = (L L^T)_ii <= b_ii + gamma d_i**2
gives d_i**2 <= b_ii / (1 - gamma). Hence ||dB||_2 <= alpha tr(B) with
alpha = gamma / (1 - gamma), and because L L^T is positive semidefinite,
lambda_min(B) >= -alpha tr(B). For underflow, Rump (Verification of positive
definiteness, BIT 46:433-452, 2006, as implemented in INTLAB's ``isspd``)
adds 6 n (n + max_i b_ii) eta, eta = 2**-1074.

Test. X is known through a float matrix X_f with ||X - X_f||_2 <= r. Take
c >= alpha sum_i max(X_f,ii, 0) + 6 n (n + max_i X_f,ii) eta and a total shift
s >= floor + r + c + mu. B is X_f with each diagonal entry replaced by a float
not above X_f,ii - s. Every b_ii <= X_f,ii, and b_ii > 0 when the Cholesky
completes, so c bounds the term above for B. If the Cholesky of B completes,

    lambda_min(X) >= lambda_min(X_f) - r >= lambda_min(B) + s - r >= floor + mu.

NOTE: the bound assumes a conventional O(n**3) Cholesky and matrix product
(LAPACK/OpenBLAS as shipped with numpy and scipy). A Strassen-type product
would void it.

NOTE: unlike INTLAB's isspd, no diagonal (van der Sluis) scaling is applied,
so c grows with tr(X). A certificate whose diagonal spans many orders of
magnitude can fail here although the exact test proves it.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from biosynapse_verify.check.estimate import smallest_eigenvalue_from_factor
from biosynapse_verify.check.result import DefinitenessOutcome
from biosynapse_verify.check.rounding import (
    SMALLEST_SUBNORMAL,
    UNIT_ROUNDOFF,
    float_down,
    float_up,
    gamma_up,
    next_down,
    next_up,
    upper_abs_row_sums,
    upper_nonneg_matvec,
)

__all__ = ["FormEnclosure", "enclose_lyapunov_form", "prove_definite_rump"]

logger = logging.getLogger(__name__)

FIRST_EXCESS_FRACTION = 2.0**-10
"""First attempt shifts by (r + c)(1 + 2**-10): a strict margin at almost no cost."""

MARGIN_FRACTIONS = (0.9, 0.5)
"""Fractions of the estimated slack kept by later attempts, for a useful margin."""


@dataclass(frozen=True)
class FormEnclosure:
    """A float matrix and a bound on its 2-norm distance to the exact matrix.

    Attributes
    ----------
    matrix : ndarray, shape (n, n)
        X_f, symmetric.
    radius : float
        r with ||X - X_f||_2 <= r.
    """

    matrix: np.ndarray
    radius: float


def _radius_of_form(
    A: np.ndarray | sp.csr_array,
    P: np.ndarray,
    form: np.ndarray,
    unshifted_diagonal: np.ndarray,
) -> float:
    """Bound ||X - X_f||_2 for the form computed in :func:`enclose_lyapunov_form`."""
    n = form.shape[0]
    abs_A = abs(A)
    abs_P = np.abs(P)
    ones = np.ones(n)

    # Row sums of W = |P||A| and of W^T, each through two matrix-vector products.
    w_rows = upper_nonneg_matvec(abs_P, upper_nonneg_matvec(abs_A, ones))
    w_cols = upper_nonneg_matvec(abs_A.T, upper_nonneg_matvec(abs_P, ones))
    product_term = next_up(gamma_up(n) * next_up(w_rows + w_cols))

    # One rounding in S + S^T, one more on the diagonal when the shift is subtracted.
    rounding_rows = upper_abs_row_sums(form)
    rounding_rows = next_up(rounding_rows + np.abs(unshifted_diagonal))
    rounding_rows = next_up(rounding_rows + np.abs(form.diagonal()))
    relative = float_up(Fraction(UNIT_ROUNDOFF) / (1 - Fraction(UNIT_ROUNDOFF)))
    rounding_term = next_up(relative * rounding_rows)

    underflow_term = float_up(2 * n * n * Fraction(SMALLEST_SUBNORMAL))
    rows = next_up(next_up(product_term + rounding_term) + underflow_term)
    return float(np.max(rows))


def enclose_lyapunov_form(
    A: np.ndarray | sp.csr_array, P: np.ndarray, sign: int, shift: float
) -> FormEnclosure:
    """Compute X = sign * (A^T P + P A) - 2 shift I in floating point, with a bound.

    With S = fl(P A), Y = fl(S + S^T) and X_f the result, entrywise

        |X_f - X| <= gamma_n (W + W^T) + 2 n eta + u / (1 - u) (|Y| + diag|X_f|),

    W = |P| |A|: each entry of S is a dot product of at most n terms, Y adds
    one rounding, and the diagonal one more. The bound is a symmetric
    non-negative matrix, so its maximum row sum bounds ||X - X_f||_2.

    Parameters
    ----------
    A : ndarray or csr_array, shape (n, n)
    P : ndarray, shape (n, n)
        Dense and symmetric.
    sign : {-1, +1}
    shift : float

    Returns
    -------
    FormEnclosure
    """
    with np.errstate(over="ignore", invalid="ignore"):
        product = np.asarray(P @ A)
        form = product + product.T
        del product
        if sign < 0:
            np.negative(form, out=form)
        unshifted_diagonal = form.diagonal().copy()
        form[np.diag_indices_from(form)] -= 2.0 * shift
    if not np.all(np.isfinite(form)):
        return FormEnclosure(form, np.inf)
    return FormEnclosure(form, _radius_of_form(A, P, form, unshifted_diagonal))


def _shift_bound(diagonal: np.ndarray, inner_terms: int) -> float:
    """Return c, the bound on -lambda_min(B) for a completed Cholesky of B.

    ``inner_terms`` bounds the length of the inner products in the Cholesky:
    n for a dense matrix, the envelope width plus one for a sparse one.
    """
    n = diagonal.size
    gamma = Fraction(gamma_up(inner_terms + 1))
    alpha = gamma / (1 - gamma)
    trace = float(np.sum(np.maximum(diagonal, 0.0)))
    if not math.isfinite(trace):
        return math.inf
    trace_upper = Fraction(trace) * (1 + 2 * Fraction(gamma_up(n)))
    largest = Fraction(float(max(np.max(diagonal), 0.0)))
    underflow = 6 * n * (n + largest) * Fraction(SMALLEST_SUBNORMAL)
    return float_up(alpha * trace_upper + underflow)


def _shifted_cholesky(
    matrix: np.ndarray, shift: float
) -> tuple[np.ndarray | None, str]:
    """Factor ``matrix`` with its diagonal lowered by at least ``shift``.

    Returns
    -------
    factor : ndarray or None
        The lower Cholesky factor, or None when a pivot was not positive.
    note : str
        Why the factorisation failed (empty on success).
    """
    shifted = matrix.copy()
    lowered = next_down(matrix.diagonal() - shift)
    if not np.all(np.isfinite(lowered)):
        return None, "the shift is not finite"
    shifted[np.diag_indices_from(shifted)] = lowered
    try:
        factor = scipy.linalg.cholesky(
            shifted, lower=True, overwrite_a=True, check_finite=False
        )
    except np.linalg.LinAlgError as error:
        match = re.search(r"(\d+)", str(error))
        where = f" at pivot {match.group(1)} of {matrix.shape[0]}" if match else ""
        return None, f"the shifted Cholesky failed{where}"
    return factor, ""


def prove_definite_rump(
    matrix: np.ndarray,
    radius: float,
    label: str,
    floor: float = 0.0,
) -> DefinitenessOutcome:
    """Prove lambda_min(X) > floor for an X within ``radius`` of ``matrix``.

    Parameters
    ----------
    matrix : ndarray, shape (n, n)
        X_f, symmetric float matrix.
    radius : float
        r >= ||X - X_f||_2 (0 when X_f is the exact matrix).
    label : str
        The matrix in words, for the outcome.
    floor : float
        The proven bound is lambda_min(X) >= floor + mu with mu > 0.

    Returns
    -------
    DefinitenessOutcome
        ``lower_bound`` is floor + mu, rounded down.
    """
    n = matrix.shape[0]
    shift_bound = _shift_bound(matrix.diagonal(), inner_terms=n)
    if not (math.isfinite(radius) and math.isfinite(shift_bound)):
        return DefinitenessOutcome(
            matrix=label,
            method="rump",
            proven=False,
            note="its floating-point enclosure overflowed; rescale A or P",
            details={"enclosure_radius": radius, "cholesky_shift_bound": shift_bound},
        )
    base = float_up(Fraction(floor) + Fraction(radius) + Fraction(shift_bound))
    excess = float_up(
        (Fraction(radius) + Fraction(shift_bound)) * Fraction(FIRST_EXCESS_FRACTION)
    )
    details: dict[str, object] = {
        "enclosure_radius": radius,
        "cholesky_shift_bound": shift_bound,
        "attempted_excess": [excess],
    }

    factor, note = _shifted_cholesky(matrix, next_up(base + excess))
    if factor is None:
        return DefinitenessOutcome(
            matrix=label, method="rump", proven=False, note=note, details=details
        )

    slack = smallest_eigenvalue_from_factor(factor) + excess
    del factor
    best = excess
    for fraction in MARGIN_FRACTIONS:
        candidate = fraction * slack
        if not (math.isfinite(candidate) and candidate > best):
            continue
        details["attempted_excess"].append(candidate)
        factor, _ = _shifted_cholesky(matrix, next_up(base + candidate))
        if factor is not None:
            best = candidate
            break

    lower_bound = float_down(Fraction(floor) + Fraction(best))
    logger.debug("rump proved lambda_min(%s) >= %g (n = %d)", label, lower_bound, n)
    return DefinitenessOutcome(
        matrix=label,
        method="rump",
        proven=True,
        lower_bound=lower_bound,
        estimate=float(floor + slack + radius + shift_bound)
        if math.isfinite(slack)
        else None,
        details=details,
    )
