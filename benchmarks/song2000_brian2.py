"""Song, Miller & Abbott (2000) on Brian2 and on the torch backend, in one run.

Runs networks/song2000.yaml on both simulators, alternating, each trial in
its own subprocess so peak memory is measured per simulator. Prints wall
time, peak resident memory, the torch/Brian2 time ratio, and the agreement
of the results: output rate and the fractions of weights near 0 and near
w_max (within 10 % of the range) after the simulated time.

Brian2 is an optional extra (``pip install brian2==2.9.0``; it needs
numpy < 2.3). Run::

    .venv/bin/python benchmarks/song2000_brian2.py --duration 100 --repeats 3

Agreement tolerances (stated, not tuned): the two simulators draw different
Poisson spikes and initial weights, so their results agree in distribution
only. Over 100 s the post rate of one trial has a spread of a few Hz between
seeds, and the fractions near the bounds vary by about 0.05 between seeds;
the comparison therefore allows 30 % relative on the rate and 0.1 absolute on
each fraction, between the medians of each simulator's trials.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "networks" / "song2000.yaml"

RATE_RELATIVE_TOL = 0.30
FRACTION_ABSOLUTE_TOL = 0.10
NEAR_BOUND = 0.1


def _fractions(weights, w_max: float) -> tuple[float, float]:
    import numpy as np

    u = np.asarray(weights) / w_max
    return float(np.mean(u <= NEAR_BOUND)), float(np.mean(u >= 1 - NEAR_BOUND))


def run_brian2(duration: float, seed: int, target: str) -> dict:
    """Run the spec's network in Brian2 and return rate, fractions, wall time."""
    import brian2 as b2

    from biosynapse_verify.spec import load_spec

    spec = load_spec(SPEC)
    pop = spec.populations[0]
    proj = spec.projections[0]
    pl = proj.plasticity
    b2.prefs.codegen.target = target
    b2.start_scope()
    b2.seed(seed)
    b2.defaultclock.dt = spec.simulation.dt * b2.second
    namespace = {
        "tau_m": pop.tau_m * b2.second,
        "v_rest": pop.v_rest * b2.volt,
        "e_exc": pop.e_exc * b2.volt,
        "tau_e": pop.tau_syn_exc * b2.second,
        "tau_plus": pl.tau_plus * b2.second,
        "tau_minus": pl.tau_minus * b2.second,
        "a_plus": pl.eta * pl.a_plus,
        "a_minus": pl.eta * pl.a_minus,
        "w_max": proj.w_max,
        "v_threshold": pop.v_threshold * b2.volt,
        "v_reset": pop.v_reset * b2.volt,
    }
    inputs = b2.PoissonGroup(spec.inputs[0].size, rates=spec.inputs[0].rate * b2.Hz)
    neuron = b2.NeuronGroup(
        pop.size,
        """dv/dt = (v_rest - v + ge * (e_exc - v)) / tau_m : volt
           dge/dt = -ge / tau_e : 1""",
        threshold="v >= v_threshold",
        reset="v = v_reset",
        method="exponential_euler",
        namespace=namespace,
    )
    neuron.v = pop.v_reset * b2.volt
    synapses = b2.Synapses(
        inputs,
        neuron,
        """w : 1
           dapre/dt = -apre / tau_plus : 1 (event-driven)
           dapost/dt = -apost / tau_minus : 1 (event-driven)""",
        on_pre="""ge += w
                  w = clip(w - a_minus * apost, 0, w_max)
                  apre += 1""",
        on_post="""w = clip(w + a_plus * apre, 0, w_max)
                   apost += 1""",
        namespace=namespace,
    )
    synapses.connect()
    synapses.w = "rand() * w_max"
    spikes = b2.SpikeMonitor(neuron)
    b2.run(0.1 * b2.second)  # compile and warm up outside the timed run
    start_count = spikes.num_spikes
    started = time.perf_counter()
    b2.run(duration * b2.second)
    wall = time.perf_counter() - started
    near0, near_max = _fractions(synapses.w[:], proj.w_max)
    return {
        "simulator": f"brian2-{target}",
        "wall_s": wall,
        "rate_Hz": (spikes.num_spikes - start_count) / duration,
        "near_0": near0,
        "near_max": near_max,
    }


