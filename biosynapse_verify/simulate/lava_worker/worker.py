"""Run one Lava job written by the launcher and write its results.

Usage (under the ``.venv-lava`` interpreter)::

    python worker.py JOB.json

``JOB.json`` holds every parameter already in Lava units (the launcher does
the translation and quantisation), and names an ``.npz`` file with the arrays.
The worker builds the processes, runs the network in chunks between record
steps, reads weights and spike counts after each chunk, and writes
``results.npz`` in the job folder. It prints ``progress FRACTION`` lines on
stdout; errors go to stderr with exit status 1.

All seeds of a run share one Lava network: each population and projection is
stacked seed by seed, so weight matrices are block-diagonal. Learning rules
multiply every product by the tag ``t`` (lava-nc's ``tag_1``), which is zero
off the synapses of the spec, so absent synapses never learn.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from processes import (
    BoundedLearningDenseFixed,
    BoundedLearningDenseFloat,
    CheckedLIF,
    EventSource,
    SpikeCounter,
)


def _build_rule(rule: dict, rng_seed: int):
    """Build the learning rule of one plastic projection."""
    from lava.magma.core.learning.learning_rule import Loihi2FLearningRule
    from lava.proc.learning_rules.stdp_learning_rule import STDPLoihi

    common = dict(
        x1_impulse=rule["x1_impulse"],
        y1_impulse=rule["y1_impulse"],
        t_epoch=1,
        rng_seed=rng_seed,
    )
    stdp = rule.get("stdploihi")
    if stdp is None:
        return Loihi2FLearningRule(
            dw=rule["dw"], x1_tau=rule["x1_tau"], y1_tau=rule["y1_tau"], **common
        )
    # Build the rule through STDPLoihi so that lava-nc itself rounds the
    # amplitudes; then check that the launcher predicted the same literals and
    # add the synapse mask factor to each product.
    built = STDPLoihi(
        learning_rate=stdp["learning_rate"],
        A_plus=stdp["A_plus"],
        A_minus=stdp["A_minus"],
        tau_plus=rule["x1_tau"],
        tau_minus=rule["y1_tau"],
        **common,
    )
    if built.dw_str.replace(" ", "") != stdp["expected_dw"].replace(" ", ""):
        raise RuntimeError(
            f"STDPLoihi built dw = {built.dw_str!r}, but the launcher predicted "
            f"{stdp['expected_dw']!r}; the launcher's copy of lava-nc's rounding "
            "is out of date"
        )
    built.dw_str = rule["dw"]
    return built


def _build_projection(spec: dict, arrays: dict, rng_seed: int):
    from lava.proc.dense.process import Dense, LearningDense
    from lava.utils.weightutils import SignMode

    name = spec["name"]
    weights = arrays[f"weights/{name}"]
    options = dict(
        weights=weights,
        name=name,
        weight_exp=spec["weight_exp"],
        num_weight_bits=8,
        sign_mode=SignMode.EXCITATORY if spec["excitatory"] else SignMode.INHIBITORY,
    )
    if spec["rule"] is None:
        return Dense(**options), False
    mask = arrays[f"mask/{name}"]
    return (
        LearningDense(
            **options,
            tag_1=mask * spec["rule"]["mask_value"],
            learning_rule=_build_rule(spec["rule"], rng_seed),
            weight_low=arrays[f"low/{name}"],
            weight_high=arrays[f"high/{name}"],
        ),
        True,
    )


def _build_population(spec: dict, arrays: dict, run_config: str):
    from lava.proc.lif.process import LIF, LIFRefractory

    options = dict(
        shape=(spec["size"],),
        u=0,
        v=arrays[f"v_init/{spec['name']}"],
        du=spec["du"],
        dv=spec["dv"],
        vth=spec["vth"],
        bias_mant=spec["bias_mant"],
        bias_exp=spec["bias_exp"],
        name=spec["name"],
    )
    if spec["refractory_steps"] > 0:
        return LIFRefractory(refractory_period=spec["refractory_steps"], **options)
    if run_config == "fixed_pt":
        return CheckedLIF(**options)
    return LIF(**options)


def build_network(job: dict, arrays: dict) -> dict:
    """Create and connect every process of the job; return them by role."""
    sources = {
        src["name"]: EventSource(
            size=src["size"],
            steps=arrays[f"events_step/{src['name']}"],
            neurons=arrays[f"events_neuron/{src['name']}"],
        )
        for src in job["sources"]
    }
    populations = {
        pop["name"]: _build_population(pop, arrays, job["run_config"])
        for pop in job["populations"]
    }
    counters = {}
    for name, lif in populations.items():
        counters[name] = SpikeCounter(size=lif.s_out.shape[0])
        lif.s_out.connect(counters[name].s_in)

    projections = {}
    for spec in job["projections"]:
        conn, plastic = _build_projection(spec, arrays, job["rng_seed"])
        origin = sources.get(spec["source"]) or populations[spec["source"]]
        target = populations[spec["target"]]
        origin.s_out.connect(conn.s_in)
        conn.a_out.connect(target.a_in)
        if plastic:
            target.s_out.connect(conn.s_in_bap)
        projections[spec["name"]] = conn
    return {
        "sources": sources,
        "populations": populations,
        "counters": counters,
        "projections": projections,
    }


def _run_config(job: dict):
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import LearningDense

    bounded = {
        "floating_pt": BoundedLearningDenseFloat,
        "fixed_pt": BoundedLearningDenseFixed,
    }[job["run_config"]]
    return Loihi2SimCfg(
        select_tag=job["run_config"],
        exception_proc_model_map={LearningDense: bounded},
    )


# First words of the message of a fixed-point overflow; the launcher looks
# for them in stderr and raises LavaRangeError with the message.
OVERFLOW_MARKER = "fixed-point overflow:"


class FixedPointOverflow(RuntimeError):
    """The 24-bit synaptic current of a fixed-point LIF wrapped around."""


def _check_overflows(populations: dict, done: int) -> None:
    for name, lif in populations.items():
        if not isinstance(lif, CheckedLIF):
            continue
        counts = np.asarray(lif.overflows.get())
        if counts.any():
            raise FixedPointOverflow(
                f"{OVERFLOW_MARKER} the synaptic current u of population {name!r} "
                f"left the signed 24-bit range in {int(counts.sum())} neuron-steps "
                f"before Lava step {done}, where Loihi wraps it around and flips its "
                "sign; too many inputs at large weights arrive within one synaptic "
                "time constant. Lower w_max of the projections onto it, shorten "
                "tau_syn, or use floating_pt"
            )


def run(job: dict, arrays: dict) -> dict:
    """Run the network and return the recorded arrays."""
    from lava.magma.core.run_conditions import RunSteps

    net = build_network(job, arrays)
    any_process = next(iter(net["populations"].values()))
    config = _run_config(job)
    record_after = [int(s) for s in job["record_after_lava_steps"]]
    total = record_after[-1]
    weights = {name: [] for name in net["projections"]}
    counts = {name: [] for name in net["counters"]}

    def record() -> None:
        for spec in job["projections"]:
            full = net["projections"][spec["name"]].weights.get()
            rows = arrays[f"rows/{spec['name']}"]
            cols = arrays[f"cols/{spec['name']}"]
            weights[spec["name"]].append(np.asarray(full)[rows, cols])
        for name, counter in net["counters"].items():
            counts[name].append(np.asarray(counter.counts.get()).copy())

    done = 0
    started = time.perf_counter()
    try:
        # The launcher lists strictly increasing positive step counts; the
        # state at step 0 is the job's initial state and is not re-read here.
        for target in record_after:
            any_process.run(condition=RunSteps(num_steps=target - done), run_cfg=config)
            done = target
            _check_overflows(net["populations"], done)
            record()
            print(f"progress {done / total:.6f}", flush=True)
        input_counts = {
            name: np.asarray(src.counts.get()).copy() for name, src in net["sources"].items()
        }
    finally:
        if done > 0:
            any_process.stop()
    out = {"wall_time": np.array(time.perf_counter() - started)}
    for name, rows in weights.items():
        out[f"weights/{name}"] = np.stack(rows)
    for name, rows in counts.items():
        out[f"counts/{name}"] = np.stack(rows)
    for name, row in input_counts.items():
        out[f"input_counts/{name}"] = row
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: worker.py JOB.json", file=sys.stderr)
        return 2
    job_path = Path(argv[1])
    job = json.loads(job_path.read_text())
    with np.load(job_path.parent / job["arrays"], allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    results = run(job, arrays)
    with open(job_path.parent / job["results"], "wb") as handle:
        np.savez(handle, **results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
