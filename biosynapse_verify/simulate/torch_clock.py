"""The clock-driven engine: one pass per time step, touching only active synapses.

Each step runs the model of :mod:`biosynapse_verify.simulate.torch_backend`
in order, like :mod:`~biosynapse_verify.simulate.torch_reference`, but works
on synapses in sparse form: a spike reads and writes only the synapses of
its source (compressed rows) or, for potentiation, of its target
(compressed columns). The neuron state is still updated densely every step.
A step therefore costs about 30 to 60 tensor operations plus work in
proportion to the spikes times their fan-out, which suits networks in which
most steps contain a LIF spike somewhere (large recurrent networks), where
:mod:`~biosynapse_verify.simulate.torch_event` would end a window at
nearly every step.
"""

from __future__ import annotations

import math

import torch

from biosynapse_verify.simulate.inputs import ChunkEvents
from biosynapse_verify.simulate.recording import Recorder
from biosynapse_verify.simulate.torch_network import (
    Network,
    PopulationState,
    ProjectionState,
    Spikes,
    apply_stdp,
    outgoing_synapses,
)

__all__ = ["ClockEngine"]


class _StepSchedule:
    """A chunk's input spikes in ``[start, stop)``, grouped by step."""

    def __init__(self, events: ChunkEvents, start: int, stop: int) -> None:
        inside = ((events.step >= start) & (events.step < stop)).nonzero().squeeze(1)
        steps = events.step.index_select(0, inside)
        order = torch.argsort(steps, stable=True)
        self.rows = events.batch.index_select(0, inside).index_select(0, order)
        self.neurons = events.neuron.index_select(0, inside).index_select(0, order)
        counts = torch.bincount(steps - start, minlength=stop - start)
        self.pointer = [0, *torch.cumsum(counts, 0).tolist()]
        self.start = start

    def at(self, step: int) -> Spikes:
        """Return the spikes of ``step``, or None."""
        first = self.pointer[step - self.start]
        last = self.pointer[step - self.start + 1]
        if first == last:
            return None
        return self.rows[first:last], self.neurons[first:last]


class ClockEngine:
    """Advance a :class:`Network` one step at a time, with sparse synapse updates.

    Attributes
    ----------
    busy_steps : Tensor of int64, shape (B,)
        Steps with at least one LIF spike, per batch row, since the last
        :meth:`take_busy_steps`.
    """

    def __init__(self, network: Network, recorder: Recorder) -> None:
        self.network = network
        self.recorder = recorder
        first_pop = next(iter(network.populations.values()))
        self.busy_steps = torch.zeros(
            first_pop.v.shape[0], dtype=torch.int64, device=first_pop.v.device
        )
        self._receptors = {
            name: network.receptors_used(name) for name in network.populations
        }
        self._trace_increment = torch.ones(
            (), dtype=first_pop.v.dtype, device=first_pop.v.device
        )

    def take_busy_steps(self) -> torch.Tensor:
        """Return :attr:`busy_steps` (B,) and reset the count."""
        busy = self.busy_steps
        self.busy_steps = torch.zeros_like(busy)
        return busy

    def run_segment(
        self, events: dict[str, ChunkEvents], start: int, stop: int
    ) -> None:
        """Simulate steps ``[start, stop)`` of a chunk whose spikes are ``events``."""
        schedules = {
            name: _StepSchedule(chunk, start, stop) for name, chunk in events.items()
        }
        previous = {
            name: _nonempty(pop.previous_spikes.nonzero(as_tuple=True))
            for name, pop in self.network.populations.items()
        }
        reached = start
        while reached < stop:
            limit = min(stop, self.recorder.next_record_step)
            if limit <= reached:
                limit = stop
            for step in range(reached, limit):
                arrivals = {name: s.at(step) for name, s in schedules.items()}
                previous = self._step(step, arrivals, previous)
            reached = limit
            self.recorder.reach_step(reached)

    def _step(
        self, step: int, arrivals: dict[str, Spikes], previous: dict[str, Spikes]
    ) -> dict[str, Spikes]:
        """Simulate one step; return each population's spikes in it."""
        network = self.network
        self._decay()
        transmitted = {}
        for proj in network.projections.values():
            spikes = (
                arrivals[proj.source] if proj.source_is_input else previous[proj.source]
            )
            if spikes is None:
                continue
            synapses = outgoing_synapses(proj, *spikes)
            if proj.source_is_input:
                transmitted[proj.name] = synapses
            _transmit(proj, network.populations[proj.target], *synapses)

        spikes_now = {}
        busy = None
        for name, pop in network.populations.items():
            spiking = _integrate(pop, *self._receptors[name])
            pop.previous_spikes = spiking
            rows, neurons = spiking.nonzero(as_tuple=True)
            spikes_now[name] = _nonempty((rows, neurons))
            if rows.numel():
                steps = torch.full_like(rows, step)
                self.recorder.add_spike_events(name, steps, rows, neurons)
                busy = rows if busy is None else torch.cat([busy, rows])
        if busy is not None:
            marked = torch.zeros_like(self.busy_steps).index_fill_(0, busy, 1)
            self.busy_steps += marked

        for proj in network.plastic_projections():
            if proj.source_is_input:
                pre = arrivals[proj.source]
                synapses = transmitted.get(proj.name)
            else:
                pre = spikes_now[proj.source]
                synapses = None if pre is None else outgoing_synapses(proj, *pre)
            apply_stdp(
                proj, pre, synapses, spikes_now[proj.target], self._trace_increment
            )
        return spikes_now

    def _decay(self) -> None:
        """Decay the conductances in use and the STDP traces by one step."""
        for name, pop in self.network.populations.items():
            uses_exc, uses_inh = self._receptors[name]
            if uses_exc:
                pop.g_exc.mul_(pop.decay_exc)
            if uses_inh:
                pop.g_inh.mul_(pop.decay_inh)
        for proj in self.network.plastic_projections():
            proj.pre_trace.mul_(proj.decay_plus)
            proj.post_trace.mul_(proj.decay_minus)


