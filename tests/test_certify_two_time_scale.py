"""Tests of the two-time-scale composite strategy and its learning-rate bound."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp

from biosynapse_verify.certify import (
    Candidate,
    Failure,
    SearchOptions,
    StateStructure,
    TwoTimeScaleStrategy,
    network_structure,
    search_certificate,
)
from biosynapse_verify.certify.benchmark import network_jacobian
from biosynapse_verify.certify.linalg import as_jacobian
from biosynapse_verify.check import check_lyapunov


def single_block(seed: int, gain_sign: float = 1.0) -> tuple[np.ndarray, dict]:
    """One fast coordinate (first) and four slow ones, A22 and A0 Hurwitz."""
    rng = np.random.default_rng(seed)
    a = -50.0
    b = rng.uniform(50.0, 80.0, 4)
    c = gain_sign * rng.uniform(1e-3, 3e-3, 4)
    F = -np.diag(rng.uniform(0.2, 0.5, 4)) + 0.01 * rng.standard_normal((4, 4))
    A = np.block([[np.array([[a]]), b[None, :]], [c[:, None], F]])
    L = b[None, :] / a
    A0 = F - c[:, None] @ L
    Ps = scipy.linalg.solve_continuous_lyapunov(A0.T, -np.eye(4))
    pf = -0.5 / a
    constants = {
        "beta1": 2 * np.linalg.norm(Ps @ c),
        "beta2": 2 * np.linalg.norm(pf * L @ A0),
        "gamma": 2 * float((pf * L @ c)[0]),
    }
    return A, constants


def with_slow_factor(A: np.ndarray, fast: np.ndarray, factor: float) -> np.ndarray:
    """Scale the slow rows of A (what scaling every learning rate does)."""
    scaled = A.copy()
    scaled[~fast] *= factor
    return scaled


def dense_certifies(A: np.ndarray, candidate: Candidate) -> bool:
    P = candidate.dense_P()
    M = -(A.T @ P + P @ A)
    return bool(np.linalg.eigvalsh(M).min() > 0 and np.linalg.eigvalsh(P).min() > 0)


def test_composite_certifies_single_block() -> None:
    A, _ = single_block(0)
    result = TwoTimeScaleStrategy().search(A)
    assert isinstance(result, Candidate), result
    assert result.transform is not None
    assert dense_certifies(A, result)
    M = -(A.T @ result.dense_P() + result.dense_P() @ A)
    assert np.linalg.eigvalsh(M - 2 * result.beta * np.eye(5)).min() > 0


def test_decay_rate_near_slowest_eigenvalue() -> None:
    A, _ = single_block(1)
    result = TwoTimeScaleStrategy().search(A)
    abscissa = np.linalg.eigvals(A).real.max()
    assert result.decay_rate is not None
    assert result.decay_rate <= -abscissa
    assert result.decay_rate > 0.5 * -abscissa


def test_decay_rate_holds_in_floating_point() -> None:
    A, _ = single_block(2)
    c = TwoTimeScaleStrategy().search(A)
    P = c.dense_P()
    M = -(A.T @ P + P @ A) - 2 * c.decay_rate * P
    assert np.linalg.eigvalsh(M).min() > 0


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_learning_rate_bound_matches_composite_theorem(seed: int) -> None:
    # With p_f L c >= 0 the comparison bound is exactly Khalil's
    # eps* = 1 / (gamma + beta1 beta2) for one block.
    A, k = single_block(seed, gain_sign=-1.0)
    assert k["gamma"] >= 0
    result = TwoTimeScaleStrategy().search(A)
    expected = 1.0 / (k["gamma"] + k["beta1"] * k["beta2"])
    assert result.details["eta_factor_max"] == pytest.approx(expected, rel=1e-2)


@pytest.mark.parametrize("seed", [6, 7])
def test_learning_rate_bound_not_below_theorem(seed: int) -> None:
    A, k = single_block(seed, gain_sign=1.0)
    result = TwoTimeScaleStrategy().search(A)
    theorem = 1.0 / (abs(k["gamma"]) + k["beta1"] * k["beta2"])
    assert result.details["eta_factor_max"] >= theorem * (1 - 1e-2)


def test_learning_rate_bound_is_stable_below() -> None:
    A, _ = single_block(8)
    fast = np.zeros(5, dtype=bool)
    fast[0] = True
    factor = TwoTimeScaleStrategy().search(A).details["eta_factor_max"]
    for fraction in (1e-3, 0.1, 0.5, 0.99):
        scaled = with_slow_factor(A, fast, fraction * factor)
        assert np.linalg.eigvals(scaled).real.max() < 0
        jacobian = as_jacobian(scaled)
        jacobian.structure = StateStructure(fast, np.zeros(5, dtype=int))
        recertified = TwoTimeScaleStrategy().search(jacobian)
        assert isinstance(recertified, Candidate), (fraction, recertified)


def test_network_jacobian_certified_and_checked() -> None:
    net = network_jacobian(60, 6, 10, np.random.default_rng(0))
    structure = network_structure(net.n_rates, net.weight_post)
    outcome = search_certificate(net.A, structure=structure)
    c = outcome.candidate
    assert c is not None and c.strategy == "two_time_scale"
    assert [a.strategy for a in outcome.attempts] == ["identity", "two_time_scale"]
    check = check_lyapunov(net.A, c.P, c.beta, transform=c.transform, rate=c.decay_rate)
    assert check.valid, check.reason
    assert check.details["decay_rate"] == c.decay_rate
    dense = net.A.toarray()
    assert dense_certifies(dense, c)
    assert c.decay_rate <= -np.linalg.eigvals(dense).real.max()


def test_composite_beats_diagonal_decay_rate() -> None:
    net = network_jacobian(40, 5, 8, np.random.default_rng(1))
    structure = network_structure(net.n_rates, net.weight_post)
    options = SearchOptions(stop_at_first=False)
    outcome = search_certificate(net.A, structure=structure, options=options)
    by_name = {a.strategy: a for a in outcome.attempts}
    diagonal = by_name["diagonal"].candidate
    composite = by_name["two_time_scale"].candidate
    assert diagonal is not None and composite is not None
    assert composite.decay_rate > 10 * diagonal.alpha
    assert outcome.candidate is composite


def test_structure_inferred_from_matrix_alone() -> None:
    net = network_jacobian(30, 4, 6, np.random.default_rng(2))
    structure, reason = as_jacobian(net.A).state_structure()
    assert reason == ""
    expected = network_structure(net.n_rates, net.weight_post)
    assert np.array_equal(structure.fast, expected.fast)
    assert np.array_equal(structure.blocks, expected.blocks)
    assert isinstance(TwoTimeScaleStrategy().search(net.A), Candidate)


def test_not_applicable_without_time_scales() -> None:
    rng = np.random.default_rng(3)
    A = rng.standard_normal((20, 20)) / np.sqrt(20) - 2 * np.eye(20)
    applicable, reason = TwoTimeScaleStrategy().applies(A)
    assert not applicable
    assert "time-scale" in reason
    assert isinstance(TwoTimeScaleStrategy().search(A), Failure)


def test_two_fast_coordinates_per_block_rejected() -> None:
    A = -np.diag([50.0, 60.0, 0.5, 0.4])
    structure = StateStructure(
        np.array([True, True, False, False]), np.array([0, 0, 0, 0])
    )
    jacobian = as_jacobian(A)
    jacobian.structure = structure
    applicable, reason = TwoTimeScaleStrategy().applies(jacobian)
    assert not applicable
    assert "2 fast coordinates" in reason


@pytest.mark.parametrize(
    "slow_block",
    [
        np.array([[0.0, 1.0], [-1.0, 0.0]]),  # eigenvalues on the imaginary axis
        np.array([[1e-12, 0.0], [0.0, -0.3]]),  # eigenvalue just right of the axis
        np.array([[-0.3, 0.0], [0.0, 0.3]]),  # a pair with lambda_i + lambda_j = 0
    ],
)
def test_marginal_slow_system_never_certified(slow_block: np.ndarray) -> None:
    A = np.zeros((3, 3))
    A[0, 0] = -50.0
    A[1:, 1:] = slow_block
    result = TwoTimeScaleStrategy().search(A)
    assert not isinstance(result, Candidate)
    outcome = search_certificate(A)
    assert outcome.status != "candidate"


def test_unstable_network_not_certified() -> None:
    net = network_jacobian(20, 4, 5, np.random.default_rng(4))
    A = net.A.tolil()
    A[net.n_rates, net.n_rates] = 0.5  # one weight grows on its own
    outcome = search_certificate(sp.csr_array(A))
    assert outcome.status == "refuted"


def test_candidate_record_is_json_ready() -> None:
    import json

    A, _ = single_block(9)
    c = TwoTimeScaleStrategy().search(A)
    record = c.to_dict()
    assert record["P_storage"] == "factored"
    assert record["decay_rate"] == c.decay_rate
    json.dumps(record, allow_nan=False)
