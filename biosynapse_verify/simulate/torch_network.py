"""Tensor state of a network in the torch backend, shared by both engines.

Shapes use ``B`` for the batch (one row per seed), ``M`` for the size of a
LIF population, ``N`` for the size of a projection's source and ``S`` for its
number of synapses. The model is stated in
:mod:`biosynapse_verify.simulate.torch_backend`.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
import torch

from biosynapse_verify.simulate.base import RunPlan
from biosynapse_verify.spec.schema import LIFPopulation, Plasticity
from biosynapse_verify.spec.structure import ProjectionStructure

__all__ = [
    "Network",
    "PopulationState",
    "ProjectionState",
    "Spikes",
    "StdpRule",
    "apply_stdp",
    "expand_rows",
    "incoming_synapses",
    "initial_potential",
    "outgoing_synapses",
    "synapses_from",
]


# (batch rows, neurons) of the spikes of one step, or None when there are none.
Spikes = tuple[torch.Tensor, torch.Tensor] | None


class PopulationState:
    """Parameters and state of one LIF population.

    Attributes
    ----------
    v : Tensor, shape (B, M)
        Membrane potential in volts at the start of the next step.
    g_exc, g_inh : Tensor, shape (B, M)
        Conductances in units of the leak conductance, as used in the last
        step (before this step's decay).
    refractory_left : Tensor of int64, shape (B, M)
        Steps for which the neuron is still held at ``v_reset``.
    previous_spikes : Tensor of bool, shape (B, M)
        Spikes of the last simulated step, which recurrent projections
        deliver in the next step. Every engine reads and writes it, so a run
        may switch engines between segments.
    """

    def __init__(
        self,
        spec: LIFPopulation,
        seeds: list[int],
        dt: float,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.size = spec.size
        self.dt = dt
        self.refractory_steps = round(spec.refractory / dt)
        self.decay_exc = math.exp(-dt / spec.tau_syn_exc)
        self.decay_inh = math.exp(-dt / spec.tau_syn_inh)
        self.conductance_based = spec.synapse == "conductance"
        shape = (len(seeds), spec.size)
        self.v = torch.as_tensor(
            initial_potential(spec, seeds), dtype=dtype, device=device
        )
        self.g_exc = torch.zeros(shape, dtype=dtype, device=device)
        self.g_inh = torch.zeros(shape, dtype=dtype, device=device)
        self.refractory_left = torch.zeros(shape, dtype=torch.int64, device=device)
        self.previous_spikes = torch.zeros(shape, dtype=torch.bool, device=device)

    def membrane_coefficients(
        self, g_exc: torch.Tensor, g_inh: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``log a`` and ``v_inf`` of one exact step with conductances held.

        Over one step, ``v <- v_inf + (v - v_inf) * a`` with ``a = exp(log a)``.
        Any shape works as long as ``g_exc`` and ``g_inh`` broadcast.
        """
        spec = self.spec
        scale = -self.dt / spec.tau_m
        if self.conductance_based:
            total = 1.0 + g_exc + g_inh
            drive = spec.v_rest + spec.i_bias + g_exc * spec.e_exc + g_inh * spec.e_inh
            return total * scale, drive / total
        v_inf = (
            spec.v_rest
            + spec.i_bias
            + g_exc * (spec.e_exc - spec.v_rest)
            + g_inh * (spec.e_inh - spec.v_rest)
        )
        return torch.full_like(v_inf, scale), v_inf


def initial_potential(spec: LIFPopulation, seeds: list[int]) -> np.ndarray:
    """Draw ``v_init`` in volts, shape (B, M).

    ``v_init`` is a constant, or ``"uniform"``: uniform on ``[v_reset,
    v_threshold)`` from a generator seeded with the trial seed and the
    population's name.
    """
    if spec.v_init != "uniform":
        return np.full((len(seeds), spec.size), float(spec.v_init))
    rows = []
    for seed in seeds:
        rng = np.random.default_rng([seed, zlib.crc32(f"v_init:{spec.name}".encode())])
        rows.append(rng.uniform(spec.v_reset, spec.v_threshold, size=spec.size))
    return np.stack(rows)


# The Lava launcher imports the draw under its earlier, private name.
_initial_potential = initial_potential


@dataclass(frozen=True)
class StdpRule:
    """Pair-based STDP updates with soft or hard weight dependence and clipping."""

    rule: str
    depression_step: float
    potentiation_step: float
    mu: float
    w_min: float
    w_max: float

    @classmethod
    def from_spec(cls, plasticity: Plasticity, w_min: float, w_max: float) -> StdpRule:
        return cls(
            rule=plasticity.rule,
            depression_step=plasticity.eta * plasticity.a_minus,
            potentiation_step=plasticity.eta * plasticity.a_plus,
            mu=plasticity.mu,
            w_min=w_min,
            w_max=w_max,
        )

    def depress(self, w: torch.Tensor, post_trace: torch.Tensor) -> torch.Tensor:
        """Return ``clip(w - eta * a_minus * f_minus(w / w_max) * post_trace)``."""
        change = self.depression_step * post_trace
        if self.rule == "multiplicative":
            change = change * (w / self.w_max)
        elif self.rule == "power_law":
            change = change * torch.pow(w / self.w_max, self.mu)
        return torch.clamp(w - change, self.w_min, self.w_max)

    def potentiate(self, w: torch.Tensor, pre_trace: torch.Tensor) -> torch.Tensor:
        """Return ``clip(w + eta * a_plus * f_plus(w / w_max) * pre_trace)``."""
        change = self.potentiation_step * pre_trace
        if self.rule == "power_law":
            change = change * torch.pow(1.0 - w / self.w_max, self.mu)
        return torch.clamp(w + change, self.w_min, self.w_max)


class ProjectionState:
    """Synapse indices, weights and STDP traces of one projection.

    Synapses are stored in the order of
    :func:`~biosynapse_verify.spec.structure.build_structure`. ``rows_*``
    lists them grouped by source neuron and ``columns_*`` grouped by target
    neuron, in compressed-sparse form. An ``*_order`` of None means that the
    stored order is already grouped that way.

    Attributes
    ----------
    weight : Tensor, shape (B, S)
    pre_trace : Tensor, shape (B, N)
        Trace ``x`` of the source neurons (decay ``tau_plus``); plastic only.
    post_trace : Tensor, shape (B, M)
        Trace ``y`` of the target neurons (decay ``tau_minus``); plastic only.
    """

    def __init__(
        self,
        structure: ProjectionStructure,
        weights: np.ndarray,
        learning: bool,
        dt: float,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        spec = structure.spec
        self.name = spec.name
        self.source = spec.source
        self.target = spec.target
        self.source_is_input = structure.source_is_input
        # All-to-all synapses of source i are i * n_target + j for target j.
        self.all_to_all = spec.connectivity == "all_to_all"
        self.excitatory = spec.receptor == "excitatory"
        self.n_source = structure.n_source
        self.n_target = structure.n_target
        self.pre = torch.as_tensor(structure.pre, device=device)
        self.post = torch.as_tensor(structure.post, device=device)
        self.rows_ptr, self.rows_order = _compressed(
            structure.pre, structure.n_source, device
        )
        self.columns_ptr, self.columns_order = _compressed(
            structure.post, structure.n_target, device
        )
        self.weight = torch.as_tensor(weights, dtype=dtype, device=device).clone()
        self.rule: StdpRule | None = None
        if learning and spec.plasticity is not None:
            plasticity = spec.plasticity
            self.rule = StdpRule.from_spec(plasticity, spec.w_min, spec.w_max)
            self.decay_plus = math.exp(-dt / plasticity.tau_plus)
            self.decay_minus = math.exp(-dt / plasticity.tau_minus)
            self.tau_plus = plasticity.tau_plus
            self.tau_minus = plasticity.tau_minus
            batch = weights.shape[0]
            self.pre_trace = torch.zeros(
                (batch, self.n_source), dtype=dtype, device=device
            )
            self.post_trace = torch.zeros(
                (batch, self.n_target), dtype=dtype, device=device
            )

    @property
    def plastic(self) -> bool:
        return self.rule is not None


def _compressed(
    index: np.ndarray, n: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Return pointer (n + 1,) and order (S,) that group synapses by ``index``.

    ``order`` is None when the synapses are already grouped, as they are by
    source for every structure that ``build_structure`` draws.
    """
    pointer = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(index, minlength=n), out=pointer[1:])
    pointer_tensor = torch.as_tensor(pointer, device=device)
    if index.size == 0 or np.all(index[1:] >= index[:-1]):
        return pointer_tensor, None
    order = np.argsort(index, kind="stable")
    return pointer_tensor, torch.as_tensor(order, device=device)


def expand_rows(
    neurons: torch.Tensor, pointer: torch.Tensor, order: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """List the synapses of each given neuron, in compressed-sparse form.

    Parameters
    ----------
    neurons : Tensor of int64, shape (E,)
        One neuron per event; repeats are allowed.
    pointer : Tensor of int64, shape (n + 1,)
    order : Tensor of int64, shape (S,), or None
        A projection's ``rows_*`` or ``columns_*`` pair. None means that the
        synapses are already grouped.

    Returns
    -------
    event : Tensor of int64, shape (K,)
        For each listed synapse, the position in ``neurons`` it came from.
    synapse : Tensor of int64, shape (K,)
        The synapse index.
    """
    starts = pointer.index_select(0, neurons)
    counts = pointer[1:].index_select(0, neurons) - starts
    event = torch.repeat_interleave(counts)
    # Synapse k of the listing is starts[event[k]] + (k - first listing of it).
    shift = starts - (torch.cumsum(counts, 0) - counts)
    position = torch.arange(event.numel(), device=neurons.device) + shift.index_select(
        0, event
    )
    if order is None:
        return event, position
    return event, order.index_select(0, position)


def outgoing_synapses(
    proj: ProjectionState, rows: torch.Tensor, neurons: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """List the synapses leaving the given source spikes.

    Parameters
    ----------
    rows, neurons : Tensor of int64, shape (E,)
        Batch row and source neuron of each spike.

    Returns
    -------
    flat_synapse : Tensor of int64, shape (K,)
        ``b * S + s`` for each synapse ``s`` of each spike.
    flat_target : Tensor of int64, shape (K,)
        ``b * M + j`` for the synapse's target neuron ``j``.
    """
    event, synapse, post = synapses_from(proj, neurons)
    if post is None:
        post = torch.zeros_like(synapse)
    if proj.weight.shape[0] == 1:
        return synapse, post
    batch = rows if event is None else rows.index_select(0, event)
    return batch * proj.weight.shape[1] + synapse, batch * proj.n_target + post


def incoming_synapses(
    proj: ProjectionState, rows: torch.Tensor, neurons: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """List the synapses arriving at the given target spikes.

    Returns ``flat_synapse`` (``b * S + s``) and ``flat_source``
    (``b * N + i`` for the synapse's source ``i``), both of shape (K,).
    """
    if proj.all_to_all:
        # Synapses onto target j are i * M + j for every source i.
        sources = torch.arange(proj.n_source, device=rows.device)
        synapse = (sources[None, :] * proj.n_target + neurons[:, None]).reshape(-1)
        source = sources.repeat(rows.numel())
        if proj.weight.shape[0] == 1:
            return synapse, source
        batch = rows.repeat_interleave(proj.n_source)
    else:
        event, synapse = expand_rows(neurons, proj.columns_ptr, proj.columns_order)
        source = proj.pre.index_select(0, synapse)
        if proj.weight.shape[0] == 1:
            return synapse, source
        batch = rows.index_select(0, event)
    return batch * proj.weight.shape[1] + synapse, batch * proj.n_source + source


def synapses_from(
    proj: ProjectionState, neurons: torch.Tensor
) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
    """List the outgoing synapses of each given source neuron.

    Returns ``(event, synapse, post)`` as in :func:`expand_rows`, plus each
    synapse's target. For all-to-all projections onto one neuron, ``event``
    is None (the identity) and ``post`` is None (all zeros).
    """
    if not proj.all_to_all:
        event, synapse = expand_rows(neurons, proj.rows_ptr, proj.rows_order)
        return event, synapse, proj.post[synapse]
    width = proj.n_target
    if width == 1:
        return None, neurons, None
    targets = torch.arange(width, device=neurons.device)
    synapse = (neurons[:, None] * width + targets).reshape(-1)
    event = torch.arange(neurons.numel(), device=neurons.device).repeat_interleave(
        width
    )
    return event, synapse, targets.repeat(neurons.numel())


class Network:
    """All populations and projections of one run, keyed by name.

    Attributes
    ----------
    input_sizes : dict of str to int
        Number of neurons of each input population.
    """

    def __init__(self, plan: RunPlan, device: torch.device, dtype: torch.dtype) -> None:
        spec = plan.spec
        self.input_sizes = {inp.name: inp.size for inp in spec.inputs}
        self.populations = {
            pop.name: PopulationState(pop, plan.seeds, plan.dt, device, dtype)
            for pop in spec.populations
        }
        self.projections = {
            name: ProjectionState(
                structure, plan.weights[name], plan.learning, plan.dt, device, dtype
            )
            for name, structure in plan.structure.projections.items()
        }

    def plastic_projections(self) -> list[ProjectionState]:
        return [proj for proj in self.projections.values() if proj.plastic]

    def projections_onto(self, population: str) -> list[ProjectionState]:
        return [p for p in self.projections.values() if p.target == population]

    def receptors_used(self, population: str) -> tuple[bool, bool]:
        """Return whether any projection onto ``population`` is excitatory, inhibitory.

        A conductance that no projection targets stays zero for the whole
        run, so the engines leave it out of their sums.
        """
        onto = self.projections_onto(population)
        return any(p.excitatory for p in onto), any(not p.excitatory for p in onto)


def apply_stdp(
    proj: ProjectionState,
    pre: Spikes,
    pre_synapses: tuple[torch.Tensor, torch.Tensor] | None,
    post: Spikes,
    increment: torch.Tensor,
) -> None:
    """Apply the STDP of one step: pre spikes first, then post spikes.

    Parameters
    ----------
    proj : ProjectionState
        A plastic projection.
    pre : (rows, neurons) or None
        The step's spikes of the source, used for the pre trace.
    pre_synapses : (flat_synapse, flat_target) or None
        :func:`outgoing_synapses` of ``pre``; their weights are depressed.
    post : (rows, neurons) or None
        The step's spikes of the target.
    increment : Tensor, shape ()
        The trace increment of one spike, 1 in the trace's dtype and device.
    """
    weights = proj.weight.view(-1)
    if pre is not None and pre_synapses is not None:
        flat_synapse, flat_target = pre_synapses
        before = weights.index_select(0, flat_synapse)
        trace = proj.post_trace.view(-1).index_select(0, flat_target)
        weights.index_copy_(0, flat_synapse, proj.rule.depress(before, trace))
        proj.pre_trace.index_put_(pre, increment, accumulate=True)
    if post is None:
        return
    flat_synapse, flat_source = incoming_synapses(proj, *post)
    before = weights.index_select(0, flat_synapse)
    trace = proj.pre_trace.view(-1).index_select(0, flat_source)
    weights.index_copy_(0, flat_synapse, proj.rule.potentiate(before, trace))
    proj.post_trace.index_put_(post, increment, accumulate=True)
