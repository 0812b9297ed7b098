"""Sweeps on a local Dask cluster: results, resume, interruption, the CLI.

The tests share a cluster of two worker processes that the module starts.
The network is the 20-input power-law network of ``test_sweep_grid``; its
transfer-function calibration is shared between the points of a sweep.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

distributed = pytest.importorskip("distributed")

from biosynapse_verify.cli import main  # noqa: E402
from biosynapse_verify.spec import parse_spec  # noqa: E402
from biosynapse_verify.sweep import (  # noqa: E402
    VERDICTS,
    SweepOptions,
    parse_grid,
    run_sweep,
)
from test_sweep_grid import PLASTICITY, tiny_spec_data  # noqa: E402


def sweep_grid(simulate: dict | None = None) -> dict:
    """A 2 x 2 grid over mu and A-/A+, with an optional short simulation."""
    grid = {
        "axes": [
            {"name": "mu", "path": f"{PLASTICITY}.mu", "values": [0.0, 0.6]},
            {
                "name": "ratio",
                "path": f"{PLASTICITY}.a_minus",
                "relative_to": f"{PLASTICITY}.a_plus",
                "values": [1.05, 1.15],
            },
        ],
        "map": {"x": "mu", "y": "ratio"},
    }
    if simulate is not None:
        grid["simulate"] = simulate
    return grid


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as dask_client:
        yield dask_client


def point_files(out: Path) -> dict[str, int]:
    """Return the modification time (ns) of every stored point file."""
    return {p.name: p.stat().st_mtime_ns for p in (out / "points").glob("*.json")}


def test_sweep_writes_one_row_per_point(tmp_path: Path, client) -> None:
    import pyarrow.parquet as pq

    spec, grid = parse_spec(tiny_spec_data()), parse_grid(sweep_grid())
    outcome = run_sweep(spec, grid, SweepOptions(tmp_path), client=client)

    table = pq.read_table(tmp_path / "results.parquet").to_pylist()
    with open(tmp_path / "results.csv", newline="") as handle:
        csv_rows = list(csv.DictReader(handle))
    by_mu = {(r["mu"], r["ratio"]): r for r in table}
    assert outcome.n_computed == 4
    assert outcome.errors == []
    assert len(table) == 4
    assert len({r["point_key"] for r in table}) == 4
    assert [r["point_key"] for r in csv_rows] == [r["point_key"] for r in table]
    assert all(r["verdict"] in VERDICTS for r in table)
    # eta* exists only where the two-time-scale strategy certified the point.
    for row in table:
        if row["eta_star"] is not None:
            assert row["verdict"] == "certified"
            assert row["eta_star"] > 0
    assert len(list((tmp_path / "calibration").glob("*.json"))) == 1
    # Additive STDP (mu = 0) loses the symmetric equilibrium to weight
    # competition; mu = 0.6 keeps it.
    for ratio in (1.05, 1.15):
        refuted, certified = by_mu[(0.0, ratio)], by_mu[(0.6, ratio)]
        assert refuted["verdict"] == "refuted"
        assert refuted["growth_rate_lower_per_s"] > 0
        assert certified["verdict"] == "certified"
        assert certified["beta"] > 0
        assert certified["decay_rate_per_s"] > 0
        assert certified["strategy"]
        assert certified["spectral_abscissa_per_s"] < 0
    assert (tmp_path / "stability_map.png").stat().st_size > 10_000
    assert "certified/refuted boundary between mu = 0 and 0.6" in (
        tmp_path / "report.html"
    ).read_text()


def test_rerun_recomputes_nothing(tmp_path: Path, client) -> None:
    spec, grid = parse_spec(tiny_spec_data()), parse_grid(sweep_grid())
    run_sweep(spec, grid, SweepOptions(tmp_path, report=False), client=client)
    before = point_files(tmp_path)
    again = run_sweep(spec, grid, SweepOptions(tmp_path, report=False), client=client)
    assert again.n_computed == 0
    assert again.n_reused == 4
    assert point_files(tmp_path) == before


def test_interrupted_sweep_resumes(tmp_path: Path, client) -> None:
    spec, grid = parse_spec(tiny_spec_data()), parse_grid(sweep_grid())

    def interrupt(point, finished, total) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, grid, SweepOptions(tmp_path, report=False), client=client, on_point=interrupt)
    stored = point_files(tmp_path)
    with open(tmp_path / "results.csv", newline="") as handle:
        partial = list(csv.DictReader(handle))
    resumed = run_sweep(spec, grid, SweepOptions(tmp_path, report=False), client=client)

    assert len(stored) == 1
    assert len(partial) == 1
    assert resumed.n_reused == 1
    assert resumed.n_computed == 3
    assert {k: v for k, v in point_files(tmp_path).items() if k in stored} == stored
    assert len(point_files(tmp_path)) == 4


def test_cli_sweep_on_existing_scheduler(tmp_path: Path, client, capsys) -> None:
    spec_path = tmp_path / "net.yaml"
    grid_path = tmp_path / "grid.yaml"
    spec_path.write_text(yaml.safe_dump(tiny_spec_data()))
    grid = {"axes": [{"name": "mu", "path": f"{PLASTICITY}.mu", "values": [0.0, 0.6]}]}
    grid_path.write_text(yaml.safe_dump(grid))
    out = tmp_path / "out"
    code = main(
        ["-q", "sweep", str(spec_path), "--grid", str(grid_path), "--out", str(out),
         "--scheduler", client.scheduler.address, "--format", "csv"]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "2 points (certified 1, refuted 1)" in printed
    assert (out / "results.csv").exists()
    assert not (out / "results.parquet").exists()
    assert (out / "profile.png").exists()


def test_cli_rejects_workers_with_scheduler(tmp_path: Path, capsys) -> None:
    code = main(
        ["sweep", "net.yaml", "--grid", "grid.yaml", "--scheduler", "tcp://x:1", "--workers", "2"]
    )
    assert code == 2
    assert "--workers" in capsys.readouterr().err
