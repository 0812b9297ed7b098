"""A system with an eigenvalue at +1e-9 has no stability but an instability proof."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from biosynapse_verify.check import EXACT_MAX_N, check_instability, check_lyapunov

DENSE_METHODS = ("exact", "rump")
UNSTABLE_EIGENVALUE = 1e-9


def barely_unstable_system(n: int = 6, seed: int = 0) -> np.ndarray:
    """Upper-triangular A whose eigenvalues are exactly its diagonal, one at +1e-9."""
    rng = np.random.default_rng(seed)
    diagonal = np.concatenate([[UNSTABLE_EIGENVALUE], -np.arange(1.0, n)])
    return np.triu(rng.standard_normal((n, n)), 1) + np.diag(diagonal)


def normalised(P: np.ndarray) -> np.ndarray:
    """Symmetrise P and scale it so that its estimated lambda_min is 1."""
    P = (P + P.T) / 2
    return P / np.linalg.eigvalsh(P)[0]


def candidate_certificates(A: np.ndarray) -> list[tuple[str, np.ndarray, float]]:
    """Certificates a search might produce for A, all necessarily wrong."""
    n = A.shape[0]
    shifted = scipy.linalg.solve_continuous_lyapunov(
        (A - 2e-9 * np.eye(n)).T, -np.eye(n)
    )
    damped = scipy.linalg.solve_continuous_lyapunov((A - 1.0 * np.eye(n)).T, -np.eye(n))
    plain = scipy.linalg.solve_continuous_lyapunov(A.T, -np.eye(n))
    return [
        ("identity", np.eye(n), 0.0),
        ("shifted Lyapunov", normalised(shifted), 0.0),
        ("shifted Lyapunov, beta", normalised(shifted), 1e-12),
        ("damped Lyapunov", normalised(damped), 0.0),
        ("Lyapunov of A itself", (plain + plain.T) / 2, 0.0),
    ]


@pytest.mark.parametrize("method", DENSE_METHODS)
def test_barely_unstable_system_never_certified(method):
    A = barely_unstable_system()
    for name, P, beta in candidate_certificates(A):
        result = check_lyapunov(A, P, beta, method=method)
        assert not result.valid, (name, result.reason)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.0, 1e-3), st.sampled_from(DENSE_METHODS))
def test_random_certificates_for_unstable_system_rejected(seed, beta, method):
    # For any P > 0, v^T (A^T P + P A) v = 2e-9 v^T P v > 0 for the unstable
    # eigenvector v, so no (P, beta) can be valid.
    A = barely_unstable_system(seed=seed % 7)
    rng = np.random.default_rng(seed)
    R = rng.standard_normal(A.shape)
    P = normalised(R @ R.T + 0.5 * np.eye(A.shape[0]))
    assert not check_lyapunov(A, P, beta, method=method).valid


def chetaev_certificate(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P with A^T P + P A ~= I, and the unstable eigenvector as witness."""
    P = scipy.linalg.solve_continuous_lyapunov(A.T, np.eye(A.shape[0]))
    witness = np.zeros(A.shape[0])
    witness[0] = 1.0  # A is upper triangular, so e_1 is the eigenvector of A[0, 0]
    return (P + P.T) / 2, witness


@pytest.mark.parametrize("method", DENSE_METHODS + ("auto",))
def test_chetaev_certificate_proves_instability(method):
    A = barely_unstable_system()
    P, witness = chetaev_certificate(A)
    result = check_instability(A, P, 0.0, witness, method=method)
    assert result.valid, result.reason
    assert result.claim == "unstable"
    assert 0 < result.growth_rate_lower <= UNSTABLE_EIGENVALUE
    assert result.margin > 0.5


def test_chetaev_growth_bound_uses_gamma():
    A = barely_unstable_system()
    P, witness = chetaev_certificate(A)
    plain = check_instability(A, P, 0.0, witness)
    with_gamma = check_instability(A, P, 0.25, witness)
    assert with_gamma.valid, with_gamma.reason
    assert with_gamma.growth_rate_lower <= UNSTABLE_EIGENVALUE
    assert with_gamma.margin < plain.margin


def test_chetaev_rejects_witness_with_negative_value():
    A = barely_unstable_system()
    P, _ = chetaev_certificate(A)
    values, vectors = np.linalg.eigh(P)
    witness = vectors[:, 0]  # eigenvector of the minimum eigenvalue of P
    assert values[0] < -0.1
    result = check_instability(A, P, 0.0, witness)
    assert not result.valid
    assert "w^T P w > 0" in result.reason
    assert result.details["witness_value_lower"] < 0


def test_chetaev_rejects_gamma_too_large():
    A = barely_unstable_system()
    P, witness = chetaev_certificate(A)
    for method in DENSE_METHODS:
        result = check_instability(A, P, 0.75, witness, method=method)  # Q ~ -0.5 I
        assert not result.valid
        assert result.margin is None
        assert "Q" in result.reason


def test_stable_system_has_no_valid_chetaev_certificate():
    A = barely_unstable_system() - np.eye(6)
    assert np.max(np.linalg.eigvals(A).real) < 0
    P = scipy.linalg.solve_continuous_lyapunov(A.T, np.eye(6))  # negative definite
    P = (P + P.T) / 2
    for witness in np.eye(6):
        assert not check_instability(A, P, 0.0, witness).valid


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 7))
def test_growth_bound_below_spectral_abscissa(seed, n):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n))
    abscissa = float(np.max(np.linalg.eigvals(A).real))
    if abscissa <= 1e-3:
        A = A + (1e-3 - abscissa + 0.1) * np.eye(n)
        abscissa = float(np.max(np.linalg.eigvals(A).real))
    eigenvalues = np.linalg.eigvals(A)
    if np.min(np.abs(eigenvalues[:, None] + eigenvalues[None, :])) < 1e-6:
        return  # A^T P + P A = I has no unique solution
    P = scipy.linalg.solve_continuous_lyapunov(A.T, np.eye(n))
    P = (P + P.T) / 2
    values, vectors = np.linalg.eigh(P)
    result = check_instability(A, P, 0.0, vectors[:, -1])
    assert result.valid, result.reason
    assert result.growth_rate_lower <= abscissa * (1 + 1e-9)


@pytest.mark.parametrize(
    ("gamma", "witness", "message"),
    [
        (-0.1, np.ones(3), "gamma must be >= 0"),
        (0.1, np.zeros(3), "zero vector"),
        (0.1, np.ones(2), "shape \\(3,\\)"),
        (0.1, np.array([1.0, np.nan, 0.0]), "non-finite"),
    ],
)
def test_instability_input_validation(gamma, witness, message):
    with pytest.raises(ValueError, match=message):
        check_instability(np.eye(3), np.eye(3), gamma, witness)


def test_chetaev_above_exact_limit_uses_rump():
    n = EXACT_MAX_N + 20
    A = barely_unstable_system(n=n) * 0.2
    P, witness = chetaev_certificate(A)
    result = check_instability(A, P, 0.0, witness)
    assert result.valid, result.reason
    assert result.method == "rump"
    assert result.details["witness_value_method"].startswith("floating point")
    assert 0 < result.growth_rate_lower <= 0.2 * UNSTABLE_EIGENVALUE
