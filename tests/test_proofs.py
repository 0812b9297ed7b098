"""The proofs in proofs/: each one passes, and its checks reject wrong inputs."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import sympy as sp

REPO_ROOT = Path(__file__).resolve().parents[1]


def _load_runner() -> ModuleType:
    name = "proofs.run_all"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, REPO_ROOT / "proofs" / "run_all.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


RUNNER = _load_runner()


@pytest.fixture(scope="module")
def outcomes() -> dict[str, object]:
    return {o.name: o for o in RUNNER.run_all()}


@pytest.mark.parametrize("name", RUNNER.PROOF_NAMES)
def test_proof_passes(outcomes: dict, name: str) -> None:
    outcome = outcomes[name]
    assert outcome.passed, outcome.error


@pytest.mark.parametrize("name", RUNNER.PROOF_NAMES)
def test_proof_entry_fields(outcomes: dict, name: str) -> None:
    result = outcomes[name].result
    assert result is not None
    assert set(result) == {"title", "statement", "latex", "assumptions"}
    for key in ("title", "statement", "latex"):
        assert isinstance(result[key], str), key
        assert result[key].strip(), key
    assert result["assumptions"]
    for assumption in result["assumptions"]:
        assert isinstance(assumption, str)
        assert assumption.strip()


def test_every_proof_file_listed() -> None:
    files = {p.stem for p in (REPO_ROOT / "proofs").glob("*.py")}
    assert files - {"__init__", "run_all"} == set(RUNNER.PROOF_NAMES)


def test_proof_runs_as_script() -> None:
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "proofs" / "forgetting_bound.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert "LaTeX:" in completed.stdout


def test_derive_all_raises_on_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    proof = RUNNER.load_proof("forgetting_bound")
    entries = RUNNER.derive_all(("forgetting_bound",))
    assert len(entries) == 1

    def fail() -> dict:
        raise AssertionError("deliberate failure")

    monkeypatch.setattr(proof, "derive", fail)
    with pytest.raises(RuntimeError, match="forgetting_bound"):
        RUNNER.derive_all(("forgetting_bound",))


def test_jacobian_comparison_detects_missing_curvature(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from biosynapse_verify.dynamics.transfer import SoftplusTransfer

    proof = RUNNER.load_proof("jacobian_entries")
    monkeypatch.setattr(
        SoftplusTransfer, "curvature", lambda self, drive: np.zeros_like(drive)
    )
    assert proof.compare_with_code("multiplicative", 0.0) > 1e-6


def test_trace_rule_rejects_euler_decay() -> None:
    proof = RUNNER.load_proof("trace_stdp_closed_form")
    dt = sp.Symbol("Delta_t", positive=True)
    pre_steps, post_steps = [1, 3], [2, 5]
    euler = proof.clock_driven_change(
        pre_steps, post_steps, 1 - dt / proof.TAU_PLUS, 1 - dt / proof.TAU_MINUS
    )
    events = sorted([(s, "pre") for s in pre_steps] + [(s, "post") for s in post_steps])
    exact = proof.pair_sum([(side, step * dt) for step, side in events])
    assert sp.simplify(euler - exact) != 0


def test_best_d_maximises_epsilon_bound() -> None:
    proof = RUNNER.load_proof("two_time_scales")
    bound, best_d, best_bound = proof.epsilon_bound()
    values = {
        proof.ALPHA1: 1,
        proof.ALPHA2: 1,
        proof.BETA1: 0.7,
        proof.BETA2: 2.3,
        proof.GAMMA: 0.4,
    }
    best = float(best_bound.subs(values))
    for d in np.linspace(0.01, 0.99, 99):
        assert float(bound.subs(values).subs(proof.D, d)) <= best * (1 + 1e-12)
    assert math.isclose(
        float(bound.subs(values).subs(proof.D, best_d.subs(values))), best
    )


def test_exact_residual_rejects_indefinite() -> None:
    proof = RUNNER.load_proof("exact_residual_check")
    matrix = np.diag([1.0, 2.0, -0.01])
    factor = np.linalg.cholesky(matrix + 0.02 * np.eye(3))
    assert proof.exact_residual_margin(matrix, factor, proof.DELTA) <= 0


def test_chetaev_bound_needs_positive_q() -> None:
    proof = RUNNER.load_proof("chetaev_instability")
    stable = -np.eye(3)
    with pytest.raises(ValueError, match="must both be positive"):
        proof.growth_rate_bound(stable, np.eye(3))


def test_multiplicative_sign_of_diagonal() -> None:
    proof = RUNNER.load_proof("multiplicative_fixed_point")
    fixed_point, diagonal = proof.multiplicative_fixed_point()
    rng = np.random.default_rng(0)
    symbols = sorted(fixed_point.free_symbols | diagonal.free_symbols, key=str)
    for _ in range(20):
        values = {s: rng.uniform(0.1, 2.0) for s in symbols}
        w_star, entry = float(fixed_point.subs(values)), float(diagonal.subs(values))
        assert (w_star > 0) == (entry < 0)


def test_forgetting_bound_at_five_tau() -> None:
    proof = RUNNER.load_proof("forgetting_bound")
    rate = proof.bound(5 * proof.TAU_MINUS).subs({proof.A_MINUS: 1.05, proof.A_PLUS: 1})
    assert math.isclose(float(rate), 1.05 * math.exp(-5))
    assert not math.isclose(float(rate), proof.QUOTED_RATE, rel_tol=proof.QUOTED_RTOL)
