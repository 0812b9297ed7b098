"""Floating-point eigenvalue estimates, never used as proof.

The rigorous tests need a shift below lambda_min, and a failed test should say
how far the matrix is from definite. Both come from these estimates.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

__all__ = ["smallest_eigenpair", "smallest_eigenvalue_from_factor"]

INVERSE_ITERATIONS = 12
"""Inverse-iteration steps; the estimate only has to be right to a few percent."""


def smallest_eigenpair(matrix: np.ndarray) -> tuple[float, np.ndarray]:
    """Estimate the smallest eigenvalue of a symmetric matrix and its eigenvector.

    Parameters
    ----------
    matrix : ndarray, shape (n, n)
        Symmetric; only the lower triangle is read.

    Returns
    -------
    value : float
    vector : ndarray, shape (n,)
        Unit 2-norm.
    """
    values, vectors = scipy.linalg.eigh(
        matrix, subset_by_index=[0, 0], lower=True, check_finite=False
    )
    return float(values[0]), vectors[:, 0]


def smallest_eigenvalue_from_factor(lower: np.ndarray) -> float:
    """Estimate lambda_min of ``lower @ lower.T`` by inverse iteration.

    Parameters
    ----------
    lower : ndarray, shape (n, n)
        Lower-triangular Cholesky factor.

    Returns
    -------
    float
        A Rayleigh-quotient estimate; inverse iteration approaches lambda_min
        from above, so the value tends to overestimate it. NaN when the
        iteration overflows.
    """
    n = lower.shape[0]
    vector = np.random.default_rng(0).standard_normal(n)
    vector /= np.linalg.norm(vector)
    estimate = np.nan
    for _ in range(INVERSE_ITERATIONS):
        image = scipy.linalg.cho_solve((lower, True), vector, check_finite=False)
        # Divide by the largest entry first: for a tiny matrix the image is huge.
        scale = float(np.max(np.abs(image)))
        if not (np.isfinite(scale) and scale > 0):
            return np.nan
        image /= scale
        estimate = (1.0 / scale) / float(vector @ image)
        vector = image / np.linalg.norm(image)
    return estimate
