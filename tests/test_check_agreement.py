"""Exact, Rump and interval methods agree where all of them apply."""

from __future__ import annotations

import numpy as np
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from biosynapse_verify.check import check_instability, check_lyapunov


def stable_system(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Return a Hurwitz A, its normalised Lyapunov P, lambda_min(-(A^T P + P A))."""
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((n, n))
    A = -(B @ B.T) / n - 0.5 * np.eye(n) + 0.5 * (B - B.T)
    P = scipy.linalg.solve_continuous_lyapunov(A.T, -np.eye(n))
    P = (P + P.T) / 2
    P = P * (1.001 / np.linalg.eigvalsh(P)[0])
    lambda_min_M0 = float(np.linalg.eigvalsh(-(A.T @ P + P @ A))[0])
    return A, P, lambda_min_M0


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 9))
def test_exact_and_rump_agree_on_clear_cases(seed, n):
    A, P, lambda_min_M0 = stable_system(seed, n)
    beta_valid = 0.25 * lambda_min_M0  # lambda_min(M) = lambda_min_M0 / 2
    beta_invalid = 0.75 * lambda_min_M0  # lambda_min(M) = -lambda_min_M0 / 2

    exact = check_lyapunov(A, P, beta_valid, method="exact")
    rump = check_lyapunov(A, P, beta_valid, method="rump")
    assert exact.valid, exact.reason
    assert rump.valid, rump.reason
    true_margin = 0.5 * lambda_min_M0
    for result in (exact, rump):
        assert 0.4 * true_margin <= result.margin <= true_margin * (1 + 1e-9)
        assert 1.0 <= result.lambda_min_P_lower <= 1.001 * (1 + 1e-9)

    for method in ("exact", "rump"):
        result = check_lyapunov(A, P, beta_invalid, method=method)
        assert not result.valid
        assert result.details["M"]["refuted"]


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 6))
def test_sylvester_agrees_with_exact_residual(seed, n):
    A, P, lambda_min_M0 = stable_system(seed, n)
    for fraction in (0.25, 0.49, 0.51, 0.75):
        beta = fraction * lambda_min_M0
        sylvester = check_lyapunov(A, P, beta, method="sylvester")
        exact = check_lyapunov(A, P, beta, method="exact")
        assert sylvester.valid == exact.valid == (fraction < 0.5)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 8))
def test_interval_never_accepts_what_exact_rejects(seed, n):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n)) * rng.uniform(0.05, 0.6) - np.eye(n)
    p = rng.uniform(1.0, 3.0, n)
    beta = rng.uniform(0.0, 1.0)
    interval = check_lyapunov(A, p, beta, method="interval")
    exact = check_lyapunov(A, np.diag(p), beta, method="exact")
    if interval.valid:
        assert exact.valid
        assert interval.margin <= exact.details["M"]["estimate"] * (1 + 1e-9)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 7))
def test_instability_methods_agree(seed, n):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n)) + 0.2 * np.eye(n)
    eigenvalues = np.linalg.eigvals(A)
    if (
        np.max(eigenvalues.real) <= 0.05
        or np.min(np.abs(eigenvalues[:, None] + eigenvalues)) < 1e-3
    ):
        return
    P = scipy.linalg.solve_continuous_lyapunov(A.T, np.eye(n))
    P = (P + P.T) / 2
    witness = np.linalg.eigh(P)[1][:, -1]
    results = [
        check_instability(A, P, 0.1, witness, method=m) for m in ("exact", "rump")
    ]
    assert results[0].valid, results[0].reason
    assert results[1].valid, results[1].reason
