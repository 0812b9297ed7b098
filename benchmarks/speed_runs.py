"""Timed runs for the simulator speed benchmark, one per child process.

Each ``run_*`` function builds and runs one simulation and returns a flat
dict of numbers (wall and CPU time, output rate, weight fractions,
synaptic events). ``benchmarks/song2000_brian2.py`` calls them in child
processes so that peak memory is measured per run.

Synaptic events
---------------
The throughput figure is synaptic events per second of wall time, counted
the same way for every simulator from the spikes it produced:

- a transmission is one presynaptic spike reaching one synapse, so a spike
  of a neuron with ``k`` outgoing synapses counts ``k``;
- a depression is the STDP update of a plastic synapse at its presynaptic
  spike (one per transmission through a plastic synapse);
- a potentiation is the STDP update of a plastic synapse at its
  postsynaptic spike, so a spike of a neuron with ``k`` incoming plastic
  synapses counts ``k``.

Synaptic events = transmissions + depressions + potentiations. Neuron
state updates are not counted. For song2000 at 100 s (1000 inputs at
15 Hz, output near 26 Hz) that is about 1.5e6 + 1.5e6 + 2.6e6 = 5.6e6
events per trial.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SONG_SPEC = ROOT / "networks" / "song2000.yaml"
EI_SPEC = ROOT / "networks" / "ei_10k.yaml"
# Fraction of the weight range that counts as "near" a bound.
NEAR_BOUND = 0.1


def weight_fractions(weights: np.ndarray, w_max: float) -> tuple[float, float]:
    """Return the fractions of ``weights`` within NEAR_BOUND * w_max of 0 and of w_max."""
    u = np.asarray(weights, dtype=np.float64) / w_max
    return float(np.mean(u <= NEAR_BOUND)), float(np.mean(u >= 1.0 - NEAR_BOUND))


def synaptic_events(
    structure: Any,
    source_counts: dict[str, np.ndarray],
    learning: bool = True,
) -> dict[str, float]:
    """Count transmissions, depressions and potentiations of a run.

    Parameters
    ----------
    structure : NetworkStructure
        Synapse indices of every projection
        (:func:`biosynapse_verify.spec.structure.build_structure`).
    source_counts : dict of str to ndarray, shape (B, size) or (size,)
        Spike count of every neuron of every input and LIF population over
        the run. A leading batch axis is summed over.
    learning : bool, default True
        Whether plastic projections learned; without learning they count
        transmissions only.

    Returns
    -------
    dict with keys ``transmissions``, ``depressions``, ``potentiations`` and
    ``total``, each a float.
    """
    totals = {"transmissions": 0.0, "depressions": 0.0, "potentiations": 0.0}
    for proj in structure.projections.values():
        pre_spikes = _per_neuron(source_counts[proj.spec.source])
        out_degree = np.bincount(proj.pre, minlength=proj.n_source)
        transmissions = float(pre_spikes @ out_degree)
        totals["transmissions"] += transmissions
        if not (learning and proj.plastic):
            continue
        totals["depressions"] += transmissions
        post_spikes = _per_neuron(source_counts[proj.spec.target])
        in_degree = np.bincount(proj.post, minlength=proj.n_target)
        totals["potentiations"] += float(post_spikes @ in_degree)
    totals["total"] = sum(totals.values())
    return totals


def _per_neuron(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    return counts.sum(axis=0) if counts.ndim == 2 else counts


def _timed() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _elapsed(start: tuple[float, float]) -> dict[str, float]:
    return {
        "wall_s": time.perf_counter() - start[0],
        "cpu_s": time.process_time() - start[1],
    }


# ------------------------------------------------------------------- torch
def run_torch(
    spec_path: Path, duration: float, seeds: list[int], device: str, engine: str
) -> dict[str, Any]:
    """Run a spec on the torch backend, all ``seeds`` in one batch.

    The timing covers the whole ``backend.run`` call: connectivity, state
    set-up, input drawing and simulation.
    """
    import torch

    from biosynapse_verify.simulate import get_backend
    from biosynapse_verify.spec import load_spec
    from biosynapse_verify.spec.structure import build_structure

    spec = load_spec(spec_path)
    backend = get_backend("torch", device=device, engine=engine)
    start = _timed()
    result = backend.run(spec, seeds=seeds, duration=duration)
    if backend.device.type == "cuda":
        torch.cuda.synchronize(backend.device)
    row: dict[str, Any] = {"simulator": f"torch-{device}-batch{len(seeds)}"}
    row.update(_elapsed(start))
    row["trials"] = len(seeds)
    row["engine_steps"] = dict(backend.engine_steps)
    counts = dict(result.spike_counts)
    for name, rates in result.input_rates_measured.items():
        counts[name] = rates * result.duration
    row.update(
        {
            f"events_{k}": v
            for k, v in synaptic_events(build_structure(spec), counts).items()
        }
    )
    first_pop = spec.populations[0].name
    per_seed_rate = result.spike_counts[first_pop].mean(axis=1) / result.duration
    row["rate_Hz"] = float(np.median(per_seed_rate))
    row["rate_Hz_per_seed"] = per_seed_rate.tolist()
    plastic = [p for p in spec.projections if p.plasticity is not None]
    if plastic:
        final = result.final_weights(plastic[0].name)
        fractions = np.array([weight_fractions(w, plastic[0].w_max) for w in final])
        row["near_0"] = float(np.median(fractions[:, 0]))
        row["near_max"] = float(np.median(fractions[:, 1]))
        row["near_0_per_seed"] = fractions[:, 0].tolist()
        row["near_max_per_seed"] = fractions[:, 1].tolist()
    if backend.device.type == "cuda":
        row["peak_gpu_MiB"] = torch.cuda.max_memory_allocated(backend.device) / 2**20
    return row


# ------------------------------------------------------------------ brian2
def build_brian2_song(
    seed: int,
    target: str,
    input_spikes: tuple[np.ndarray, np.ndarray] | None = None,
    initial_weights: np.ndarray | None = None,
    v_init: float | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Build networks/song2000.yaml in Brian2 with the torch backend's step order.

    The torch model (``biosynapse_verify/simulate/torch_backend.py``) runs
    each step as: input spikes, conductance decay by ``exp(-dt / tau)``,
    delivery ``g += w`` with depression, exact membrane step with ``g``
    held, threshold, potentiation, reset. Brian2's default schedule would
    integrate ``v`` before delivering the step's spikes, and its exponential
    Euler would use ``g`` from before the decay. So here ``g`` is a
    parameter decayed by a ``run_regularly`` operation, and the input
    spikes, the decay and the presynaptic pathway all run in the ``start``
    slot, in that order, before the state update.

    Parameters
    ----------
    seed : int
        Brian2's random seed (Poisson spikes, initial weights, ``v``).
    target : {"cython", "numpy"}
        Brian2's code generation target.
    input_spikes : (indices, steps), optional
        Prescribed input spikes instead of Poisson trains.
    initial_weights : ndarray, shape (1000,), optional
        Initial weights instead of a uniform draw.
    v_init : float, optional
        Initial membrane potential in volts instead of a uniform draw.

    Returns
    -------
    network : brian2.Network
    parts : dict
        ``synapses``, ``spikes`` (post SpikeMonitor), ``spec``.
    """
    import brian2 as b2

    from biosynapse_verify.spec import load_spec

    spec = load_spec(SONG_SPEC)
    pop, proj, inp = spec.populations[0], spec.projections[0], spec.inputs[0]
    rule = proj.plasticity
    dt = spec.simulation.dt
    b2.prefs.codegen.target = target
    b2.seed(seed)
    namespace = {
        "tau_m": pop.tau_m * b2.second,
        "v_rest": pop.v_rest * b2.volt,
        "e_exc": pop.e_exc * b2.volt,
        "decay_exc": math.exp(-dt / pop.tau_syn_exc),
        "tau_plus": rule.tau_plus * b2.second,
        "tau_minus": rule.tau_minus * b2.second,
        "a_plus": rule.eta * rule.a_plus,
        "a_minus": rule.eta * rule.a_minus,
        "w_max": proj.w_max,
        "v_threshold": pop.v_threshold * b2.volt,
        "v_reset": pop.v_reset * b2.volt,
    }
    clock = b2.Clock(dt=dt * b2.second)
    if input_spikes is None:
        inputs = b2.PoissonGroup(inp.size, rates=inp.rate * b2.Hz, clock=clock)
        inputs.thresholder["spike"].when = "start"
    else:
        indices, steps = input_spikes
        inputs = b2.SpikeGeneratorGroup(
            inp.size, indices, steps * dt * b2.second, clock=clock, when="start"
        )
    neuron = b2.NeuronGroup(
        pop.size,
        """dv/dt = (v_rest - v + g * (e_exc - v)) / tau_m : volt
           g : 1""",
        threshold="v >= v_threshold",
        reset="v = v_reset",
        method="exponential_euler",
        namespace=namespace,
        clock=clock,
    )
    # run_regularly adds the operation to the group, so the network gets it.
    neuron.run_regularly("g = g * decay_exc", when="start", order=1)
    synapses = b2.Synapses(
        inputs,
        neuron,
        """w : 1
           dapre/dt = -apre / tau_plus : 1 (event-driven)
           dapost/dt = -apost / tau_minus : 1 (event-driven)""",
        on_pre="""g += w
                  w = clip(w - a_minus * apost, 0, w_max)
                  apre += 1""",
        on_post="""w = clip(w + a_plus * apre, 0, w_max)
                   apost += 1""",
        namespace=namespace,
        clock=clock,
    )
    synapses.connect()
    synapses.pre.when = "start"
    synapses.pre.order = 2
    if initial_weights is None:
        synapses.w = "rand() * w_max"
    else:
        synapses.w = initial_weights
    if v_init is None:
        neuron.v = "v_reset + rand() * (v_threshold - v_reset)"
    else:
        neuron.v = v_init * b2.volt
    spikes = b2.SpikeMonitor(neuron)
    network = b2.Network(inputs, neuron, synapses, spikes)
    return network, {"synapses": synapses, "spikes": spikes, "spec": spec}


