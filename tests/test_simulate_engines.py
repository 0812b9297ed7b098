"""Every engine matches the dense reference engine, also when a run switches engines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biosynapse_verify.simulate import get_backend, torch_backend, torch_event
from biosynapse_verify.simulate.torch_backend import EngineSchedule
from biosynapse_verify.spec import parse_spec

DT = 1e-4
# The engines group the same sums differently, so weights differ by rounding:
# a few ulp per update over a few hundred updates.
WEIGHT_RTOL = 1e-9
WEIGHT_ATOL = 1e-12


def mixed_network(duration: float = 0.25, seeds: list[int] | None = None) -> object:
    """Two inputs, two populations, recurrence, sparse synapses and all rules."""

    def stdp(rule: str, **extra: float) -> dict:
        return {
            "rule": rule,
            "a_plus": 0.004,
            "a_minus": 0.0045,
            "tau_plus": 0.017,
            "tau_minus": 0.034,
            "eta": 1.0,
            **extra,
        }

    def lif(name: str, size: int, **extra: object) -> dict:
        return {
            "name": name,
            "size": size,
            "tau_m": 0.012,
            "v_rest": -0.07,
            "v_threshold": -0.054,
            "v_reset": -0.062,
            **extra,
        }

    return parse_spec(
        {
            "name": "mixed",
            "inputs": [
                {"name": "left", "kind": "poisson", "size": 40, "rate": 25.0},
                {
                    "name": "right",
                    "kind": "poisson",
                    "size": 12,
                    "rate": [5.0, 60.0] * 6,
                },
            ],
            "populations": [
                lif("exc", 6, refractory=0.0015, synapse="conductance"),
                lif(
                    "inh",
                    3,
                    synapse="current",
                    tau_syn_exc=0.003,
                    tau_syn_inh=0.006,
                    i_bias=0.01,
                ),
            ],
            "projections": [
                {
                    "name": "left_exc",
                    "source": "left",
                    "target": "exc",
                    "weight": {"distribution": "uniform", "low": 0.05, "high": 0.2},
                    "w_max": 0.2,
                    "plasticity": stdp("additive"),
                },
                {
                    "name": "right_exc",
                    "source": "right",
                    "target": "exc",
                    "receptor": "inhibitory",
                    "connectivity": "sparse",
                    "probability": 0.5,
                    "weight": 0.05,
                    "w_max": 0.1,
                },
                {
                    "name": "left_inh",
                    "source": "left",
                    "target": "inh",
                    "connectivity": "sparse",
                    "probability": 0.4,
                    "weight": {"distribution": "uniform", "low": 0.05, "high": 0.15},
                    "w_min": 0.01,
                    "w_max": 0.2,
                    "plasticity": stdp("multiplicative"),
                },
                {
                    "name": "right_inh",
                    "source": "right",
                    "target": "inh",
                    "weight": {"distribution": "uniform", "low": 0.02, "high": 0.08},
                    "w_max": 0.1,
                    "plasticity": stdp("power_law", mu=0.6),
                },
                {
                    "name": "exc_inh",
                    "source": "exc",
                    "target": "inh",
                    "weight": 0.1,
                    "w_max": 0.3,
                    "plasticity": stdp("power_law", mu=0.4),
                },
                {
                    "name": "inh_exc",
                    "source": "inh",
                    "target": "exc",
                    "receptor": "inhibitory",
                    "weight": 0.2,
                    "w_max": 0.5,
                },
                {
                    "name": "exc_exc",
                    "source": "exc",
                    "target": "exc",
                    "connectivity": "sparse",
                    "probability": 0.5,
                    "weight": 0.02,
                    "w_max": 0.04,
                    "plasticity": stdp("additive"),
                },
            ],
            "simulation": {
                "dt": DT,
                "duration": duration,
                "seeds": seeds or [3, 8],
                "record_interval": 0.05,
            },
        }
    )


def assert_same_run(first: object, second: object) -> None:
    for name in first.spike_times:
        for row, (neurons_a, neurons_b) in enumerate(
            zip(first.spike_times[name], second.spike_times[name], strict=True)
        ):
            for neuron, (times_a, times_b) in enumerate(
                zip(neurons_a, neurons_b, strict=True)
            ):
                np.testing.assert_array_equal(
                    times_a, times_b, err_msg=f"{name} row {row} neuron {neuron}"
                )
    for name in first.weights:
        np.testing.assert_allclose(
            first.weights[name],
            second.weights[name],
            rtol=WEIGHT_RTOL,
            atol=WEIGHT_ATOL,
            err_msg=name,
        )


@pytest.fixture(scope="module")
def reference_run() -> object:
    return get_backend("torch", engine="reference").run(mixed_network())


@pytest.fixture(scope="module")
def event_run() -> object:
    return get_backend("torch", engine="event").run(mixed_network())


def test_mixed_network_is_active(reference_run: object) -> None:
    assert reference_run.spike_counts["exc"].sum() > 50
    assert reference_run.spike_counts["inh"].sum() > 20
    for name in ("left_exc", "left_inh", "right_inh", "exc_inh", "exc_exc"):
        change = np.abs(
            reference_run.weights[name][:, -1] - reference_run.weights[name][:, 0]
        )
        assert change.max() > 0, name


def test_event_engine_matches_reference(
    event_run: object, reference_run: object
) -> None:
    assert_same_run(event_run, reference_run)


@pytest.mark.parametrize("engine", ["clock", "auto"])
def test_engine_matches_reference(engine: str, reference_run: object) -> None:
    result = get_backend("torch", engine=engine).run(mixed_network())
    assert_same_run(result, reference_run)


def test_rank_by_rank_depression_matches_reference(
    reference_run: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With no room for a depression table, additive and multiplicative
    # projections take the rank-by-rank path that power-law ones always take.
    monkeypatch.setattr(torch_event, "_MAX_TABLE_ELEMENTS", 0)
    result = get_backend("torch", engine="event").run(mixed_network())
    assert_same_run(result, reference_run)


class AlternatingSchedule(EngineSchedule):
    """Switch between the event and clock engines every few hundred steps."""

    LENGTHS = (137, 301, 64, 410)

    def __init__(self, engine: str) -> None:
        super().__init__("event")
        self.segments = 0

    def next_segment(self) -> tuple[str, int]:
        self.current = ("event", "clock")[self.segments % 2]
        return self.current, self.LENGTHS[self.segments % len(self.LENGTHS)]

    def observe(self, busy_steps: int, steps: int) -> None:
        super().observe(busy_steps, steps)
        self.segments += 1


def test_switching_engines_matches_reference(
    reference_run: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch_backend, "EngineSchedule", AlternatingSchedule)
    backend = get_backend("torch", engine="auto")
    result = backend.run(mixed_network())
    assert backend.engine_steps["event"] > 0
    assert backend.engine_steps["clock"] > 0
    assert_same_run(result, reference_run)


def test_batch_matches_single_seeds(event_run: object) -> None:
    for row, seed in enumerate([3, 8]):
        alone = get_backend("torch", engine="event").run(mixed_network(), seeds=[seed])
        for name in event_run.weights:
            np.testing.assert_allclose(
                event_run.weights[name][row : row + 1],
                alone.weights[name],
                rtol=WEIGHT_RTOL,
                atol=WEIGHT_ATOL,
            )
        for name in event_run.spike_times:
            for times_batch, times_alone in zip(
                event_run.spike_times[name][row],
                alone.spike_times[name][0],
                strict=True,
            ):
                np.testing.assert_array_equal(times_batch, times_alone)


def test_seeds_differ(event_run: object) -> None:
    assert not np.array_equal(
        event_run.spike_counts["exc"][0], event_run.spike_counts["exc"][1]
    )


def test_float32_stays_close_to_float64(event_run: object) -> None:
    single = get_backend("torch", dtype=torch.float32).run(mixed_network())
    for name in single.weights:
        assert single.weights[name].min() >= 0.0
        assert np.all(np.isfinite(single.weights[name]))
    rate_64 = event_run.spike_counts["exc"].sum()
    rate_32 = single.spike_counts["exc"].sum()
    # float32 rounding changes individual spikes, so compare totals loosely.
    assert abs(rate_32 - rate_64) <= 0.2 * rate_64


def test_record_interval_not_multiple_of_window() -> None:
    spec = mixed_network(duration=0.0333)
    reference = get_backend("torch", engine="reference").run(spec)
    for engine in ("event", "clock"):
        result = get_backend("torch", engine=engine).run(spec)
        np.testing.assert_allclose(result.record_times, [0.0, 0.0333])
        assert_same_run(result, reference)


def test_auto_uses_event_engine_for_sparse_spikes() -> None:
    backend = get_backend("torch")
    backend.run(mixed_network(duration=0.2), seeds=[3])
    probe = EngineSchedule.PROBE_STEPS
    assert backend.engine_steps == {"clock": probe, "event": 2000 - probe}


def test_auto_uses_clock_engine_for_busy_network() -> None:
    spec = busy_recurrent_network()
    backend = get_backend("torch")
    result = backend.run(spec)
    steps_with_spikes = np.unique(
        np.rint(np.concatenate(result.spike_times["cells"][0]) / DT)
    )
    assert steps_with_spikes.size > 0.5 * 600
    assert backend.engine_steps == {"clock": 600}


def busy_recurrent_network() -> object:
    """200 neurons with a strong bias and sparse recurrence: a spike nearly every step."""
    return parse_spec(
        {
            "name": "busy",
            "inputs": [{"name": "noise", "kind": "poisson", "size": 20, "rate": 50.0}],
            "populations": [
                {
                    "name": "cells",
                    "size": 200,
                    "tau_m": 0.01,
                    "v_rest": -0.07,
                    "v_threshold": -0.054,
                    "v_reset": -0.06,
                    "refractory": 0.002,
                    "i_bias": 0.02,
                    "synapse": "current",
                }
            ],
            "projections": [
                {
                    "name": "noise_cells",
                    "source": "noise",
                    "target": "cells",
                    "connectivity": "sparse",
                    "probability": 0.2,
                    "weight": 0.05,
                    "w_max": 0.1,
                    "plasticity": {
                        "rule": "multiplicative",
                        "a_plus": 0.001,
                        "a_minus": 0.001,
                    },
                },
                {
                    "name": "recurrent",
                    "source": "cells",
                    "target": "cells",
                    "connectivity": "sparse",
                    "probability": 0.05,
                    "weight": 0.01,
                    "w_max": 0.02,
                },
            ],
            "simulation": {
                "dt": DT,
                "duration": 0.06,
                "seeds": [1],
                "record_interval": 0.02,
            },
        }
    )
