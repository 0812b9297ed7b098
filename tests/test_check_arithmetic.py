"""Exact conversion of floats and directed-rounding helpers of the checker."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from biosynapse_verify.check.dyadic import (
    dyadic_from_array,
    dyadic_from_float,
    dyadic_matrix,
    dyadic_to_fraction,
)
from biosynapse_verify.check.exact import prove_definite_sylvester
from biosynapse_verify.check.rounding import (
    float_down,
    float_up,
    gamma_up,
    upper_abs_row_sums,
    upper_nonneg_matvec,
)

finite_floats = st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=True)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 5), st.integers(1, 5)),
        elements=finite_floats,
    )
)
def test_dyadic_matrix_is_exact(values):
    exact = dyadic_matrix(values)
    ints, exponent = dyadic_from_array(values)
    rows, cols = values.shape
    for i in range(rows):
        for j in range(cols):
            expected = Fraction(float(values[i, j]))
            assert dyadic_to_fraction(int(exact.ints[i, j]), exact.exponent) == expected
            assert dyadic_to_fraction(ints[i * cols + j], exponent) == expected


def test_dyadic_matrix_spans_full_exponent_range():
    values = np.array([[5e-324, -1.7976931348623157e308], [0.0, 0.1]])
    exact = dyadic_matrix(values)
    assert exact.exponent == -1074
    assert dyadic_to_fraction(int(exact.ints[0, 1]), exact.exponent) == Fraction(
        values[0, 1]
    )


@given(finite_floats)
def test_dyadic_from_float_is_exact(value):
    numerator, exponent = dyadic_from_float(value)
    assert dyadic_to_fraction(numerator, exponent) == Fraction(value)


@given(st.fractions(), st.integers(-60, 60))
def test_directed_rounding_brackets_fraction(value, scale):
    value = value * Fraction(2) ** scale
    up, down = float_up(value), float_down(value)
    assert Fraction(down) <= value <= Fraction(up)
    assert math.nextafter(down, math.inf) >= up or up == down


def test_gamma_up_bounds_definition():
    for k in (1, 10, 1000, 10**6):
        ku = Fraction(k, 2**53)
        assert Fraction(gamma_up(k)) >= ku / (1 - ku)


def test_gamma_up_rejects_huge_k():
    with pytest.raises(ValueError, match="k \\* 2\\*\\*-53 >= 1"):
        gamma_up(2**53)


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 6), st.integers(1, 6)),
        elements=st.floats(0, 1e300) | st.floats(0, 1e-300, allow_subnormal=True),
    ),
    st.integers(0, 2**32),
)
def test_upper_nonneg_matvec_bounds_exact_product(matrix, seed):
    rng = np.random.default_rng(seed)
    vector = rng.random(matrix.shape[1]) * 10.0 ** rng.integers(
        -300, 3, matrix.shape[1]
    )
    bound = upper_nonneg_matvec(matrix, vector)
    for i in range(matrix.shape[0]):
        pairs = zip(matrix[i], vector, strict=True)
        exact = sum(Fraction(float(a)) * Fraction(float(b)) for a, b in pairs)
        assert Fraction(float(bound[i])) >= exact


def test_upper_abs_row_sums_bounds_exact_sum():
    rng = np.random.default_rng(3)
    matrix = rng.standard_normal((50, 2000)) * 10.0 ** rng.integers(-8, 8, (50, 2000))
    bound = upper_abs_row_sums(matrix)
    for i in range(50):
        exact = sum(Fraction(abs(float(x))) for x in matrix[i])
        assert Fraction(float(bound[i])) >= exact


def test_sylvester_finds_first_nonpositive_minor():
    matrix = np.array([[2.0, 3.0, 0.0], [3.0, 4.0, 1.0], [0.0, 1.0, 5.0]])
    outcome = prove_definite_sylvester(dyadic_matrix(matrix), "X")
    assert not outcome.proven
    assert outcome.refuted
    assert outcome.details["failing_minor_order"] == 2


def test_sylvester_handles_zero_pivot():
    matrix = np.array([[0.0, 1.0], [1.0, 0.0]])
    outcome = prove_definite_sylvester(dyadic_matrix(matrix), "X")
    assert outcome.refuted
    assert outcome.details["failing_minor_order"] == 1


def test_sylvester_bound_below_true_lambda_min():
    matrix = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.25], [0.5, 0.25, 2.0]])
    outcome = prove_definite_sylvester(dyadic_matrix(matrix), "X")
    assert outcome.proven
    assert 0 < outcome.lower_bound <= np.linalg.eigvalsh(matrix)[0]
