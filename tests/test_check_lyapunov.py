"""check_lyapunov on textbook certificates, rounding-level edge cases and bad input."""

from __future__ import annotations

import json
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import scipy.sparse as sp
import sympy

from biosynapse_verify.check import LAMBDA_MIN_P_FLOOR, check_lyapunov

DENSE_METHODS = ("exact", "rump")


def exactly_positive_definite(matrix: np.ndarray) -> bool:
    """Decide positive definiteness of the exact float values with sympy rationals."""
    rational = sympy.Matrix(
        matrix.shape[0],
        matrix.shape[1],
        [sympy.Rational(Fraction(float(x))) for x in matrix.ravel()],
    )
    return bool(rational.is_positive_definite)


def exact_lambda_min(matrix: np.ndarray) -> float:
    """Smallest eigenvalue of the exact float values, to 50 digits."""
    with mpmath.workdps(50):
        values, _ = mpmath.eigsy(mpmath.matrix(matrix.tolist()))
        return float(min(values))


def nearly_singular_matrix(seed: int, sign: int) -> np.ndarray:
    """Return B B^T (rank n - 1, integer) plus one off-diagonal pair moved by one ulp.

    A null vector x of B^T can be scaled to integers, and
    x^T (B B^T + E) x = 2 e x_i x_j, so the ulp change decides definiteness at
    the level of rounding error.
    """
    rng = np.random.default_rng(seed)
    n = 5
    basis = rng.integers(-4, 5, (n, n - 1)).astype(float)
    gram = basis @ basis.T
    null = np.linalg.svd(basis.T)[2][-1]
    i, j = np.argsort(-np.abs(null))[:2]
    direction = sign * np.sign(null[i] * null[j])
    gram[i, j] = gram[j, i] = np.nextafter(gram[i, j], direction * np.inf)
    return gram


# Textbook certificates -------------------------------------------------------


@pytest.mark.parametrize("method", DENSE_METHODS + ("sylvester", "auto"))
def test_identity_certificate_for_minus_identity(method):
    result = check_lyapunov(-np.eye(4), np.eye(4), 1.0 - 2.0**-20, method=method)
    assert result.valid, result.reason
    assert result.claim == "stable"
    assert 0 < result.margin <= 2 * 2.0**-20
    assert 1 - 2.0**-20 < result.lambda_min_P_lower <= 1.0


@pytest.mark.parametrize("method", DENSE_METHODS + ("sylvester",))
def test_hand_solved_lyapunov_equation(method):
    # A^T P + P A = -12 I for P = 12 [[1/2, 1/4], [1/4, 1/3]], solved by hand.
    A = np.array([[-1.0, 2.0], [0.0, -3.0]])
    P = np.array([[6.0, 3.0], [3.0, 4.0]])
    assert np.array_equal(A.T @ P + P @ A, -12 * np.eye(2))

    result = check_lyapunov(A, P, 5.5, method=method)  # M = I exactly
    assert result.valid, result.reason
    assert 0.4 <= result.margin <= 1.0
    lambda_min_P = (10 - np.sqrt(13)) / 2
    assert 1.0 < result.lambda_min_P_lower <= lambda_min_P


@pytest.mark.parametrize("method", DENSE_METHODS)
def test_hand_solved_beta_at_optimum_rejected(method):
    A = np.array([[-1.0, 2.0], [0.0, -3.0]])
    P = np.array([[6.0, 3.0], [3.0, 4.0]])
    for beta in (6.0, np.nextafter(6.0, np.inf)):  # M = 0, then M = -tiny I
        result = check_lyapunov(A, P, beta, method=method)
        assert not result.valid
        assert result.margin is None
        assert "M" in result.reason


def test_beta_one_ulp_below_optimum_proven_exactly():
    A = np.array([[-1.0, 2.0], [0.0, -3.0]])
    P = np.array([[6.0, 3.0], [3.0, 4.0]])
    beta = np.nextafter(6.0, 0.0)
    result = check_lyapunov(A, P, beta, method="exact")
    assert result.valid, result.reason
    assert 0 < result.margin <= 2 * (6.0 - beta)


def test_beta_one_ulp_above_optimum_refuted_exactly():
    result = check_lyapunov(
        -np.eye(3), np.eye(3), np.nextafter(1.0, 2.0), method="exact"
    )
    assert not result.valid
    assert result.details["M"]["refuted"]


def test_result_is_json_serialisable():
    result = check_lyapunov(-np.eye(3), np.eye(3), 0.5)
    encoded = json.dumps(result.to_dict(), allow_nan=False)
    assert '"claim": "stable"' in encoded
    assert result.seconds >= 0


def test_overflowing_certificate_rejected_with_json_result():
    A = np.array([[-1e300, 1e300], [0.0, -1e300]])
    P = np.array([[1e300, 0.5], [0.5, 1.0]])
    for method in ("exact", "rump"):
        result = check_lyapunov(A, P, 0.0, method=method)
        assert not result.valid
        json.dumps(result.to_dict(), allow_nan=False)


