"""``biosynapse-verify sweep NETWORK.yaml --grid GRID.yaml``: stability map by a sweep."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from biosynapse_verify.errors import BadInputError

__all__ = ["register"]

EXIT_INTERRUPTED = 130
EXIT_TASK_ERRORS = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="analyse a grid of spec parameters on Dask and draw the stability map",
    )
    parser.add_argument("spec", type=Path, help="base network spec (YAML)")
    parser.add_argument(
        "--grid", type=Path, required=True, help="grid file (YAML) listing the swept parameters"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="sweep folder (default reports/sweeps/NETWORK-GRID); rerun into it to resume",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="address of an existing Dask scheduler, e.g. tcp://host:8786 "
        "(default: start a local cluster)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes of the local cluster (default: all cores)",
    )
    parser.add_argument(
        "--format",
        choices=["parquet", "csv", "both"],
        default="both",
        help="table file format (default both)",
    )
    parser.add_argument("--no-report", action="store_true", help="skip the map and HTML report")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, progress) -> int:
    from biosynapse_verify.spec import load_spec
    from biosynapse_verify.sweep import SweepOptions, load_grid, run_sweep

    if args.workers is not None and args.workers < 1:
        raise BadInputError(f"--workers: {args.workers} must be at least 1")
    if args.workers is not None and args.scheduler is not None:
        raise BadInputError(
            "--workers sets the size of a local cluster and cannot be combined "
            "with --scheduler; size the remote cluster where it is started"
        )
    spec = load_spec(args.spec)
    grid = load_grid(args.grid)
    out = args.out or Path("reports") / "sweeps" / f"{spec.name}-{args.grid.stem}"
    formats = ("parquet", "csv") if args.format == "both" else (args.format,)
    options = SweepOptions(
        out_dir=out,
        scheduler=args.scheduler,
        workers=args.workers,
        formats=formats,
        report=not args.no_report,
    )
    try:
        outcome = run_sweep(
            spec, grid, options, progress=lambda f: progress("sweep", f), origin=str(args.spec)
        )
    except KeyboardInterrupt:
        progress.close()
        print(
            f"biosynapse-verify: interrupted; the finished points are stored in {out}. "
            "Run the same command again to resume without recomputing them.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    progress.close()
    _print_outcome(spec.name, outcome)
    return EXIT_TASK_ERRORS if outcome.errors else 0


def _print_outcome(name: str, outcome: object) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(outcome.verdicts.items()))
    counts = counts or "no points stored"
    print(f"{name}: {outcome.n_points} points ({counts})")
    print(
        f"  computed {outcome.n_computed}, reused {outcome.n_reused}, "
        f"{outcome.workers} workers, wall time {outcome.wall_time_s:.1f} s"
    )
    for index, message in outcome.errors[:5]:
        print(f"  point {index} failed: {message}")
    if len(outcome.errors) > 5:
        print(f"  ... {len(outcome.errors) - 5} more failed points; see the log")
    for label, path in outcome.paths.items():
        print(f"  {label}: {path}")
