"""Command line: ``biosynapse-verify verify NETWORK.yaml`` and friends.

Exit codes: 0 certified (or success), 1 refuted or inconclusive, 2 bad input,
3 numerical failure. Errors are one line on stderr; ``--debug`` adds the
traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from biosynapse_verify import __version__

__all__ = ["main"]

logger = logging.getLogger("biosynapse_verify")

EXIT_OK = 0
EXIT_NOT_CERTIFIED = 1
EXIT_BAD_INPUT = 2
EXIT_NUMERICAL = 3


class ProgressBar:
    """A one-line progress display on stderr, redrawn at most every 0.2 s.

    When stderr is not a terminal it logs a line at every tenth of a stage.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self._last_draw = 0.0
        self._stage = ""
        self._started = time.perf_counter()
        self._last_tenth = -1

    def __call__(self, stage: str, fraction: float) -> None:
        if not self.enabled:
            return
        if stage != self._stage:
            self._finish_line()
            self._stage, self._started, self._last_tenth = stage, time.perf_counter(), -1
        now = time.perf_counter()
        if self.tty:
            if now - self._last_draw < 0.2 and fraction < 1.0:
                return
            self._last_draw = now
            filled = int(30 * fraction)
            bar = "#" * filled + "-" * (30 - filled)
            elapsed = now - self._started
            sys.stderr.write(f"\r{stage:<10} [{bar}] {100 * fraction:5.1f}% {elapsed:6.1f} s")
            sys.stderr.flush()
        else:
            tenth = int(10 * fraction)
            if tenth > self._last_tenth:
                self._last_tenth = tenth
                logger.info("%s: %d%%", stage, 10 * tenth)

    def _finish_line(self) -> None:
        if self.tty and self._stage:
            sys.stderr.write("\n")
            sys.stderr.flush()

    def close(self) -> None:
        self._finish_line()
        self._stage = ""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="biosynapse-verify",
        description="Verify the stability of spiking networks that learn with STDP.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the verdict")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    verify = commands.add_parser("verify", help="simulate, certify and report one network")
    verify.add_argument("spec", type=Path, help="network spec (YAML)")
    _add_run_options(verify)
    verify.add_argument(
        "--out", type=Path, default=None, help="report folder (default reports/NETWORK)"
    )
    verify.set_defaults(handler=_cmd_verify)

    simulate = commands.add_parser("simulate", help="run the spiking simulation only")
    simulate.add_argument("spec", type=Path, help="network spec (YAML)")
    _add_run_options(simulate)
    simulate.add_argument(
        "--out", type=Path, default=None, help="write the result to this .npz file"
    )
    simulate.set_defaults(handler=_cmd_simulate)
    return parser


def _add_run_options(parser: argparse.ArgumentParser) -> None:
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
        "--duration", type=str, default=None, help='simulated time, e.g. "20 s" (overrides the spec)'
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="trial seeds (override the spec)"
    )


def _duration(text: str | None) -> float | None:
    from biosynapse_verify.spec.units import UnitError, parse_quantity

    if text is None:
        return None
    try:
        value = parse_quantity(float(text), "time")
    except ValueError:
        pass
    else:
        if value <= 0:
            raise _BadInput(f"--duration: {text!r} must be positive")
        return value
    try:
        value = parse_quantity(text, "time")
    except UnitError as err:
        raise _BadInput(f"--duration: {err}")
    if value <= 0:
        raise _BadInput(f"--duration: {text!r} must be positive")
    return value


def _backend_options(args: argparse.Namespace) -> dict:
    if args.backend == "lava":
        return {"run_config": args.lava_config, "scaling": args.lava_scaling}
    return {"device": args.device}


class _BadInput(Exception):
    """A command-line argument that is invalid; exit code 2."""


