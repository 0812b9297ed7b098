"""Mean-field drift and Jacobian: finite differences, fixed points, worked cases."""

from __future__ import annotations

import numpy as np
import pytest

from biosynapse_verify.dynamics.equilibrium import find_boundary, find_interior
from biosynapse_verify.dynamics.meanfield import MeanFieldModel, synaptic_scale
from biosynapse_verify.dynamics.transfer import SoftplusTransfer
from biosynapse_verify.spec import parse_spec
from biosynapse_verify.spec.structure import build_structure, initial_weights

TRANSFER = SoftplusTransfer(gain=2000.0, width=2e-3, threshold=18e-3)


def _spec(rule: str = "multiplicative", mu: float = 0.0, recurrent: bool = True) -> dict:
    plasticity = {"rule": rule, "a_plus": 1e-4, "a_minus": 1.2e-4, "eta": 1.0}
    if rule == "power_law":
        plasticity["mu"] = mu
    projections = [
        {
            "name": "ff",
            "source": "drive",
            "target": "exc",
            "weight": {"distribution": "uniform", "low": 0.01, "high": 0.03},
            "w_max": 0.04,
            "plasticity": plasticity,
        },
        {
            "name": "inh",
            "source": "noise",
            "target": "exc",
            "receptor": "inhibitory",
            "weight": 0.01,
            "w_max": 0.05,
        },
    ]
    if recurrent:
        projections.append(
            {
                "name": "rec",
                "source": "exc",
                "target": "exc",
                "connectivity": "sparse",
                "probability": 0.5,
                "weight": 0.002,
                "w_max": 0.01,
            }
        )
    return {
        "name": "meanfield_test",
        "inputs": [
            {"name": "drive", "kind": "poisson", "size": 12, "rate": [10.0 + i for i in range(12)]},
            {"name": "noise", "kind": "poisson", "size": 4, "rate": "5 Hz"},
        ],
        "populations": [
            {
                "name": "exc",
                "size": 3,
                "tau_m": "10 ms",
                "v_rest": "-70 mV",
                "v_threshold": "-54 mV",
                "v_reset": "-60 mV",
            }
        ],
        "projections": projections,
        "simulation": {"dt": "0.1 ms", "duration": "1 s"},
    }


def _model(spec_dict: dict) -> tuple[MeanFieldModel, np.ndarray]:
    spec = parse_spec(spec_dict)
    structure = build_structure(spec)
    static = {
        name: initial_weights(p, seed=0)
        for name, p in structure.projections.items()
        if not p.plastic
    }
    model = MeanFieldModel(spec, structure, {"exc": TRANSFER}, static)
    rng = np.random.default_rng(1)
    weights = {"ff": initial_weights(structure.projections["ff"], seed=3)}
    x = model.pack(rng.uniform(5, 20, size=3), weights)
    return model, x


def _numerical_jacobian(model: MeanFieldModel, x: np.ndarray) -> np.ndarray:
    jac = np.empty((model.n, model.n))
    for k in range(model.n):
        h = 1e-6 * max(1.0, abs(x[k]))
        plus, minus = x.copy(), x.copy()
        plus[k] += h
        minus[k] -= h
        jac[:, k] = (model.drift(plus) - model.drift(minus)) / (2 * h)
    return jac


@pytest.mark.parametrize(
    "rule,mu", [("additive", 0.0), ("multiplicative", 0.0), ("power_law", 0.4)]
)
def test_jacobian_matches_finite_differences(rule: str, mu: float) -> None:
    model, x = _model(_spec(rule, mu))
    analytic = model.jacobian(x).toarray()
    numeric = _numerical_jacobian(model, x)
    scale = np.abs(numeric).max(axis=1, keepdims=True) + 1e-300
    assert np.max(np.abs(analytic - numeric) / scale) < 1e-6


def test_layout_counts_rates_and_plastic_weights() -> None:
    model, x = _model(_spec())
    assert model.n_rates == 3
    assert model.n_weights == 36
    assert x.shape == (39,)


def test_weight_drift_matches_formula() -> None:
    model, x = _model(_spec("multiplicative", recurrent=False))
    pop = model.spec.population("exc")
    proj = model.spec.projections[0]
    pl = proj.plasticity
    drive = model.drive(x)
    k = synaptic_scale(pop, proj)
    c_plus = TRANSFER.slope(drive) * k * pl.tau_plus / (pl.tau_plus + pop.tau_m + pop.tau_syn_exc)
    structure = model.structure.projections["ff"]
    s = 7
    i, j = structure.pre[s], structure.post[s]
    u = x[3 + s]
    w = u * proj.w_max
    nu = 10.0 + i
    expected = pl.eta * nu * (
        x[j] * (pl.a_plus * pl.tau_plus - u * pl.a_minus * pl.tau_minus)
        + pl.a_plus * w * c_plus[j]
    )
    assert model.drift(x)[3 + s] == pytest.approx(expected / proj.w_max, rel=1e-12)


def test_interior_equilibrium_has_zero_drift() -> None:
    model, x = _model(_spec("multiplicative"))
    eq = find_interior(model, x)
    drift = model.drift(eq.x)
    assert eq.residual <= 1e-10
    assert np.max(np.abs(drift[:3])) < 1e-6


def test_multiplicative_fixed_point_closed_form() -> None:
    # Without recurrence r_j = phi(d_j) and each weight solves
    # r (A+ tau+ - u A- tau-) + A+ w c+ = 0, i.e. w* = A+ tau+ r / (A- tau- r / w_max - A+ c+).
    model, x = _model(_spec("multiplicative", recurrent=False))
    eq = find_interior(model, x)
    pop = model.spec.population("exc")
    proj = model.spec.projections[0]
    pl = proj.plasticity
    drive = model.drive(eq.x)
    c_plus = TRANSFER.slope(drive) * synaptic_scale(pop, proj) * pl.tau_plus / (
        pl.tau_plus + pop.tau_m + pop.tau_syn_exc
    )
    r = eq.x[:3]
    w_star = pl.a_plus * pl.tau_plus * r / (pl.a_minus * pl.tau_minus * r / proj.w_max - pl.a_plus * c_plus)
    post = model.structure.projections["ff"].post
    np.testing.assert_allclose(eq.x[3:] * proj.w_max, w_star[post], rtol=1e-8)


def test_additive_diagonal_is_positive() -> None:
    # With additive STDP each synapse's own diagonal entry is eta nu A+ c+ > 0.
    model, x = _model(_spec("additive", recurrent=False))
    diagonal = model.jacobian(x).diagonal()[3:]
    assert np.all(diagonal > 0)


def test_boundary_equilibrium_holds_clipped_weights() -> None:
    model, x = _model(_spec("additive", recurrent=False))
    x[3:] = np.where(np.arange(36) % 2 == 0, 1.0, 0.0)
    eq = find_boundary(model, x)
    assert eq.outward_margin is None or eq.outward_margin > 0
    assert eq.kind == "boundary"
