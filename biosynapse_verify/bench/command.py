"""The ``bench shift`` command: run the seeds, write the outputs, print the tables."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch

from biosynapse_verify.bench.output import build_record, markdown_report, write_outputs
from biosynapse_verify.bench.shift import full_settings, quick_settings, run_seed
from biosynapse_verify.errors import BadInputError

__all__ = ["TORCH_THREADS", "run_shift_command"]

logger = logging.getLogger(__name__)

# The networks here are tiny (at most 64 x 200 weights), so a second thread
# only adds synchronisation cost. On a loaded 2-core machine, two threads made
# one STDP step take 17 ms instead of 1 ms.
TORCH_THREADS = 1


def run_shift_command(
    quick: bool,
    seeds: int | None,
    out_dir: Path,
    progress: Callable[[str, float], None] | None = None,
) -> int:
    """Run the shift benchmark, write its files and print its report to stdout.

    Parameters
    ----------
    quick : bool
        Use the reduced settings.
    seeds : int or None
        Number of seeds; None for the default of the mode (5 full, 2 quick).
    out_dir : Path
        Output folder.
    progress : callable, optional
        ``progress(stage, fraction)``.

    Returns
    -------
    int
        0 on success.

    Raises
    ------
    BadInputError
        If ``out_dir`` cannot be created or written; checked before the run.
    """
    settings = quick_settings(seeds or 2) if quick else full_settings(seeds or 5)
    _prepare_out_dir(out_dir)
    previous_threads = torch.get_num_threads()
    threads = min(TORCH_THREADS, previous_threads)
    torch.set_num_threads(threads)
    started = time.perf_counter()
    try:
        results = [run_seed(seed, settings, progress) for seed in settings.seeds]
    finally:
        torch.set_num_threads(previous_threads)
        if progress is not None and hasattr(progress, "close"):
            progress.close()
    record = build_record(results, settings, time.perf_counter() - started, threads)
    paths = write_outputs(record, out_dir)

    print(markdown_report(record), end="")
    for kind, path in paths.items():
        print(f"  {kind}: {path}")
    return 0


def _prepare_out_dir(out_dir: Path) -> None:
    """Create ``out_dir`` and check that it is writable, before any computing."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInputError(
            f"--out {out_dir}: cannot create the folder ({err.strerror}); "
            "choose a writable folder"
        ) from err
    if not os.access(out_dir, os.W_OK):
        raise BadInputError(
            f"--out {out_dir}: the folder is not writable; choose a writable folder"
        )
