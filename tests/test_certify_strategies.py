"""Tests of the identity, diagonal and dense Lyapunov strategies and the shared
finalisation (normalisation, back-off, validation)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from biosynapse_verify.certify import (
    Candidate,
    DenseLyapunovStrategy,
    DiagonalStrategy,
    Failure,
    IdentityStrategy,
    SearchOptions,
    validate_candidate,
)
from biosynapse_verify.certify.margins import BETA_RELATIVE_BACKOFF


def random_hurwitz(n: int, seed: int, shift: float = 1.5) -> np.ndarray:
    """Gaussian matrix scaled to spectral radius about 1, shifted left by ``shift``."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n)) / np.sqrt(n) - shift * np.eye(n)


def assert_certifies(A: np.ndarray, candidate: Candidate) -> None:
    """Check the Lyapunov inequalities with eigvalsh, independently of the search."""
    A = A.toarray() if sp.issparse(A) else np.asarray(A)
    P = candidate.dense_P()
    assert np.array_equal(P, P.T)
    assert scipy.linalg.eigvalsh(P).min() >= 1.0
    M = -(A.T @ P + P @ A) - 2.0 * candidate.beta * np.eye(A.shape[0])
    assert scipy.linalg.eigvalsh(M).min() > 0.0
    assert candidate.beta > 0
    assert candidate.alpha == pytest.approx(candidate.beta / candidate.lambda_max_P)


# ---------------------------------------------------------------- identity
def test_identity_applies_when_symmetric_part_negative_definite() -> None:
    A = random_hurwitz(20, seed=0, shift=2.5)
    assert scipy.linalg.eigvalsh(A + A.T).max() < 0
    applicable, reason = IdentityStrategy().applies(A)
    assert applicable
    assert reason == ""


def test_identity_rejects_hurwitz_with_indefinite_symmetric_part() -> None:
    A = np.array([[-1.0, 10.0], [0.0, -1.0]])  # Hurwitz, but (A + A^T)/2 is indefinite
    applicable, reason = IdentityStrategy().applies(A)
    assert not applicable
    assert "not negative definite" in reason


def test_identity_beta_is_minus_lambda_max_of_symmetric_part() -> None:
    A = random_hurwitz(20, seed=0, shift=2.5)
    candidate = IdentityStrategy().search(A)
    assert isinstance(candidate, Candidate)
    expected = -scipy.linalg.eigvalsh(0.5 * (A + A.T)).max()
    assert candidate.beta < expected
    assert candidate.beta == pytest.approx(expected, rel=2 * BETA_RELATIVE_BACKOFF)
    assert candidate.p_is_diagonal
    assert_certifies(A, candidate)


def test_identity_sparse_large_uses_ldl() -> None:
    n = 40
    A = sp.csr_array(sp.diags_array([0.5, -2.0, 0.5], offsets=[-1, 0, 1], shape=(n, n)))
    options = SearchOptions(dense_max_n=10)
    assert IdentityStrategy().applies(A, options) == (True, "")
    candidate = IdentityStrategy().search(A, options)
    assert isinstance(candidate, Candidate)
    assert_certifies(A, candidate)


# ---------------------------------------------------------------- diagonal
METZLER = np.array(
    [
        [-2.0, 1.0, 0.0, 0.3],
        [0.5, -3.0, 1.0, 0.0],
        [1.0, 0.0, -1.5, 0.2],
        [0.0, 0.4, 0.1, -1.0],
    ]
)


def test_diagonal_certifies_metzler_example() -> None:
    assert np.linalg.eigvals(METZLER).real.max() < 0
    candidate = DiagonalStrategy().search(METZLER)
    assert isinstance(candidate, Candidate)
    assert candidate.p_is_diagonal
    assert candidate.details["A_is_metzler"] is True
    assert candidate.P.min() >= 1.0
    assert_certifies(METZLER, candidate)


def test_diagonal_certifies_h_matrix() -> None:
    signs = np.array([[1, -1, 1, -1], [-1, 1, 1, -1], [1, -1, 1, 1], [-1, 1, -1, 1]])
    A = METZLER * np.where(np.eye(4, dtype=bool), 1, signs)
    candidate = DiagonalStrategy().search(A)
    assert isinstance(candidate, Candidate)
    assert candidate.details["A_is_metzler"] is False
    assert_certifies(A, candidate)


def test_diagonal_rejects_non_hurwitz_metzler() -> None:
    A = METZLER + 0.9 * np.eye(4)
    assert np.linalg.eigvals(A).real.max() > 0
    result = DiagonalStrategy().search(A)
    assert isinstance(result, Failure)
    assert "not Hurwitz" in result.reason


