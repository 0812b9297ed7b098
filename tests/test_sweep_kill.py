"""A sweep whose worker process is killed while it computes a point.

The test starts its own local cluster of two worker processes, kills one of
them (SIGKILL) while it runs a sweep point, and checks that every point is
still stored exactly once. Dask's nanny restarts the killed worker and the
scheduler reruns its task elsewhere; only the driver writes results.
"""

from __future__ import annotations

import csv
import os
import signal
import threading
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

from biosynapse_verify.spec import parse_spec  # noqa: E402
from biosynapse_verify.sweep import SweepOptions, build_points, parse_grid, run_sweep  # noqa: E402
from test_sweep_dask import point_files, sweep_grid  # noqa: E402
from test_sweep_grid import tiny_spec_data  # noqa: E402

# A point must still be running within this many seconds of the first point
# finishing, or the test cannot kill a worker mid-task.
KILL_WAIT_S = 20.0


def _kill_busy_worker(dask_client, killed: list) -> None:
    """SIGKILL a worker process that is running a sweep point right now."""
    deadline = time.monotonic() + KILL_WAIT_S
    pids = dask_client.run(os.getpid)
    while time.monotonic() < deadline:
        for address, keys in dask_client.processing().items():
            points = [k for k in keys if str(k).startswith("sweep-point-")]
            if points:
                os.kill(pids[address], signal.SIGKILL)
                killed.append((address, points))
                return
        time.sleep(0.05)


def test_killed_worker_point_computed_once(tmp_path: Path) -> None:
    spec = parse_spec(tiny_spec_data())
    # A 1 s simulation per point keeps each task busy long enough to be
    # killed while it runs.
    grid = parse_grid(sweep_grid(simulate={"duration": 1.0, "seeds": [0]}))
    killed: list = []
    watchers: list[threading.Thread] = []
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as dask_client:

        def kill_once(point, finished, total) -> None:
            if not watchers:
                watchers.append(
                    threading.Thread(target=_kill_busy_worker, args=(dask_client, killed))
                )
                watchers[0].start()

        outcome = run_sweep(
            spec, grid, SweepOptions(tmp_path, report=False), client=dask_client,
            on_point=kill_once,
        )
        watchers[0].join()

    with open(tmp_path / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = {p.key for p in build_points(tiny_spec_data(), grid)}
    assert killed, "no sweep point was running when the worker was to be killed"
    assert outcome.errors == []
    assert outcome.n_computed == 4
    assert len(rows) == 4
    assert {r["point_key"] for r in rows} == expected
    assert len(point_files(tmp_path)) == 4
    assert all(r["sim_bimodality_coefficient"] != "" for r in rows)
