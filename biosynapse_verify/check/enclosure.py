"""Entrywise enclosures of matrix expressions, dense-batched and sparse.

An enclosure of a real matrix X is a pair (mid, rad) of float matrices with
|X - mid| <= rad entrywise. Products and sums of enclosures are formed in
round-to-nearest binary64 and widened so that the bound still holds:

* a product of non-negative float matrices with inner length k is at most
  (fl(P Q) + k eta)(1 + 2 gamma_k), stepped up once (see
  :func:`biosynapse_verify.check.rounding.upper_nonneg_matvec`); the same
  bound holds for stacked (batched) products and sparse products;
* the rounding error of fl(X Y) is at most gamma_k |X| |Y| + k eta entrywise
  (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., 2002,
  section 3.5), for any order of summation;
* a rounded sum or scalar product lies within one unit in the last place,
  ``np.spacing(|mid|)``, of the exact value (subnormals included).

All radius arithmetic works on non-negative floats and steps every result
up with ``nextafter``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import scipy.sparse as sp

from biosynapse_verify.check.rounding import (
    SMALLEST_SUBNORMAL,
    float_up,
    gamma_up,
    next_up,
)

__all__ = [
    "DenseEnclosure",
    "SparseEnclosure",
    "add_up",
    "sum_correction",
    "upper_product",
    "upper_sparse_product",
]


def sum_correction(k: int) -> float:
    """Return an upper bound of 1 + 2 gamma_k, which exceeds 1 / (1 - gamma_k)."""
    return float_up(1 + 2 * Fraction(gamma_up(max(k, 1))))


def add_up(left: np.ndarray | float, right: np.ndarray | float) -> np.ndarray | float:
    """Return an upper bound of ``left + right`` for non-negative operands."""
    return next_up(np.add(left, right))


def upper_product(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Bound ``left @ right`` from above for non-negative (stacked) matrices."""
    k = left.shape[-1]
    computed = np.matmul(left, right)
    padded = next_up(computed + k * SMALLEST_SUBNORMAL)
    return next_up(padded * sum_correction(k))


def upper_sparse_product(left: sp.sparray, right: sp.sparray) -> sp.csr_array:
    """Bound ``left @ right`` from above for non-negative sparse matrices."""
    left, right = sp.csr_array(left), sp.csr_array(right)
    k = int(np.diff(left.indptr).max(initial=0)) or 1
    product = sp.csr_array(left @ right)
    product.data = next_up(next_up(product.data + k * SMALLEST_SUBNORMAL) * sum_correction(k))
    return product


@dataclass(frozen=True)
class DenseEnclosure:
    """Enclosure of a stack of matrices, shape (B, k, k) for mid and rad."""

    mid: np.ndarray
    rad: np.ndarray

    @classmethod
    def exact(cls, values: np.ndarray) -> DenseEnclosure:
        """Return the enclosure of float values taken as exact."""
        return cls(values, np.zeros_like(values))

    def transpose(self) -> DenseEnclosure:
        """Return the enclosure of the transposed stack (exact)."""
        return DenseEnclosure(np.swapaxes(self.mid, -1, -2), np.swapaxes(self.rad, -1, -2))

    def __matmul__(self, other: DenseEnclosure) -> DenseEnclosure:
        mid = np.matmul(self.mid, other.mid)
        k = self.mid.shape[-1]
        abs_left, abs_right = np.abs(self.mid), np.abs(other.mid)
        rounding = next_up(gamma_up(k + 1) * upper_product(abs_left, abs_right))
        rad = add_up(rounding, k * SMALLEST_SUBNORMAL)
        if self.rad.any():
            rad = add_up(rad, upper_product(self.rad, add_up(abs_right, other.rad)))
        if other.rad.any():
            rad = add_up(rad, upper_product(abs_left, other.rad))
        return DenseEnclosure(mid, rad)

    def __add__(self, other: DenseEnclosure) -> DenseEnclosure:
        mid = self.mid + other.mid
        rad = add_up(add_up(self.rad, other.rad), np.spacing(np.abs(mid)))
        return DenseEnclosure(mid, rad)

    def __neg__(self) -> DenseEnclosure:
        return DenseEnclosure(-self.mid, self.rad)

    def scaled(self, factor: float) -> DenseEnclosure:
        """Return the enclosure of ``factor * X`` for an exact float ``factor``."""
        mid = factor * self.mid
        rad = add_up(next_up(abs(factor) * self.rad), np.spacing(np.abs(mid)))
        return DenseEnclosure(mid, rad)

    def radius_norm(self) -> np.ndarray:
        """Return upper bounds of ||E||_2 for every |E| <= rad, shape (B,).

        ||E||_2 <= sqrt(||E||_1 ||E||_inf), bounded by the larger of the
        largest row sum and the largest column sum of rad.
        """
        k = self.rad.shape[-1]
        rows = self.rad.sum(axis=-1).max(axis=-1)
        cols = self.rad.sum(axis=-2).max(axis=-1)
        return next_up(np.maximum(rows, cols) * sum_correction(k))


@dataclass(frozen=True)
class SparseEnclosure:
    """Enclosure of a sparse matrix: CSR mid and rad (rad may be None for exact)."""

    mid: sp.csr_array
    rad: sp.csr_array | None = None

    def times_exact_left(self, left: sp.csr_array) -> SparseEnclosure:
        """Return the enclosure of ``left @ X`` for an exact sparse ``left``."""
        left = sp.csr_array(left)
        abs_left = abs(left)
        mid = sp.csr_array(left @ self.mid)
        k = int(np.diff(left.indptr).max(initial=0)) or 1
        rounding = upper_sparse_product(abs_left, abs(self.mid))
        rounding.data = add_up(next_up(gamma_up(k + 1) * rounding.data), k * SMALLEST_SUBNORMAL)
        rad = rounding
        if self.rad is not None:
            rad = _sparse_add_up(rad, upper_sparse_product(abs_left, self.rad))
        return SparseEnclosure(mid, rad)

    def __add__(self, other: SparseEnclosure) -> SparseEnclosure:
        mid = sp.csr_array(self.mid + other.mid)
        spacing = sp.csr_array(mid, copy=True)
        spacing.data = np.spacing(np.abs(spacing.data))
        rad = spacing
        for part in (self.rad, other.rad):
            if part is not None:
                rad = _sparse_add_up(rad, part)
        return SparseEnclosure(mid, rad)

    def upper_abs(self) -> sp.csr_array:
        """Return an upper bound of |X| entrywise."""
        upper = sp.csr_array(abs(self.mid))
        if self.rad is not None:
            upper = _sparse_add_up(upper, self.rad)
        return upper


def _sparse_add_up(left: sp.csr_array, right: sp.csr_array) -> sp.csr_array:
    """Return an upper bound of ``left + right`` for non-negative sparse matrices."""
    total = sp.csr_array(left + right)
    total.data = next_up(total.data)
    return total
