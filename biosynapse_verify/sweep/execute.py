"""Run a sweep on Dask: a local cluster by default, or an existing scheduler.

The driver (this process) expands the grid and skips points already stored
in the output folder. It submits one calibration task per distinct neuron
and input configuration and one analysis task per remaining point, and
writes each point's record as its task finishes. Only the driver writes, one file
per point key, so a point whose worker dies is recomputed by Dask on another
worker and still stored exactly once. When all tasks are done, or the sweep
is interrupted, the table and the stability map are built from the stored
points.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from biosynapse_verify import __version__
from biosynapse_verify.errors import BadInputError
from biosynapse_verify.spec.loader import spec_hash
from biosynapse_verify.spec.schema import NetworkSpec
from biosynapse_verify.sweep.grid import SweepGrid, SweepPoint, build_points
from biosynapse_verify.sweep.point import (
    calibration_key,
    calibration_task,
    fits_from_json,
    fits_to_json,
    point_task,
)
from biosynapse_verify.sweep.store import TABLE_FORMATS, ResultStore, table_rows

__all__ = ["SchedulerError", "SweepOptions", "SweepOutcome", "run_sweep"]

logger = logging.getLogger(__name__)

# Seconds to wait for an existing scheduler to respond before giving up.
CONNECT_TIMEOUT_S = 30.0

ProgressCallback = Callable[[float], None]
PointCallback = Callable[[SweepPoint, int, int], None]


class SchedulerError(BadInputError):
    """The Dask scheduler cannot be reached or its workers cannot run the sweep."""


@dataclass
class SweepOptions:
    """Settings of one sweep run that are not part of the grid file.

    Attributes
    ----------
    out_dir : Path
        The sweep folder (created if missing); rerunning into the same folder
        resumes the sweep.
    scheduler : str or None
        Address of an existing Dask scheduler, for example
        ``tcp://10.0.0.5:8786``. None starts a local cluster.
    workers : int or None
        Worker processes of the local cluster; all cores when None.
    formats : tuple of str
        Table formats to write: ``"parquet"``, ``"csv"`` or both.
    report : bool
        Whether to draw the stability map and write the HTML report.
    """

    out_dir: Path
    scheduler: str | None = None
    workers: int | None = None
    formats: tuple[str, ...] = TABLE_FORMATS
    report: bool = True


@dataclass
class SweepOutcome:
    """Result of :func:`run_sweep`.

    Attributes
    ----------
    out_dir : Path
    n_points : int
        Points in the grid (after dropping repeats).
    n_reused : int
        Points found finished in ``out_dir`` and not recomputed.
    n_computed : int
        Points computed and stored by this run.
    errors : list of (int, str)
        Point index and error message of every point whose task raised;
        these are not stored, so a rerun retries them.
    verdicts : dict of str to int
        Count of each verdict over the stored points.
    paths : dict of str to Path
        Table, map and report files written.
    wall_time_s : float
    workers : int
        Workers the scheduler had when the sweep started (0 when nothing
        needed computing).
    """

    out_dir: Path
    n_points: int
    n_reused: int
    n_computed: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    verdicts: dict[str, int] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    wall_time_s: float = 0.0
    workers: int = 0


def _package_version() -> str:
    """Return the package version on a worker (run through ``Client.run``)."""
    return __version__


def _check_workers(client: Any) -> None:
    """Reject workers that cannot import this package or run another version."""
    try:
        versions = client.run(_package_version)
    except ImportError as err:
        raise SchedulerError(
            f"the Dask workers cannot import biosynapse_verify ({err}); install "
            f"biosynapse-verify {__version__} in every worker's environment"
        ) from None
    wrong = {address: v for address, v in versions.items() if v != __version__}
    if wrong:
        address, version = next(iter(wrong.items()))
        raise SchedulerError(
            f"worker {address} runs biosynapse-verify {version}, but this driver runs "
            f"{__version__}; install the same version on every worker"
        )


@contextlib.contextmanager
def _connect(options: SweepOptions) -> Iterator[Any]:
    """Yield a Dask client: on ``options.scheduler``, or on a new local cluster."""
    from distributed import Client, LocalCluster

    if options.scheduler is not None:
        try:
            client = Client(options.scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as err:
            raise SchedulerError(
                f"cannot connect to the Dask scheduler at {options.scheduler!r} ({err}); "
                "check the address, or omit --scheduler to run on a local cluster"
            ) from None
        try:
            _check_workers(client)
            yield client
        finally:
            client.close()
        return
    workers = options.workers or os.cpu_count() or 1
    logger.info("starting a local Dask cluster with %d worker processes", workers)
    with LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, Client(cluster) as client:
        yield client


def _manifest(spec: NetworkSpec, grid: SweepGrid, points: list[SweepPoint]) -> dict:
    return {
        "format": {"name": "biosynapse-verify sweep", "version": 1},
        "network": spec.name,
        "base_spec_hash": spec_hash(spec),
        "grid": grid.model_dump(mode="json"),
        "points": [{"index": p.index, "key": p.key, "values": p.values} for p in points],
        "package_version": __version__,
    }


def run_sweep(
    spec: NetworkSpec,
    grid: SweepGrid,
    options: SweepOptions,
    *,
    client: Any = None,
    progress: ProgressCallback | None = None,
    on_point: PointCallback | None = None,
    origin: str = "<spec>",
) -> SweepOutcome:
    """Run (or resume) the sweep of ``grid`` over ``spec`` and write its outputs.

    Parameters
    ----------
    spec : NetworkSpec
        The base network; grid paths refer to its YAML fields.
    grid : SweepGrid
    options : SweepOptions
    client : distributed.Client, optional
        Use this client instead of connecting as ``options`` sets. It is
        left open.
    progress : callable, optional
        Called with the fraction of points finished (stored or reused).
    on_point : callable, optional
        Called as ``on_point(point, finished, total)`` after each point is
        stored.
    origin : str
        Name of the spec in error messages.

    Returns
    -------
    SweepOutcome

    Raises
    ------
    GridError
        If a grid path is invalid or a point's spec does not validate.
    SchedulerError
        If the scheduler cannot be reached or its workers cannot run the sweep.
    KeyboardInterrupt
        After writing the table of the points finished so far.
    """
    started = time.perf_counter()
    points = build_points(spec.model_dump(mode="json"), grid, origin=origin)
    store = ResultStore(options.out_dir)
    store.write_manifest(_manifest(spec, grid, points))
    finished = store.finished_keys()
    pending = [p for p in points if p.key not in finished]
    outcome = SweepOutcome(options.out_dir, len(points), len(points) - len(pending))
    logger.info(
        "sweep of %s: %d points, %d already finished in %s",
        spec.name, len(points), outcome.n_reused, options.out_dir,
    )
    report = progress or (lambda fraction: None)
    report(outcome.n_reused / len(points))
    try:
        if pending:
            with contextlib.ExitStack() as stack:
                active = client if client is not None else stack.enter_context(_connect(options))
                outcome.workers = len(active.scheduler_info()["workers"])
                _compute(active, pending, grid, store, outcome, report, on_point)
    finally:
        outcome.wall_time_s = time.perf_counter() - started
        _finish(store, points, grid, spec, options, outcome)
    return outcome


def _submit_calibrations(
    client: Any, pending: list[SweepPoint], grid: SweepGrid, store: ResultStore, token: str
) -> tuple[dict[str, Any], dict[str, str], dict[Any, str]]:
    """Submit one calibration per distinct key not stored yet.

    Returns
    -------
    calibrations : dict
        Calibration key to a future of the calibration result (a submitted
        task, or the stored result scattered to the workers).
    point_keys : dict
        Point key to its calibration key.
    submitted : dict
        Each submitted calibration future to its calibration key.
    """
    from biosynapse_verify.spec.loader import parse_spec

    level = grid.calibration_max_level
    point_keys: dict[str, str] = {}
    calibrations: dict[str, Any] = {}
    submitted: dict[Any, str] = {}
    for point in pending:
        key = calibration_key(parse_spec(point.spec_data), level)
        point_keys[point.key] = key
        if key in calibrations:
            continue
        stored = store.read_calibration(key)
        if stored is not None:
            result = {"fits": fits_from_json(stored["fits"]), "seconds": stored["seconds"]}
            calibrations[key] = client.scatter(result)
        else:
            calibrations[key] = client.submit(
                calibration_task, point.spec_data, level,
                key=f"sweep-calibration-{key[:16]}-{token}", pure=False,
            )
            submitted[calibrations[key]] = key
    return calibrations, point_keys, submitted


def _compute(
    client: Any,
    pending: list[SweepPoint],
    grid: SweepGrid,
    store: ResultStore,
    outcome: SweepOutcome,
    report: ProgressCallback,
    on_point: PointCallback | None,
) -> None:
    """Submit the pending points and store each one as its task finishes."""
    from distributed import as_completed

    if outcome.workers == 0:
        logger.warning("the Dask scheduler has no workers yet; waiting for workers to join")
    token = uuid.uuid4().hex[:8]
    simulate = None if grid.simulate is None else grid.simulate.model_dump()
    calibrations, point_keys, submitted = _submit_calibrations(
        client, pending, grid, store, token
    )
    tasks: dict[Any, tuple[str, Any]] = {
        future: ("calibration", key) for future, key in submitted.items()
    }
    for point in pending:
        calibration = calibrations[point_keys[point.key]]
        future = client.submit(
            point_task, point.spec_data, calibration, simulate,
            key=f"sweep-point-{point.key[:16]}-{token}", pure=False,
        )
        tasks[future] = ("point", point)

    for future in as_completed(list(tasks)):
        kind, item = tasks.pop(future)
        if future.status == "error":
            _record_error(kind, item, future.exception(), outcome)
        elif kind == "calibration":
            result = future.result()
            store.write_calibration(
                item, {"key": item, "fits": fits_to_json(result["fits"]),
                       "seconds": result["seconds"]},
            )
        else:
            _store_point(item, future.result(), point_keys[item.key], store, outcome)
            report((outcome.n_reused + outcome.n_computed) / outcome.n_points)
            if on_point is not None:
                on_point(item, outcome.n_reused + outcome.n_computed, outcome.n_points)
        future.release()


def _record_error(kind: str, item: Any, error: BaseException, outcome: SweepOutcome) -> None:
    message = f"{type(error).__name__}: {error}"
    if kind == "calibration":
        logger.error("calibration %s failed: %s", item[:16], message)
        return
    logger.error("point %d %s failed: %s", item.index, item.values, message)
    outcome.errors.append((item.index, message))


def _store_point(
    point: SweepPoint,
    result: dict[str, Any],
    calibration: str,
    store: ResultStore,
    outcome: SweepOutcome,
) -> None:
    result["row"]["calibration_key"] = calibration
    record = {"index": point.index, "values": point.values, **result}
    if store.write_point(point.key, record) is not None:
        outcome.n_computed += 1


def _finish(
    store: ResultStore,
    points: list[SweepPoint],
    grid: SweepGrid,
    spec: NetworkSpec,
    options: SweepOptions,
    outcome: SweepOutcome,
) -> None:
    """Assemble the table from the stored points and draw the map."""
    rows = table_rows(store, points)
    outcome.verdicts = dict(Counter(row["verdict"] for row in rows))
    axis_names = [axis.name for axis in grid.axes]
    metadata = {"network": spec.name, "grid": grid.model_dump(mode="json")}
    outcome.paths.update(store.write_table(rows, axis_names, options.formats, metadata))
    if options.report and rows:
        from biosynapse_verify.sweep.report import write_sweep_report

        outcome.paths.update(write_sweep_report(store.folder, spec, grid, rows, outcome))
    logger.info(
        "sweep table: %d of %d points (%s)",
        len(rows), len(points), ", ".join(f"{k} {v}" for k, v in sorted(outcome.verdicts.items())),
    )
