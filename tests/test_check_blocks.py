"""Tests of the rigorous block-comparison check of structured certificates."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from biosynapse_verify.certify import (
    BlockDiagonalStrategy,
    Candidate,
    TwoTimeScaleStrategy,
    network_structure,
    search_certificate,
)
from biosynapse_verify.certify.benchmark import network_jacobian
from biosynapse_verify.check import check_lyapunov
from biosynapse_verify.check.blocks import check_block_lyapunov

ULP = 2.0**-52


def two_block_system(coupling: float) -> sp.csr_array:
    """Two 2 x 2 stable blocks, coupled weakly one way."""
    A = np.array(
        [
            [-2.0, 1.0, 0.0, 0.0],
            [0.5, -3.0, coupling, 0.0],
            [0.0, 0.0, -1.0, 0.3],
            [0.0, 0.0, -0.3, -1.5],
        ]
    )
    return sp.csr_array(A)


def test_network_certificate_proven() -> None:
    net = network_jacobian(50, 5, 8, np.random.default_rng(0))
    structure = network_structure(net.n_rates, net.weight_post)
    c = search_certificate(net.A, structure=structure).candidate
    result = check_lyapunov(net.A, c.P, c.beta, transform=c.transform, rate=c.decay_rate)
    assert result.valid, result.reason
    assert result.method == "block-comparison"
    assert result.margin > 0
    assert result.lambda_min_P_lower > 1.0 - 2.0**-20


def test_margin_bounds_true_lambda_min() -> None:
    net = network_jacobian(20, 4, 5, np.random.default_rng(1))
    c = search_certificate(net.A).candidate
    result = check_lyapunov(net.A, c.P, c.beta, transform=c.transform)
    A, P = net.A.toarray(), c.dense_P()
    M = -(A.T @ P + P @ A) - 2 * c.beta * np.eye(A.shape[0])
    assert result.margin <= np.linalg.eigvalsh(M).min()
    assert result.lambda_min_P_lower <= np.linalg.eigvalsh(P).min()


def test_overclaimed_beta_rejected() -> None:
    net = network_jacobian(20, 4, 5, np.random.default_rng(2))
    c = search_certificate(net.A).candidate
    A, P = net.A.toarray(), c.dense_P()
    true_beta = np.linalg.eigvalsh(-(A.T @ P + P @ A)).min() / 2
    result = check_lyapunov(net.A, c.P, 1.01 * true_beta, transform=c.transform)
    assert not result.valid


def test_overclaimed_rate_not_proven() -> None:
    net = network_jacobian(20, 4, 5, np.random.default_rng(3))
    c = search_certificate(net.A).candidate
    abscissa = np.linalg.eigvals(net.A.toarray()).real.max()
    result = check_lyapunov(
        net.A, c.P, c.beta, transform=c.transform, rate=-1.01 * abscissa
    )
    assert result.valid  # beta still holds
    assert result.details["decay_rate"] is None


def test_block_diagonal_certificate_proven() -> None:
    A = two_block_system(0.05)
    c = BlockDiagonalStrategy().search(A)
    assert isinstance(c, Candidate), c
    assert c.transform is None
    result = check_lyapunov(A, c.P, c.beta)
    assert result.valid, result.reason


@pytest.mark.parametrize("excess", [0.0, ULP, 1e-12])
def test_positive_definite_only_within_rounding_rejected(excess: float) -> None:
    # Each block of -(A^T P + P A) with P = I is 2 [[1, -c], [-c, 1]]; with
    # c = 1 + excess it is singular or indefinite in exact arithmetic, while
    # a floating-point eigenvalue sits within rounding of zero.
    c = 1.0 + excess
    block = np.array([[-1.0, c], [c, -1.0]])
    A = sp.csr_array(sp.block_diag([block, block]))
    P = sp.csr_array(sp.block_diag([np.eye(2), np.eye(2)]))
    result = check_block_lyapunov(A, P, 0.0)
    assert not result.valid
    assert not result.details["M"]["proven"]


def test_rounding_level_indefinite_p_rejected() -> None:
    # P = [[1, 1], [1, 1 + 2^-52]] has lambda_min about 1.1e-16 > 0 but far
    # below the floor 1; scaled up it is within rounding of singular.
    block = np.array([[1.0, 1.0], [1.0, 1.0 + ULP]]) * 1e16
    P = sp.csr_array(block)
    A = sp.csr_array(-np.eye(2))
    result = check_block_lyapunov(A, P, 0.0)
    assert not result.valid
    assert not result.details["P"]["proven"]


def test_non_symmetric_p_rejected() -> None:
    A = two_block_system(0.0)
    P = sp.csr_array(np.array([[1.0, 0.1, 0, 0], [0.1 + ULP, 1.0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]))
    with pytest.raises(ValueError, match="not exactly symmetric"):
        check_block_lyapunov(A, P, 0.0)


def test_shear_with_chain_rejected() -> None:
    # N^2 != 0: coordinate 1 is both a row and a column of N.
    A = two_block_system(0.0)
    W = sp.csr_array(np.eye(4))
    N = sp.csr_array(([0.5, 0.5], ([0, 1], [1, 2])), shape=(4, 4))
    with pytest.raises(ValueError, match="both a row and a column"):
        check_block_lyapunov(A, W, 0.0, transform=N)


def test_unstable_system_rejected_with_any_block_p() -> None:
    A = two_block_system(0.0).toarray()
    A[2, 2] = 0.5  # second block now has an eigenvalue in the right half-plane
    P = sp.csr_array(np.eye(4) + np.diag([0.5, 0, 0.5], 1) + np.diag([0.5, 0, 0.5], -1))
    result = check_block_lyapunov(sp.csr_array(A), P, 0.0)
    assert not result.valid


def test_dense_and_block_checks_agree_on_small_certificate() -> None:
    net = network_jacobian(6, 3, 3, np.random.default_rng(4))
    c = TwoTimeScaleStrategy().search(net.A)
    assert isinstance(c, Candidate)
    block = check_lyapunov(net.A, c.P, c.beta, transform=c.transform)
    assert block.valid, block.reason
    # The assembled P differs from T^T W T by rounding, far inside the margin.
    P = c.dense_P()
    dense = check_lyapunov(net.A.toarray(), 0.5 * (P + P.T), c.beta, method="exact")
    assert dense.valid, dense.reason


def test_sparse_p_routes_to_block_check() -> None:
    A = two_block_system(0.05)
    c = BlockDiagonalStrategy().search(A)
    result = check_lyapunov(A, c.P, c.beta)
    assert result.method == "block-comparison"


def test_rotation_between_diagonal_blocks_proven() -> None:
    # A rotation couples coordinates 2 and 3, which P = c I keeps in separate
    # groups: (P A)_23 and (A^T P)_23 cancel, and the check must see that.
    A = -np.eye(9)
    A[2:4, 2:4] = [[-1.0, 1.0], [-1.0, -1.0]]
    A[7:9, 7:9] = [[-1.0, 0.25], [-4.0, -1.0]]
    P = np.eye(9)
    P[7:9, 7:9] = [[8.5, -1.7], [-1.7, 1.4]]
    M = -(A.T @ P + P @ A)
    beta = 0.45 * float(np.linalg.eigvalsh(M).min())
    result = check_block_lyapunov(sp.csr_array(A), sp.csr_array(P), beta)
    assert result.valid, result.reason
    assert "block comparison" in result.reason


def test_rotation_overclaim_still_rejected() -> None:
    A = -np.eye(4)
    A[2:4, 2:4] = [[-1.0, 1.0], [-1.0, -1.0]]
    result = check_block_lyapunov(sp.csr_array(A), sp.identity(4, format="csr"), 1.01)
    assert not result.valid