def _cmd_verify(args: argparse.Namespace, progress: ProgressBar) -> int:
    from biosynapse_verify.pipeline import VerifyOptions, verify
    from biosynapse_verify.spec import load_spec

    spec = load_spec(args.spec)
    options = VerifyOptions(
        backend=args.backend,
        out_dir=args.out,
        duration=_duration(args.duration),
        seeds=args.seeds,
        backend_options=_backend_options(args),
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
            f"decay rate alpha = {c['alpha']:.6g} 1/s"
        )
    if "check" in cert and cert["check"]:
        print(f"  check: {cert['check']['method']}: {cert['check']['reason']}")
    for name, path in outcome.paths.items():
        print(f"  {name}: {path}")
    print(f"  wall time {seconds:.1f} s")


def _cmd_simulate(args: argparse.Namespace, progress: ProgressBar) -> int:
    import numpy as np

    from biosynapse_verify.evidence import weight_summary
    from biosynapse_verify.report import atomic_write_bytes
    from biosynapse_verify.simulate import get_backend
    from biosynapse_verify.spec import load_spec

    spec = load_spec(args.spec)
    backend = get_backend(args.backend, **_backend_options(args))
    result = backend.run(
        spec,
        seeds=args.seeds,
        duration=_duration(args.duration),
        progress=lambda f: progress("simulate", f),
    )
    progress.close()
    print(f"{spec.name}: {result.duration:g} s simulated, {len(result.seeds)} seeds, "
          f"wall time {result.wall_time:.1f} s ({result.backend})")
    for pop in spec.populations:
        print(f"  {pop.name}: mean rate {result.mean_rates(pop.name).mean():.3f} Hz")
    for proj in spec.projections:
        if proj.plasticity is not None:
            s = weight_summary(result.weights[proj.name][:, -1], proj.w_min, proj.w_max)
            print(
                f"  {proj.name}: mean weight {s['mean']:.4g}, near 0: "
                f"{s['fraction_near_min']:.2f}, near w_max: {s['fraction_near_max']:.2f}, "
                f"bimodality {s['bimodality_coefficient']:.2f}"
            )
    if args.out is not None:
        import io

        buffer = io.BytesIO()
        arrays = {"record_times": result.record_times}
        arrays.update({f"weights_{k}": v for k, v in result.weights.items()})
        arrays.update({f"spike_counts_{k}": v for k, v in result.spike_counts.items()})
        np.savez(buffer, **arrays)
        atomic_write_bytes(args.out, buffer.getvalue())
        print(f"  written: {args.out}")
    return EXIT_OK


def _configure_logging(debug: bool, quiet: bool) -> None:
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("biosynapse_verify")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _run_guarded(handler: Callable[..., int], args: argparse.Namespace) -> int:
    from biosynapse_verify.pipeline import NumericalFailure
    from biosynapse_verify.simulate.lava_launcher import LavaRangeError, LavaUnavailableError
    from biosynapse_verify.spec import SpecError

    progress = ProgressBar(enabled=not args.quiet)
    try:
        return handler(args, progress)
    except (SpecError, _BadInput, LavaUnavailableError, LavaRangeError) as err:
        progress.close()
        _error(str(err), args.debug)
        return EXIT_BAD_INPUT
    except NotImplementedError as err:
        # A spec feature that the chosen backend or analysis cannot handle.
        progress.close()
        _error(f"unsupported: {err}", args.debug)
        return EXIT_BAD_INPUT
        progress.close()
        _error(str(err), args.debug)
        return EXIT_BAD_INPUT
    except NumericalFailure as err:
        progress.close()
        _error(f"numerical failure: {err}", args.debug)
        return EXIT_NUMERICAL
    except KeyboardInterrupt:
        progress.close()
        _error("interrupted; no partial output was written", args.debug)
        return 130


def _error(message: str, debug: bool) -> None:
    if debug:
        logger.exception(message)
    print(f"biosynapse-verify: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    _configure_logging(args.debug, args.quiet)
    return _run_guarded(args.handler, args)


if __name__ == "__main__":
    sys.exit(main())
