"""Backend comparison: summaries, two-sample tests, the verify option and the report table.

Runs here are synthetic SimulationResults or short torch runs; nothing needs
Lava (a stand-in backend named "lava" plays its part).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from biosynapse_verify.commands.verify import comparison_backend
from biosynapse_verify.errors import BadInputError
from biosynapse_verify.report import CERTIFICATE_FORMAT, render_html
from biosynapse_verify.simulate import base
from biosynapse_verify.simulate.base import SimulationResult
from biosynapse_verify.simulate.compare import (
    compare_runs,
    hedges_g,
    run_backend_comparison,
)
from biosynapse_verify.simulate.torch_backend import TorchBackend
from biosynapse_verify.spec import parse_spec

N_INPUTS = 50


def tiny_spec(synapse: str = "current", duration: str = "0.5 s"):
    return parse_spec({
        "name": "tiny",
        "inputs": [{"name": "inp", "kind": "poisson", "size": N_INPUTS, "rate": "20 Hz"}],
        "populations": [{
            "name": "post", "size": 1, "tau_m": "10 ms", "v_rest": "-74 mV",
            "v_threshold": "-54 mV", "v_reset": "-60 mV", "synapse": synapse,
        }],
        "projections": [{
            "name": "ff", "source": "inp", "target": "post",
            "weight": {"distribution": "uniform", "low": 0.0, "high": 0.3}, "w_max": 0.3,
            "plasticity": {"rule": "multiplicative", "a_plus": 4e-4, "a_minus": 8e-4},
        }],
        "simulation": {"dt": "0.1 ms", "duration": duration, "seeds": [0, 1, 2, 3],
                       "record_interval": "0.1 s"},
    })


def synthetic_result(seeds, rate, weight_mean, backend="torch", spread=0.02, seed=0,
                     seed_spread=0.0):
    """A SimulationResult with given per-seed rates and normal final weights.

    ``seed_spread`` is the standard deviation of a per-seed offset shared by
    all synapses of that seed, as a shared postsynaptic neuron causes.
    """
    rng = np.random.default_rng(seed)
    batch = len(seeds)
    rates = rate + rng.normal(0.0, 0.5, size=(batch, 1, 1))
    offsets = rng.normal(0.0, seed_spread, size=(batch, 1))
    final = np.clip(
        rng.normal(weight_mean, spread, size=(batch, N_INPUTS)) + offsets, 0.0, 0.3
    )
    weights = np.stack([np.full_like(final, 0.15), final], axis=1)
    return SimulationResult(
        backend=backend, seeds=list(seeds), dt=1e-4, duration=1.0,
        record_times=np.array([0.0, 1.0]), weights={"ff": weights},
        spike_counts={"post": rates[:, 0, :]}, window_rates={"post": rates},
        input_rates_measured={"inp": np.full((batch, N_INPUTS), 20.0)}, wall_time=1.5,
    )


def rows_for(comparison, test):
    return [row for row in comparison["tests"] if row["test"].startswith(test)]


def test_hedges_g_known_value():
    # Difference of means -1, pooled variance 1, correction 1 - 3/15.
    assert hedges_g([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]) == pytest.approx(-0.8)
    assert hedges_g([1.0, 1.0], [1.0, 1.0]) == 0.0
    assert np.isnan(hedges_g([1.0], [1.0, 2.0]))


def test_identical_runs_agree():
    spec = tiny_spec()
    run = synthetic_result(range(6), 10.0, 0.15)
    comparison = compare_runs(spec, {"a": run, "b": run})
    assert comparison["agree"] is True
    assert all(row["p_value"] == pytest.approx(1.0) for row in comparison["tests"])


def test_shifted_weights_disagree():
    spec = tiny_spec()
    runs = {
        "torch": synthetic_result(range(6), 10.0, 0.15, seed=1),
        "lava": synthetic_result(range(10, 16), 10.0, 0.18, backend="lava", seed=2),
    }
    comparison = compare_runs(spec, runs)
    ks = rows_for(comparison, "Kolmogorov-Smirnov")[0]
    assert ks["agree"] is False
    assert ks["effect"] > 0.5
    per_seed = [r for r in rows_for(comparison, "Welch t") if "weight" in r["quantity"]][0]
    assert per_seed["agree"] is False
    assert comparison["agree"] is False


def test_seed_permutation_respects_shared_neurons():
    # Same model, per-seed offsets three times the synapse spread: the
    # textbook KS p-value rejects, the seed permutation does not.
    spec = tiny_spec()
    runs = {
        "a": synthetic_result(range(8), 10.0, 0.15, seed=11, seed_spread=0.06),
        "b": synthetic_result(range(20, 28), 10.0, 0.15, seed=111, seed_spread=0.06),
    }
    ks = rows_for(compare_runs(spec, runs), "Kolmogorov-Smirnov")[0]
    assert ks["p_value_synapses_independent"] < 1e-6
    assert ks["p_value"] > 0.05
    assert ks["agree"] is True


def test_paired_permutation_resolution():
    # Four shared seeds allow 16 swap patterns, so p >= 2 / 16.
    spec = tiny_spec()
    runs = {"a": synthetic_result(range(4), 10.0, 0.15, seed=13),
            "b": synthetic_result(range(4), 10.0, 0.25, seed=14)}
    ks = rows_for(compare_runs(spec, runs), "Kolmogorov-Smirnov (paired")[0]
    assert ks["effect"] > 0.9
    assert ks["p_value"] == pytest.approx(2 / 16)


def test_rate_difference_disagrees_with_effect_size():
    spec = tiny_spec()
    runs = {
        "torch": synthetic_result(range(8), 10.0, 0.15, seed=3),
        "lava": synthetic_result(range(20, 28), 14.0, 0.15, seed=4),
    }
    welch = rows_for(compare_runs(spec, runs), "Welch t")[0]
    assert welch["quantity"].startswith("post rate")
    assert welch["agree"] is False
    assert welch["effect"] > 3.0  # 4 Hz apart with a 0.5 Hz spread


def test_paired_test_only_with_same_seeds():
    spec = tiny_spec()
    same = {"a": synthetic_result(range(4), 10.0, 0.15, seed=5),
            "b": synthetic_result(range(4), 10.0, 0.15, seed=6)}
    other = {"a": same["a"], "b": synthetic_result(range(4, 8), 10.0, 0.15, seed=6)}
    assert rows_for(compare_runs(spec, same), "paired t (same seeds)")
    assert not rows_for(compare_runs(spec, other), "paired t (same seeds)")


def test_unknown_run_in_pair_is_rejected():
    spec = tiny_spec()
    run = synthetic_result(range(4), 10.0, 0.15)
    with pytest.raises(KeyError, match="'c'"):
        compare_runs(spec, {"a": run, "b": run}, pairs=[("c", "a")])


class StandInLava:
    """Runs torch under the name "lava", with a mapping report like Lava's."""

    name = "lava"
    driving_force_potential = None

    def __init__(self, **options):
        self.options = options
        self.last_mapping = None

    def run(self, spec, **kwargs):
        result = TorchBackend().run(spec, **kwargs)
        result.backend = "lava:floating_pt"

        class Mapping:
            def report(self):
                return {
                    "run_config": "floating_pt", "scaling": "preserve",
                    "parameters": [
                        {"name": "ff.a_plus", "requested": 4e-4, "realised": 4e-4,
                         "relative_change": 0.0, "note": "exact"},
                        {"name": "ff.x1_capacity", "requested": float("inf"),
                         "realised": 7.9, "relative_change": float("nan"), "note": ""},
                    ],
                    "approximations": ["conductances frozen"], "warnings": [],
                }

        self.last_mapping = Mapping()
        return result


