"""Command line: ``biosynapse-verify verify NETWORK.yaml`` and friends.

Each subcommand lives in its own module under :mod:`biosynapse_verify.commands`.

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

from biosynapse_verify import __version__
from biosynapse_verify.commands import command_modules
from biosynapse_verify.errors import BadInputError, NumericalFailure

__all__ = ["main"]

logger = logging.getLogger("biosynapse_verify")

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
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in command_modules():
        module.register(subparsers)
    return parser


def _configure_logging(debug: bool, quiet: bool) -> None:
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("biosynapse_verify")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _run_guarded(handler: Callable[..., int], args: argparse.Namespace) -> int:
    from biosynapse_verify.simulate.lava_launcher import LavaRangeError, LavaUnavailableError

    progress = ProgressBar(enabled=not args.quiet)
    try:
        return handler(args, progress)
    except (BadInputError, LavaUnavailableError, LavaRangeError) as err:
        progress.close()
        _error(str(err), args.debug)
        return EXIT_BAD_INPUT
    except NotImplementedError as err:
        # A spec feature that the chosen backend or analysis cannot handle.
        progress.close()
        _error(f"unsupported: {err}", args.debug)
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
