"""Input spike trains of the torch backend: Poisson statistics and prescribed times."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from biosynapse_verify.simulate import get_backend
from biosynapse_verify.simulate.inputs import PoissonSource, PrescribedSource
from biosynapse_verify.spec import parse_spec
from biosynapse_verify.spec.schema import PoissonInput, SpikeTimesInput

DT = 1e-4
# Tolerances in standard errors: a correct generator fails a 5-sigma check
# with probability below 1e-6 per comparison.
SIGMAS = 5.0


def listening_spec(inputs: list[dict], duration: float, seeds: list[int]) -> object:
    """The given inputs onto one silent neuron through zero weights."""
    projections = [
        {
            "name": f"to_{inp['name']}",
            "source": inp["name"],
            "target": "ear",
            "weight": 0.0,
            "w_max": 1.0,
        }
        for inp in inputs
    ]
    return parse_spec(
        {
            "name": "listening",
            "inputs": inputs,
            "populations": [
                {
                    "name": "ear",
                    "size": 1,
                    "tau_m": 0.01,
                    "v_rest": -0.07,
                    "v_threshold": -0.05,
                    "v_reset": -0.06,
                }
            ],
            "projections": projections,
            "simulation": {
                "dt": DT,
                "duration": duration,
                "seeds": seeds,
                "record_interval": duration,
            },
        }
    )


def draw_counts(rates: list[float], steps: int, seeds: list[int]) -> np.ndarray:
    """Spike counts (B, N) of a Poisson source over ``steps`` steps, in two chunks."""
    spec = PoissonInput(name="probe", kind="poisson", size=len(rates), rate=rates)
    source = PoissonSource(spec, seeds, DT, torch.device("cpu"))
    counts = np.zeros((len(seeds), len(rates)), dtype=np.int64)
    for start, stop in [(0, steps // 3), (steps // 3, steps)]:
        events = source.chunk(start, stop)
        assert torch.all((events.step >= start) & (events.step < stop))
        np.add.at(counts, (events.batch.numpy(), events.neuron.numpy()), 1)
    return counts


def test_poisson_mean_rate_within_tolerance() -> None:
    rate, neurons, duration = 25.0, 4000, 1.0
    result = get_backend("torch").run(
        listening_spec(
            [{"name": "noise", "kind": "poisson", "size": neurons, "rate": rate}],
            duration,
            [0, 1],
        )
    )
    measured = result.input_rates_measured["noise"]
    assert measured.shape == (2, neurons)
    standard_error = math.sqrt(rate / (neurons * duration))
    for row in measured:
        assert abs(row.mean() - rate) < SIGMAS * standard_error


def test_poisson_per_neuron_rates() -> None:
    rates = [2.0, 40.0, 0.0, 150.0] * 500
    steps = 10_000
    counts = draw_counts(rates, steps, seeds=[4])[0]
    duration = steps * DT
    for rate in set(rates):
        chosen = counts[np.asarray(rates) == rate]
        standard_error = math.sqrt(max(rate, 1e-12) / (chosen.size * duration))
        assert abs(chosen.mean() / duration - rate) < SIGMAS * standard_error + 1e-12


def test_poisson_count_variance_is_binomial() -> None:
    # One Bernoulli(p) per step gives var/mean = 1 - p; the sample variance of
    # n counts has relative standard error about sqrt(2 / n).
    rate, neurons, steps = 30.0, 3000, 10_000
    counts = draw_counts([rate] * neurons, steps, seeds=[9])[0]
    fano = counts.var(ddof=1) / counts.mean()
    expected = 1.0 - rate * DT
    assert abs(fano - expected) < SIGMAS * math.sqrt(2.0 / neurons) * expected


def test_poisson_one_spike_per_step_at_full_rate() -> None:
    counts = draw_counts([1.0 / DT], 500, seeds=[0])
    assert counts.tolist() == [[500]]


def test_poisson_rate_above_one_per_step_rejected() -> None:
    spec = PoissonInput(name="fast", kind="poisson", size=2, rate=2.0 / DT)
    with pytest.raises(ValueError, match="above 1 / dt"):
        PoissonSource(spec, [0], DT, torch.device("cpu"))


def test_poisson_same_seed_same_spikes() -> None:
    first = draw_counts([20.0] * 50, 5000, seeds=[7, 8])
    again = draw_counts([20.0] * 50, 5000, seeds=[7, 8])
    alone = draw_counts([20.0] * 50, 5000, seeds=[8])
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first[1:], alone)
    assert not np.array_equal(first[0], first[1])


def test_prescribed_spikes_repeat_with_period() -> None:
    spec = SpikeTimesInput(
        name="pattern",
        kind="spike_times",
        times=[[0.001, 0.0042], [], [0.009]],
        period=0.01,
    )
    source = PrescribedSource(spec, [0, 1], DT, torch.device("cpu"))
    events = source.chunk(0, 300)
    row0 = events.batch == 0
    steps = events.step[row0].numpy()
    neurons = events.neuron[row0].numpy()
    np.testing.assert_array_equal(steps[neurons == 0], [10, 42, 110, 142, 210, 242])
    np.testing.assert_array_equal(steps[neurons == 2], [90, 190, 290])
    assert not np.any(neurons == 1)
    np.testing.assert_array_equal(events.step[~row0].numpy(), steps)


def test_prescribed_two_spikes_in_one_step_rejected() -> None:
    spec = SpikeTimesInput(
        name="double", kind="spike_times", times=[[0.00100, 0.00103]]
    )
    source = PrescribedSource(spec, [0], DT, torch.device("cpu"))
    with pytest.raises(ValueError, match="two spikes in step 10"):
        source.chunk(0, 100)


def test_measured_rate_of_prescribed_input() -> None:
    inputs = [
        {"name": "clock", "kind": "spike_times", "times": [[0.0, 0.05]], "period": 0.1}
    ]
    result = get_backend("torch").run(listening_spec(inputs, 1.0, [0]))
    np.testing.assert_allclose(result.input_rates_measured["clock"], [[20.0]])