def _nonempty(spikes: tuple[torch.Tensor, torch.Tensor]) -> Spikes:
    return spikes if spikes[0].numel() else None


def _transmit(
    proj: ProjectionState,
    target: PopulationState,
    flat_synapse: torch.Tensor,
    flat_target: torch.Tensor,
) -> None:
    """Add each listed synapse's weight to its target's conductance."""
    conductance = target.g_exc if proj.excitatory else target.g_inh
    weights = proj.weight.view(-1).index_select(0, flat_synapse)
    conductance.view(-1).index_add_(0, flat_target, weights)


def _integrate(pop: PopulationState, uses_exc: bool, uses_inh: bool) -> torch.Tensor:
    """Advance v by one exact step, then apply threshold, reset and refractoriness.

    Returns the spikes of the step, shape (B, M). Conductances of receptors
    that no projection targets stay zero and are left out of the sums.
    """
    if pop.conductance_based:
        v = _conductance_step(pop, uses_exc, uses_inh)
    else:
        v = _current_step(pop, uses_exc, uses_inh)
    if pop.refractory_steps == 0:
        spiking = v >= pop.spec.v_threshold
        pop.v = v.masked_fill_(spiking, pop.spec.v_reset)
        return spiking
    refractory = pop.refractory_left > 0
    v = torch.where(refractory, pop.v, v)
    spiking = (v >= pop.spec.v_threshold) & ~refractory
    pop.v = v.masked_fill_(spiking, pop.spec.v_reset)
    left = (pop.refractory_left - 1).clamp_(min=0)
    pop.refractory_left = left.masked_fill_(spiking, pop.refractory_steps)
    return spiking


def _conductance_step(
    pop: PopulationState, uses_exc: bool, uses_inh: bool
) -> torch.Tensor:
    """Return ``v_inf + (v - v_inf) exp(-dt (1 + g_exc + g_inh) / tau_m)``."""
    # At least one argument stays a tensor, so the coefficients are tensors.
    g_exc = pop.g_exc if uses_exc or not uses_inh else 0.0
    g_inh = pop.g_inh if uses_inh else 0.0
    log_a, v_inf = pop.membrane_coefficients(g_exc, g_inh)
    return torch.addcmul(v_inf, pop.v - v_inf, torch.exp(log_a))


def _current_step(pop: PopulationState, uses_exc: bool, uses_inh: bool) -> torch.Tensor:
    """Return ``a v + (1 - a) v_inf`` with the constant ``a = exp(-dt / tau_m)``.

    With current-based synapses the decay does not depend on the
    conductances, so ``v_inf`` is affine in them and the step needs no
    exponential.
    """
    spec = pop.spec
    decay = math.exp(-pop.dt / spec.tau_m)
    gain = 1.0 - decay
    v = pop.v * decay
    v.add_(spec.v_rest + spec.i_bias, alpha=gain)
    if uses_exc:
        v.add_(pop.g_exc, alpha=gain * (spec.e_exc - spec.v_rest))
    if uses_inh:
        v.add_(pop.g_inh, alpha=gain * (spec.e_inh - spec.v_rest))
    return v
