"""Directed rounding and rounding-error constants for IEEE 754 binary64.

numpy computes in binary64 with round-to-nearest and offers no control of the
rounding mode. Every rigorous bound in this package is therefore obtained in
one of three ways:

* one rounded operation followed by a step to the neighbouring float
  (``np.nextafter``): the exact result lies within half a unit in the last
  place of the rounded one, so the neighbour bounds it, for subnormal results
  too;
* a sum or dot product of ``k`` non-negative terms, bounded with the standard
  constant gamma_k = k u / (1 - k u), u = 2**-53, which holds for any order
  of summation (blocked BLAS and fused multiply-add included, Strassen-type
  products excluded);
* scalar constants computed exactly with :class:`fractions.Fraction` and
  rounded outward once.

Underflow in a product adds an absolute error of at most eta / 2 with
eta = 2**-1074, the smallest subnormal. Sums of floats never underflow
inexactly (gradual underflow), so each bound below adds ``k * eta`` for the
products of a length-``k`` dot product. Overflow shows up as ``inf`` and makes
every bound fail, which callers treat as "not proven".
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import scipy.sparse as sp

__all__ = [
    "SMALLEST_SUBNORMAL",
    "UNIT_ROUNDOFF",
    "float_down",
    "float_nearest",
    "float_up",
    "gamma_up",
    "next_down",
    "next_up",
    "upper_abs_row_sums",
    "upper_nonneg_matvec",
]

UNIT_ROUNDOFF = 2.0**-53
"""Unit roundoff u of binary64 with round-to-nearest."""

SMALLEST_SUBNORMAL = 2.0**-1074
"""eta, the absolute error bound of an underflowing binary64 product (times 2)."""

ROW_BLOCK = 1024
"""Rows per block when a dense matrix is scanned, so temporaries stay O(n) rows."""


def next_up(values: np.ndarray | float) -> np.ndarray | float:
    """Return the next binary64 value towards +inf, elementwise."""
    return np.nextafter(values, np.inf)


def next_down(values: np.ndarray | float) -> np.ndarray | float:
    """Return the next binary64 value towards -inf, elementwise."""
    return np.nextafter(values, -np.inf)


def float_up(value: Fraction | int) -> float:
    """Return the smallest float not below the exact rational ``value``."""
    value = Fraction(value)
    try:
        rounded = float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.nextafter(math.inf, 0.0)
    if Fraction(rounded) < value:
        rounded = math.nextafter(rounded, math.inf)
    return rounded


def float_nearest(value: Fraction | int) -> float:
    """Return ``value`` rounded to the nearest float, or +-inf beyond its range."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def float_down(value: Fraction | int) -> float:
    """Return the largest float not above the exact rational ``value``."""
    return -float_up(-Fraction(value))


def gamma_up(k: int) -> float:
    """Return an upper bound on gamma_k = k u / (1 - k u) as a float.

    Raises
    ------
    ValueError
        If ``k u >= 1``, where the classical bound no longer applies.
    """
    ku = Fraction(k) * Fraction(UNIT_ROUNDOFF)
    if ku >= 1:
        raise ValueError(
            f"gamma_k is undefined for k = {k} terms because k * 2**-53 >= 1; "
            "split the computation into shorter sums."
        )
    return float_up(ku / (1 - ku))


def _sum_correction_factor(n_terms: int) -> float:
    """Return an upper bound on 1 + 2 gamma_k, which exceeds 1 / (1 - gamma_k)."""
    gamma = Fraction(gamma_up(n_terms))
    return float_up(1 + 2 * gamma)


def upper_nonneg_matvec(
    matrix: np.ndarray | sp.sparray | sp.spmatrix,
    vector: np.ndarray,
    n_terms: int | None = None,
) -> np.ndarray:
    """Bound ``matrix @ vector`` from above for non-negative operands.

    Parameters
    ----------
    matrix : ndarray or sparse, shape (m, k)
        Non-negative entries.
    vector : ndarray, shape (k,)
        Non-negative entries.
    n_terms : int, optional
        Maximum number of terms in one dot product (defaults to ``k``).

    Returns
    -------
    ndarray, shape (m,)
        Floats that are at least the exact products. With k terms the
        computed dot product s_hat satisfies s <= (s_hat + k eta) / (1 -
        gamma_k) whatever the summation order, and 1 / (1 - gamma_k) <= 1 + 2
        gamma_k while gamma_k <= 1/2.
    """
    k = matrix.shape[1] if n_terms is None else n_terms
    computed = np.asarray(matrix @ vector, dtype=np.float64).ravel()
    padded = next_up(computed + k * SMALLEST_SUBNORMAL)
    return next_up(padded * _sum_correction_factor(max(k, 1)))


def upper_abs_row_sums(matrix: np.ndarray) -> np.ndarray:
    """Bound the row sums of ``|matrix|`` from above, scanning in row blocks.

    Parameters
    ----------
    matrix : ndarray, shape (m, k)

    Returns
    -------
    ndarray, shape (m,)
        Upper bounds of sum_j |matrix[i, j]| (taking absolute values is exact).
    """
    m, k = matrix.shape
    sums = np.empty(m, dtype=np.float64)
    for start in range(0, m, ROW_BLOCK):
        block = np.abs(matrix[start : start + ROW_BLOCK])
        sums[start : start + ROW_BLOCK] = block.sum(axis=1)
    return next_up(sums * _sum_correction_factor(max(k, 1)))