def test_diagonal_not_applicable_with_nonnegative_diagonal() -> None:
    A = METZLER.copy()
    A[2, 2] = 0.0
    applicable, reason = DiagonalStrategy().applies(A)
    assert not applicable
    assert "A[2, 2]" in reason


def test_diagonal_sparse_chain_large_n() -> None:
    n = 20_000
    rng = np.random.default_rng(1)
    off = rng.uniform(0.1, 0.9, n - 1)
    A = sp.csr_array(
        sp.diags_array([off, -2.0 * np.ones(n), off[::-1]], offsets=[-1, 0, 1])
    )
    options = SearchOptions(dense_max_n=100)
    candidate = DiagonalStrategy().search(A, options)
    assert isinstance(candidate, Candidate)
    assert candidate.P.shape == (n,)
    assert candidate.P.min() >= 1.0
    # M = -(A^T P + P A) - 2 beta I is tridiagonal here, so LAPACK's
    # tridiagonal eigensolver checks it without densifying.
    P = sp.diags_array(candidate.P)
    M = sp.csr_array(-(A.T @ P + P @ A) - 2 * candidate.beta * sp.identity(n))
    lowest = scipy.linalg.eigvalsh_tridiagonal(
        M.diagonal(), M.diagonal(1), select="i", select_range=(0, 0)
    )
    assert lowest[0] > 0


# ---------------------------------------------------------------- dense Lyapunov
def test_dense_lyapunov_gives_positive_definite_p_for_stable_a() -> None:
    A = random_hurwitz(60, seed=7, shift=1.1)
    candidate = DenseLyapunovStrategy().search(A)
    assert isinstance(candidate, Candidate)
    assert candidate.lambda_min_P >= 1.0
    assert candidate.details["lyapunov_relative_residual"] < 1e-12
    assert_certifies(A, candidate)


def test_dense_lyapunov_rejects_unstable_a() -> None:
    A = random_hurwitz(30, seed=7, shift=0.2)
    assert np.linalg.eigvals(A).real.max() > 0
    result = DenseLyapunovStrategy().search(A)
    assert isinstance(result, Failure)
    assert "not positive definite" in result.reason


def test_dense_lyapunov_size_limit() -> None:
    applicable, reason = DenseLyapunovStrategy().applies(
        np.eye(5), SearchOptions(lyapunov_max_n=4)
    )
    assert not applicable
    assert "lyapunov_max_n" in reason


# ---------------------------------------------------------------- finalisation
def test_validation_rejects_unbacked_beta() -> None:
    A = random_hurwitz(20, seed=3, shift=2.5)
    P = np.eye(20)
    beta_float = scipy.linalg.eigvalsh(-(A + A.T)).min() / 2
    report = validate_candidate(A, P, beta_float)
    assert not report.passed
    assert "rounding budget" in report.reasons[0]
    assert validate_candidate(A, P, beta_float * 0.99).passed


def test_validation_rejects_unnormalised_p() -> None:
    A = random_hurwitz(20, seed=3, shift=2.5)
    report = validate_candidate(A, 0.5 * np.eye(20), 0.1)
    assert not report.passed
    assert "lambda_min(P)" in report.reasons[0]


def test_validation_rejects_asymmetric_p() -> None:
    P = np.eye(3)
    P[0, 1] = 1e-3
    report = validate_candidate(-np.eye(3), P, 0.1)
    assert not report.passed
    assert "symmetric" in report.reasons[0]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 25), scale=st.floats(1e-3, 1e3))
def test_candidate_scales_with_a(seed: int, n: int, scale: float) -> None:
    # Shift by the spectral abscissa so A is Hurwitz with margin 0.2 for any n.
    B = random_hurwitz(n, seed=seed, shift=0.0)
    A = B - (np.linalg.eigvals(B).real.max() + 0.2) * np.eye(n)
    base = DenseLyapunovStrategy().search(A)
    scaled = DenseLyapunovStrategy().search(scale * A)
    assert isinstance(base, Candidate)
    assert isinstance(scaled, Candidate)
    assert_certifies(A, base)
    assert_certifies(scale * A, scaled)
    # The Lyapunov P of cA is P / c; after normalisation P and beta / c agree.
    assert scaled.beta / scale == pytest.approx(base.beta, rel=1e-6)
    assert np.allclose(scaled.P, base.P, rtol=1e-6, atol=1e-9 * np.abs(base.P).max())
