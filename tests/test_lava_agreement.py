"""Cross-backend tests: Lava (floating_pt, fixed_pt) against the torch backend.

Each case states its tolerance. Tests skip when ``.venv-lava`` is missing.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from biosynapse_verify.simulate.lava_launcher import (
    LavaBackend,
    LavaUnavailableError,
    current_based_equivalent,
    lava_python,
)
from biosynapse_verify.simulate.torch_backend import TorchBackend
from biosynapse_verify.spec import load_spec, parse_spec

# Each Lava run starts a worker and compiles a network (about 10 s here).
pytestmark = pytest.mark.slow

try:
    lava_python()
except LavaUnavailableError as err:
    pytest.skip(f"Lava environment missing ({err})", allow_module_level=True)

# Lava floating_pt runs the torch model's arithmetic step for step; what is
# left is float64 rounding in a different order.
FLOAT_RELATIVE_TOLERANCE = 1e-6
# Hoeffding bounds hold with probability at least 1 - this, per synapse.
BOUND_FAILURE_PROBABILITY = 1e-6
# Significance level of the two-sample tests on Poisson runs.
ALPHA = 0.01

DT = 1e-4
POST_TIMES = [0.010, 0.030, 0.050, 0.070, 0.090]
# Pre spike offsets from each post spike, in steps; +1 (a pre spike one step
# after a post spike) is left out, because Lava handles it differently.
OFFSETS = [-60, -25, -7, -2, -1, 0, 2, 9, 30, 70]


def pairing_spec(pre_times, post_times, rule="additive", w0=0.0005, w_min=0.0,
                 a_plus=1e-4, a_minus=1.05e-4, duration=0.1):
    plasticity = {"rule": rule, "a_plus": a_plus, "a_minus": a_minus}
    return parse_spec({
        "name": "pairing",
        "inputs": [
            {"name": "pre", "kind": "spike_times", "times": pre_times},
            {"name": "driver", "kind": "spike_times", "times": [post_times]},
        ],
        "populations": [{
            "name": "post", "size": 1, "tau_m": "10 ms", "v_rest": "-74 mV",
            "v_threshold": "-54 mV", "v_reset": "-60 mV", "synapse": "current",
            "tau_syn_exc": "0.01 ms", "v_init": "-74 mV",
        }],
        "projections": [
            {"name": "plastic", "source": "pre", "target": "post", "weight": w0,
             "w_min": w_min, "w_max": 0.001, "plasticity": plasticity},
            {"name": "drive", "source": "driver", "target": "post", "weight": 100.0,
             "w_max": 100.0},
        ],
        "simulation": {"dt": DT, "duration": duration, "record_interval": duration},
    })


def offset_trains():
    """One pre neuron per offset, each paired with every post spike."""
    return [[round(t + k * DT, 6) for t in POST_TIMES] for k in OFFSETS]


def weight_change(result):
    weights = result.weights["plastic"]
    return weights[0, -1] - weights[0, 0]


@pytest.fixture(scope="module")
def torch_backend():
    return TorchBackend(engine="clock")


@pytest.mark.parametrize("config", ["floating_pt", "fixed_pt"])
def test_causal_pair_potentiates(config, torch_backend):
    spec = pairing_spec([[0.010]], [0.015], duration=0.03)
    lava = LavaBackend(run_config=config).run(spec)
    torch = torch_backend.run(spec)
    assert lava.spike_counts["post"][0, 0] == 1
    assert weight_change(torch)[0] > 0
    assert weight_change(lava)[0] > 0


@pytest.mark.parametrize("config", ["floating_pt", "fixed_pt"])
def test_anticausal_pair_depresses(config, torch_backend):
    spec = pairing_spec([[0.015]], [0.010], duration=0.03)
    assert weight_change(torch_backend.run(spec))[0] < 0
    assert weight_change(LavaBackend(run_config=config).run(spec))[0] < 0


@pytest.mark.parametrize("config", ["floating_pt", "fixed_pt"])
def test_lower_bound_above_zero_holds(config, torch_backend):
    pre = [[round(t + 0.002, 6) for t in POST_TIMES]]
    spec = pairing_spec(pre, POST_TIMES, w0=0.00045, w_min=0.0004, a_minus=5e-4)
    lava = LavaBackend(run_config=config).run(spec)
    final = lava.weights["plastic"][0, -1, 0]
    assert final >= 0.0004 - 1e-12
    assert final == pytest.approx(0.0004, rel=3e-3)  # fixed_pt: one 8-bit step
    assert torch_backend.run(spec).weights["plastic"][0, -1, 0] == pytest.approx(0.0004)


@pytest.mark.parametrize("config", ["floating_pt", "fixed_pt"])
def test_upper_bound_holds(config):
    pre = [[round(t - 0.002, 6) for t in POST_TIMES]]
    spec = pairing_spec(pre, POST_TIMES, w0=0.00095, a_plus=5e-4)
    final = LavaBackend(run_config=config).run(spec).weights["plastic"][0, -1, 0]
    assert final <= 0.001 + 1e-12
    assert final == pytest.approx(0.001)


@pytest.mark.parametrize("rule", ["additive", "multiplicative"])
def test_floating_point_matches_torch_per_synapse(rule, torch_backend):
    spec = pairing_spec(offset_trains(), POST_TIMES, rule=rule)
    torch = torch_backend.run(spec)
    lava = LavaBackend(run_config="floating_pt").run(spec)
    assert np.array_equal(lava.spike_counts["post"], torch.spike_counts["post"])
    expected, got = weight_change(torch), weight_change(lava)
    assert np.all(expected != 0)
    np.testing.assert_allclose(got, expected, rtol=FLOAT_RELATIVE_TOLERANCE, atol=0)


def _hoeffding(coefficients: np.ndarray) -> float:
    """Bound on |sum c_n r_n| for rounding errors r_n in an interval of length 1."""
    return math.sqrt(0.5 * np.sum(coefficients**2) * math.log(2 / BOUND_FAILURE_PROBABILITY))


def _quantisation_bound(spec, mapping) -> np.ndarray:
    """Bound per synapse on |dw(fixed_pt) - dw(floating_pt)| in weight units.

    Sums (1) the change of each amplitude times the total potentiation or
    depression of that synapse, (2) half a weight step for the rounded
    initial weight, and (3) Hoeffding bounds on the stochastic rounding of
    the 7-bit traces at every step and of the 8-bit weight at every update.
    """
    proj = mapping.projections["plastic"]
    k, rule, plasticity = proj.weight_scale, proj.rule, spec.projections[0].plasticity
    steps = spec.simulation.steps
    posts = np.rint(np.array(POST_TIMES) / DT).astype(int)
    decay_plus = math.exp(-1 / rule["x1_tau"])
    decay_minus = math.exp(-1 / rule["y1_tau"])
    amplitude = {p.name.split(".")[1]: p for p in proj.parameters}
    unit_plus = k * amplitude["a_plus"].realised * plasticity.eta / rule["x1_impulse"]
    unit_minus = k * amplitude["a_minus"].realised * plasticity.eta / rule["y1_impulse"]
    bounds = []
    for train in spec.inputs[0].times:
        pres = np.rint(np.array(train) / DT).astype(int)
        lags_p = posts[:, None] - pres[None, :]
        potentiation = np.sum(np.where(lags_p >= 0, decay_plus**lags_p, 0.0))
        lags_m = pres[:, None] - posts[None, :]
        depression = np.sum(np.where(lags_m > 0, decay_minus**lags_m, 0.0))
        parameter_part = (
            abs(amplitude["a_plus"].realised - plasticity.a_plus) * plasticity.eta * potentiation
            + abs(amplitude["a_minus"].realised - plasticity.a_minus) * plasticity.eta * depression
        )
        n = np.arange(steps)
        trace_plus = unit_plus * np.array(
            [np.sum(decay_plus ** (posts[posts >= s] - s)) for s in n]
        ) * (n >= pres.min())
        trace_minus = unit_minus * np.array(
            [np.sum(decay_minus ** (pres[pres >= s] - s)) for s in n]
        ) * (n >= posts.min())
        updates = np.ones(len(pres) + len(posts))
        arithmetic = (
            _hoeffding(trace_plus) + _hoeffding(trace_minus) + _hoeffding(updates) + 0.5
        ) / k
        bounds.append(parameter_part + arithmetic)
    return np.array(bounds)


def test_fixed_point_within_quantisation_bound():
    spec = pairing_spec(offset_trains(), POST_TIMES)
    floating = LavaBackend(run_config="floating_pt").run(spec)
    fixed_backend = LavaBackend(run_config="fixed_pt")
    fixed = fixed_backend.run(spec)
    assert np.array_equal(fixed.spike_counts["post"], floating.spike_counts["post"])
    bound = _quantisation_bound(spec, fixed_backend.last_mapping)
    difference = np.abs(weight_change(fixed) - weight_change(floating))
    assert np.all(difference <= bound), (difference, bound)


@pytest.mark.slow
def test_poisson_vanrossum_agrees_with_torch():
    spec = load_spec("networks/vanrossum2000.yaml")
    seeds, duration = [0, 1, 2, 3, 4, 5], 4.0
    lava = LavaBackend(run_config="floating_pt").run(spec, seeds=seeds, duration=duration)
    torch = TorchBackend().run(current_based_equivalent(spec), seeds=seeds, duration=duration)
    from scipy import stats

    rates = stats.ttest_ind(
        lava.mean_rates("post").ravel(), torch.mean_rates("post").ravel(), equal_var=False
    )
    assert rates.pvalue >= ALPHA
    weights = stats.ks_2samp(
        lava.final_weights("feedforward").ravel(), torch.final_weights("feedforward").ravel()
    )
    assert weights.pvalue >= ALPHA
