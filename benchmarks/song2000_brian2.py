"""Simulator speed: the torch backend against Brian2 on Song, Miller & Abbott (2000).

Runs networks/song2000.yaml (1000 Poisson inputs at 15 Hz onto one LIF
neuron, additive STDP, dt = 0.1 ms) on Brian2 and on the torch backend,
alternating within each repeat, every run in its own child process so that
peak memory is measured per run. Then, unless ``--ei-duration 0``, it runs
networks/ei_10k.yaml (10^4 recurrent LIF neurons) on the torch backend.

It prints, per simulator and as medians over the repeats, the wall time,
the CPU time of the child process, peak resident memory, trials per second
and synaptic events per second (defined in benchmarks/speed_runs.py and
docs/benchmarks.md). It also prints the output rate and the fractions of
weights near 0 and near w_max. Then come the time ratio torch / Brian2 for
one trial, the throughput ratio of a batch of seeds against Brian2, and
whether the results agree.

Brian2 is an optional extra (``pip install brian2==2.9.0``; it needs
numpy < 2.3). The Brian2 model mirrors the torch backend's step order;
``--model-check SECONDS`` runs both simulators on identical inputs and
initial state and reports whether their spikes and weights coincide. Run::

    .venv/bin/python benchmarks/song2000_brian2.py --duration 100 --repeats 3

Agreement tolerances: the simulators draw different Poisson spikes and
initial weights, so their results agree in distribution only. Over 100 s
one trial's output rate varies by a few hertz between seeds, and the
fractions near the bounds by a few hundredths, so the medians may differ by
up to RATE_RELATIVE_TOL relative and FRACTION_ABSOLUTE_TOL absolute.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import speed_runs

# Medians of 3 trials of a quantity whose seed-to-seed spread is about 10 %
# (rate) or 0.03 (fractions) stay well inside these bounds when the models
# agree. The identical-input check (--model-check) tests the models exactly.
RATE_RELATIVE_TOL = 0.30
FRACTION_ABSOLUTE_TOL = 0.10
EXIT_BAD_INPUT = 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration", type=float, default=100.0, help="simulated seconds of song2000"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per simulator")

    parser.add_argument(
        "--targets",
        nargs="+",
        default=["cython"],
        choices=["cython", "numpy", "none"],
        help="Brian2 code generation targets to run; 'none' skips Brian2",
    )
    parser.add_argument(
        "--batch", type=int, default=16, help="seeds in the torch batch run"
    )
    parser.add_argument(
        "--device", default="cpu", help="torch device: cpu, cuda or cuda:N"
    )
    parser.add_argument(
        "--engine",
        default="auto",
        choices=["auto", "event", "clock"],
        help="torch backend engine",
    )
    parser.add_argument("--seed", type=int, default=0, help="first trial seed")

    parser.add_argument(
        "--ei-duration",
        type=float,
        default=1.0,
        help="simulated seconds of networks/ei_10k.yaml; 0 skips it",
    )
    parser.add_argument(
        "--ei-repeats", type=int, default=1, help="runs of networks/ei_10k.yaml"
    )
    parser.add_argument(
        "--model-check",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="also run both simulators on identical inputs for this long",
    )
    parser.add_argument(
        "--json", type=Path, help="write every run and the summary here"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)

    args = parser.parse_args(argv)
    for name in ("duration", "repeats", "batch", "ei_repeats"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    return args


# ---------------------------------------------------------------- children
def run_child(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job in this process and return its row."""
    kind = job["kind"]
    if kind == "brian2":
        row = speed_runs.run_brian2(job["duration"], job["seed"], job["target"])
    elif kind == "torch":
        seeds = [job["seed"] + k for k in range(job["batch"])]
        spec = Path(job["spec"])
        row = speed_runs.run_torch(
            spec, job["duration"], seeds, job["device"], job["engine"]
        )
        row["network"] = spec.stem
    else:
        row = speed_runs.run_model_check(job["duration"], job["seed"])
    row["peak_rss_MiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def spawn(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job in a child process and return its row."""
    command = [sys.executable, __file__, "--child", json.dumps(job)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(
            f"benchmark child {job} failed with exit code {completed.returncode}:\n"
            f"{completed.stderr[-4000:]}"
        )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def song_jobs(args: argparse.Namespace, repeat: int) -> list[dict[str, Any]]:
    """Return the song2000 jobs of one repeat, in the order they alternate."""
    seed = args.seed + repeat * max(args.batch, 1)
    jobs = [
        {"kind": "brian2", "target": target, "duration": args.duration, "seed": seed}
        for target in args.targets
        if target != "none"
    ]
    torch_job = {
        "kind": "torch",
        "spec": str(speed_runs.SONG_SPEC),
        "duration": args.duration,
        "seed": seed,
        "device": args.device,
        "engine": args.engine,
    }
    jobs.append({**torch_job, "batch": 1})
    if args.batch > 1:
        jobs.append({**torch_job, "batch": args.batch})
    return jobs


# ----------------------------------------------------------------- summary
def summarise(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Return medians over runs of one simulator, and derived throughputs."""
    keys = ["wall_s", "cpu_s", "peak_rss_MiB", "rate_Hz", "near_0", "near_max"]
    summary: dict[str, float] = {}
    for key in keys:
        if all(key in row for row in rows):
            summary[key] = statistics.median(row[key] for row in rows)
    trials = rows[0]["trials"]
    summary["trials"] = trials
    summary["trials_per_s"] = statistics.median(trials / r["wall_s"] for r in rows)
    summary["events_per_s"] = statistics.median(
        r["events_total"] / r["wall_s"] for r in rows
    )
    summary["runs"] = len(rows)
    return summary


def paired_ratios(
    numerator: list[dict[str, Any]], denominator: list[dict[str, Any]], key: str
) -> list[float]:
    """Return ``numerator[i][key] / denominator[i][key]`` for runs of the same repeat."""
    return [n[key] / d[key] for n, d in zip(numerator, denominator, strict=True)]


def agreement(
    torch_rows: list[dict[str, Any]], brian_rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """Compare the pooled per-seed torch results with the Brian2 trials."""
    pooled = {
        key: [value for row in torch_rows for value in row[f"{key}_per_seed"]]
        for key in ("rate_Hz", "near_0", "near_max")
    }
    brian = {key: [row[key] for row in brian_rows] for key in pooled}
    result: dict[str, Any] = {}
    for key, values in pooled.items():
        torch_median = statistics.median(values)
        brian_median = statistics.median(brian[key])
        difference = abs(torch_median - brian_median)
        if key == "rate_Hz":
            within = difference <= RATE_RELATIVE_TOL * brian_median
        else:
            within = difference <= FRACTION_ABSOLUTE_TOL
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        result[key] = {
            "torch_median": torch_median,
            "torch_seed_stdev": spread,
            "torch_seeds": len(values),
            "brian2_median": brian_median,
            "brian2_trials": len(brian[key]),
            "agrees": within,
        }
    return result


def print_table(title: str, summaries: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}")
    header = (
        f"{'simulator':24}{'wall s':>9}{'cpu s':>9}{'peak MiB':>10}{'trials/s':>10}"
        f"{'events/s':>10}{'rate Hz':>9}{'near 0':>8}{'near max':>9}"
    )
    print(header)
    for name, s in summaries.items():
        print(
            f"{name:24}{s['wall_s']:9.2f}{s['cpu_s']:9.2f}{s['peak_rss_MiB']:10.0f}"
            f"{s['trials_per_s']:10.4f}{s['events_per_s']:10.3g}"
            f"{s.get('rate_Hz', float('nan')):9.2f}{s.get('near_0', float('nan')):8.3f}"
            f"{s.get('near_max', float('nan')):9.3f}"
        )


def print_comparison(
    rows: dict[str, list[dict[str, Any]]], args: argparse.Namespace
) -> dict[str, Any]:
    """Print the ratios against each Brian2 target; return them."""
    comparison: dict[str, Any] = {}
    single = rows[f"torch-{args.device}-batch1"]
    batch = rows.get(f"torch-{args.device}-batch{args.batch}")
    for target in [t for t in args.targets if t != "none"]:
        brian = rows[f"brian2-{target}"]
        time_ratios = paired_ratios(single, brian, "wall_s")
        entry = {
            "single_time_ratio_median": statistics.median(time_ratios),
            "single_time_ratio_per_repeat": time_ratios,
        }
        print(
            f"one trial, wall time torch / brian2-{target}: median of paired "
            f"ratios {entry['single_time_ratio_median']:.3f} "
            f"(per repeat: {', '.join(f'{r:.3f}' for r in time_ratios)}); target <= 0.5"
        )
        if batch is not None:
            # Throughput ratio = (B / wall_batch) / (1 / wall_brian2).
            speedups = [
                b["trials"] * r["wall_s"] / b["wall_s"]
                for b, r in zip(batch, brian, strict=True)
            ]
            entry["batch_throughput_ratio_median"] = statistics.median(speedups)
            entry["batch_throughput_ratio_per_repeat"] = speedups
            print(
                f"{args.batch} seeds batched, trials per second torch / "
                f"brian2-{target}: median {entry['batch_throughput_ratio_median']:.1f} "
                f"(per repeat: {', '.join(f'{r:.1f}' for r in speedups)}); "
                "target >= 10"
            )
        torch_rows = single + (batch or [])
        entry["agreement"] = agreement(torch_rows, brian)
        for key, value in entry["agreement"].items():
            print(
                f"  agreement {key}: torch {value['torch_median']:.3f} "
                f"(seed stdev {value['torch_seed_stdev']:.3f}, "
                f"{value['torch_seeds']} seeds), brian2 {value['brian2_median']:.3f} "
                f"({value['brian2_trials']} trials): "
                f"{'agrees' if value['agrees'] else 'DIFFERS'}"
            )
        comparison[target] = entry
    return comparison


# -------------------------------------------------------------------- main
def check_environment(args: argparse.Namespace) -> None:
    """Exit with status 2 and a one-line message if the run cannot start."""
    from biosynapse_verify.errors import BadInputError
    from biosynapse_verify.simulate.torch_backend import resolve_device

    try:
        resolve_device(args.device)
    except BadInputError as err:
        _fail(f"--device: {err}")
    # Only the children import Brian2, which replaces sys.excepthook on import.
    wants_brian2 = any(t != "none" for t in args.targets)
    if wants_brian2 and importlib.util.find_spec("brian2") is None:
        _fail(
            "Brian2 is not installed; install it with 'pip install "
            "brian2==2.9.0' or pass --targets none to run the torch backend only"
        )
    if args.ei_duration > 0 and not speed_runs.EI_SPEC.exists():
        _fail(
            f"{speed_runs.EI_SPEC} not found; pass --ei-duration 0 to skip the "
            "10^4-neuron network"
        )


def _fail(message: str) -> None:
    print(f"{Path(__file__).name}: error: {message}", file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)


def machine_description() -> dict[str, Any]:
    import numpy
    import torch

    description = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "load_average_at_start": os.getloadavg(),
    }
    try:
        description["brian2"] = importlib.metadata.version("brian2")
    except importlib.metadata.PackageNotFoundError:
        description["brian2"] = None
    return description


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(run_child(json.loads(args.child))))
        return
    check_environment(args)
    report: dict[str, Any] = {
        "machine": machine_description(),
        "args": dict(vars(args)),
    }
    report["args"]["json"] = str(args.json) if args.json else None
    rows: dict[str, list[dict[str, Any]]] = {}
    started = time.perf_counter()
    for repeat in range(args.repeats):
        for job in song_jobs(args, repeat):
            row = spawn(job)
            rows.setdefault(row["simulator"], []).append(row)
            print(
                json.dumps({k: v for k, v in row.items() if "per_seed" not in k}),
                flush=True,
            )
    summaries = {name: summarise(runs) for name, runs in rows.items()}
    print_table(
        f"song2000, {args.duration:g} s simulated, medians of {args.repeats} runs",
        summaries,
    )
    report["song2000"] = {"runs": rows, "summary": summaries}
    report["song2000"]["comparison"] = print_comparison(rows, args)

    if args.ei_duration > 0:
        ei_rows = []
        for repeat in range(args.ei_repeats):
            job = {
                "kind": "torch",
                "spec": str(speed_runs.EI_SPEC),
                "duration": args.ei_duration,
                "seed": args.seed + repeat,
                "batch": 1,
                "device": args.device,
                "engine": args.engine,
            }
            ei_rows.append(spawn(job))
            print(
                json.dumps(
                    {k: v for k, v in ei_rows[-1].items() if "per_seed" not in k}
                )
            )
        ei_summary = summarise(ei_rows)
        print_table(
            f"ei_10k, {args.ei_duration:g} s simulated, medians of {args.ei_repeats} runs",
            {ei_rows[0]["simulator"]: ei_summary},
        )
        report["ei_10k"] = {"runs": ei_rows, "summary": ei_summary}

    if args.model_check > 0:
        check = spawn(
            {"kind": "model-check", "duration": args.model_check, "seed": args.seed}
        )
        print(
            f"\nmodel check, identical inputs for {args.model_check:g} s: {json.dumps(check)}"
        )
        report["model_check"] = check

    report["machine"]["load_average_at_end"] = os.getloadavg()
    report["elapsed_s"] = time.perf_counter() - started
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
        print(f"written: {args.json}")


if __name__ == "__main__":
    main()
