"""``biosynapse-verify simulate NETWORK.yaml``: run the spiking simulation only."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from biosynapse_verify.commands._common import (
    add_run_options,
    backend_options,
    parse_duration,
)

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("simulate", help="run the spiking simulation only")
    parser.add_argument("spec", type=Path, help="network spec (YAML)")
    add_run_options(parser)
    parser.add_argument(
        "--out", type=Path, default=None, help="write the result to this .npz file"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, progress) -> int:
    import numpy as np

    from biosynapse_verify.evidence import weight_summary
    from biosynapse_verify.report import atomic_write_bytes
    from biosynapse_verify.simulate import get_backend
    from biosynapse_verify.spec import load_spec

    spec = load_spec(args.spec)
    backend = get_backend(args.backend, **backend_options(args))
    result = backend.run(
        spec,
        seeds=args.seeds,
        duration=parse_duration(args.duration),
        progress=lambda f: progress("simulate", f),
    )
    progress.close()
    print(
        f"{spec.name}: {result.duration:g} s simulated, {len(result.seeds)} seeds, "
        f"wall time {result.wall_time:.1f} s ({result.backend})"
    )
    for pop in spec.populations:
        print(f"  {pop.name}: mean rate {result.mean_rates(pop.name).mean():.3f} Hz")
    for proj in spec.projections:
        if proj.plasticity is None:
            continue
        s = weight_summary(result.weights[proj.name][:, -1], proj.w_min, proj.w_max)
        print(
            f"  {proj.name}: mean weight {s['mean']:.4g}, near w_min: "
            f"{s['fraction_near_min']:.2f}, near w_max: {s['fraction_near_max']:.2f}, "
            f"bimodality coefficient {s['bimodality_coefficient']:.2f}"
        )
    if args.out is not None:
        buffer = io.BytesIO()
        arrays = {"record_times": result.record_times}
        arrays.update({f"weights_{k}": v for k, v in result.weights.items()})
        arrays.update({f"spike_counts_{k}": v for k, v in result.spike_counts.items()})
        np.savez(buffer, **arrays)
        atomic_write_bytes(args.out, buffer.getvalue())
        print(f"  written: {args.out}")
    return 0
