"""Exact integer images of binary64 data.

Every finite binary64 number is a dyadic rational m * 2**e with an integer m.
An array is converted to integers with one common exponent, so that matrix
products and sums can be done exactly in python-flint's ``fmpz_mat``. The
integers grow by one bit per binade between the smallest and the largest
entry (1e-300 next to 1 costs about 1000 bits), which flint handles, only
more slowly.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from flint import fmpz, fmpz_mat

__all__ = [
    "DyadicMatrix",
    "dyadic_from_array",
    "dyadic_from_float",
    "dyadic_matrix",
    "dyadic_to_fraction",
]

MANTISSA_BITS = 53
"""Bits of a binary64 significand, hidden bit included."""

LIMB_BITS = 62
"""Bits per digit when a matrix is passed to flint as several int64 matrices."""

LIMB_MASK = (1 << LIMB_BITS) - 1


@dataclass(frozen=True)
class DyadicMatrix:
    """Exact matrix ``ints * 2**exponent`` with integer entries.

    Attributes
    ----------
    ints : fmpz_mat, shape (m, k)
    exponent : int
    """

    ints: fmpz_mat
    exponent: int

    def rescaled(self, exponent: int) -> fmpz_mat:
        """Return the integer matrix of the same value at a smaller ``exponent``."""
        shift = self.exponent - exponent
        if shift < 0:
            raise ValueError(
                f"cannot rescale from exponent {self.exponent} to the larger "
                f"exponent {exponent} without losing bits"
            )
        if shift == 0:
            return self.ints
        return self.ints * fmpz(1 << shift)


def _trailing_zero_bits(values: np.ndarray) -> np.ndarray:
    """Return the number of trailing zero bits of positive int64 ``values``."""
    lowest_bit = values & -values
    return np.frexp(lowest_bit.astype(np.float64))[1].astype(np.int64) - 1


@dataclass(frozen=True)
class _DyadicParts:
    """Array entries as ``sign * magnitude * 2**(shift + exponent)``, flattened."""

    signs: np.ndarray  # int64, -1, 0 or +1
    magnitudes: np.ndarray  # uint64, odd, below 2**53 (0 where the entry is 0)
    shifts: np.ndarray  # int64, >= 0
    exponent: int


def _dyadic_parts(values: np.ndarray) -> _DyadicParts:
    """Split finite float64 ``values`` into odd significands and shifts."""
    flat = np.ascontiguousarray(values, dtype=np.float64).ravel()
    significand, binary_exponent = np.frexp(flat)
    mantissas = np.ldexp(significand, MANTISSA_BITS).astype(np.int64)
    magnitudes = np.abs(mantissas)
    shifts = np.zeros(flat.size, dtype=np.int64)
    nonzero = magnitudes != 0
    if not nonzero.any():
        return _DyadicParts(
            np.zeros(flat.size, np.int64), magnitudes.astype(np.uint64), shifts, 0
        )

    trailing = _trailing_zero_bits(magnitudes[nonzero])
    magnitudes[nonzero] >>= trailing
    exponents = binary_exponent[nonzero].astype(np.int64) - MANTISSA_BITS + trailing
    common = int(exponents.min())
    shifts[nonzero] = exponents - common
    return _DyadicParts(
        np.sign(mantissas), magnitudes.astype(np.uint64), shifts, common
    )


def _limb(parts: _DyadicParts, index: int) -> np.ndarray:
    """Return the signed base-2**62 digit ``index`` of every entry, as int64."""
    relative = parts.shifts - LIMB_BITS * index
    left = np.clip(relative, 0, LIMB_BITS).astype(np.uint64)
    right = np.clip(-relative, 0, LIMB_BITS).astype(np.uint64)
    digits = np.where(
        relative >= 0, parts.magnitudes << left, parts.magnitudes >> right
    )
    digits &= np.uint64(LIMB_MASK)
    outside = (relative >= LIMB_BITS) | (relative <= -MANTISSA_BITS)
    digits[outside] = 0
    return parts.signs * digits.astype(np.int64)


def dyadic_from_array(values: np.ndarray) -> tuple[list[int], int]:
    """Convert a float64 array to integers with one common power-of-two exponent.

    Parameters
    ----------
    values : ndarray of float64, any shape
        Finite values.

    Returns
    -------
    ints : list of int, length values.size
        Integers in C order with ``values.ravel() == ints * 2**exponent`` exactly.
    exponent : int
        The largest exponent for which every entry is an integer multiple.
    """
    parts = _dyadic_parts(values)
    ints = np.left_shift(
        (parts.signs * parts.magnitudes.astype(np.int64)).astype(object),
        parts.shifts.astype(object),
    )
    return ints.tolist(), parts.exponent


def dyadic_matrix(values: np.ndarray) -> DyadicMatrix:
    """Convert a 2-D float64 array (a 1-D one as a column) to a :class:`DyadicMatrix`.

    flint builds matrices quickly from machine integers but slowly from
    multi-limb Python integers, so the entries are split into signed
    base-2**62 digits, one int64 matrix per digit, and recombined in flint.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    rows, cols = array.shape
    parts = _dyadic_parts(array)
    top_bit = int(parts.shifts.max(initial=0)) + MANTISSA_BITS
    n_limbs = -(-top_bit // LIMB_BITS)

    ints = fmpz_mat(rows, cols, _limb(parts, 0).tolist())
    for index in range(1, n_limbs):
        digit = fmpz_mat(rows, cols, _limb(parts, index).tolist())
        ints += digit * fmpz(1 << (LIMB_BITS * index))
    return DyadicMatrix(ints, parts.exponent)


def dyadic_from_float(value: float) -> tuple[int, int]:
    """Return ``(m, e)`` with ``value == m * 2**e`` exactly."""
    numerator, denominator = float(value).as_integer_ratio()
    exponent = -(denominator.bit_length() - 1)
    return numerator, exponent


def dyadic_to_fraction(integer: int | fmpz, exponent: int) -> Fraction:
    """Return ``integer * 2**exponent`` as an exact fraction."""
    value = Fraction(int(integer))
    if exponent >= 0:
        return value * (1 << exponent)
    return value / (1 << -exponent)
