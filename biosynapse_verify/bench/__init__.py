"""Benchmarks that test claims about learning spiking networks against baselines.

``biosynapse-verify bench shift`` runs the distribution-shift benchmark
(:mod:`biosynapse_verify.bench.shift`). Importing this package loads only
argparse; torch and scikit-learn are imported when a benchmark runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_bench_parser", "run_shift_benchmark"]

DEFAULT_SHIFT_OUT = Path("reports/bench-shift")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is invalid; give at least 1")
    return value


def add_bench_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``bench`` and its ``shift`` subcommand to a subparsers object.

    Parameters
    ----------
    subparsers
        The object returned by ``ArgumentParser.add_subparsers``.

    Returns
    -------
    argparse.ArgumentParser
        The ``bench`` parser. Its ``shift`` subcommand sets ``handler`` to
        :func:`run_shift_benchmark`.
    """
    bench = subparsers.add_parser("bench", help="run a benchmark against baselines")
    benchmarks = bench.add_subparsers(
        dest="benchmark", required=True, metavar="BENCHMARK"
    )
    shift = benchmarks.add_parser(
        "shift",
        help="STDP vs frozen CNN vs EWC on shifted handwritten digits",
        description="Measure test accuracy under covariate shift (rotation + noise, "
        "translation + contrast) of an unsupervised STDP network, a frozen "
        "SGD-trained CNN and an EWC-adapted CNN, and estimate their energy.",
    )
    shift.add_argument(
        "--quick",
        action="store_true",
        help="small networks and one candidate per hyperparameter (for tests)",
    )
    shift.add_argument(
        "--seeds",
        type=_positive_int,
        default=None,
        help="number of seeds (splits and initial weights); "
        "default 5, or 2 with --quick",
    )
    shift.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_SHIFT_OUT,
        help=f"output folder for results.json, results.md and the plot "
        f"(default {DEFAULT_SHIFT_OUT})",
    )
    shift.set_defaults(handler=run_shift_benchmark)
    return bench


def run_shift_benchmark(args: argparse.Namespace, progress: Any = None) -> int:
    """Run ``bench shift`` with parsed arguments; print the tables; return 0.

    Parameters
    ----------
    args : argparse.Namespace
        With ``quick`` (bool), ``seeds`` (int or None) and ``out`` (Path).
    progress : callable, optional
        Called as ``progress(stage, fraction)``; the CLI passes its progress
        bar, which must offer ``close()`` if given.
    """
    from biosynapse_verify.bench.command import run_shift_command

    return run_shift_command(args.quick, args.seeds, Path(args.out), progress)
