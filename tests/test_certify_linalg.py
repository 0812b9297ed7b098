"""Tests of the certify layer's linear algebra: Lyapunov solver, spectra, budgets."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp

from biosynapse_verify.certify.linalg import (
    _schur_split,
    as_jacobian,
    is_positive_definite,
    lyapunov_inequality_matrix,
    lyapunov_relative_residual,
    solve_lyapunov,
    symmetric_spectrum,
)
from biosynapse_verify.certify.ladder import search_certificate
from biosynapse_verify.certify.margins import UNIT_ROUNDOFF, rump_shift


def random_hurwitz(n: int, seed: int, shift: float = 1.5) -> np.ndarray:
    """Gaussian matrix scaled to spectral radius about 1, shifted left by ``shift``."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n)) / np.sqrt(n) - shift * np.eye(n)


@pytest.mark.parametrize("n", [2, 7, 64, 65, 200])
def test_lyapunov_residual_small(n: int) -> None:
    A = random_hurwitz(n, seed=n)
    Q = np.eye(n)
    solution = solve_lyapunov(A, Q)
    residual = A.T @ solution.X + solution.X @ A + Q
    assert np.linalg.norm(residual) <= 1e-12 * np.linalg.norm(
        solution.X
    ) * np.linalg.norm(A)
    assert solution.relative_residual < 1e-13
    assert not solution.singular


def test_lyapunov_sign_convention_gives_positive_definite_p() -> None:
    A = random_hurwitz(30, seed=1)
    X = solve_lyapunov(A, np.eye(30)).X
    assert scipy.linalg.eigvalsh(X).min() > 0


def test_lyapunov_naive_scipy_call_is_negative_definite() -> None:
    # The classic fault: solve_continuous_lyapunov(a, q) solves a X + X a^H = q,
    # so passing q = +I for A^T P + P A = -I gives -P, negative definite.
    A = random_hurwitz(30, seed=1)
    wrong = scipy.linalg.solve_continuous_lyapunov(A.T, np.eye(30))
    right = scipy.linalg.solve_continuous_lyapunov(A.T, -np.eye(30))
    ours = solve_lyapunov(A, np.eye(30)).X
    assert scipy.linalg.eigvalsh(wrong).max() < 0
    assert np.allclose(ours, right, rtol=1e-10, atol=1e-12)


def test_lyapunov_matches_scipy_with_complex_pairs() -> None:
    # Rotation-like 2 x 2 blocks put complex pairs on every split of the Schur form.
    rng = np.random.default_rng(3)
    blocks = [
        np.array([[-0.5 - i / 100, 1.0 + i], [-(1.0 + i), -0.5 - i / 100]])
        for i in range(70)
    ]
    core = scipy.linalg.block_diag(-1.0, *blocks)
    orthogonal, _ = np.linalg.qr(rng.standard_normal((core.shape[0],) * 2))
    A = orthogonal @ core @ orthogonal.T
    ours = solve_lyapunov(A, np.eye(A.shape[0])).X
    reference = scipy.linalg.solve_continuous_lyapunov(A.T, -np.eye(A.shape[0]))
    assert np.abs(ours - reference).max() <= 1e-10 * np.abs(reference).max()


def test_schur_split_keeps_two_by_two_blocks() -> None:
    T = np.triu(np.ones((6, 6)))
    T[3, 2] = -0.7  # a 2 x 2 block on rows and columns 2-3
    assert _schur_split(T) == 4
    T[3, 2] = 0.0
    assert _schur_split(T) == 3


def test_lyapunov_flags_imaginary_axis_pair() -> None:
    rotation = np.array([[0.0, 1.0], [-1.0, 0.0]])
    solution = solve_lyapunov(rotation, np.eye(2))
    assert solution.singular


def degenerate_jacobian(n: int = 5) -> np.ndarray:
    """Jacobian of one rate and n - 1 weights near 0, drawn by a property test.

    The weight block has entries near 1e-181, so the Lyapunov operator is
    singular and dtrsyl returns X with entries near 1e180, whose squared
    Frobenius norm overflows float64.
    """
    A = np.full((n, n), 4.376e-181)
    A[np.diag_indices(n)] = 5.029e-181
    A[0, :] = 2.226e-177
    A[:, 0] = 4.562e-4
    A[0, 0] = -100.0
    return A


def test_lyapunov_residual_norm_overflow() -> None:
    # ||X||_F^2 overflows, so the unscaled formula gives inf / inf = NaN.
    X = np.diag([1e170, 1e170])
    A = -np.eye(2)
    Q = np.eye(2)
    relative = lyapunov_relative_residual(A, X, Q)
    expected = np.linalg.norm(A.T @ (X / 1e170) + (X / 1e170) @ A) / (
        2.0 * np.linalg.norm(A) * np.linalg.norm(X / 1e170)
    )
    assert math.isfinite(relative)
    assert relative == pytest.approx(expected, rel=1e-12)


