"""The simulator speed benchmark: event counting, agreement and option checks.

No test here asserts a timing; the benchmark itself reports those.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from biosynapse_verify.spec import parse_spec
from biosynapse_verify.spec.structure import build_structure

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPT = BENCHMARKS / "song2000_brian2.py"
sys.path.insert(0, str(BENCHMARKS))

import song2000_brian2
import speed_runs


def counting_spec() -> object:
    """An input and two populations, with all-to-all, sparse and recurrent projections."""

    def lif(name: str, size: int) -> dict:
        return {
            "name": name,
            "size": size,
            "tau_m": 0.01,
            "v_rest": -0.07,
            "v_threshold": -0.05,
            "v_reset": -0.06,
        }

    stdp = {"rule": "additive", "a_plus": 0.001, "a_minus": 0.001}
    return parse_spec(
        {
            "name": "counting",
            "inputs": [{"name": "noise", "kind": "poisson", "size": 7, "rate": 10.0}],
            "populations": [lif("a", 3), lif("b", 4)],
            "projections": [
                {
                    "name": "noise_a",
                    "source": "noise",
                    "target": "a",
                    "weight": 0.01,
                    "w_max": 0.02,
                    "plasticity": stdp,
                },
                {
                    "name": "noise_b",
                    "source": "noise",
                    "target": "b",
                    "connectivity": "sparse",
                    "probability": 0.5,
                    "weight": 0.01,
                    "w_max": 0.02,
                },
                {
                    "name": "a_b",
                    "source": "a",
                    "target": "b",
                    "connectivity": "sparse",
                    "probability": 0.6,
                    "weight": 0.01,
                    "w_max": 0.02,
                    "plasticity": stdp,
                },
            ],
            "simulation": {"duration": 0.1},
        }
    )


def brute_force_events(structure: object, counts: dict, learning: bool) -> dict:
    """Count synapse by synapse what synaptic_events counts by degree."""
    totals = {"transmissions": 0.0, "depressions": 0.0, "potentiations": 0.0}
    for proj in structure.projections.values():
        pre_counts = counts[proj.spec.source].sum(axis=0)
        post_counts = counts[proj.spec.target].sum(axis=0)
        for pre, post in zip(proj.pre, proj.post, strict=True):
            totals["transmissions"] += pre_counts[pre]
            if learning and proj.plastic:
                totals["depressions"] += pre_counts[pre]
                totals["potentiations"] += post_counts[post]
    totals["total"] = sum(totals.values())
    return totals


@pytest.mark.parametrize("learning", [True, False])
def test_synaptic_events_match_synapse_count(learning: bool) -> None:
    structure = build_structure(counting_spec())
    rng = np.random.default_rng(4)
    counts = {
        "noise": rng.integers(0, 9, size=(2, 7)),
        "a": rng.integers(0, 9, size=(2, 3)),
        "b": rng.integers(0, 9, size=(2, 4)),
    }
    expected = brute_force_events(structure, counts, learning)
    measured = speed_runs.synaptic_events(structure, counts, learning)
    assert measured == pytest.approx(expected)
    assert measured["transmissions"] > 0


def test_synaptic_events_of_song_trial() -> None:
    from biosynapse_verify.spec import load_spec

    structure = build_structure(load_spec(speed_runs.SONG_SPEC))
    counts = {"inputs": np.full(1000, 1500.0), "post": np.array([2600.0])}
    events = speed_runs.synaptic_events(structure, counts)
    assert events["transmissions"] == 1.5e6
    assert events["depressions"] == 1.5e6
    assert events["potentiations"] == 2.6e6
    assert events["total"] == 5.6e6


def test_weight_fractions_count_both_ends() -> None:
    weights = np.array([0.0, 0.0005, 0.001, 0.005, 0.0091, 0.01])
    near_0, near_max = speed_runs.weight_fractions(weights, 0.01)
    assert near_0 == pytest.approx(3 / 6)
    assert near_max == pytest.approx(2 / 6)


def torch_row(rates: list[float], near_0: list[float], near_max: list[float]) -> dict:
    return {
        "rate_Hz_per_seed": rates,
        "near_0_per_seed": near_0,
        "near_max_per_seed": near_max,
    }


def test_agreement_within_tolerance() -> None:
    torch_rows = [torch_row([25.0, 27.0, 26.0], [0.25, 0.24, 0.26], [0.2, 0.21, 0.2])]
    brian_rows = [{"rate_Hz": 26.5, "near_0": 0.26, "near_max": 0.2}]
    result = song2000_brian2.agreement(torch_rows, brian_rows)
    assert all(entry["agrees"] for entry in result.values())
    assert result["rate_Hz"]["torch_seeds"] == 3


def test_agreement_flags_rate_difference() -> None:
    torch_rows = [torch_row([40.0, 41.0], [0.25, 0.24], [0.2, 0.21])]
    brian_rows = [{"rate_Hz": 26.0, "near_0": 0.25, "near_max": 0.2}]
    result = song2000_brian2.agreement(torch_rows, brian_rows)
    assert not result["rate_Hz"]["agrees"]
    assert result["near_0"]["agrees"]


def test_torch_child_reports_events_and_memory() -> None:
    job = {
        "kind": "torch",
        "spec": str(speed_runs.SONG_SPEC),
        "duration": 0.2,
        "seed": 3,
        "batch": 2,
        "device": "cpu",
        "engine": "auto",
    }
    row = song2000_brian2.run_child(job)
    assert row["simulator"] == "torch-cpu-batch2"
    assert row["trials"] == 2
    assert len(row["rate_Hz_per_seed"]) == 2
    parts = row["events_transmissions"] + row["events_depressions"]
    assert row["events_total"] == pytest.approx(parts + row["events_potentiations"])
    assert row["events_transmissions"] == row["events_depressions"]
    assert row["peak_rss_MiB"] > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_option_without_gpu_exits_2() -> None:
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cuda", "--targets", "none"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 2
    assert "CUDA is not available" in completed.stderr
    assert completed.stdout == ""


def test_nonpositive_duration_rejected() -> None:
    with pytest.raises(SystemExit) as caught:
        song2000_brian2.parse_args(["--duration", "0"])
    assert caught.value.code == 2


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("brian2") is None, reason="needs Brian2")
def test_brian2_model_matches_torch_on_identical_inputs() -> None:
    # Same input spikes, initial weights and v: the models coincide up to
    # rounding, so every spike falls on the same step and weights differ by
    # rounding only (about 1e-17 here).
    check = speed_runs.run_model_check(1.0, 0)
    assert check["torch_spikes"] > 20
    assert check["brian2_spikes"] == check["torch_spikes"]
    assert check["leading_spikes_on_same_step"] == check["torch_spikes"]
    assert check["max_weight_difference"] < 1e-12
