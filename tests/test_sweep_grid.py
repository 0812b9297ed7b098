"""Sweep grids, spec paths, point keys, the result store, the map figures and
the mean-field helpers of a point.

None of these tests starts Dask or a simulation.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from biosynapse_verify.dynamics import MeanFieldModel, SoftplusTransfer
from biosynapse_verify.report.plots import figure_to_png
from biosynapse_verify.spec import parse_spec
from biosynapse_verify.spec.structure import build_structure
from biosynapse_verify.sweep import (
    GridError,
    ResultStore,
    build_points,
    calibration_key,
    parse_grid,
    table_rows,
)
from biosynapse_verify.sweep.maps import (
    _boundary_segments,
    boundary_positions,
    profile_figure,
    scatter_map_figure,
    stability_map_figure,
)
from biosynapse_verify.sweep.point import _eta_star, find_judged_equilibrium
from biosynapse_verify.sweep.report import boundary_summary
from biosynapse_verify.sweep.spec_paths import SpecPathError, get_path, set_path

PLASTICITY = "projections.ff.plasticity"


def tiny_spec_data() -> dict:
    """A 20-input, one-neuron power-law network, as a spec mapping."""
    return {
        "name": "tiny_power_law",
        "inputs": [{"name": "inp", "kind": "poisson", "size": 20, "rate": "20 Hz"}],
        "populations": [
            {
                "name": "post",
                "size": 1,
                "tau_m": "10 ms",
                "v_rest": "-74 mV",
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
                "weight": 0.1,
                "w_max": 0.3,
                "plasticity": {
                    "rule": "power_law",
                    "mu": 0.5,
                    "a_plus": 1.5e-3,
                    "a_minus": 1.8e-3,
                    "eta": 1.0,
                },
            }
        ],
        "simulation": {"dt": "0.1 ms", "duration": "2 s", "seeds": [0]},
        "analysis": {"calibration": {"duration": "0.5 s", "points": 5}},
    }


# ----------------------------------------------------------------- paths
def test_set_path_names_list_items() -> None:
    data = tiny_spec_data()
    set_path(data, f"{PLASTICITY}.mu", 0.25)
    set_path(data, "inputs.0.rate", 7.0)
    assert data["projections"][0]["plasticity"]["mu"] == 0.25
    assert get_path(data, "inputs.inp.rate") == 7.0


def test_set_path_adds_optional_key() -> None:
    data = tiny_spec_data()
    set_path(data, "projections.ff.w_min", 0.01)
    assert data["projections"][0]["w_min"] == 0.01


def test_get_path_missing_item_names_choices() -> None:
    with pytest.raises(SpecPathError, match="no list item named 'feedforward'.*ff"):
        get_path(tiny_spec_data(), "projections.feedforward.plasticity.mu")


def test_get_path_missing_key_names_path() -> None:
    with pytest.raises(SpecPathError, match="projections.ff.plastic.mu"):
        get_path(tiny_spec_data(), "projections.ff.plastic.mu")


def test_invalid_path_syntax() -> None:
    with pytest.raises(SpecPathError, match="single dots"):
        get_path(tiny_spec_data(), "projections..mu")


# ------------------------------------------------------------------ grids
def test_grid_is_cartesian_product_in_order() -> None:
    grid = parse_grid(
        {
            "axes": [
                {"name": "mu", "path": f"{PLASTICITY}.mu", "linspace": [0.0, 1.0, 3]},
                {"name": "eta", "path": f"{PLASTICITY}.eta", "geomspace": [0.1, 10.0, 3]},
            ]
        }
    )
    points = build_points(tiny_spec_data(), grid)
    values = [(p.values["mu"], p.values["eta"]) for p in points]
    assert len(points) == 9
    assert values[:3] == [(0.0, 0.1), (0.0, pytest.approx(1.0)), (0.0, 10.0)]
    assert [p.index for p in points] == list(range(9))
    assert points[4].spec_data["projections"][0]["plasticity"]["mu"] == 0.5


def test_relative_axis_multiplies_reference() -> None:
    grid = parse_grid(
        {
            "axes": [
                {
                    "name": "ratio",
                    "path": f"{PLASTICITY}.a_minus",
                    "relative_to": f"{PLASTICITY}.a_plus",
                    "values": [0.9, 1.3],
                },
                {"name": "a_plus", "path": f"{PLASTICITY}.a_plus", "values": [2e-3]},
            ]
        }
    )
    points = build_points(tiny_spec_data(), grid)
    minus = [p.spec_data["projections"][0]["plasticity"]["a_minus"] for p in points]
    # The reference is read after the absolute axis a_plus is applied.
    assert minus == [pytest.approx(1.8e-3), pytest.approx(2.6e-3)]


def test_relative_axis_to_own_path_scales_base() -> None:
    grid = parse_grid(
        {
            "axes": [
                {
                    "name": "eta_scale",
                    "path": f"{PLASTICITY}.eta",
                    "relative_to": f"{PLASTICITY}.eta",
                    "geomspace": [0.1, 100.0, 4],
                }
            ],
            "set": {f"{PLASTICITY}.eta": 2.0},
        }
    )
    etas = [p.spec_data["projections"][0]["plasticity"]["eta"] for p in build_points(tiny_spec_data(), grid)]
    assert etas == pytest.approx([0.2, 2.0, 20.0, 200.0])


def test_unit_strings_in_values_are_parsed() -> None:
    grid = parse_grid(
        {"axes": [{"name": "rate", "path": "inputs.inp.rate", "values": ["10 Hz", "15 Hz"]}]}
    )
    rates = [p.spec_data["inputs"][0]["rate"] for p in build_points(tiny_spec_data(), grid)]
    assert rates == [10.0, 15.0]


def test_random_sampling_is_reproducible_and_in_range() -> None:
    data = {
        "axes": [
            {"name": "mu", "path": f"{PLASTICITY}.mu", "linspace": [0.2, 0.4, 2]},
            {"name": "eta", "path": f"{PLASTICITY}.eta", "geomspace": [0.1, 10.0, 2]},
        ],
        "sampling": {"mode": "random", "samples": 20, "seed": 3},
    }
    first = build_points(tiny_spec_data(), parse_grid(data))
    second = build_points(tiny_spec_data(), parse_grid(data))
    mus = np.array([p.values["mu"] for p in first])
    etas = np.array([p.values["eta"] for p in first])
    assert [p.key for p in first] == [p.key for p in second]
    assert len(first) == 20
    assert np.all((mus >= 0.2) & (mus <= 0.4))
    assert np.all((etas >= 0.1) & (etas <= 10.0))
    # Log-uniform: about half of the samples lie below the geometric middle, 1.
    assert 4 <= np.sum(etas < 1.0) <= 16


def test_repeated_points_are_dropped() -> None:
    grid = parse_grid({"axes": [{"name": "mu", "path": f"{PLASTICITY}.mu", "values": [0.5, 0.5, 0.1]}]})
    points = build_points(tiny_spec_data(), grid)
    assert [p.values["mu"] for p in points] == [0.5, 0.1]


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"axes": [{"name": "mu", "path": "x", "values": [1], "linspace": [0, 1, 2]}]}, "exactly one"),
        ({"axes": [{"name": "mu", "path": "x", "geomspace": [0, 1, 2]}]}, "positive start"),
        ({"axes": [{"name": "verdict", "path": "x", "values": [1]}]}, "result column"),
        ({"axes": [{"name": "mu", "path": "x", "values": [1]}], "map": {"x": "eta"}}, "not an axis"),
        ({"axes": [{"name": "mu", "path": "x", "values": [1]}], "sampling": {"mode": "random"}}, "needs samples"),
        ({"axes": []}, "axes"),
        ([1, 2], "top level"),
    ],
)
def test_invalid_grid_is_rejected(grid: object, message: str) -> None:
    with pytest.raises(GridError, match=message):
        parse_grid(grid)


def test_invalid_point_names_its_values() -> None:
    grid = parse_grid({"axes": [{"name": "mu", "path": f"{PLASTICITY}.mu", "values": [0.5, 2.0]}]})
    with pytest.raises(GridError, match=r"point \(mu = 2.0\).*plasticity.mu"):
        build_points(tiny_spec_data(), grid)


def test_grid_over_limit_is_rejected() -> None:
    grid = parse_grid(
        {"axes": [{"name": "mu", "path": f"{PLASTICITY}.mu", "linspace": [0, 1, 50]}], "max_points": 10}
    )
    with pytest.raises(GridError, match="50 points"):
        build_points(tiny_spec_data(), grid)


# ------------------------------------------------------------------- keys
def _one_point_grid(mu: float, simulate: dict | None = None) -> dict:
    grid = {"axes": [{"name": "mu", "path": f"{PLASTICITY}.mu", "values": [mu]}]}
    if simulate is not None:
        grid["simulate"] = simulate
    return grid


def test_point_key_depends_on_spec_and_options() -> None:
    base = tiny_spec_data()
    key = build_points(base, parse_grid(_one_point_grid(0.3)))[0].key
    same = build_points(base, parse_grid(_one_point_grid(0.3)))[0].key
    other_mu = build_points(base, parse_grid(_one_point_grid(0.4)))[0].key
    simulated = build_points(base, parse_grid(_one_point_grid(0.3, {"duration": 1.0})))[0].key
    assert key == same
    assert key != other_mu
    assert key != simulated


def test_calibration_key_ignores_plasticity_only() -> None:
    spec = parse_spec(tiny_spec_data())
    changed = tiny_spec_data()
    changed["projections"][0]["plasticity"].update(mu=0.9, eta=3.0)
    changed["projections"][0]["weight"] = 0.2
    changed["simulation"]["duration"] = "9 s"
    faster = tiny_spec_data()
    faster["inputs"][0]["rate"] = "30 Hz"
    assert calibration_key(spec, 1.0) == calibration_key(parse_spec(changed), 1.0)
    assert calibration_key(spec, 1.0) != calibration_key(parse_spec(faster), 1.0)
    assert calibration_key(spec, 1.0) != calibration_key(spec, 0.8)


# ------------------------------------------------------------------ store
def _fake_row(verdict: str, beta: float | None = None) -> dict:
    return {
        "verdict": verdict,
        "reason": "test",
        "beta": beta,
        "decay_rate_per_s": None if beta is None else beta / 10,
        "spectral_abscissa_per_s": -1.0 if verdict == "certified" else 0.5,
        "n_unstable": 0 if verdict == "certified" else 1,
        "eta_star": None,
        "equilibrium_inside_bounds": True,
    }


def test_store_writes_each_point_once(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "sweep")
    first = store.write_point("abc", {"row": _fake_row("certified", 1.0)})
    second = store.write_point("abc", {"row": _fake_row("refuted")})
    assert first is not None
    assert second is None
    assert store.read_point("abc")["row"]["verdict"] == "certified"
    assert store.finished_keys() == {"abc"}
    assert not list((tmp_path / "sweep" / "points").glob(".*"))


def test_table_round_trips_through_parquet_and_csv(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    grid = parse_grid({"axes": [{"name": "mu", "path": f"{PLASTICITY}.mu", "values": [0.0, 0.5, 1.0]}]})
    points = build_points(tiny_spec_data(), grid)
    store = ResultStore(tmp_path)
    store.write_point(points[2].key, {"row": _fake_row("certified", 2.0)})
    store.write_point(points[0].key, {"row": _fake_row("refuted")})
    rows = table_rows(store, points)
    paths = store.write_table(rows, ["mu"], metadata={"network": "tiny"})

    table = pq.read_table(paths["parquet"])
    with open(paths["csv"], newline="") as handle:
        csv_rows = list(csv.DictReader(handle))
    assert table.column("point_index").to_pylist() == [0, 2]
    assert table.column("mu").to_pylist() == [0.0, 1.0]
    assert table.column("beta").to_pylist() == [None, 2.0]
    assert str(table.schema.field("eta_star").type) == "double"
    assert table.column("eta_star").null_count == 2
    assert "eta_star" in json.loads(table.schema.metadata[b"biosynapse_verify.sweep"])["eta_star_note"]
    assert [r["verdict"] for r in csv_rows] == ["refuted", "certified"]
    assert csv_rows[0]["beta"] == ""


# ------------------------------------------------------------------- maps
def test_boundary_segments_follow_cell_edges() -> None:
    verdicts = np.array([["refuted", "certified"], ["refuted", "refuted"]], dtype=object)
    segments = _boundary_segments(verdicts, "certified", "refuted")
    assert sorted(segments) == sorted([((0.5, 0.5), (-0.5, 0.5)), ((0.5, 1.5), (0.5, 0.5))])


def _map_rows() -> list[dict]:
    rows = []
    for index, (mu, eta) in enumerate((m, e) for m in (0.0, 0.1, 0.5) for e in (1.0, 10.0)):
        verdict = "refuted" if mu == 0.0 or (mu == 0.1 and eta == 10.0) else "certified"
        row = {"point_index": index, "mu": mu, "eta": eta, **_fake_row(verdict, mu * eta)}
        row["sim_bimodality_coefficient"] = 0.7 if verdict == "refuted" else 0.4
        rows.append(row)
    return rows


def test_boundary_positions_and_summary() -> None:
    rows = [r for r in _map_rows() if r["eta"] == 1.0]
    assert boundary_positions(rows, "mu") == [(0.0, 0.1)]
    lines = boundary_summary(_map_rows(), ["mu", "eta"], "mu")
    assert "eta = 1: certified/refuted boundary between mu = 0 and 0.1" in lines
    assert "eta = 10: certified/refuted boundary between mu = 0.1 and 0.5" in lines
    assert "eta = 1: simulated bimodality coefficient crosses 5/9 between mu = 0 and 0.1" in lines


def test_map_figures_render() -> None:
    grid = parse_grid(
        {
            "axes": [
                {"name": "mu", "path": f"{PLASTICITY}.mu", "values": [0.0, 0.1, 0.5]},
                {"name": "eta", "path": f"{PLASTICITY}.eta", "values": [1.0, 10.0]},
            ]
        }
    )
    settings = grid.map_settings()
    heat = stability_map_figure(_map_rows(), ["mu", "eta"], settings, title="map")
    strip = stability_map_figure(
        _map_rows(), ["mu", "eta"], settings.model_copy(update={"y": None}), title="strip"
    )
    profile = profile_figure(_map_rows(), ["mu", "eta"], "mu", title="profile")
    scatter = scatter_map_figure(_map_rows(), settings, title="scatter")
    for figure in (heat, strip, profile, scatter):
        assert figure_to_png(figure)[:4] == b"\x89PNG"
    # Certified cells (mu, eta) = (0.1, 1), (0.5, 1), (0.5, 10) meet refuted
    # neighbours along three edges, each drawn as a thick line.
    thick = [line for line in heat.axes[0].lines if line.get_linewidth() == 2.5]
    assert len(thick) == 3


# ------------------------------------------------------------- point helpers
# A softplus close to the one calibrated for the tiny network (0.5 s at five
# levels), so the mean-field tests need no simulation.
TINY_TRANSFER = SoftplusTransfer(gain=17_000.0, width=0.0045, threshold=0.023)


def _tiny_model(mu: float) -> tuple[MeanFieldModel, object]:
    data = tiny_spec_data()
    data["projections"][0]["plasticity"]["mu"] = mu
    spec = parse_spec(data)
    structure = build_structure(spec)
    return MeanFieldModel(spec, structure, {"post": TINY_TRANSFER}, {}), spec


@pytest.mark.parametrize("mu", [0.0, 0.6])
def test_equilibrium_found_from_uniform_root(mu: float) -> None:
    model, spec = _tiny_model(mu)
    equilibrium, notes = find_judged_equilibrium(model, spec)
    drift = model.drift(equilibrium.x)
    weights = equilibrium.x[model.n_rates :]
    assert notes == []
    assert equilibrium.kind == "interior"
    assert equilibrium.inside_bounds
    assert np.max(np.abs(drift[model.n_rates :])) < 1e-9
    # The active state, not a silent one at low weights.
    assert equilibrium.x[0] > 1.0
    assert np.ptp(weights) < 1e-9
    assert "uniform weights" in equilibrium.notes[-1]


def test_eta_star_scales_first_plastic_eta() -> None:
    model, _ = _tiny_model(0.6)

    class Bounded:
        details = {"eta_factor_max": 3.0}

    class Unbounded:
        details: dict = {}

    assert _eta_star(Bounded(), model) == pytest.approx(3.0)
    assert _eta_star(Unbounded(), model) is None


def test_scatter_map_accepts_unit_string_axis() -> None:
    rows = [
        {"point_index": k, "rate": rate, "mu": 0.1 * k, **_fake_row(verdict, 1.0)}
        for k, (rate, verdict) in enumerate(
            [("10 Hz", "certified"), ("20 Hz", "refuted"), ("10 Hz", "inconclusive")]
        )
    ]
    settings = parse_grid(
        {"axes": [{"name": "rate", "path": "inputs.inp.rate", "values": ["10 Hz", "20 Hz"]}]}
    ).map_settings()
    figure = scatter_map_figure(rows, settings, title="scatter")
    assert figure_to_png(figure)[:4] == b"\x89PNG"
    assert figure.axes[0].get_xscale() == "linear"