def run_brian2(duration: float, seed: int, target: str) -> dict[str, Any]:
    """Run song2000 on Brian2 once; time the run after code generation.

    A run of zero length first generates and compiles the code (cached
    between processes for the Cython target), so the timing covers the
    simulation loop only.
    """
    import brian2 as b2

    from biosynapse_verify.spec.structure import build_structure

    network, parts = build_brian2_song(seed, target)
    network.run(0 * b2.second, namespace={})
    start = _timed()
    network.run(duration * b2.second, namespace={})
    row: dict[str, Any] = {"simulator": f"brian2-{target}"}
    row.update(_elapsed(start))
    row["trials"] = 1
    spec = parts["spec"]
    proj, inp = spec.projections[0], spec.inputs[0]
    post_spikes = float(parts["spikes"].num_spikes)
    # The Poisson inputs are not monitored, because a monitor would slow
    # Brian2 down. Their count is the expectation N * rate * T, whose
    # relative standard deviation is about 1e-3 at 100 s.
    counts = {
        inp.name: np.full(inp.size, inp.rate * duration),
        spec.populations[0].name: np.array([post_spikes]),
    }
    row.update(
        {
            f"events_{k}": v
            for k, v in synaptic_events(build_structure(spec), counts).items()
        }
    )
    row["rate_Hz"] = post_spikes / duration
    row["near_0"], row["near_max"] = weight_fractions(
        parts["synapses"].w[:], proj.w_max
    )
    return row


