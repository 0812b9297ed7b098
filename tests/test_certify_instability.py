"""Tests of find_instability: unstable counts, modes and the Chetaev candidate."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp

from biosynapse_verify.certify import SearchOptions, find_instability


def assert_chetaev(A: np.ndarray, evidence: object) -> None:
    """Check the Chetaev candidate with eigvalsh, independently of the search."""
    chetaev = evidence.chetaev
    assert chetaev is not None, evidence.chetaev_reason
    n = A.shape[0]
    assert np.array_equal(chetaev.P, chetaev.P.T)
    M = A.T @ chetaev.P + chetaev.P @ A - 2.0 * chetaev.gamma * np.eye(n)
    assert scipy.linalg.eigvalsh(M).min() > 0
    assert chetaev.gamma > 0
    assert np.linalg.norm(chetaev.witness) == pytest.approx(1.0)
    assert chetaev.witness @ chetaev.P @ chetaev.witness > 0


def test_inertia_of_p_matches_unstable_count() -> None:
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 40)) / np.sqrt(40) - 0.6 * np.eye(40)
    expected = int(np.sum(np.linalg.eigvals(A).real > 0))
    assert 0 < expected < 40
    evidence = find_instability(A)
    assert evidence.n_unstable == expected
    assert evidence.chetaev.n_positive_P == expected
    assert evidence.chetaev.n_negative_P == 40 - expected
    assert_chetaev(A, evidence)


def test_complex_unstable_pair_gives_witness() -> None:
    A = scipy.linalg.block_diag([[0.2, 3.0], [-3.0, 0.2]], -1.0, -2.0)
    evidence = find_instability(A)
    assert evidence.n_unstable == 2
    assert evidence.modes[0].eigenvalue.real == pytest.approx(0.2)
    assert abs(evidence.modes[0].eigenvalue.imag) == pytest.approx(3.0)
    assert_chetaev(A, evidence)


def test_rotation_generator_has_no_chetaev_candidate() -> None:
    evidence = find_instability(np.array([[0.0, 1.0], [-1.0, 0.0]]))
    assert evidence.n_unstable == 0
    assert evidence.n_marginal == 2
    assert evidence.chetaev is None
    assert not evidence.is_unstable
    assert "marginal" in evidence.summary()


def test_unstable_with_axis_pair_lists_both() -> None:
    A = scipy.linalg.block_diag([[0.0, 1.0], [-1.0, 0.0]], 0.5, -1.0)
    evidence = find_instability(A)
    assert evidence.n_unstable == 1
    assert evidence.n_marginal == 2
    # lambda_i + lambda_j = 0 for the axis pair makes A^T P + P A = I singular.
    assert evidence.chetaev is None
    assert "singular" in evidence.chetaev_reason


def test_saddle_uses_ordered_schur() -> None:
    # lambda = 1 and lambda = -1 sum to 0, so A^T P + P A = I is singular.
    rng = np.random.default_rng(8)
    core = np.diag([1.0, -1.0, -2.0, 0.5]) + 0.4 * np.triu(
        rng.standard_normal((4, 4)), 1
    )
    orthogonal, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    A = orthogonal @ core @ orthogonal.T
    evidence = find_instability(A)
    assert evidence.n_unstable == 2
    assert evidence.chetaev.construction == "ordered_schur"
    assert evidence.chetaev.n_positive_P == 2
    assert_chetaev(A, evidence)


def test_lyapunov_construction_when_separated() -> None:
    evidence = find_instability(np.diag([-1.0, 0.5, -3.0]))
    assert evidence.chetaev.construction == "lyapunov"


def test_tiny_positive_eigenvalue_refuted_with_chetaev() -> None:
    A = np.diag([-1.0, -2.0, 1e-9])
    evidence = find_instability(A)
    assert evidence.n_unstable == 1
    assert_chetaev(A, evidence)


def test_stable_matrix_has_no_unstable_mode() -> None:
    evidence = find_instability(-np.eye(4) + 0.1 * np.ones((4, 4)))
    assert evidence.n_unstable == 0
    assert evidence.n_marginal == 0
    assert evidence.chetaev is None
    assert evidence.eigenvalues_near_axis.size == 0


def test_modes_normalised_with_top_entries() -> None:
    A = np.diag([-1.0, 0.3, -2.0, 0.1])
    evidence = find_instability(A, SearchOptions(n_modes=2, n_top_entries=1))
    assert len(evidence.modes) == 2
    first = evidence.modes[0]
    assert first.eigenvalue == pytest.approx(0.3)
    assert np.linalg.norm(first.vector) == pytest.approx(1.0)
    assert first.top_entries(1) == [(1, pytest.approx(1.0))]
    assert first.classification == "unstable"
    assert first.condition == pytest.approx(1.0)


def test_non_normal_condition_numbers_reported() -> None:
    A = np.array([[0.1, 100.0], [0.0, -0.1]])
    evidence = find_instability(A)
    assert evidence.modes[0].condition > 100
    assert evidence.n_unstable == 1


def test_sparse_route_finds_rightmost_eigenvalues() -> None:
    n = 400
    diagonal = -np.linspace(1.0, 5.0, n)
    diagonal[[10, 200]] = [0.5, 0.25]
    A = sp.csr_array(sp.diags_array([0.01 * np.ones(n - 1), diagonal], offsets=[1, 0]))
    evidence = find_instability(A, SearchOptions(eig_max_n=100, sparse_eig_k=6))
    assert evidence.method == "arpack"
    assert not evidence.counts_exact
    assert evidence.n_unstable == 2
    assert evidence.chetaev is not None
    assert evidence.spectral_abscissa == pytest.approx(0.5, rel=1e-6)


def test_evidence_to_dict_lists_modes() -> None:
    record = find_instability(np.diag([-1.0, 0.3, 0.2])).to_dict()
    assert record["n_unstable"] == 2
    assert record["modes"][0]["classification"] == "unstable"
    assert record["chetaev"]["n_positive_P"] == 2
    assert "P" not in record["chetaev"]
