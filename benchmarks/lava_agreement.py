"""Run a spec on torch and on Lava and print wall times and the agreement table.

Usage::

    .venv/bin/python benchmarks/lava_agreement.py networks/vanrossum2000.yaml \
        --duration 60 --seeds 0 1 2 3 --out lava_comparison.json

Lava runs the spec's current-based equivalent (conductances frozen); torch
runs both the spec and that equivalent, so the table separates Lava's
arithmetic from the frozen driving force.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from biosynapse_verify.simulate.lava_launcher import (
    LavaBackend,
    compare_backends,
    current_based_equivalent,
)
from biosynapse_verify.simulate.torch_backend import TorchBackend
from biosynapse_verify.spec import load_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("--duration", type=float, default=None, help="seconds simulated")
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--config", default="floating_pt", choices=["floating_pt", "fixed_pt"])
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here")
    args = parser.parse_args()

    spec = load_spec(args.spec)
    options = {"seeds": args.seeds, "duration": args.duration}
    lava_backend = LavaBackend(run_config=args.config)
    lava = lava_backend.run(spec, **options)
    torch_equivalent = TorchBackend().run(current_based_equivalent(spec), **options)
    torch_spec = TorchBackend().run(spec, **options)
    tables = {
        "torch (current-based equivalent) vs lava": compare_backends(
            spec, torch_equivalent, lava, mapping=lava_backend.last_mapping
        ),
        "torch (spec) vs lava": compare_backends(spec, torch_spec, lava),
    }
    for title, table in tables.items():
        print(f"== {title}: {table['duration_s']:g} s, seeds {table['seeds']}")
        for backend, seconds in table["wall_time_s"].items():
            print(f"  wall time {backend}: {seconds:.1f} s")
        for name, pop in table["populations"].items():
            print(f"  {name} rate (Hz): {pop['mean_rate_hz']}  Welch p = "
                  f"{pop['welch_p_value']:.3g}  agree = {pop['agree']}")
        for name, proj in table["projections"].items():
            print(f"  {name} mean weight: {proj['mean_weight']}  KS p = "
                  f"{proj['ks_p_value']:.3g}  agree = {proj['agree']}")
    if args.out is not None:
        args.out.write_text(json.dumps(tables, indent=1))


if __name__ == "__main__":
    main()
