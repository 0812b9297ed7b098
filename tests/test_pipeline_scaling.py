"""The large-network paths of the verify pipeline, run on small networks.

Above ``ITERATIVE_NEWTON_MIN_N`` the pipeline finds the equilibrium by
block-Jacobi GMRES Newton and the report's eigenvalues by shift-invert.
These tests call those paths directly on a scaled-down copy of
``networks/ei_10k.yaml`` and compare them with the direct methods.
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
    # Both solve F = 0 to a relative residual of 1e-10 from the same start;
    # the Jacobian at the root is well conditioned, so the roots agree to
    # far better than 1e-6 relative.
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