@pytest.mark.parametrize("scale", [1e-200, 1e-310])
def test_tiny_system_certified_despite_underflow(scale):
    A = -scale * np.eye(3)
    P = np.eye(3) + 0.25  # eigenvalues 1, 1, 1.75
    for method in DENSE_METHODS:
        result = check_lyapunov(A, P, 0.0, method=method)
        assert result.valid, (method, result.reason)
        assert 0 < result.margin <= 2 * scale
        assert result.lambda_min_P_lower <= 1.0


# Definiteness at the level of rounding error ---------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_rounding_level_indefinite_M_rejected(seed):
    X = nearly_singular_matrix(seed, sign=-1)
    assert not exactly_positive_definite(X)
    for method in DENSE_METHODS:
        result = check_lyapunov(-X / 2, np.eye(5), 0.0, method=method)
        assert not result.valid, (method, result.reason)


@pytest.mark.parametrize("seed", range(6))
def test_rounding_level_definite_M_decided_exactly(seed):
    X = nearly_singular_matrix(seed, sign=+1)
    truth = exactly_positive_definite(X)
    result = check_lyapunov(-X / 2, np.eye(5), 0.0, method="exact")
    assert result.valid == truth, result.reason
    if truth:
        assert 0 < result.margin <= exact_lambda_min(X)


@pytest.mark.parametrize("seed", range(4))
def test_rounding_level_indefinite_P_rejected(seed):
    X = nearly_singular_matrix(seed, sign=-1)
    for method in DENSE_METHODS:
        result = check_lyapunov(-np.eye(5), X, 0.0, method=method, min_lambda_P=0.0)
        assert not result.valid
        assert result.lambda_min_P_lower is None
        assert "lambda_min(P) > 0" in result.reason


def test_tiny_relative_lambda_min_P_fails_normalisation():
    P = np.array([[1.0, 1.0], [1.0, 1.0 + 2.0**-52]])  # lambda_min about 1e-16
    for method in DENSE_METHODS:
        result = check_lyapunov(-np.eye(2), P, 0.0, method=method)
        assert not result.valid
        assert result.details["P"]["refuted"]


def test_one_ulp_in_P_breaks_certificate():
    A = -0.5 * np.eye(2)  # M = P - 2 beta I = P - I
    P = np.array([[9.0, 4.0], [4.0, 3.0 + 2.0**-51]])
    base = check_lyapunov(A, P, 0.5, method="exact")
    assert base.valid, base.reason
    assert exactly_positive_definite(P - np.eye(2))

    lowered = P.copy()
    lowered[1, 1] = np.nextafter(P[1, 1], 0.0)
    raised = P.copy()
    raised[0, 1] = raised[1, 0] = np.nextafter(P[0, 1], np.inf)
    for broken in (lowered, raised):
        assert not exactly_positive_definite(broken - np.eye(2))
        for method in DENSE_METHODS:
            result = check_lyapunov(A, broken, 0.5, method=method)
            assert not result.valid, (method, result.reason)


def test_lower_bounds_never_exceed_true_values():
    rng = np.random.default_rng(11)
    n = 6
    for _ in range(5):
        B = rng.standard_normal((n, n))
        A = -(B @ B.T) / n - 0.3 * np.eye(n) + (B - B.T) / 2
        R = rng.standard_normal((n, n))
        P = np.eye(n) + 0.1 * (R @ R.T) / n
        P = (P + P.T) / 2
        M = -(A.T @ P + P @ A)  # float, within about 1e-15 relative of the exact M
        for method in DENSE_METHODS:
            result = check_lyapunov(A, P, 0.0, method=method)
            assert result.valid, result.reason
            assert result.margin <= exact_lambda_min(M) * (1 + 1e-12)
            assert result.lambda_min_P_lower <= exact_lambda_min(P)


# Diagonal and sparse certificates ---------------------------------------------


def test_diagonal_certificate_uses_interval_in_auto():
    rng = np.random.default_rng(5)
    n = 300
    A = sp.random_array((n, n), density=0.01, random_state=rng, format="csr") * 0.1
    A = (A - sp.diags_array(np.full(n, 2.0))).tocsr()
    p = 1.0 + rng.random(n)
    result = check_lyapunov(A, p, 0.5)
    assert result.valid, result.reason
    assert result.method == "interval"
    assert result.lambda_min_P_lower == float(p.min())


def test_interval_agrees_with_exact_on_diagonal_certificates():
    rng = np.random.default_rng(8)
    n = 12
    for beta in (0.2, 0.6, 1.4):
        A = rng.standard_normal((n, n)) * 0.05 - np.eye(n)
        p = 1.0 + rng.random(n)
        interval = check_lyapunov(A, p, beta, method="interval")
        exact = check_lyapunov(A, np.diag(p), beta, method="exact")
        if interval.valid:
            assert exact.valid
            assert interval.margin <= exact_lambda_min(
                -(A.T @ np.diag(p) + np.diag(p) @ A) - 2 * beta * np.eye(n)
            )
    assert check_lyapunov(-np.eye(n), np.ones(n), 0.5, method="interval").valid


