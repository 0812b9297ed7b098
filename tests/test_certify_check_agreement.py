"""The rigorous checker accepts what the search claims, and only that.

The search's rounding budgets are sized so that a binary64 checker can prove
its claims; these tests run the real checker on the search's output.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from biosynapse_verify.certify import (
    Candidate,
    DenseLyapunovStrategy,
    IdentityStrategy,
    SearchOptions,
    search_certificate,
)
from biosynapse_verify.certify.benchmark import gaussian_shifted, sparse_metzler
from biosynapse_verify.check import check_instability, check_lyapunov


@pytest.mark.parametrize("n, method", [(12, "exact"), (120, "rump"), (300, "rump")])
def test_lyapunov_candidate_passes_check(n: int, method: str) -> None:
    A = gaussian_shifted(n, 1.2, np.random.default_rng(n))
    outcome = search_certificate(A)
    assert outcome.candidate is not None
    result = check_lyapunov(
        A, outcome.candidate.P, outcome.candidate.beta, method=method
    )
    assert result.valid, result.reason


def test_identity_candidate_passes_check() -> None:
    A = gaussian_shifted(80, 2.5, np.random.default_rng(1))
    candidate = IdentityStrategy().search(A)
    assert isinstance(candidate, Candidate)
    result = check_lyapunov(A, candidate.P, candidate.beta)
    assert result.valid, result.reason


def test_diagonal_candidate_passes_check_sparse() -> None:
    A = sparse_metzler(2000, np.random.default_rng(2))
    outcome = search_certificate(A)
    assert outcome.candidate is not None
    assert outcome.candidate.p_is_diagonal
    result = check_lyapunov(A, outcome.candidate.P, outcome.candidate.beta)
    assert result.valid, result.reason


def test_ill_conditioned_lyapunov_candidate_passes_check() -> None:
    # A slow mode at -1e-6 next to fast modes at -1: kappa(P) is about 1e6.
    rng = np.random.default_rng(3)
    orthogonal, _ = np.linalg.qr(rng.standard_normal((40, 40)))
    eigenvalues = np.concatenate([[-1e-6], -rng.uniform(0.5, 2.0, 39)])
    upper = 0.3 * np.triu(rng.standard_normal((40, 40)), 1)
    A = orthogonal @ (np.diag(eigenvalues) + upper) @ orthogonal.T
    candidate = DenseLyapunovStrategy().search(A)
    assert isinstance(candidate, Candidate)
    assert candidate.condition_number > 1e4
    result = check_lyapunov(A, candidate.P, candidate.beta)
    assert result.valid, result.reason


def test_unbacked_beta_rejected_by_check() -> None:
    # Control: the checker is not a rubber stamp. Doubling the claimed beta
    # makes M indefinite, and the check must reject it.
    A = gaussian_shifted(30, 1.2, np.random.default_rng(4))
    candidate = search_certificate(A).candidate
    result = check_lyapunov(A, candidate.P, 2.0 * candidate.beta_float)
    assert not result.valid


def test_stdp_refutation_passes_check() -> None:
    n = 60
    rng = np.random.default_rng(5)
    coupling = np.outer(rng.uniform(0.5, 1.0, n), np.ones(n))
    A = np.diag(rng.uniform(0.5, 1.5, n)) - coupling
    outcome = search_certificate(A)
    assert outcome.status == "refuted"
    chetaev = outcome.instability.chetaev
    result = check_instability(A, chetaev.P, chetaev.gamma, chetaev.witness)
    assert result.valid, result.reason


def test_saddle_refutation_passes_check() -> None:
    rng = np.random.default_rng(9)
    core = np.diag([2.0, -2.0, -1.0, 0.3, -0.7]) + 0.5 * np.triu(
        rng.standard_normal((5, 5)), 1
    )
    orthogonal, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    A = orthogonal @ core @ orthogonal.T
    chetaev = search_certificate(A).instability.chetaev
    assert chetaev.construction == "ordered_schur"
    result = check_instability(A, chetaev.P, chetaev.gamma, chetaev.witness)
    assert result.valid, result.reason


def test_tiny_positive_eigenvalue_refutation_passes_check() -> None:
    A = np.diag([-1.0, -2.0, 1e-9])
    chetaev = search_certificate(A).instability.chetaev
    result = check_instability(A, chetaev.P, chetaev.gamma, chetaev.witness)
    assert result.valid, result.reason


def test_sparse_jacobian_refutation_passes_check() -> None:
    n = 150
    diagonal = -np.linspace(1.0, 3.0, n)
    diagonal[7] = 0.4
    A = sp.csr_array(sp.diags_array([0.05 * np.ones(n - 1), diagonal], offsets=[1, 0]))
    outcome = search_certificate(A, options=SearchOptions(eig_max_n=50))
    assert outcome.instability.method == "arpack"
    assert outcome.status == "refuted"
    chetaev = outcome.instability.chetaev
    result = check_instability(A, chetaev.P, chetaev.gamma, chetaev.witness)
    assert result.valid, result.reason
