"""Rigorous evaluation of quadratic forms x^T X x in floating point.

A vector x != 0 with x^T X x <= 0 proves that X is not positive definite.
The values are computed with numpy and enclosed with the dot-product bound
|fl(a . b) - a . b| <= gamma_k |a| . |b| + k eta (k terms, any summation
order); the final combination is exact in :class:`fractions.Fraction`.
Cost O(n**2) for dense P, O(nnz) for sparse A and diagonal P.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import scipy.sparse as sp

from biosynapse_verify.check.rounding import (
    SMALLEST_SUBNORMAL,
    gamma_up,
    next_up,
    upper_nonneg_matvec,
)

__all__ = ["Enclosure", "enclose_form_value", "enclose_shifted_value"]


@dataclass(frozen=True)
class Enclosure:
    """An exact interval [centre - radius, centre + radius]."""

    centre: Fraction
    radius: Fraction

    @property
    def upper(self) -> Fraction:
        return self.centre + self.radius

    @property
    def lower(self) -> Fraction:
        return self.centre - self.radius


def _matvec(
    matrix: np.ndarray | sp.csr_array, vector: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return y ~= matrix @ vector and e >= |y - matrix @ vector| entrywise.

    A 1-D ``matrix`` stands for the diagonal matrix with that diagonal.
    """
    if matrix.ndim == 1:
        image = matrix * vector
        error = next_up(gamma_up(1) * next_up(np.abs(image)) + SMALLEST_SUBNORMAL)
        return image, error
    n_terms = matrix.shape[1]
    image = np.asarray(matrix @ vector, dtype=np.float64).ravel()
    magnitude = upper_nonneg_matvec(abs(matrix), np.abs(vector))
    error = next_up(
        next_up(gamma_up(n_terms) * magnitude) + n_terms * SMALLEST_SUBNORMAL
    )
    return image, error


def _upper_dot(left: np.ndarray, right: np.ndarray) -> Fraction:
    """Return an upper bound on left . right for non-negative vectors, exactly."""
    return Fraction(float(upper_nonneg_matvec(left[None, :], right)[0]))


def _dot(left: np.ndarray, right: np.ndarray) -> Enclosure:
    """Enclose left . right for float vectors."""
    n_terms = left.size
    centre = Fraction(float(left @ right))
    magnitude = _upper_dot(np.abs(left), np.abs(right))
    radius = Fraction(gamma_up(n_terms)) * magnitude + n_terms * Fraction(
        SMALLEST_SUBNORMAL
    )
    return Enclosure(centre, radius)


def _dot_of_images(
    left: np.ndarray, left_error: np.ndarray, right: np.ndarray, right_error: np.ndarray
) -> Enclosure:
    """Enclose l . r where |l - left| <= left_error and |r - right| <= right_error."""
    computed = _dot(left, right)
    propagated = (
        _upper_dot(np.abs(left), right_error)
        + _upper_dot(left_error, np.abs(right))
        + _upper_dot(left_error, right_error)
    )
    return Enclosure(computed.centre, computed.radius + propagated)


def enclose_form_value(
    A: np.ndarray | sp.csr_array,
    P: np.ndarray,
    sign: int,
    shift: float,
    vector: np.ndarray,
) -> Enclosure:
    """Enclose x^T X x for X = sign * (A^T P + P A) - 2 * shift * I.

    Uses x^T X x = 2 sign (P x) . (A x) - 2 shift x . x, valid for symmetric P.

    Parameters
    ----------
    A : ndarray or csr_array, shape (n, n)
    P : ndarray, shape (n, n) or (n,) for a diagonal P
    sign : {-1, +1}
    shift : float
    vector : ndarray, shape (n,)

    Returns
    -------
    Enclosure
    """
    p_image, p_error = _matvec(P, vector)
    a_image, a_error = _matvec(A, vector)
    cross = _dot_of_images(p_image, p_error, a_image, a_error)
    norm = _dot(vector, vector)
    centre = 2 * sign * cross.centre - 2 * Fraction(shift) * norm.centre
    radius = 2 * cross.radius + 2 * Fraction(shift) * norm.radius
    return Enclosure(centre, radius)


def enclose_shifted_value(P: np.ndarray, floor: float, vector: np.ndarray) -> Enclosure:
    """Enclose x^T (P - floor I) x; P may be given as its diagonal."""
    image, error = _matvec(P, vector)
    zero = np.zeros_like(vector)
    quadratic = _dot_of_images(vector, zero, image, error)
    norm = _dot(vector, vector)
    centre = quadratic.centre - Fraction(floor) * norm.centre
    radius = quadratic.radius + Fraction(floor) * norm.radius
    return Enclosure(centre, radius)