@pytest.fixture
def stand_in_lava(monkeypatch):
    real = base.get_backend

    def get_backend(name, **options):
        return StandInLava(**options) if name == "lava" else real(name, **options)

    monkeypatch.setattr(base, "get_backend", get_backend)


@pytest.mark.parametrize("synapse", ["current", "conductance"])
def test_backend_comparison_runs_and_labels(synapse, stand_in_lava):
    spec = tiny_spec(synapse)
    torch = TorchBackend()
    primary = torch.run(spec, seeds=[0, 1, 2], duration=0.3)
    comparison = run_backend_comparison(
        spec, torch, primary, "lava", {"run_config": "floating_pt"},
        seeds=[0, 1, 2], duration=0.3,
    )
    labels = [run["label"] for run in comparison["runs"]]
    expected = ["torch", "lava:floating_pt"]
    if synapse == "conductance":
        expected.append("torch (current-based equivalent)")
    assert labels == expected
    compared = {row["compared"] for row in comparison["tests"]}
    assert compared == {f"lava:floating_pt vs {label}" for label in expected if label != "lava:floating_pt"}
    capacity = comparison["lava_mapping"]["parameters"][1]
    assert capacity["requested"] is None  # infinity is not JSON
    assert capacity["relative_change"] is None
    json.dumps(comparison, allow_nan=False)
    assert any("same seeds" in note for note in comparison["notes"])


