"""The large-network paths of the verify pipeline, run on small networks.

Above ``ITERATIVE_NEWTON_MIN_N`` the pipeline settles the rates and finds
the equilibrium by block-Jacobi GMRES Newton, and it skips the spectrum and
the certificate search when they cannot give a certificate. These tests
call those paths directly on a scaled-down copy of ``networks/ei_10k.yaml``
and compare them with the direct methods.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from biosynapse_verify import pipeline
from biosynapse_verify.dynamics.calibration import static_weights
from biosynapse_verify.dynamics.equilibrium import (
    RELATIVE_RESIDUAL_TOL,
    Equilibrium,
    EquilibriumError,
    find_interior,
    relative_residual,
    settle_rates,
)
from biosynapse_verify.dynamics.meanfield import MeanFieldModel
from biosynapse_verify.dynamics.transfer import SoftplusTransfer
from biosynapse_verify.spec import parse_spec
from biosynapse_verify.spec.structure import build_structure

EI_10K = Path(__file__).resolve().parents[1] / "networks" / "ei_10k.yaml"


def _small_ei_model() -> MeanFieldModel:
    """ei_10k with 80 E, 20 I neurons and 200 afferents, and a smooth transfer."""
    data = yaml.safe_load(EI_10K.read_text())
    sizes = {"afferents": 200, "exc": 80, "inh": 20}
    for group in data["inputs"] + data["populations"]:
        group["size"] = sizes[group["name"]]
    for proj in data["projections"]:
        proj["probability"] = 0.1
    spec = parse_spec(data)
    structure = build_structure(spec)
    transfer = SoftplusTransfer(gain=6900.0, width=1e-3, threshold=0.0183)
    transfers = {pop.name: transfer for pop in spec.populations}
    return MeanFieldModel(spec, structure, transfers, static_weights(structure, 0))


def _start(model: MeanFieldModel) -> np.ndarray:
    x = np.zeros(model.n)
    x[model.n_rates :] = np.random.default_rng(1).uniform(0.3, 0.7, model.n_weights)
    return settle_rates(model, x)


def test_block_jacobi_newton_reaches_tolerance() -> None:
    model = _small_ei_model()
    x = pipeline._newton_block_jacobi(model, _start(model))
    assert relative_residual(model, x) <= RELATIVE_RESIDUAL_TOL


def test_block_jacobi_newton_matches_sparse_lu_newton() -> None:
    model = _small_ei_model()
    start = _start(model)
    iterative = pipeline._newton_block_jacobi(model, start)
    direct = find_interior(model, start)
    # Both solve F = 0 to a relative residual of 1e-10 from the same start,
    # and the Jacobian at the root is well conditioned, so the roots agree
    # to far better than 1e-6 relative.
    np.testing.assert_allclose(iterative, direct.x, rtol=1e-6, atol=1e-9)


def test_block_jacobi_newton_handoff_takes_no_lu_step() -> None:
    model = _small_ei_model()
    x = pipeline._newton_block_jacobi(model, _start(model))
    assert find_interior(model, x).newton_steps == 0


def test_block_jacobi_newton_raises_when_steps_run_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = _small_ei_model()
    monkeypatch.setattr(pipeline, "ITERATIVE_NEWTON_MAX_STEPS", 1)
    with pytest.raises(EquilibriumError, match="relative residual"):
        pipeline._newton_block_jacobi(model, _start(model))


def test_iterative_rate_settling_matches_lu() -> None:
    model = _small_ei_model()
    x = np.zeros(model.n)
    x[model.n_rates :] = 0.5
    direct = settle_rates(model, x)
    iterative = settle_rates(model, x, iterative=True)
    np.testing.assert_allclose(iterative, direct, rtol=1e-9, atol=1e-9)
    assert np.all(iterative[model.n_rates :] == 0.5)


def _equilibrium_of(model: MeanFieldModel, x: np.ndarray, inside: bool = True) -> Equilibrium:
    free = np.ones(model.n, dtype=bool)
    return Equilibrium("interior", x, free, 0.0, 0, inside_bounds=inside)


def test_large_analysis_runs_for_active_network(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _small_ei_model()
    x = pipeline._newton_block_jacobi(model, _start(model))
    monkeypatch.setattr(pipeline, "ITERATIVE_NEWTON_MIN_N", 0)
    assert pipeline._skipped_large_analysis(_equilibrium_of(model, x), model) is None


def test_large_analysis_skipped_outside_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _small_ei_model()
    x = _start(model)
    monkeypatch.setattr(pipeline, "ITERATIVE_NEWTON_MIN_N", 0)
    reason = pipeline._skipped_large_analysis(_equilibrium_of(model, x, inside=False), model)
    assert reason is not None
    assert "outside the weight bounds" in reason


def test_large_analysis_skipped_for_silent_neurons(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _small_ei_model()
    # A threshold 1 V above every drive silences both populations.
    silent = SoftplusTransfer(gain=6900.0, width=1e-3, threshold=1.0)
    model.transfers = {name: silent for name in model.transfers}
    monkeypatch.setattr(pipeline, "ITERATIVE_NEWTON_MIN_N", 0)
    reason = pipeline._skipped_large_analysis(_equilibrium_of(model, _start(model)), model)
    assert reason is not None
    assert f"{model.n_rates} of {model.n_rates} neurons are silent" in reason


def test_small_analysis_never_skipped() -> None:
    model = _small_ei_model()
    equilibrium = _equilibrium_of(model, _start(model), inside=False)
    assert pipeline._skipped_large_analysis(equilibrium, model) is None


def test_skipped_analysis_record_computes_no_spectrum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = _small_ei_model()
    equilibrium = _equilibrium_of(model, _start(model))

    def fail(*args: object) -> None:
        raise AssertionError("_spectrum called for a skipped analysis")

    monkeypatch.setattr(pipeline, "_spectrum", fail)
    skipped = {"verdict": "inconclusive", "reason": "skipped"}
    summary = pipeline._other_equilibrium(equilibrium, model, equilibrium, skipped)
    assert summary["spectrum"] is None
