"""Tests of the SDP strategy: symmetric PSD constraints, no trust in SCS's optimum."""

from __future__ import annotations

from fractions import Fraction

import cvxpy as cp
import numpy as np
import pytest
import scipy.linalg

from biosynapse_verify.certify import (
    Candidate,
    Failure,
    SdpStrategy,
    SearchOptions,
    validate_candidate,
)
from biosynapse_verify.certify.strategies.sdp import build_sdp


def random_hurwitz(n: int, seed: int, shift: float = 1.5) -> np.ndarray:
    """Gaussian matrix scaled to spectral radius about 1, shifted left by ``shift``."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n)) / np.sqrt(n) - shift * np.eye(n)


def exact_quadratic_form(
    M_parts: tuple[np.ndarray, np.ndarray, float], x: np.ndarray
) -> Fraction:
    """Return x^T (-(A^T P + P A) - 2 beta I) x in exact rational arithmetic."""
    A, P, beta = M_parts
    n = A.shape[0]
    a = [[Fraction(float(A[i, j])) for j in range(n)] for i in range(n)]
    p = [[Fraction(float(P[i, j])) for j in range(n)] for i in range(n)]
    v = [Fraction(float(value)) for value in x]
    av = [sum(a[i][j] * v[j] for j in range(n)) for i in range(n)]
    pv = [sum(p[i][j] * v[j] for j in range(n)) for i in range(n)]
    # x^T (A^T P + P A) x = 2 (A x)^T (P x) because P is symmetric.
    form = 2 * sum(av[i] * pv[i] for i in range(n))
    return -form - 2 * Fraction(float(beta)) * sum(value * value for value in v)


def test_psd_constraints_are_symmetric_expressions() -> None:
    A = random_hurwitz(5, seed=0)
    model = build_sdp(A, kappa_max=1e3)
    assert len(model.psd_expressions) == 3
    psd_constraints = [
        c for c in model.problem.constraints if isinstance(c, cp.constraints.PSD)
    ]
    assert len(psd_constraints) == 3

    # cvxpy does not infer that 0.5 (X + X^T) is symmetric for an affine X, so
    # the test evaluates each PSD argument at random points instead.
    rng = np.random.default_rng(1)
    for _ in range(3):
        value = rng.standard_normal((5, 5))
        model.P.value = value + value.T
        model.beta.value = rng.standard_normal()
        for constraint in psd_constraints:
            argument = constraint.args[0].value
            assert np.array_equal(argument, argument.T)
        # Control: the evaluation does detect a non-symmetric argument.
        assert not np.array_equal((model.P @ A).value, (model.P @ A).value.T)


def test_sdp_certifies_stable_matrix() -> None:
    A = random_hurwitz(8, seed=2, shift=1.0)
    assert np.linalg.eigvals(A).real.max() < 0
    candidate = SdpStrategy().search(A, SearchOptions(scs_eps=1e-6))
    assert isinstance(candidate, Candidate)
    assert candidate.details["solver_status"] in ("optimal", "optimal_inaccurate")
    P = candidate.dense_P()
    assert scipy.linalg.eigvalsh(P).min() >= 1.0
    M = -(A.T @ P + P @ A) - 2.0 * candidate.beta * np.eye(8)
    assert scipy.linalg.eigvalsh(M).min() > 0
    # The SDP bounds kappa(P) by kappa_max.
    assert candidate.condition_number <= 1e3 * (1 + 1e-3)


def test_sdp_backs_off_from_solver_beta() -> None:
    A = random_hurwitz(6, seed=3, shift=1.5)
    assert np.linalg.eigvals(A).real.max() < 0
    candidate = SdpStrategy().search(A, SearchOptions(scs_eps=1e-4))
    assert isinstance(candidate, Candidate)
    # Dividing P by the normalisation divisor divides beta by it too.
    solver_beta = candidate.details["solver_beta"] / candidate.normalisation_divisor
    assert candidate.beta < candidate.beta_float
    assert candidate.beta < solver_beta * (1 + 1e-3)


def test_raw_scs_optimum_violates_inequality_exactly() -> None:
    # At a loose tolerance, SCS's "optimal" (P, beta) violates the LMI for some
    # matrices. An exact rational quadratic form x^T M x < 0 proves it.
    violations = []
    for seed in range(5):
        A = np.random.default_rng(seed).standard_normal((3, 3)) - 1.5 * np.eye(3)
        model = build_sdp(A, kappa_max=1e3)
        model.problem.solve(solver=cp.SCS, eps_abs=1e-3, eps_rel=1e-3)
        P = 0.5 * (model.P.value + model.P.value.T)
        beta = float(model.beta.value)
        if beta <= 0:
            continue
        M = -(A.T @ P + P @ A) - 2.0 * beta * np.eye(3)
        _, vectors = np.linalg.eigh(M)
        exact = exact_quadratic_form((A, P, beta), vectors[:, 0])
        if exact < 0:
            violations.append(seed)
            assert not validate_candidate(A, P, beta).passed
        accepted = SdpStrategy().search(A, SearchOptions(scs_eps=1e-3))
        assert isinstance(accepted, Candidate)
        assert validate_candidate(A, accepted.P, accepted.beta).passed
    assert violations, "expected at least one raw SCS optimum to violate the LMI"


def test_sdp_not_applicable_to_unstable_matrix() -> None:
    A = random_hurwitz(5, seed=4, shift=-0.5)
    applicable, reason = SdpStrategy().applies(A)
    assert not applicable
    assert "eigenvalue with real part" in reason


def test_sdp_search_fails_on_unstable_matrix() -> None:
    A = random_hurwitz(5, seed=4, shift=-0.5)
    result = SdpStrategy().search(A, SearchOptions(scs_eps=1e-5))
    assert isinstance(result, Failure)
    assert "not positive" in result.reason


def test_sdp_size_limit() -> None:
    applicable, reason = SdpStrategy().applies(np.eye(10), SearchOptions(sdp_max_n=9))
    assert not applicable
    assert "sdp_max_n" in reason


@pytest.mark.parametrize("kappa_max", [0.5, 1.0])
def test_options_reject_kappa_max_at_most_one(kappa_max: float) -> None:
    with pytest.raises(ValueError, match="kappa_max"):
        SearchOptions(kappa_max=kappa_max)