def test_comparison_with_itself_is_rejected():
    spec = tiny_spec()
    torch = TorchBackend()
    result = synthetic_result([0, 1], 10.0, 0.15)
    with pytest.raises(ValueError, match="must differ"):
        run_backend_comparison(spec, torch, result, "torch")


def arguments(backend, compare):
    return argparse.Namespace(backend=backend, compare_backend=compare)


def test_compare_option_defaults():
    assert comparison_backend(arguments("lava", "auto")) == "torch"
    assert comparison_backend(arguments("torch", "auto")) is None
    assert comparison_backend(arguments("lava", "none")) is None
    assert comparison_backend(arguments("torch", "lava")) == "lava"
    with pytest.raises(BadInputError, match="--compare-backend torch"):
        comparison_backend(arguments("torch", "torch"))


def test_report_shows_backends_side_by_side():
    spec = tiny_spec()
    runs = {"torch": synthetic_result(range(4), 10.0, 0.15, seed=7),
            "lava:floating_pt": synthetic_result(range(4), 10.2, 0.15, "lava", seed=8)}
    comparison = compare_runs(spec, runs)
    comparison["models"] = {"torch": "the spec as written", "lava:floating_pt": "frozen"}
    comparison["notes"] = ["same seeds"]
    comparison["lava_mapping"] = {
        "run_config": "fixed_pt", "scaling": "stdploihi",
        "parameters": [{"name": "ff.a_minus/a_plus", "requested": 2.0, "realised": 1.0,
                        "relative_change": -0.5, "note": "rounded"}],
        "approximations": ["conductances frozen"], "warnings": ["ratio changes"],
    }
    certificate = {
        "format": dict(CERTIFICATE_FORMAT), "network": "tiny", "verdict": "inconclusive",
        "hashes": {"spec": "0" * 64},
        "versions": {"python": "3.11", "biosynapse-verify": "0.1.0"},
        "backend_comparison": comparison,
    }
    page = render_html(certificate, {})
    section = page[page.index('<section id="backends">'):]
    section = section[: section.index("</section>")]
    assert "<th class=\"num\">torch</th>" in section
    assert "<th class=\"num\">lava:floating_pt</th>" in section
    assert "post: mean rate (Hz)" in section
    assert "ff: fraction near w_max" in section
    assert "Kolmogorov-Smirnov" in section
    assert "Mann-Whitney U" in section
    assert "ff.a_minus/a_plus" in section
    assert "fixed_pt, scaling stdploihi" in section
    assert "Approximation: conductances frozen" in section
    assert "Other recorded fields" not in page


def test_verify_command_records_comparison(tmp_path, stand_in_lava, capsys):
    from biosynapse_verify.cli import main

    spec = tiny_spec(duration="1 s").model_dump(mode="json")
    spec["analysis"]["calibration"] = {"duration": 0.5, "points": 5}
    path = tmp_path / "tiny.yaml"
    path.write_text(json.dumps(spec))
    out = tmp_path / "report"
    main(["-q", "verify", str(path), "--out", str(out), "--seeds", "0", "1", "2",
          "--compare-backend", "lava"])
    printed = capsys.readouterr().out
    record = json.loads((out / "certificate.json").read_text())
    comparison = record["backend_comparison"]
    assert [run["label"] for run in comparison["runs"]] == ["torch", "lava:floating_pt"]
    assert comparison["runs"][0]["seeds"] == [0, 1, 2]
    assert "comparison" in record["timings"]
    assert "backend comparison:" in printed
    page = (out / "certificate.html").read_text()
    assert '<section id="backends">' in page
