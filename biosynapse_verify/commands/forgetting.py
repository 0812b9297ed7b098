"""``biosynapse-verify forgetting NETWORK.yaml``: measure forgetting against the bound.

Runs the spec's ``forgetting`` section with the torch backend and prints the
per-epoch forgetting rate over seeds beside the analytic bound. The exit
code is 0 when the bound holds in every epoch and seed, 1 when it fails.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "forgetting",
        help="train on the spec's tasks in turn and compare forgetting with the bound",
        description=(
            "Train on the first task of the spec's forgetting section to "
            "equilibrium, then on the later tasks epoch by epoch, and print the "
            "forgetting rate ||dW_A|| / ||W|| per epoch beside the bound "
            "(A-/A+) exp(-T/tau-). Exit code 0: the bound holds in every epoch "
            "and seed; 1: it fails."
        ),
    )
    parser.add_argument(
        "spec", type=Path, help="network spec (YAML) with a forgetting section"
    )
    parser.add_argument(
        "--device", default="cpu", help="torch device, e.g. cpu or cuda"
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=None,
        help="trial seeds (override the spec)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epochs per later task (overrides forgetting.epochs)",
    )
    parser.add_argument(
        "--plot",
        type=Path,
        default=None,
        help="write the forgetting figure to this PNG file",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help="write the full result to this JSON file",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, progress) -> int:
    import json

    from biosynapse_verify.errors import BadInputError
    from biosynapse_verify.forgetting import measure_forgetting
    from biosynapse_verify.report import atomic_write_bytes, atomic_write_text
    from biosynapse_verify.simulate import get_backend
    from biosynapse_verify.spec import load_spec

    if args.epochs is not None and args.epochs < 1:
        raise BadInputError(f"--epochs: {args.epochs} must be at least 1")
    if args.seeds is not None and not args.seeds:
        raise BadInputError("--seeds: give at least one trial seed")
    spec = load_spec(args.spec)
    try:
        backend = get_backend("torch", device=args.device)
    except ValueError as err:
        raise BadInputError(f"--device: {err}") from None
    result = measure_forgetting(
        spec,
        backend,
        progress=lambda f: progress("forgetting", f),
        seeds=args.seeds,
        epochs=args.epochs,
    )
    progress.close()

    print(
        f"{spec.name}: forgetting of task {result.tasks[0]!r}, {len(result.seeds)} "
        f"seeds, rates in % of ||W|| per epoch of {1e3 * result.epoch:g} ms "
        f"(wall time {result.wall_time:.1f} s)"
    )
    print(result.table())
    print()
    for sentence in result.summary():
        print(sentence)
    if args.plot is not None:
        atomic_write_bytes(args.plot, result.figure())
        print(f"  written: {args.plot}")
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(result.to_dict(), indent=2) + "\n")
        print(f"  written: {args.json}")
    return 0 if result.bound_holds else 1