def test_interval_scales_gershgorin_when_needed():
    # Row 2 of X fails plain Gershgorin (1 < 1.5), but its comparison matrix
    # [[4, -1.5], [-1.5, 1]] is an M-matrix, so a positive scaling exists.
    X = np.array([[4.0, 1.5], [1.5, 1.0]])
    result = check_lyapunov(-X / 2, np.ones(2), 0.0, method="interval")
    assert result.valid, result.reason
    assert result.details["M"]["details"]["unscaled_bound"] < 0
    assert result.details["M"]["details"]["scaling"] != "unscaled"
    assert 0 < result.margin <= exact_lambda_min(X)


def test_interval_falls_back_to_dense_method_under_auto():
    # X = I + 0.6 S, S a 4-cycle with one negative edge: eigenvalues of X are
    # 1 +- 0.6 sqrt(2) > 0, but its comparison matrix I - 0.6 |S| has the
    # eigenvalue -0.2, so no scaled Gershgorin test can succeed.
    cycle = np.array(
        [
            [0.0, 1.0, 0.0, 1.0],
            [1.0, 0.0, 1.0, 0.0],
            [0.0, 1.0, 0.0, -1.0],
            [1.0, 0.0, -1.0, 0.0],
        ]
    )
    X = np.eye(4) + 0.6 * cycle
    interval = check_lyapunov(-X / 2, np.ones(4), 0.0, method="interval")
    assert not interval.valid
    result = check_lyapunov(-X / 2, np.ones(4), 0.0)
    assert result.valid, result.reason
    assert result.method == "exact"
    assert len(result.details["failed_attempts"]) == 1


def test_sparse_A_matches_dense_A():
    A = np.array([[-2.0, 1.0, 0.0], [0.0, -2.0, 1.0], [0.0, 0.0, -2.0]])
    P = np.array([[2.0, 0.5, 0.0], [0.5, 2.0, 0.5], [0.0, 0.5, 2.0]])
    for method in DENSE_METHODS:
        dense = check_lyapunov(A, P, 0.3, method=method)
        sparse = check_lyapunov(sp.csr_array(A), P, 0.3, method=method)
        assert dense.valid and sparse.valid
        assert dense.margin == sparse.margin


# Input validation ---------------------------------------------------------------


def test_non_symmetric_P_rejected():
    P = np.array([[2.0, 1.0], [np.nextafter(1.0, 2.0), 2.0]])
    with pytest.raises(ValueError, match="not symmetric") as caught:
        check_lyapunov(-np.eye(2), P, 0.1)
    # Plain floats, as a reader of the report expects, with every digit.
    assert "P[0, 1] = 1.0 but P[1, 0] = 1.0000000000000002." in str(caught.value)


@pytest.mark.parametrize(
    ("A", "P", "beta", "message"),
    [
        (-np.eye(2), np.eye(3), 0.1, "shape \\(2, 2\\)"),
        (-np.ones((2, 3)), np.eye(2), 0.1, "square"),
        (np.array([[-1.0, np.nan], [0.0, -1.0]]), np.eye(2), 0.1, "non-finite"),
        (-np.eye(2), np.array([[1.0, np.inf], [np.inf, 1.0]]), 0.1, "non-finite"),
        (-np.eye(2), np.eye(2), -0.1, "beta must be >= 0"),
        (-np.eye(2), np.eye(2), np.nan, "non-finite"),
        (-np.eye(2) * (1 + 1j), np.eye(2), 0.1, "complex"),
        (-np.eye(2, dtype=np.longdouble) / 3, np.eye(2), 0.1, "exactly"),
        (-np.eye(2), np.ones(3), 0.1, "length 2"),
    ],
)
def test_invalid_input_rejected(A, P, beta, message):
    with pytest.raises(ValueError, match=message):
        check_lyapunov(A, P, beta)


def test_unknown_method_rejected():
    with pytest.raises(ValueError, match="method must be"):
        check_lyapunov(-np.eye(2), np.eye(2), 0.1, method="cholesky")


def test_interval_method_needs_diagonal_P():
    with pytest.raises(ValueError, match="diagonal P"):
        check_lyapunov(
            -np.eye(2), np.array([[2.0, 1.0], [1.0, 2.0]]), 0.1, method="interval"
        )


def test_default_floor_is_just_below_one():
    assert 1 - 1e-5 < LAMBDA_MIN_P_FLOOR < 1
    result = check_lyapunov(-np.eye(2), 0.999 * np.eye(2), 0.1)
    assert not result.valid
    assert "lambda_min(P) > 0.999999046" in result.reason
