"""``biosynapse-verify verify NETWORK.yaml``: simulate, certify, check and report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from biosynapse_verify.commands._common import (
    add_run_options,
    backend_options,
    parse_duration,
)
from biosynapse_verify.errors import BadInputError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("verify", help="simulate, certify and report one network")
    parser.add_argument("spec", type=Path, help="network spec (YAML)")
    add_run_options(parser)
    parser.add_argument(
        "--out", type=Path, default=None, help="report folder (default reports/NETWORK)"
    )
    parser.add_argument(
        "--compare-backend",
        default="auto",
        choices=["auto", "torch", "lava", "none"],
        help="also simulate on this backend with the same seeds and report both side "
        "by side with two-sample tests; 'auto' (default) means torch when --backend "
        "is lava and none otherwise",
    )
    parser.add_argument(
        "--no-pdf",
        action="store_true",
        help="skip certificate.pdf (about 6-10 s); the HTML page has the same content",
    )
    parser.set_defaults(handler=run)


def comparison_backend(args: argparse.Namespace) -> str | None:
    """Return the backend to compare with, or None; reject the simulation backend itself."""
    choice = args.compare_backend
    if choice == "auto":
        return "torch" if args.backend == "lava" else None
    if choice == "none":
        return None
    if choice == args.backend:
        raise BadInputError(
            f"--compare-backend {choice}: the simulation already runs on {choice}; "
            "choose the other backend or none"
        )
    return choice


def run(args: argparse.Namespace, progress) -> int:
    from biosynapse_verify.pipeline import VerifyOptions, verify
    from biosynapse_verify.spec import load_spec

    spec = load_spec(args.spec)
    compare = comparison_backend(args)
    options = VerifyOptions(
        backend=args.backend,
        out_dir=args.out,
        duration=parse_duration(args.duration),
        seeds=args.seeds,
        backend_options=backend_options(args),
        compare_backend=compare,
        compare_options=backend_options(args, compare) if compare else {},
        pdf=not args.no_pdf,
    )
    started = time.perf_counter()
    outcome = verify(spec, options, progress=progress)
    progress.close()
    _print_verdict(outcome, time.perf_counter() - started)
    return outcome.exit_code


def _print_verdict(outcome: object, seconds: float) -> None:
    cert = outcome.certificate
    print(f"{cert['network']}: {outcome.verdict.upper()}")
    print(f"  {cert['claim']}")
    if "certificate" in cert and outcome.verdict == "certified":
        c = cert["certificate"]
        print(
            f"  beta = {c['beta']:.6g}, lambda_max(P) = {c['lambda_max_P']:.6g}, "
            f"alpha = beta / lambda_max(P) = {c['alpha']:.6g} 1/s"
        )
        if c.get("decay_rate"):
            print(f"  proven decay rate of x^T P x: exp(-2 * {c['decay_rate']:.6g} t)")
    if cert.get("check"):
        print(f"  check: {cert['check']['method']}: {cert['check']['reason']}")
    comparison = cert.get("backend_comparison")
    if comparison:
        agreeing = sum(row["agree"] for row in comparison["tests"])
        print(
            f"  backend comparison: {agreeing} of {len(comparison['tests'])} "
            f"two-sample tests agree at alpha = {comparison['alpha']:g}"
        )
    for name, path in outcome.paths.items():
        print(f"  {name}: {path}")
    print(f"  wall time {seconds:.1f} s")
