"""Tests of the strategy ladder and search_certificate: candidates, refutations,
marginal matrices and the attempt record."""

from __future__ import annotations

import json

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
    IdentityStrategy,
    Ladder,
    SdpStrategy,
    SearchOptions,
    default_strategies,
    search_certificate,
)


def random_hurwitz(n: int, seed: int, shift: float = 1.5) -> np.ndarray:
    """Gaussian matrix scaled to spectral radius about 1, shifted left by ``shift``."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n)) / np.sqrt(n) - shift * np.eye(n)


def with_spectrum(
    eigenvalues: list[float], seed: int, non_normal: float = 0.0
) -> np.ndarray:
    """Return Q (D + N) Q^T: given real eigenvalues, random orthogonal Q, and a
    strictly upper-triangular N of size ``non_normal`` (leaves the spectrum)."""
    rng = np.random.default_rng(seed)
    n = len(eigenvalues)
    core = np.diag(eigenvalues) + non_normal * np.triu(rng.standard_normal((n, n)), 1)
    orthogonal, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return orthogonal @ core @ orthogonal.T


def assert_certifies(A: np.ndarray, candidate: Candidate) -> None:
    """Check the Lyapunov inequalities with eigvalsh, independently of the search."""
    P = candidate.dense_P()
    assert scipy.linalg.eigvalsh(P).min() >= 1.0
    M = -(A.T @ P + P @ A) - 2.0 * candidate.beta * np.eye(A.shape[0])
    assert scipy.linalg.eigvalsh(M).min() > 0.0


MARGINAL = {
    "rotation generator": np.array([[0.0, 1.0], [-1.0, 0.0]]),
    "eigenvalue +1e-9": with_spectrum([-1.0, -0.5, -2.0, 1e-9], seed=1),
    "eigenvalue -1e-12": with_spectrum([-1.0, -0.5, -2.0, -1e-12], seed=2),
    "non-normal -1e-12": with_spectrum(
        [-1.0, -0.5, -2.0, -1e-12], seed=3, non_normal=0.5
    ),
    "rotation plus stable": scipy.linalg.block_diag(
        [[0.0, 2.0], [-2.0, 0.0]], -1.0, -3.0
    ),
}


def test_stable_random_matrix_gets_candidate() -> None:
    A = random_hurwitz(50, seed=11, shift=1.2)
    outcome = search_certificate(A)
    assert outcome.status == "candidate"
    assert outcome.candidate is not None
    assert outcome.candidate.lambda_min_P >= 1.0
    assert outcome.instability is None
    assert_certifies(A, outcome.candidate)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 100_000),
    n=st.integers(2, 8),
    shift=st.floats(-0.5, 2.0),
)
def test_candidate_only_for_hurwitz(seed: int, n: int, shift: float) -> None:
    # Around shift = 1 about half of these matrices are unstable.
    A = random_hurwitz(n, seed=seed, shift=shift)
    outcome = search_certificate(A, options=SearchOptions(scs_eps=1e-5))
    abscissa = np.linalg.eigvals(A).real.max()
    if outcome.candidate is not None:
        assert abscissa < 0
        assert_certifies(A, outcome.candidate)
    if abscissa > 1e-6:
        assert outcome.status == "refuted"


def test_ladder_records_why_cheaper_strategies_failed() -> None:
    A = random_hurwitz(40, seed=1, shift=1.2)
    outcome = search_certificate(A)
    names = [attempt.strategy for attempt in outcome.attempts]
    assert names == [
        "identity",
        "diagonal",
        "block_diagonal",
        "two_time_scale",
        "dense_lyapunov",
    ]

    identity, diagonal, blocks, time_scales, lyapunov = outcome.attempts
    assert not identity.applied
    assert "not negative definite" in identity.reason
    assert diagonal.applied
    assert not diagonal.succeeded
    assert "not Hurwitz" in diagonal.reason
    assert not blocks.applied
    assert "strongly connected component" in blocks.reason
    assert not time_scales.applied
    assert "time-scale" in time_scales.reason
    assert lyapunov.succeeded
    assert lyapunov.reason == ""
    assert all(attempt.seconds >= 0 for attempt in outcome.attempts)
    assert outcome.candidate is lyapunov.candidate


def test_ladder_stops_at_cheapest_success() -> None:
    A = random_hurwitz(30, seed=2, shift=3.0)
    outcome = search_certificate(A)
    assert [attempt.strategy for attempt in outcome.attempts] == ["identity"]
    assert outcome.candidate.strategy == "identity"


def test_ladder_runs_all_without_stop_at_first() -> None:
    A = random_hurwitz(12, seed=2, shift=3.0)
    attempts = Ladder(options=SearchOptions(stop_at_first=False, scs_eps=1e-5)).run(A)
    assert [a.strategy for a in attempts] == [s.name for s in default_strategies()]
    for attempt in attempts:
        if attempt.succeeded:
            assert_certifies(A, attempt.candidate)


@pytest.mark.parametrize("name", sorted(MARGINAL))
def test_marginal_matrix_never_certified(name: str) -> None:
    A = MARGINAL[name]
    outcome = search_certificate(A)
    assert outcome.candidate is None
    assert outcome.status in ("refuted", "inconclusive")
    assert outcome.reason()


@pytest.mark.parametrize("name", sorted(MARGINAL))
def test_marginal_matrix_rejected_by_every_strategy(name: str) -> None:
    # search() without applies(): even a strategy run where it should not
    # apply must not return a candidate for a marginal matrix.
    A = MARGINAL[name]
    options = SearchOptions(scs_eps=1e-5)
    for strategy in default_strategies():
        result = strategy.search(A, options)
        assert not isinstance(result, Candidate), f"{strategy.name} certified {name}"


def test_rotation_generator_is_inconclusive_marginal() -> None:
    outcome = search_certificate(MARGINAL["rotation generator"])
    assert outcome.status == "inconclusive"
    assert outcome.instability.n_marginal == 2
    assert "marginal" in outcome.reason()


def test_positive_tiny_eigenvalue_is_refuted() -> None:
    outcome = search_certificate(MARGINAL["eigenvalue +1e-9"])
    assert outcome.status == "refuted"
    assert outcome.instability.n_unstable == 1
    assert outcome.instability.modes[0].eigenvalue.real == pytest.approx(1e-9, rel=1e-3)


def test_negative_tiny_eigenvalue_is_inconclusive() -> None:
    outcome = search_certificate(MARGINAL["eigenvalue -1e-12"])
    assert outcome.status == "inconclusive"
    assert any("marginal" in attempt.reason for attempt in outcome.attempts)


def test_additive_stdp_jacobian_refuted_with_n_minus_1_modes() -> None:
    # Weight block of additive STDP: a positive diagonal (the spike-triggered
    # term) plus a rank-one coupling through the post rate.
    n = 30
    rng = np.random.default_rng(5)
    diagonal = rng.uniform(0.5, 1.5, n)
    coupling = rng.uniform(0.5, 1.0, n)
    A = np.diag(diagonal) - np.outer(coupling, np.ones(n))
    outcome = search_certificate(A)
    assert outcome.status == "refuted"
    evidence = outcome.instability
    assert evidence.n_unstable == n - 1
    assert evidence.counts_exact

    chetaev = evidence.chetaev
    assert chetaev is not None
    assert chetaev.n_positive_P == n - 1
    M = A.T @ chetaev.P + chetaev.P @ A - 2.0 * chetaev.gamma * np.eye(n)
    assert scipy.linalg.eigvalsh(M).min() > 0
    assert chetaev.witness @ chetaev.P @ chetaev.witness > 0


def test_sparse_input_gives_diagonal_candidate() -> None:
    n = 500
    rng = np.random.default_rng(6)
    off = sp.random_array((n, n), density=0.005, random_state=rng)
    A = sp.csr_array(off - sp.diags_array(off.sum(axis=1) + 0.5))
    outcome = search_certificate(A)
    assert outcome.candidate.strategy in ("identity", "diagonal")
    assert outcome.candidate.p_is_diagonal
    assert_certifies(A.toarray(), outcome.candidate)


def test_outcome_to_dict_is_strict_json() -> None:
    for A in (
        random_hurwitz(10, seed=3),
        MARGINAL["eigenvalue +1e-9"],
        MARGINAL["rotation generator"],
    ):
        record = search_certificate(A).to_dict()
        text = json.dumps(record, allow_nan=False)
        assert json.loads(text)["status"] in ("candidate", "refuted", "inconclusive")


def test_custom_strategy_order() -> None:
    A = random_hurwitz(10, seed=4, shift=3.0)
    outcome = search_certificate(A, strategies=[SdpStrategy(), IdentityStrategy()])
    assert outcome.attempts[0].strategy == "sdp"
    assert outcome.candidate.strategy == "sdp"


def test_empty_ladder_rejected() -> None:
    with pytest.raises(ValueError, match="at least one strategy"):
        Ladder(strategies=[])


def test_strategy_names_unique() -> None:
    names = [
        s.name
        for s in (
            IdentityStrategy(),
            DiagonalStrategy(),
            DenseLyapunovStrategy(),
            SdpStrategy(),
        )
    ]
    assert len(set(names)) == len(names)


# ------------------------------------------------------------ spectral screen
def test_screen_skips_ladder_when_unstable() -> None:
    A = with_spectrum([0.3, -1.0, -2.0, -3.0], seed=4)
    outcome = search_certificate(A, eigenvalues=np.linalg.eigvals(A))
    assert [a.strategy for a in outcome.attempts] == ["spectral_screen"]
    assert "1 eigenvalue(s)" in outcome.attempts[0].reason
    assert outcome.status == "refuted"
    assert set(outcome.to_dict()["not_run"]) == {s.name for s in default_strategies()}


def test_screen_keeps_ladder_when_stable() -> None:
    A = random_hurwitz(12, seed=5)
    outcome = search_certificate(A, eigenvalues=np.linalg.eigvals(A))
    assert outcome.status == "candidate"
    assert outcome.attempts[0].strategy != "spectral_screen"


def test_screen_ignores_partial_spectrum() -> None:
    A = with_spectrum([0.3, -1.0, -2.0, -3.0], seed=4)
    outcome = search_certificate(A, eigenvalues=np.array([0.3]))
    assert "spectral_screen" not in [a.strategy for a in outcome.attempts]
    assert outcome.status == "refuted"


def test_screen_off_without_instability_search() -> None:
    A = with_spectrum([0.3, -1.0, -2.0, -3.0], seed=4)
    options = SearchOptions(find_instability=False)
    outcome = search_certificate(A, options=options, eigenvalues=np.linalg.eigvals(A))
    assert "spectral_screen" not in [a.strategy for a in outcome.attempts]


def test_screen_ignores_marginal_eigenvalue() -> None:
    A = with_spectrum([0.0, -1.0, -2.0], seed=6)
    outcome = search_certificate(A, eigenvalues=np.linalg.eigvals(A))
    assert "spectral_screen" not in [a.strategy for a in outcome.attempts]
    assert outcome.status != "candidate"
