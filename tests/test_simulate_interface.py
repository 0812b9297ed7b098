"""The backend interface: lookup, result layout, overrides, progress and files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from biosynapse_verify.simulate import (
    Backend,
    SimulationResult,
    available_backends,
    get_backend,
    prepare_run,
)
from biosynapse_verify.spec import load_spec, parse_spec
from biosynapse_verify.spec.structure import build_structure, initial_weights

SONG = Path(__file__).resolve().parents[1] / "networks" / "song2000.yaml"


def small_spec(duration: float = 0.25, record_interval: float = 0.1) -> object:
    return parse_spec(
        {
            "name": "small",
            "inputs": [{"name": "noise", "kind": "poisson", "size": 30, "rate": 40.0}],
            "populations": [
                {
                    "name": "cells",
                    "size": 2,
                    "tau_m": 0.01,
                    "v_rest": -0.07,
                    "v_threshold": -0.054,
                    "v_reset": -0.06,
                }
            ],
            "projections": [
                {
                    "name": "learned",
                    "source": "noise",
                    "target": "cells",
                    "weight": {"distribution": "uniform", "low": 0.02, "high": 0.1},
                    "w_max": 0.1,
                    "plasticity": {
                        "rule": "multiplicative",
                        "a_plus": 0.002,
                        "a_minus": 0.002,
                    },
                },
                {
                    "name": "fixed",
                    "source": "noise",
                    "target": "cells",
                    "connectivity": "sparse",
                    "probability": 0.3,
                    "weight": 0.03,
                    "w_max": 0.05,
                },
            ],
            "simulation": {
                "dt": 1e-4,
                "duration": duration,
                "seeds": [11, 12, 13],
                "record_interval": record_interval,
            },
        }
    )


@pytest.fixture(scope="module")
def result() -> SimulationResult:
    return get_backend("torch").run(small_spec())


def test_get_backend_torch_is_backend() -> None:
    backend = get_backend("torch")
    assert isinstance(backend, Backend)
    assert backend.name == "torch"


def test_get_backend_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown backend 'brian'"):
        get_backend("brian")
    assert "torch" in available_backends()


def test_unknown_engine_rejected() -> None:
    with pytest.raises(ValueError, match="unknown engine"):
        get_backend("torch", engine="fast")


def test_result_shapes(result: SimulationResult) -> None:
    structure = build_structure(small_spec())
    np.testing.assert_allclose(result.record_times, [0.0, 0.1, 0.2, 0.25])
    assert result.seeds == [11, 12, 13]
    for name, proj in structure.projections.items():
        assert result.weights[name].shape == (3, 4, proj.size)
        assert result.weights[name].dtype == np.float64
        assert result.final_weights(name).shape == (3, proj.size)
    assert result.spike_counts["cells"].shape == (3, 2)
    assert result.window_rates["cells"].shape == (3, 3, 2)
    assert result.input_rates_measured["noise"].shape == (3, 30)
    assert len(result.spike_times["cells"]) == 3
    assert len(result.spike_times["cells"][0]) == 2
    assert result.wall_time > 0


def test_counts_rates_and_times_agree(result: SimulationResult) -> None:
    lengths = np.diff(result.record_times)
    windows = (result.window_rates["cells"] * lengths[None, :, None]).round()
    np.testing.assert_array_equal(windows.sum(axis=1), result.spike_counts["cells"])
    counts = [[times.size for times in row] for row in result.spike_times["cells"]]
    np.testing.assert_array_equal(counts, result.spike_counts["cells"])
    np.testing.assert_allclose(
        result.mean_rates("cells"), result.spike_counts["cells"] / result.duration
    )
    np.testing.assert_allclose(
        result.mean_rates("cells", last_fraction=0.1),
        result.window_rates["cells"][:, -1],
    )


def test_initial_weights_come_from_structure(result: SimulationResult) -> None:
    structure = build_structure(small_spec())
    for row, seed in enumerate(result.seeds):
        for name, proj in structure.projections.items():
            np.testing.assert_array_equal(
                result.weights[name][row, 0], initial_weights(proj, seed)
            )


def test_static_projection_unchanged(result: SimulationResult) -> None:
    fixed = result.weights["fixed"]
    assert np.all(fixed == fixed[:, :1])
    assert np.any(result.weights["learned"][:, -1] != result.weights["learned"][:, 0])


def test_learning_off_keeps_weights() -> None:
    frozen = get_backend("torch").run(small_spec(), learning=False)
    learned = frozen.weights["learned"]
    assert np.all(learned == learned[:, :1])


def test_initial_weights_override() -> None:
    override = np.full((2, 60), 0.05)
    run = get_backend("torch").run(
        small_spec(), seeds=[1, 2], duration=0.05, initial_weights={"learned": override}
    )
    np.testing.assert_array_equal(run.weights["learned"][:, 0], override)
    np.testing.assert_allclose(run.record_times, [0.0, 0.05])


@pytest.mark.parametrize(
    "weights, message",
    [
        ({"learned": np.zeros((3, 7))}, r"shape \(3, 7\), expected \(3, 60\)"),
        ({"learned": np.full((3, 60), 0.2)}, "outside"),
        ({"missing": np.zeros((3, 60))}, "unknown projection 'missing'"),
    ],
)
def test_invalid_initial_weights(weights: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        prepare_run(small_spec(), initial_weights=weights)


def test_invalid_duration() -> None:
    with pytest.raises(ValueError, match="shorter than one step"):
        prepare_run(small_spec(), duration=1e-6)


def test_progress_reaches_one() -> None:
    fractions: list[float] = []
    get_backend("torch").run(
        small_spec(duration=0.5), seeds=[0], progress=fractions.append
    )
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    assert len(fractions) >= 2


def test_save_and_load_round_trip(result: SimulationResult, tmp_path: Path) -> None:
    path = tmp_path / "run.npz"
    result.save(path)
    loaded = SimulationResult.load(path)
    assert loaded.backend == result.backend
    assert loaded.seeds == result.seeds
    assert loaded.dt == result.dt
    for name in result.weights:
        np.testing.assert_array_equal(loaded.weights[name], result.weights[name])
    np.testing.assert_array_equal(
        loaded.window_rates["cells"], result.window_rates["cells"]
    )
    for row in range(3):
        for neuron in range(2):
            np.testing.assert_array_equal(
                loaded.spike_times["cells"][row][neuron],
                result.spike_times["cells"][row][neuron],
            )


def test_song_network_runs_briefly() -> None:
    spec = load_spec(SONG)
    run = get_backend("torch").run(spec, seeds=[0, 1], duration=0.3)
    assert run.weights["feedforward"].shape == (2, 2, 1000)
    assert 0 < run.mean_rates("post").mean() < 200
    np.testing.assert_allclose(
        run.input_rates_measured["inputs"].mean(), 15.0, atol=1.0
    )
