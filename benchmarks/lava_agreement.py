"""Run a spec with Poisson inputs on Lava and on torch, and test that they agree.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lava_agreement.py \
        networks/vanrossum2000.yaml --duration 2 --lava-seeds 0 1 2 3 4 5 6 7 \
        --torch-seeds 100-131 --out lava_agreement.json

Lava runs the spec's current-based equivalent (conductances frozen). Torch
runs that equivalent and the spec itself on other seeds, so the two-sample
tests compare independent samples, and the equivalent once more on Lava's
seeds, which adds a paired test on shared input spikes. The tests and
their effect sizes are those of :mod:`biosynapse_verify.simulate.compare`;
the output also gives the smallest effect (Hedges' g) that the per-seed
Welch tests detect with 80 % power at the chosen alpha.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
from pathlib import Path

from scipy import stats

from biosynapse_verify.simulate.compare import DEFAULT_ALPHA, compare_runs
from biosynapse_verify.simulate.lava_launcher import LavaBackend, current_based_equivalent
from biosynapse_verify.simulate.torch_backend import TorchBackend
from biosynapse_verify.spec import load_spec

POWER = 0.8


def parse_seeds(items: list[str]) -> list[int]:
    """Parse seeds given as integers or inclusive ranges such as ``100-131``."""
    seeds: list[int] = []
    for item in items:
        if "-" in item.lstrip("-"):
            first, last = item.split("-", 1)
            seeds.extend(range(int(first), int(last) + 1))
        else:
            seeds.append(int(item))
    return seeds


def detectable_effect(n1: int, n2: int, alpha: float, power: float = POWER) -> float:
    """Smallest |Hedges g| a two-sided Welch test detects with ``power`` (normal approximation)."""
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return float(z * math.sqrt(1 / n1 + 1 / n2))


def run_all(spec, lava_seeds, torch_seeds, duration, config):
    equivalent = current_based_equivalent(spec)
    lava_backend = LavaBackend(run_config=config)
    torch_backend = TorchBackend()
    options = {"duration": duration}
    runs = {
        f"lava:{config}": lava_backend.run(spec, seeds=lava_seeds, **options),
        "torch (equivalent)": torch_backend.run(equivalent, seeds=torch_seeds, **options),
        "torch (spec)": torch_backend.run(spec, seeds=torch_seeds, **options),
        "torch (equivalent, Lava's seeds)": torch_backend.run(
            equivalent, seeds=lava_seeds, **options
        ),
    }
    return runs, lava_backend.last_mapping


def print_table(result: dict) -> None:
    print(f"alpha = {result['alpha']}, detectable Hedges g at {POWER:.0%} power: "
          f"{result['detectable_hedges_g']:.2f}")
    for run in result["runs"]:
        rates = {k: round(v["mean_rate_Hz"], 3) for k, v in run["populations"].items()}
        weights = {
            k: (round(v["mean"], 5), round(v["std"], 5), round(v["fraction_near_max"], 3))
            for k, v in run["projections"].items()
        }
        print(f"  {run['label']}: seeds {len(run['seeds'])}, wall {run['wall_time_s']:.1f} s, "
              f"rate {rates}, weight (mean, std, near max) {weights}")
    for row in result["tests"]:
        effect = "n/a" if row["effect"] is None else f"{row['effect']:.3g}"
        print(f"  {row['compared']}: {row['quantity']}: {row['test']} p = "
              f"{row['p_value']:.3g}, {row['effect_size']} = {effect}, agree = {row['agree']}")


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` as JSON through a temporary file and a rename."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w") as stream:
        json.dump(data, stream, indent=1)
    os.replace(temporary, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("--duration", type=float, default=None, help="seconds simulated")
    parser.add_argument("--lava-seeds", nargs="+", default=["0-7"])
    parser.add_argument("--torch-seeds", nargs="+", default=["100-131"])
    parser.add_argument("--config", default="floating_pt", choices=["floating_pt", "fixed_pt"])
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA)
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here")
    args = parser.parse_args()

    spec = load_spec(args.spec)
    lava_seeds, torch_seeds = parse_seeds(args.lava_seeds), parse_seeds(args.torch_seeds)
    if set(lava_seeds) & set(torch_seeds):
        parser.error("--lava-seeds and --torch-seeds must not overlap (independent samples)")
    runs, mapping = run_all(spec, lava_seeds, torch_seeds, args.duration, args.config)
    lava_label = f"lava:{args.config}"
    pairs = [(lava_label, label) for label in runs if label != lava_label]
    result = compare_runs(spec, runs, pairs, args.alpha)
    result["detectable_hedges_g"] = detectable_effect(
        len(lava_seeds), len(torch_seeds), args.alpha
    )
    result["duration_s"] = runs[lava_label].duration
    result["lava_mapping"] = mapping.report()
    print_table(result)
    if args.out is not None:
        write_json(args.out, result)


if __name__ == "__main__":
    main()