def run_model_check(duration: float, seed: int) -> dict[str, Any]:
    """Run song2000 on both simulators with identical inputs and initial state.

    Both get the same prescribed input spikes (Poisson trains drawn with
    numpy), the same initial weights and ``v = v_reset``, so any difference
    comes from the model or from rounding. Returns the post spike counts,
    how many of the first spikes fall on the same step, and the largest
    final weight difference.
    """
    import brian2 as b2
    import yaml

    from biosynapse_verify.simulate import get_backend
    from biosynapse_verify.spec import load_spec, parse_spec

    spec = load_spec(SONG_SPEC)
    inp, proj, pop = spec.inputs[0], spec.projections[0], spec.populations[0]
    dt = spec.simulation.dt
    steps = round(duration / dt)
    rng = np.random.default_rng(seed)
    fired = rng.random((steps, inp.size)) < inp.rate * dt
    step_index, neuron_index = np.nonzero(fired)
    weights = rng.uniform(0.0, proj.w_max, size=inp.size)

    data = yaml.safe_load(SONG_SPEC.read_text())
    times = [[] for _ in range(inp.size)]
    for step, neuron in zip(step_index, neuron_index, strict=True):
        times[neuron].append(float(step) * dt)
    data["inputs"][0] = {"name": inp.name, "kind": "spike_times", "times": times}
    data["populations"][0]["v_init"] = pop.v_reset
    check_spec = parse_spec(data)
    torch_result = get_backend("torch").run(
        check_spec,
        seeds=[seed],
        duration=duration,
        initial_weights={proj.name: weights[None, :]},
    )
    torch_steps = np.rint(torch_result.spike_times[pop.name][0][0] / dt).astype(int)

    network, parts = build_brian2_song(
        seed, "cython", (neuron_index, step_index), weights, pop.v_reset
    )
    network.run(duration * b2.second, namespace={})
    brian_steps = np.rint(np.asarray(parts["spikes"].t / b2.second) / dt).astype(int)
    common = min(torch_steps.size, brian_steps.size)
    same = torch_steps[:common] == brian_steps[:common]
    first_difference = int(np.argmin(same)) if not same.all() else common
    weight_difference = np.abs(
        torch_result.final_weights(proj.name)[0] - np.asarray(parts["synapses"].w[:])
    )
    return {
        "simulator": "model-check",
        "torch_spikes": int(torch_steps.size),
        "brian2_spikes": int(brian_steps.size),
        "leading_spikes_on_same_step": first_difference,
        "max_weight_difference": float(weight_difference.max()),
    }
