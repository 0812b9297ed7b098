"""Network spec: units, validation messages, structure, shipped networks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from biosynapse_verify.spec import SpecError, load_spec, parse_quantity, parse_spec
from biosynapse_verify.spec.structure import build_structure, initial_weights

NETWORKS = Path(__file__).resolve().parents[1] / "networks"


def _valid() -> dict:
    return {
        "name": "tiny",
        "inputs": [{"name": "inp", "kind": "poisson", "size": 4, "rate": "15 Hz"}],
        "populations": [
            {
                "name": "post",
                "size": 2,
                "tau_m": "10 ms",
                "v_rest": "-70 mV",
                "v_threshold": "-54 mV",
                "v_reset": "-60 mV",
                "refractory": "2 ms",
            }
        ],
        "projections": [
            {
                "name": "ff",
                "source": "inp",
                "target": "post",
                "weight": 0.005,
                "w_max": 0.01,
                "plasticity": {"rule": "additive", "a_plus": 1e-4, "a_minus": 1.05e-4},
            }
        ],
        "simulation": {"dt": "0.1 ms", "duration": "1 s"},
    }


@pytest.mark.parametrize(
    "text,dimension,expected",
    [
        ("20 ms", "time", 0.02),
        ("15 Hz", "rate", 15.0),
        ("-70 mV", "voltage", -0.07),
        ("1.5e-3 s", "time", 1.5e-3),
        (0.25, "time", 0.25),
        ("2 min", "time", 120.0),
    ],
)
def test_parse_quantity_converts_to_si(text, dimension, expected) -> None:
    assert parse_quantity(text, dimension) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("text,dimension", [("20 Hz", "time"), ("fast", "time"), ("3 mV", "rate")])
def test_parse_quantity_rejects_wrong_unit(text, dimension) -> None:
    with pytest.raises(ValueError):
        parse_quantity(text, dimension)


def test_valid_spec_parses_to_si_units() -> None:
    spec = parse_spec(_valid())
    assert spec.populations[0].tau_m == pytest.approx(0.01)
    assert spec.populations[0].v_rest == pytest.approx(-0.07)
    assert spec.inputs[0].rate == pytest.approx(15.0)
    assert spec.simulation.steps == 10_000


@pytest.mark.parametrize(
    "mutate,fragment",
    [
        (lambda d: d["populations"][0].update(tau_m="-3 ms"), "populations.0.tau_m"),
        (lambda d: d["populations"][0].update(tau_m="10 Hz"), "populations.0.tau_m"),
        (lambda d: d["projections"][0].update(w_max=0.001), "exceeds w_max"),
        (lambda d: d["projections"][0].update(source="nowhere"), "projections.0.source"),
        (lambda d: d["projections"][0]["plasticity"].update(rule="hebbian"), "projections.0.plasticity.rule"),
        (lambda d: d["projections"][0]["plasticity"].update(mu=0.5), "mu applies only"),
        (lambda d: d["populations"][0].update(refractory="0.25 ms"), "whole number of steps"),
        (lambda d: d["populations"][0].update(v_reset="-50 mV"), "must exceed v_reset"),
        (lambda d: d["inputs"][0].update(kind="gaussian"), "inputs.0"),
        (lambda d: d["populations"][0].update(colour="red"), "populations.0.colour"),
        (lambda d: d.pop("simulation"), "simulation"),
        (lambda d: d["projections"][0].update(probability=0.5), "needs connectivity 'sparse'"),
    ],
)
def test_invalid_spec_message_names_field(mutate, fragment) -> None:
    data = _valid()
    mutate(data)
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_missing_file_is_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "absent.yaml")


def test_invalid_yaml_reports_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ninputs: [\n")
    with pytest.raises(SpecError, match="invalid YAML"):
        load_spec(path)


def test_sparse_structure_is_reproducible() -> None:
    data = _valid()
    data["projections"][0].update(connectivity="sparse", probability=0.5)
    first = build_structure(parse_spec(data)).projections["ff"]
    second = build_structure(parse_spec(data)).projections["ff"]
    np.testing.assert_array_equal(first.pre, second.pre)
    np.testing.assert_array_equal(first.post, second.post)
    assert 0 < first.size < 8


def test_all_to_all_structure_is_source_major() -> None:
    proj = build_structure(parse_spec(_valid())).projections["ff"]
    assert proj.pre.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert proj.post.tolist() == [0, 1, 0, 1, 0, 1, 0, 1]


def test_initial_weights_depend_on_seed_only() -> None:
    data = _valid()
    data["projections"][0]["weight"] = {"distribution": "uniform", "low": 0.0, "high": 0.01}
    proj = build_structure(parse_spec(data)).projections["ff"]
    np.testing.assert_array_equal(initial_weights(proj, 3), initial_weights(proj, 3))
    assert not np.array_equal(initial_weights(proj, 3), initial_weights(proj, 4))
    assert np.all((initial_weights(proj, 3) >= 0) & (initial_weights(proj, 3) <= 0.01))


@pytest.mark.parametrize("name", ["song2000", "vanrossum2000", "bio_synapse"])
def test_shipped_networks_load(name: str) -> None:
    spec = load_spec(NETWORKS / f"{name}.yaml")
    assert spec.name == name
    assert spec.source


def _sparse_spec(n_source: int, n_target: int, probability: float) -> dict:
    data = _valid()
    data["inputs"][0]["size"] = n_source
    data["populations"][0]["size"] = n_target
    data["projections"][0].update(connectivity="sparse", probability=probability)
    return data


def test_sparse_in_degree_matches_binomial() -> None:
    n_source, n_target, p = 2000, 500, 0.02
    proj = build_structure(parse_spec(_sparse_spec(n_source, n_target, p))).projections["ff"]
    in_degree = np.bincount(proj.post, minlength=n_target)
    mean, variance = n_source * p, n_source * p * (1 - p)
    # The mean in-degree over 500 targets has standard error sqrt(variance / 500).
    assert abs(in_degree.mean() - mean) < 5 * np.sqrt(variance / n_target)
    # The sample variance of 500 binomial counts is within 30 % of the truth
    # far beyond 5 standard errors (its relative standard error is about 6 %).
    assert abs(in_degree.var() / variance - 1) < 0.3
    out_degree = np.bincount(proj.pre, minlength=n_source)
    assert abs(out_degree.mean() - n_target * p) < 5 * np.sqrt(n_target * p / n_source)


def test_sparse_structure_is_source_major_and_unique() -> None:
    proj = build_structure(parse_spec(_sparse_spec(300, 200, 0.05))).projections["ff"]
    flat = proj.pre * 200 + proj.post
    assert np.all(np.diff(flat) > 0)
    assert proj.pre.min() >= 0
    assert proj.pre.max() < 300
    assert proj.post.min() >= 0
    assert proj.post.max() < 200


def test_sparse_draw_allocates_no_dense_matrix() -> None:
    import tracemalloc

    spec = parse_spec(_sparse_spec(5000, 5000, 0.001))
    tracemalloc.start()
    proj = build_structure(spec).projections["ff"]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # About 25000 synapses; a dense uniform matrix would take 200 MB.
    assert 20_000 < proj.size < 30_000
    assert peak < 5_000_000


def test_sparse_probability_one_keeps_every_pair() -> None:
    proj = build_structure(parse_spec(_sparse_spec(4, 2, 1.0))).projections["ff"]
    assert proj.pre.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert proj.post.tolist() == [0, 1, 0, 1, 0, 1, 0, 1]


def test_bernoulli_indices_keep_each_index_independently() -> None:
    from biosynapse_verify.spec.structure import bernoulli_indices

    rng = np.random.default_rng(0)
    total, p, trials = 12, 0.3, 4000
    kept = np.zeros((trials, total), dtype=bool)
    for k in range(trials):
        kept[k, bernoulli_indices(rng, total, p)] = True
    frequency = kept.mean(axis=0)
    error = np.sqrt(p * (1 - p) / trials)
    assert np.all(np.abs(frequency - p) < 5 * error)
    # Independence of neighbours: P(both kept) = p^2.
    both = (kept[:, :-1] & kept[:, 1:]).mean(axis=0)
    assert np.all(np.abs(both - p * p) < 5 * np.sqrt(p * p * (1 - p * p) / trials))


def test_bernoulli_indices_empty_total() -> None:
    from biosynapse_verify.spec.structure import bernoulli_indices

    assert bernoulli_indices(np.random.default_rng(0), 0, 0.5).size == 0
