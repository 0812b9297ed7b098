"""LIF dynamics of the torch backend: exact integration, refractoriness, delays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from biosynapse_verify.simulate import get_backend
from biosynapse_verify.spec import parse_spec

DT = 1e-4
ENGINES = ["event", "clock", "reference"]
TAU_M = 0.01
V_REST, V_THRESHOLD, V_RESET = -0.07, -0.05, -0.06


def lif(name: str, **overrides: object) -> dict:
    population = {
        "name": name,
        "size": 1,
        "tau_m": TAU_M,
        "v_rest": V_REST,
        "v_threshold": V_THRESHOLD,
        "v_reset": V_RESET,
        "v_init": V_REST,
        "synapse": "current",
    }
    population.update(overrides)
    return population


def driven_neuron_spec(i_bias: float, refractory_steps: int, duration: float) -> object:
    """One neuron driven by a constant i_bias; its only input never spikes."""
    return parse_spec(
        {
            "name": "driven",
            "inputs": [{"name": "silent", "kind": "spike_times", "times": [[]]}],
            "populations": [
                lif("cell", i_bias=i_bias, refractory=refractory_steps * DT)
            ],
            "projections": [
                {
                    "name": "unused",
                    "source": "silent",
                    "target": "cell",
                    "weight": 0.0,
                    "w_max": 1.0,
                }
            ],
            "simulation": {"dt": DT, "duration": duration, "record_interval": duration},
        }
    )


def spike_steps(
    result: object, population: str, row: int = 0, neuron: int = 0
) -> np.ndarray:
    return np.rint(result.spike_times[population][row][neuron] / DT).astype(int)


def steps_to_reach(v_start: float, v_target: float, v_inf: float) -> float:
    """Return the time in steps for v to relax from v_start to v_target."""
    return TAU_M * math.log((v_inf - v_start) / (v_inf - v_target)) / DT


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("refractory_steps", [0, 1, 3, 17])
def test_refractory_period_in_whole_steps(engine: str, refractory_steps: int) -> None:
    # A drive this strong reaches threshold within one integrated step from
    # v_reset, so the interval is exactly refractory_steps + 1.
    spec = driven_neuron_spec(
        i_bias=10.0, refractory_steps=refractory_steps, duration=0.02
    )
    steps = spike_steps(get_backend("torch", engine=engine).run(spec), "cell")
    assert steps[0] == 0
    assert set(np.diff(steps).tolist()) == {refractory_steps + 1}
    assert steps.size == len(range(0, 200, refractory_steps + 1))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("refractory_steps", [0, 20])
def test_spike_times_match_exact_solution(engine: str, refractory_steps: int) -> None:
    # Exponential Euler is exact for a constant drive, so a spike falls in the
    # first step whose end lies at or after the continuous crossing time.
    i_bias = 0.03
    v_inf = V_REST + i_bias
    first = math.ceil(steps_to_reach(V_REST, V_THRESHOLD, v_inf)) - 1
    rise = math.ceil(steps_to_reach(V_RESET, V_THRESHOLD, v_inf))
    interval = refractory_steps + rise
    spec = driven_neuron_spec(
        i_bias=i_bias, refractory_steps=refractory_steps, duration=0.3
    )
    steps = spike_steps(get_backend("torch", engine=engine).run(spec), "cell")
    expected = np.arange(first, 3000, interval)
    np.testing.assert_array_equal(steps, expected)


def test_crossing_times_not_near_step_edges() -> None:
    # Guards the previous test: rounding could move a crossing that lies
    # within 1e-6 steps of a step boundary into the neighbouring step.
    v_inf = V_REST + 0.03
    for start in (V_REST, V_RESET):
        exact = steps_to_reach(start, V_THRESHOLD, v_inf)
        assert abs(exact - round(exact)) > 1e-6


def relay_spec(input_times: list[float], duration: float) -> object:
    """input -> first (strong) -> second (strong): each stage fires once per spike."""
    strong = {"weight": 40.0, "w_max": 40.0}
    fast_synapse = {"tau_syn_exc": 2e-5}
    return parse_spec(
        {
            "name": "relay",
            "inputs": [
                {"name": "stimulus", "kind": "spike_times", "times": [input_times]}
            ],
            "populations": [
                lif("first", **fast_synapse),
                lif("second", **fast_synapse),
            ],
            "projections": [
                {"name": "feed", "source": "stimulus", "target": "first", **strong},
                {"name": "relay", "source": "first", "target": "second", **strong},
            ],
            "simulation": {"dt": DT, "duration": duration, "record_interval": duration},
        }
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_recurrent_delivery_takes_one_step(engine: str) -> None:
    times = [0.0, 0.0051, 0.0052, 0.02]
    result = get_backend("torch", engine=engine).run(relay_spec(times, 0.03))
    stimulus = np.rint(np.asarray(times) / DT).astype(int)
    np.testing.assert_array_equal(spike_steps(result, "first"), stimulus)
    np.testing.assert_array_equal(spike_steps(result, "second"), stimulus + 1)


def conductance_spec(synapse: str, weight: float, duration: float) -> object:
    """One input spike train through one synapse type; used to compare engines."""
    return parse_spec(
        {
            "name": "conductance",
            "inputs": [
                {"name": "drive", "kind": "poisson", "size": 50, "rate": 40.0},
                {"name": "brake", "kind": "poisson", "size": 20, "rate": 30.0},
            ],
            "populations": [lif("cell", synapse=synapse, size=3, v_init="uniform")],
            "projections": [
                {
                    "name": "exc",
                    "source": "drive",
                    "target": "cell",
                    "weight": weight,
                    "w_max": 1.0,
                },
                {
                    "name": "inh",
                    "source": "brake",
                    "target": "cell",
                    "receptor": "inhibitory",
                    "weight": weight,
                    "w_max": 1.0,
                },
            ],
            "simulation": {
                "dt": DT,
                "duration": duration,
                "seeds": [5],
                "record_interval": duration,
            },
        }
    )


@pytest.mark.parametrize("synapse, weight", [("conductance", 0.08), ("current", 0.12)])
def test_engines_agree_on_synapse_types(synapse: str, weight: float) -> None:
    spec = conductance_spec(synapse, weight, 0.2)
    reference = get_backend("torch", engine="reference").run(spec)
    assert reference.spike_counts["cell"].sum() > 10
    for engine in ("event", "clock"):
        result = get_backend("torch", engine=engine).run(spec)
        for neuron in range(3):
            np.testing.assert_array_equal(
                spike_steps(result, "cell", neuron=neuron),
                spike_steps(reference, "cell", neuron=neuron),
                err_msg=f"{engine} engine, neuron {neuron}",
            )


def test_inhibition_lowers_rate() -> None:
    spec = conductance_spec("conductance", 0.08, 0.2)
    weights = {"exc": np.full((1, 150), 0.08), "inh": np.zeros((1, 60))}
    without = get_backend("torch").run(spec, initial_weights=weights)
    weights["inh"] = np.full((1, 60), 0.3)
    with_inhibition = get_backend("torch").run(spec, initial_weights=weights)
    assert (
        with_inhibition.spike_counts["cell"].sum() < without.spike_counts["cell"].sum()
    )
