"""Options and parsing shared by the subcommands that run a simulation."""

from __future__ import annotations

import argparse

from biosynapse_verify.errors import BadInputError

__all__ = ["add_run_options", "backend_options", "parse_duration"]


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Add --backend, --device, --lava-*, --duration and --seeds to ``parser``."""
    parser.add_argument(
        "--backend", default="torch", choices=["torch", "lava"], help="simulator backend"
    )
    parser.add_argument(
        "--device", default="cpu", help="torch device, e.g. cpu or cuda (torch backend)"
    )
    parser.add_argument(
        "--lava-config",
        default="floating_pt",
        choices=["floating_pt", "fixed_pt"],
        help="Lava run configuration (lava backend)",
    )
    parser.add_argument(
        "--lava-scaling",
        default="preserve",
        choices=["preserve", "stdploihi"],
        help="how STDP amplitudes are quantised for Loihi: 'preserve' keeps "
        "A-/A+ where possible, 'stdploihi' rounds each like STDPLoihi (lava backend)",
    )
    parser.add_argument(
        "--duration",
        type=str,
        default=None,
        help='simulated time, e.g. "20 s" or 20 (seconds); overrides the spec',
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="trial seeds (override the spec)"
    )


def backend_options(args: argparse.Namespace, backend: str | None = None) -> dict:
    """Return the constructor's keyword arguments of ``backend`` (default: --backend)."""
    if (backend or args.backend) == "lava":
        return {"run_config": args.lava_config, "scaling": args.lava_scaling}
    return {"device": args.device}


def parse_duration(text: str | None) -> float | None:
    """Parse --duration ("20 s", "500 ms" or a number of seconds); None passes through."""
    from biosynapse_verify.spec.units import UnitError, parse_quantity

    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        try:
            value = parse_quantity(text, "time")
        except UnitError as err:
            raise BadInputError(f"--duration: {err}") from None
    if value <= 0:
        raise BadInputError(f"--duration: {text!r} must be positive")
    return value