def run_torch(duration: float, seed: int, batch: int) -> dict:
    """Run the spec on the torch backend (``batch`` seeds in one tensor)."""
    from biosynapse_verify.simulate import get_backend
    from biosynapse_verify.spec import load_spec

    spec = load_spec(SPEC)
    backend = get_backend("torch")
    seeds = [seed + k for k in range(batch)]
    started = time.perf_counter()
    result = backend.run(spec, seeds=seeds, duration=duration)
    wall = time.perf_counter() - started
    final = result.final_weights("feedforward")
    near0, near_max = _fractions(final[0], spec.projections[0].w_max)
    return {
        "simulator": f"torch-batch{batch}",
        "wall_s": wall,
        "rate_Hz": float(result.spike_counts["post"][0].sum() / duration),
        "near_0": near0,
        "near_max": near_max,
    }


def _child(args: argparse.Namespace) -> None:
    if args.child == "brian2":
        row = run_brian2(args.duration, args.seed, args.target)
    else:
        row = run_torch(args.duration, args.seed, args.batch)
    row["peak_rss_MiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(row))


def _spawn(kind: str, args: argparse.Namespace, seed: int, batch: int = 1) -> dict:
    command = [
        sys.executable, __file__, "--child", kind, "--duration", str(args.duration),
        "--seed", str(seed), "--target", args.target, "--batch", str(batch),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def _summarise(rows: list[dict]) -> dict:
    keys = ("wall_s", "peak_rss_MiB", "rate_Hz", "near_0", "near_max")
    return {k: statistics.median(r[k] for r in rows) for k in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=100.0, help="simulated seconds")
    parser.add_argument("--repeats", type=int, default=3, help="trials per simulator")
    parser.add_argument("--target", default="cython", choices=["cython", "numpy"])
    parser.add_argument("--batch", type=int, default=1, help="torch seeds per batch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", choices=["brian2", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return

    rows: dict[str, list[dict]] = {"brian2": [], "torch": []}
    for repeat in range(args.repeats):
        for kind in ("brian2", "torch"):  # alternate so load drifts hit both
            row = _spawn(kind, args, seed=args.seed + repeat)
            rows[kind].append(row)
            print(json.dumps(row), flush=True)
    brian, torch_ = _summarise(rows["brian2"]), _summarise(rows["torch"])
    print(f"\nSong 2000, {args.duration:g} s simulated, medians of {args.repeats} trials")
    print(f"{'':14}{'wall s':>9}{'peak MiB':>10}{'rate Hz':>9}{'near 0':>8}{'near max':>9}")
    for name, s in (("brian2-" + args.target, brian), ("torch", torch_)):
        print(
            f"{name:14}{s['wall_s']:9.2f}{s['peak_rss_MiB']:10.0f}{s['rate_Hz']:9.2f}"
            f"{s['near_0']:8.3f}{s['near_max']:9.3f}"
        )
    print(f"time ratio torch / brian2: {torch_['wall_s'] / brian['wall_s']:.3f}")
    rate_ok = abs(torch_["rate_Hz"] - brian["rate_Hz"]) <= RATE_RELATIVE_TOL * brian["rate_Hz"]
    near0_ok = abs(torch_["near_0"] - brian["near_0"]) <= FRACTION_ABSOLUTE_TOL
    nearmax_ok = abs(torch_["near_max"] - brian["near_max"]) <= FRACTION_ABSOLUTE_TOL
    print(
        f"agreement: rate {'ok' if rate_ok else 'DIFFERS'} "
        f"(tolerance {RATE_RELATIVE_TOL:.0%} relative), near 0 "
        f"{'ok' if near0_ok else 'DIFFERS'}, near w_max {'ok' if nearmax_ok else 'DIFFERS'} "
        f"(tolerance {FRACTION_ABSOLUTE_TOL} absolute)"
    )


if __name__ == "__main__":
    main()
