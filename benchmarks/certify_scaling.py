"""Time certificate search and check from 10^2 to 10^5 states beside dense peers.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/certify_scaling.py
    python benchmarks/certify_scaling.py --sizes 100 1000 --cap 60 --json out.json

For each size n the matrix is a network-shaped Jacobian (rates, then
per-post-neuron weight blocks; see ``certify_scaling_runs.py``). Three
methods decide its stability: ours (the structured search and the rigorous
check of ``biosynapse-verify certify``), a dense SDP with cvxpy + SCS, and
SciPy's dense Lyapunov solver followed by ``numpy.linalg.eigvalsh``.

Every run is a fresh Python process (``--child``), so its peak resident
memory (``ru_maxrss`` from ``os.wait4``) belongs to that run alone. The
peak includes the interpreter and imports, which the JSON gives separately
as the baseline. A peer run still going after ``--cap`` seconds is killed and
reported as did not finish (DNF). The cap counts from the start of the
timed part, after the child's imports, an untimed warm-up run on a small
network and the generation of A. A peer whose estimated peak memory exceeds
``MEMORY_FRACTION`` of the memory available when it would start is
skipped. Times are medians over ``--repeats`` runs. Sizes of at least
``SINGLE_RUN_N`` run once, and a peer stops repeating when another run
would pass the cap. Targets are printed as pass or fail, never asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from biosynapse_verify.report.atomic import atomic_write_text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from certify_scaling_runs import network_size, run_task

DEFAULT_SIZES = (100, 1_000, 10_000, 100_000)
DEFAULT_CAP_SECONDS = 120.0
DEFAULT_REPEATS = 3
SINGLE_RUN_N = 100_000
"""Sizes from here on run once, because one run of ours at n = 10^5 took one to
two minutes on the 2-core development machine."""
PEERS = ("sdp", "lyapunov")
MEMORY_FRACTION = 0.75
"""Share of MemAvailable a peer may be estimated to need; the machine is shared."""
LYAPUNOV_BYTES_PER_ENTRY = 80
"""Estimated peak bytes per entry of A for the dense Lyapunov peer: about ten
n x n float64 arrays (A, its Schur form and vectors, the right-hand side,
P, M and eigvalsh workspace)."""
SDP_BYTES_PER_COEFFICIENT = 130
"""Peak bytes per coefficient of cvxpy's canonicalised SDP, which has about n^3
coefficients for a dense A: 0.94 GB above the interpreter at n = 200
(8.0e6 coefficients), measured with cvxpy 1.9.3 and SCS 3.3.1 on the 2-core
development machine."""
SDP_KAPPA_MAX = 1e3
"""The package's default kappa_max for its SDP rung (SearchOptions.kappa_max)."""
SCS_EPS = 1e-6
"""The package's default SCS tolerance (SearchOptions.scs_eps)."""
SCS_MAX_ITERS = 100_000
SDP_BETA_SLACK = 1e-3
"""Relative slack on the SDP's beta when comparing it with ours. SCS stops when
residuals and the duality gap fall below eps times the data's scale, which
bounds beta's error only loosely."""
CROSSCHECK_MAX_N = 2_000
"""Default largest n at which eigvalsh re-checks our certificate densely; the
three dense eigvalsh calls take seconds here."""
LAMBDA_MIN_P_FLOOR = 1.0 - 2.0**-20
"""The floor the rigorous check proves for lambda_min(P) (check.LAMBDA_MIN_P_FLOOR)."""
TARGET_10K_SECONDS = 60.0
TARGET_10K_MIB = 4 * 1024.0
TARGET_100K_SECONDS = 300.0
TARGET_GROWTH_EXPONENT = 1.2
"""Largest fitted exponent of our time against nnz that counts as close to linear."""
POLL_SECONDS = 0.05
STARTUP_LIMIT_SECONDS = 300.0
"""Maximum seconds a child may take to import, warm up and generate A."""


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=int,
        default=list(DEFAULT_SIZES),
        help="target state dimensions n (default: 10^2 to 10^5)",
    )
    parser.add_argument(
        "--cap",
        type=float,
        default=DEFAULT_CAP_SECONDS,
        help="seconds after which a peer run is killed (default 120)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=DEFAULT_REPEATS,
        help=f"runs per case below n = {SINGLE_RUN_N} (default 3)",
    )
    parser.add_argument(
        "--peers",
        nargs="*",
        default=list(PEERS),
        choices=PEERS,
        help="peer methods to run (default: both)",
    )
    parser.add_argument(
        "--crosscheck-max-n",
        type=int,
        default=CROSSCHECK_MAX_N,
        help="largest n at which eigvalsh re-checks our certificate densely "
        f"(default {CROSSCHECK_MAX_N})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the matrices")
    parser.add_argument(
        "--json", type=Path, default=None, help="write all results here"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.cap <= 0:
        parser.error(
            f"--repeats must be >= 1 and --cap > 0; got {args.repeats}, {args.cap}"
        )
    return args


# ---------------------------------------------------------------- children
def run_child(task: dict[str, Any], cap: float | None) -> dict[str, Any]:
    """Run one task in a fresh interpreter; kill it after ``cap`` seconds.

    Returns the task's row with ``status`` ("ok", "dnf" or "failed") and
    ``peak_MiB``, the child's peak resident memory.
    """
    with tempfile.TemporaryDirectory() as folder:
        result_path = Path(folder) / "result.json"
        started_path = Path(folder) / "started"
        stderr_path = Path(folder) / "stderr.txt"
        job = {
            **task,
            "result_path": str(result_path),
            "started_path": str(started_path),
        }
        command = [sys.executable, __file__, "--child", json.dumps(job)]
        with open(stderr_path, "wb") as stderr:
            child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
            try:
                status, usage, wall = _wait(child, cap, started_path)
            except BaseException:
                # Interrupted (for example by Ctrl-C): leave no child running.
                child.kill()
                child.wait()
                raise
        # A run that reports its own peak (before untimed extras) overrides this.
        row: dict[str, Any] = {"peak_MiB": usage.ru_maxrss / 1024, "wall_seconds": wall}
        if status == "dnf":
            return {**row, "status": "dnf"}
        if status == "late":
            reason = f"did not start its timed part within {STARTUP_LIMIT_SECONDS:g} s"
            return {**row, "status": "failed", "reason": reason}
        if child.returncode != 0 or not result_path.exists():
            tail = stderr_path.read_text(errors="replace").strip().splitlines()[-3:]
            reason = f"exit code {child.returncode}: {' | '.join(tail)}"
            return {**row, "status": "failed", "reason": reason}
        return {**row, **json.loads(result_path.read_text()), "status": "ok"}


def _wait(
    child: subprocess.Popen, cap: float | None, started: Path
) -> tuple[str, Any, float]:
    """Reap ``child`` with os.wait4 (for its own rusage), killing it past the cap.

    The cap counts from the moment the child creates ``started``, after its
    imports, warm-up and matrix generation; those get ``STARTUP_LIMIT_SECONDS``.
    Returns the status ("done", "dnf", or "late" when the timed part never
    started), the rusage and the seconds since the timed part started (since
    launch if it never started).
    """
    launched = time.perf_counter()
    clock = None
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        now = time.perf_counter()
        if pid:
            child.returncode = os.waitstatus_to_exitcode(status)
            return "done", usage, now - (clock or launched)
        if clock is None and started.exists():
            clock = now
        late = clock is None and now - launched > STARTUP_LIMIT_SECONDS
        if late or (cap is not None and clock is not None and now - clock > cap):
            os.kill(child.pid, signal.SIGKILL)
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
            return ("late" if late else "dnf"), usage, now - (clock or launched)
        time.sleep(POLL_SECONDS)


def measure(task: dict[str, Any], repeats: int, cap: float | None) -> dict[str, Any]:
    """Run a task up to ``repeats`` times; return medians and the largest peak."""
    rows: list[dict[str, Any]] = []
    spent = 0.0
    for index in range(repeats):
        if cap is not None and rows and spent + rows[-1]["wall_seconds"] > cap:
            break
        row = run_child({**task, "repeat": index}, cap)
        rows.append(row)
        spent += row["wall_seconds"]
        if row["status"] != "ok":
            return {**row, "runs": len(rows)}
    summary = dict(rows[0])
    for key in ("seconds", "cpu_seconds", "search_seconds", "check_seconds"):
        if key in summary:
            summary[key] = statistics.median(row[key] for row in rows)
    summary["peak_MiB"] = max(row["peak_MiB"] for row in rows)
    summary["runs"] = len(rows)
    summary["all_seconds"] = [row["seconds"] for row in rows]
    return summary


# ---------------------------------------------------------------- cases
def memory_available_bytes() -> int:
    """Return MemAvailable from /proc/meminfo, in bytes."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/meminfo has no MemAvailable line")


def peer_estimate_bytes(method: str, n: int) -> float:
    """Return the estimated peak memory of a peer at size n, in bytes."""
    if method == "sdp":
        return SDP_BYTES_PER_COEFFICIENT * float(n) ** 3
    return LYAPUNOV_BYTES_PER_ENTRY * float(n) ** 2


def skip_reason(method: str, n: int) -> str | None:
    """Return why a peer is skipped at size n for lack of memory, or None."""
    needed = peer_estimate_bytes(method, n)
    allowed = MEMORY_FRACTION * memory_available_bytes()
    if needed <= allowed:
        return None
    return (
        f"needs about {needed / 2**30:.3g} GiB (estimate), more than "
        f"{MEMORY_FRACTION:.0%} of the {allowed / MEMORY_FRACTION / 2**30:.3g} GiB "
        "available"
    )


def run_size(n_target: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run ours (with its cross-check at small n) and the peers at one size."""
    _, n = network_size(n_target)
    repeats = 1 if n >= SINGLE_RUN_N else args.repeats
    base = {"n": n_target, "seed": args.seed}
    ours_task = {
        **base,
        "method": "ours",
        "crosscheck": n <= args.crosscheck_max_n,
        "lambda_min_P_floor": LAMBDA_MIN_P_FLOOR,
    }
    case: dict[str, Any] = {"n": n, "repeats": repeats, "load": os.getloadavg()[0]}
    case["ours"] = measure(ours_task, repeats, None)
    _progress(n, "ours", case["ours"])
    for method in args.peers:
        reason = skip_reason(method, n)
        if reason is not None:
            case[method] = {"status": "skipped", "reason": reason}
        else:
            task = {
                **base,
                "method": method,
                "kappa_max": SDP_KAPPA_MAX,
                "scs_eps": SCS_EPS,
                "scs_max_iters": SCS_MAX_ITERS,
            }
            case[method] = measure(task, repeats, args.cap)
        _progress(n, method, case[method])
    case["agreement"] = agreement(case, args.peers)
    return case


def _progress(n: int, method: str, row: dict[str, Any]) -> None:
    seconds = row.get("seconds")
    done = f"{seconds:.3g} s" if seconds is not None else row.get("reason", "")
    print(f"# n = {n}: {method} {row['status']} {done}", file=sys.stderr, flush=True)


def agreement(case: dict[str, Any], peers: list[str]) -> dict[str, Any]:
    """Compare verdicts with each finished peer, and beta where an order exists."""
    ours = case["ours"]
    found: dict[str, Any] = {}
    for method in peers:
        peer = case.get(method, {})
        if ours["status"] != "ok" or peer.get("status") != "ok":
            continue
        same = (ours["verdict"] == "certified") == (peer["verdict"] == "certified")
        found[f"{method}_verdict_agrees"] = same
    sdp = case.get("sdp", {})
    if ours.get("beta") is not None and sdp.get("status") == "ok" and sdp.get("beta"):
        if ours["lambda_max_P"] <= SDP_KAPPA_MAX:
            bound = sdp["beta"] * (1 + SDP_BETA_SLACK)
            found["sdp_beta_bounds_ours"] = ours["beta"] <= bound
        else:
            found["sdp_beta_bounds_ours"] = (
                f"n/a: our lambda_max(P) = {ours['lambda_max_P']:.3g} is outside "
                f"the SDP's kappa_max = {SDP_KAPPA_MAX:g}"
            )
    check = ours.get("crosscheck")
    if check is not None:
        found["eigvalsh_confirms_our_beta"] = check["confirmed"]
    return found


# ---------------------------------------------------------------- summary
def _time_against_nnz(
    cases: list[dict[str, Any]], key: str
) -> tuple[np.ndarray, np.ndarray]:
    """Return log(nnz) and log(our ``key`` seconds) where ours finished."""
    done = [case["ours"] for case in cases if case["ours"]["status"] == "ok"]
    log_nnz = np.log([ours["nnz"] for ours in done])
    log_seconds = np.log([ours[key] for ours in done])
    return log_nnz, log_seconds


def growth_exponent(cases: list[dict[str, Any]], key: str = "seconds") -> float | None:
    """Return the least-squares slope of log(our time) against log(nnz).

    ``key`` is "seconds" (wall) or "cpu_seconds".
    """
    x, y = _time_against_nnz(cases, key)
    if x.size < 2:
        return None
    return float(np.polyfit(x, y, 1)[0])


def local_exponents(cases: list[dict[str, Any]], key: str = "seconds") -> list[float]:
    """Return the slope of log(our time) against log(nnz) between neighbouring sizes.

    Fixed costs dominate the smallest sizes and pull the overall fit below
    one, so the last of these slopes is the better guide to large n.
    """
    x, y = _time_against_nnz(cases, key)
    return [float(value) for value in np.diff(y) / np.diff(x)]


def targets(cases: list[dict[str, Any]], exponent: float | None) -> list[str]:
    """Return one line per target: pass, fail or not run."""
    by_n = {case["n"]: case["ours"] for case in cases}
    lines = []
    ours = by_n.get(10_000)
    if ours is None:
        lines.append("n = 10^4 within 60 s and 4 GiB: not run")
    else:
        ok = (
            ours["status"] == "ok"
            and ours["verdict"] == "certified"
            and ours["seconds"] <= TARGET_10K_SECONDS
            and ours["peak_MiB"] <= TARGET_10K_MIB
        )
        lines.append(
            f"n = 10^4 certified within 60 s and 4 GiB: {_pass(ok)} "
            f"({ours.get('seconds', math.nan):.3g} s, {ours['peak_MiB']:.0f} MiB)"
        )
    ours = by_n.get(100_000)
    if ours is None:
        lines.append("n = 10^5 within 5 min: not run")
    else:
        ok = ours["status"] == "ok" and ours["verdict"] == "certified"
        ok = ok and ours["seconds"] <= TARGET_100K_SECONDS
        lines.append(
            f"n = 10^5 certified within 5 min: {_pass(ok)} "
            f"({ours.get('seconds', math.nan):.3g} s, {ours['peak_MiB']:.0f} MiB)"
        )
    if exponent is None:
        lines.append("growth close to linear in nnz: not enough sizes")
    else:
        ok = exponent <= TARGET_GROWTH_EXPONENT
        lines.append(
            f"growth close to linear in nnz (exponent <= {TARGET_GROWTH_EXPONENT}): "
            f"{_pass(ok)} (exponent {exponent:.2f})"
        )
    return lines


def _pass(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def _number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}"


def ours_table(cases: list[dict[str, Any]]) -> list[str]:
    """Return the markdown table of our runs."""
    lines = [
        (
            "| n | nnz | runs | search s | check s | total s | CPU s | peak MiB "
            "| verdict | beta | decay rate 1/s |"
        ),
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for case in cases:
        o = case["ours"]
        if o["status"] != "ok":
            lines.append(
                f"| {case['n']} | - | {o['runs']} | {o['status']} | | | | | | | |"
            )
            continue
        lines.append(
            f"| {case['n']} | {o['nnz']} | {o['runs']} | {_number(o['search_seconds'])} "
            f"| {_number(o['check_seconds'])} | {_number(o['seconds'])} "
            f"| {_number(o['cpu_seconds'])} | {o['peak_MiB']:.0f} | {o['verdict']} | {_number(o.get('beta'), 4)} "
            f"| {_number(o.get('decay_rate'), 4)} |"
        )
    return lines


def peer_table(cases: list[dict[str, Any]], peers: list[str]) -> list[str]:
    """Return the markdown table of the peers, with time ratios peer / ours."""
    lines = [
        (
            "| n | peer | runs | time s | CPU s | peak MiB | verdict | beta "
            "| peer / ours | agrees |"
        ),
        "| ---: | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |",
    ]
    for case in cases:
        for method in peers:
            lines.append(_peer_row(case, method))
    return lines


def _peer_row(case: dict[str, Any], method: str) -> str:
    peer, ours = case[method], case["ours"]
    start = f"| {case['n']} | {method} | {peer.get('runs', 0)} |"
    if peer["status"] == "skipped":
        return f"{start} skipped: {peer['reason']} | | | | | | |"
    if peer["status"] == "dnf":
        return (
            f"{start} did not finish (killed at {peer['wall_seconds']:.0f} s) | "
            f"| {peer['peak_MiB']:.0f} | | | | |"
        )
    if peer["status"] != "ok":
        return f"{start} failed: {peer['reason']} | | | | | | |"
    ratio = peer["seconds"] / ours["seconds"] if ours["status"] == "ok" else None
    agrees = case["agreement"].get(f"{method}_verdict_agrees")
    return (
        f"{start} {_number(peer['seconds'])} | {_number(peer['cpu_seconds'])} "
        f"| {peer['peak_MiB']:.0f} | {peer['verdict']} | {_number(peer.get('beta'), 4)} "
        f"| {_number(ratio)} | {'-' if agrees is None else _yes(agrees)} |"
    )


def _yes(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "NO"
    return str(value)


def machine() -> dict[str, Any]:
    """Return the CPU, memory, thread settings and library versions."""
    cpu = platform.processor() or platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    versions = {}
    for package in ("numpy", "scipy", "cvxpy", "scs"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "git": git_state(),
        "memory_available_GiB": memory_available_bytes() / 2**30,
        "python": platform.python_version(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "versions": versions,
    }


def git_state() -> dict[str, Any]:
    """Return the commit and the package files with uncommitted changes."""
    root = Path(__file__).resolve().parents[1]

    def git(*command: str) -> str:
        try:
            done = subprocess.run(
                ["git", *command], cwd=root, capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return ""
        return done.stdout.rstrip("\n")

    changed = git("status", "--porcelain", "--", "biosynapse_verify")
    return {
        "commit": git("rev-parse", "--short", "HEAD") or None,
        "uncommitted": [line[3:] for line in changed.splitlines()],
    }


def report(results: dict[str, Any], peers: list[str]) -> None:
    """Print the header, both tables, the growth exponent, agreement and targets."""
    info = results["machine"]
    print(
        f"machine: {info['cpu']}, {info['cores']} cores, "
        f"{info['memory_available_GiB']:.1f} GiB available, OMP_NUM_THREADS="
        f"{info['OMP_NUM_THREADS']}, python {info['python']}, {info['versions']}"
    )
    git = info["git"]
    print(f"commit {git['commit']}; uncommitted package files: {git['uncommitted']}")
    print(
        f"load average (1, 5, 15 min): start {results['load_start']}, "
        f"end {results['load_end']}; 1-min load at each size: "
        f"{[case['load'] for case in results['cases']]}"
    )
    print(
        f"peer cap {results['cap_seconds']:g} s; repeats {results['repeats']} "
        f"(1 from n = {SINGLE_RUN_N}); times are medians\n"
    )
    print("\n".join(ours_table(results["cases"])) + "\n")
    if peers:
        print("\n".join(peer_table(results["cases"], peers)) + "\n")
    for key, label in (("seconds", "wall"), ("cpu_seconds", "CPU")):
        exponent = results["growth_exponent"][key]
        local = ", ".join(f"{value:.2f}" for value in results["local_exponents"][key])
        print(
            f"growth exponent of our {label} time against nnz: {_number(exponent)} "
            f"(between neighbouring sizes: {local or '-'})"
        )
    for case in results["cases"]:
        for key, value in case["agreement"].items():
            print(f"n = {case['n']}: {key}: {_yes(value)}")
    print("\n".join(f"target: {line}" for line in results["targets"]))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print its tables and return every result."""
    args = parse_arguments(argv)
    results: dict[str, Any] = {
        "machine": machine(),
        "load_start": [round(x, 2) for x in os.getloadavg()],
        "cap_seconds": args.cap,
        "repeats": args.repeats,
        "argv": sys.argv[1:] if argv is None else list(argv),
    }
    cases = [run_size(n, args) for n in args.sizes]
    results["load_end"] = [round(x, 2) for x in os.getloadavg()]
    results["cases"] = cases
    keys = ("seconds", "cpu_seconds")
    results["growth_exponent"] = {key: growth_exponent(cases, key) for key in keys}
    results["local_exponents"] = {key: local_exponents(cases, key) for key in keys}
    results["targets"] = targets(cases, results["growth_exponent"]["seconds"])
    report(results, args.peers)
    if args.json is not None:
        atomic_write_text(
            args.json, json.dumps(results, indent=2, sort_keys=True) + "\n"
        )
    return results


def child_main(task_json: str) -> None:
    """Run one task and write its row as JSON where the driver reads it."""
    task = json.loads(task_json)
    row = run_task(task)
    Path(task["result_path"]).write_text(json.dumps(row))


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if len(arguments) == 2 and arguments[0] == "--child":
        child_main(arguments[1])
    else:
        main()