def test_lyapunov_residual_inf_for_nonfinite_X() -> None:
    X = np.array([[np.inf, 0.0], [0.0, 1.0]])
    assert lyapunov_relative_residual(-np.eye(2), X, np.eye(2)) == math.inf
    X[0, 0] = np.nan
    assert lyapunov_relative_residual(-np.eye(2), X, np.eye(2)) == math.inf


def test_lyapunov_residual_zero_matrix() -> None:
    # dtrsyl returns a huge X for A = 0; the residual must not read as 0.0.
    solution = solve_lyapunov(np.zeros((3, 3)), np.eye(3))
    assert solution.singular
    assert solution.relative_residual >= 0.5


def test_lyapunov_residual_degenerate_jacobian() -> None:
    solution = solve_lyapunov(degenerate_jacobian(), np.eye(5))
    assert solution.singular
    assert not math.isnan(solution.relative_residual)


def test_ladder_record_strict_json() -> None:
    record = search_certificate(sp.csr_matrix(degenerate_jacobian())).to_dict()
    (dense,) = [a for a in record["attempts"] if a["strategy"] == "dense_lyapunov"]
    residual = dense["details"]["lyapunov_relative_residual"]
    json.dumps(record, allow_nan=False)
    assert residual is None or math.isfinite(residual)


def test_inequality_matrix_is_exactly_symmetric() -> None:
    A = as_jacobian(random_hurwitz(40, seed=2))
    P = solve_lyapunov(A.dense, np.eye(40)).X
    M0 = lyapunov_inequality_matrix(A, P)
    assert np.array_equal(M0, M0.T)
    assert np.allclose(M0, np.eye(40), atol=1e-10)


def test_inequality_matrix_sparse_diagonal() -> None:
    rng = np.random.default_rng(4)
    dense = random_hurwitz(25, seed=4)
    p = rng.uniform(1.0, 3.0, 25)
    sparse_result = lyapunov_inequality_matrix(as_jacobian(sp.csr_array(dense)), p)
    dense_result = lyapunov_inequality_matrix(as_jacobian(dense), p)
    assert sp.issparse(sparse_result)
    assert np.allclose(sparse_result.toarray(), dense_result, rtol=1e-15, atol=0)
    assert np.allclose(dense_result, -(dense.T @ np.diag(p) + np.diag(p) @ dense))


def test_positive_definite_sparse_agrees_with_dense() -> None:
    laplacian = sp.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(50, 50))
    assert is_positive_definite(sp.csr_array(laplacian))
    assert is_positive_definite(laplacian.toarray())
    shifted = sp.csr_array(laplacian - 0.01 * sp.identity(50))
    assert not is_positive_definite(shifted)
    assert not is_positive_definite(shifted.toarray())


def test_sparse_spectrum_brackets_eigvalsh() -> None:
    rng = np.random.default_rng(5)
    random = sp.random_array((300, 300), density=0.02, random_state=rng)
    S = sp.csr_array(random + random.T + 3.0 * sp.identity(300))
    exact = scipy.linalg.eigvalsh(S.toarray())
    bounds = symmetric_spectrum(S, dense_max_n=10)
    assert bounds.method == "arpack"
    assert bounds.lambda_min <= exact[0] <= bounds.lambda_min + 1e-6
    assert bounds.lambda_max - 1e-6 <= exact[-1] <= bounds.lambda_max


def test_diagonal_spectrum_is_exact() -> None:
    bounds = symmetric_spectrum(np.array([3.0, 1.5, 2.0]), dense_max_n=10)
    assert (bounds.lambda_min, bounds.lambda_max, bounds.error) == (1.5, 3.0, 0.0)


def test_rump_shift_dense_formula() -> None:
    M = np.diag([1.0, 2.0, 4.0])
    expected = UNIT_ROUNDOFF * (3 * 1.0 + 4 * 2.0 + 5 * 4.0)
    assert rump_shift(M) == pytest.approx(expected, rel=1e-6)


def test_rump_shift_uses_sparse_envelope() -> None:
    tridiagonal = sp.csr_array(
        sp.diags_array([-1.0, 4.0, -1.0], offsets=[-1, 0, 1], shape=(100, 100))
    )
    # t_0 = 0 and t_j = 1 otherwise, so the shift is u * 4 * (3 + 99 * 4).
    assert rump_shift(tridiagonal) == pytest.approx(
        UNIT_ROUNDOFF * 4 * (3 + 99 * 4), rel=1e-6
    )
    assert rump_shift(tridiagonal.toarray()) > 10 * rump_shift(tridiagonal)


def test_rump_shift_infinite_for_nonpositive_diagonal() -> None:
    assert rump_shift(np.diag([1.0, 0.0])) == float("inf")


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.ones((2, 3)), "square"),
        (np.ones((2, 2), dtype=complex), "complex"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), "non-finite"),
    ],
)
def test_as_jacobian_rejects_bad_input(bad: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        as_jacobian(bad)
