"""Interval proof of positive definiteness for a diagonal certificate, in O(nnz).

With P = diag(p), X = sign * (A^T P + P A) - 2 * shift * I has entries
X_ij = sign * (p_i a_ij + p_j a_ji) - 2 shift [i = j], so X has the sparsity
of A + A^T and each entry needs two products and one sum. Each rounded
operation is enclosed by stepping to the neighbouring floats.

Scaled Gershgorin test. For symmetric X and a vector v > 0, the matrix
D^-1 X D with D = diag(v) has the eigenvalues of X, and they are real, so

    lambda_min(X) >= min_i (X_ii v_i - sum_{j != i} |X_ij| v_j) / v_i.

With v = 1 this is Gershgorin's theorem. When it fails, v is taken from a
solve with the comparison matrix <X> (diagonal X_ii, off-diagonal -|X_ij|):
if <X> v = 1 has a positive solution, the bound is positive.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg

from biosynapse_verify.check.result import DefinitenessOutcome
from biosynapse_verify.check.rounding import next_down, next_up, upper_nonneg_matvec

__all__ = ["FormIntervals", "enclose_diagonal_form", "prove_definite_gershgorin"]

logger = logging.getLogger(__name__)

COMPARISON_SOLVE_RTOL = 1e-6
"""Relative residual norm for <X> v = 1.

For n < 1e12 it bounds every row of the residual below 1, which keeps
<X> v > 0 and so makes the scaled Gershgorin test succeed.
"""

COMPARISON_SOLVE_MAX_ITER = 500
"""Conjugate-gradient steps for the scaling vector, O(nnz) each."""


@dataclass(frozen=True)
class FormIntervals:
    """Enclosure of X for a diagonal certificate.

    Attributes
    ----------
    diagonal_lower : ndarray, shape (n,)
        Lower bounds on X_ii.
    off_diagonal_abs_upper : csr_array, shape (n, n)
        Upper bounds on |X_ij| for i != j (zero diagonal).
    off_diagonal_mid : csr_array, shape (n, n)
        Floating-point values of X_ij off the diagonal, for choosing v only.
    """

    diagonal_lower: np.ndarray
    off_diagonal_abs_upper: sp.csr_array
    off_diagonal_mid: sp.csr_array


def _scaled_rows(A: sp.csr_array, p: np.ndarray, step: float) -> sp.csr_array:
    """Return P A entrywise (p_i a_ij), each product stepped towards ``step``."""
    counts = np.diff(A.indptr)
    data = np.nextafter(A.data * np.repeat(p, counts), step)
    return sp.csr_array((data, A.indices.copy(), A.indptr.copy()), shape=A.shape)


def _without_diagonal(matrix: sp.csr_array) -> sp.csr_array:
    """Return ``matrix`` with its diagonal set to zero."""
    return sp.csr_array(sp.triu(matrix, k=1) + sp.tril(matrix, k=-1))


def enclose_diagonal_form(
    A: sp.csr_array | np.ndarray, p: np.ndarray, sign: int, shift: float
) -> FormIntervals:
    """Enclose X = sign * (A^T P + P A) - 2 * shift * I for P = diag(p).

    Parameters
    ----------
    A : csr_array or ndarray, shape (n, n)
    p : ndarray, shape (n,)
    sign : {-1, +1}
    shift : float

    Returns
    -------
    FormIntervals
    """
    A = sp.csr_array(A)
    A.sum_duplicates()
    low = _scaled_rows(A, p, -np.inf)
    high = _scaled_rows(A, p, np.inf)

    # K + K^T rounds once where both entries exist; the step keeps the enclosure.
    sum_low = (low + low.T).tocsr()
    sum_high = (high + high.T).tocsr()
    sum_low.data = next_down(sum_low.data)
    sum_high.data = next_up(sum_high.data)
    if sign < 0:
        sum_low, sum_high = -sum_high, -sum_low

    diagonal_lower = next_down(sum_low.diagonal() - 2.0 * shift)
    abs_upper = _without_diagonal(abs(sum_low).maximum(abs(sum_high)))
    mid = _without_diagonal(((sum_low + sum_high) * 0.5).tocsr())
    return FormIntervals(diagonal_lower, abs_upper, mid)


def _scaled_gershgorin_bound(intervals: FormIntervals, vector: np.ndarray) -> float:
    """Return a rigorous lower bound of min_i (X_ii v_i - sum_j |X_ij| v_j) / v_i."""
    row_lengths = np.diff(intervals.off_diagonal_abs_upper.indptr)
    n_terms = int(row_lengths.max(initial=0)) or 1
    radius = upper_nonneg_matvec(intervals.off_diagonal_abs_upper, vector, n_terms)
    centre = next_down(intervals.diagonal_lower * vector)
    numerator = next_down(centre - radius)
    ratios = next_down(numerator / vector)
    if not np.all(np.isfinite(ratios)):
        return -np.inf
    return float(np.min(ratios))


def _comparison_vector(intervals: FormIntervals) -> np.ndarray | None:
    """Solve <X> v = 1 approximately; return v if it is finite and positive.

    <X> is symmetric, and positive definite whenever X is an H-matrix, so
    conjugate gradients apply at O(nnz) per step; a direct sparse solve
    can fill in catastrophically on irregular sparsity patterns. Only the
    sign of v matters, because the scaled Gershgorin test is rigorous for any
    v > 0.
    """
    n = intervals.diagonal_lower.size
    comparison = sp.diags_array(intervals.diagonal_lower) - abs(
        intervals.off_diagonal_mid
    )
    vector, info = scipy.sparse.linalg.cg(
        sp.csr_array(comparison),
        np.ones(n),
        rtol=COMPARISON_SOLVE_RTOL,
        maxiter=COMPARISON_SOLVE_MAX_ITER,
    )
    logger.debug("comparison-matrix CG finished with info = %d", info)
    if not np.all(np.isfinite(vector)) or not np.all(vector > 0):
        return None
    return vector


def prove_definite_gershgorin(
    intervals: FormIntervals, label: str
) -> DefinitenessOutcome:
    """Prove X positive definite by a scaled Gershgorin test on its enclosure.

    Parameters
    ----------
    intervals : FormIntervals
    label : str
        The matrix in words, for the outcome.

    Returns
    -------
    DefinitenessOutcome
    """
    bound = _scaled_gershgorin_bound(intervals, np.ones(intervals.diagonal_lower.size))
    details: dict[str, object] = {"unscaled_bound": bound}
    scaling = "unscaled"
    if not bound > 0:
        vector = _comparison_vector(intervals)
        if vector is not None:
            bound = _scaled_gershgorin_bound(intervals, vector)
            details["scaled_bound"] = bound
            scaling = "scaled by the comparison-matrix solution"
    details["scaling"] = scaling
    if bound > 0:
        return DefinitenessOutcome(
            matrix=label,
            method="gershgorin",
            proven=True,
            lower_bound=bound,
            details=details,
        )
    return DefinitenessOutcome(
        matrix=label,
        method="gershgorin",
        proven=False,
        note=(
            f"the Gershgorin bound on its smallest eigenvalue is {bound:.3g}, "
            "which is not positive"
        ),
        details=details,
    )
