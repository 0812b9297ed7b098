"""The reference engine: one dense pass over every synapse per time step.

It is the plain transcription of the model in
:mod:`biosynapse_verify.simulate.torch_backend`, kept simple so that the
faster engines can be tested against it. Every step touches every synapse
and every neuron, so its cost grows with steps times synapses; use it for
short runs and tests. The other engines must match it up to rounding.
"""

from __future__ import annotations

import torch

from biosynapse_verify.simulate.inputs import ChunkEvents
from biosynapse_verify.simulate.recording import Recorder
from biosynapse_verify.simulate.torch_network import (
    Network,
    PopulationState,
    ProjectionState,
)

__all__ = ["ReferenceEngine"]


class ReferenceEngine:
    """Advance a :class:`Network` one step at a time with dense tensors.

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

    def take_busy_steps(self) -> torch.Tensor:
        """Return :attr:`busy_steps` (B,) and reset the count."""
        busy = self.busy_steps
        self.busy_steps = torch.zeros_like(busy)
        return busy

    def run_segment(
        self, events: dict[str, ChunkEvents], start: int, stop: int
    ) -> None:
        """Simulate steps ``[start, stop)`` of a chunk whose spikes are ``events``."""
        dense = {}
        batch = self.busy_steps.numel()
        for name, chunk in events.items():
            size = self.network.input_sizes[name]
            dense[name] = _dense_spikes(chunk, start, stop, batch, size)
        for step in range(start, stop):
            inputs = {name: spikes[step - start] for name, spikes in dense.items()}
            self._step(step, inputs)
            self.recorder.reach_step(step + 1)

    def _step(self, step: int, inputs: dict[str, torch.Tensor]) -> None:
        network = self.network
        for pop in network.populations.values():
            pop.g_exc.mul_(pop.decay_exc)
            pop.g_inh.mul_(pop.decay_inh)
        for proj in network.plastic_projections():
            proj.pre_trace.mul_(proj.decay_plus)
            proj.post_trace.mul_(proj.decay_minus)

        for proj in network.projections.values():
            arriving = (
                inputs[proj.source]
                if proj.source_is_input
                else network.populations[proj.source].previous_spikes
            )
            _deliver(proj, arriving, network.populations[proj.target])

        spiking = {}
        busy = torch.zeros_like(self.busy_steps, dtype=torch.bool)
        for name, pop in network.populations.items():
            spiking[name] = _integrate(pop)
            rows, neurons = spiking[name].nonzero(as_tuple=True)
            if rows.numel():
                self.recorder.add_spike_events(
                    name, torch.full_like(rows, step), rows, neurons
                )
                busy[rows] = True
        self.busy_steps += busy

        for proj in network.plastic_projections():
            pre = inputs[proj.source] if proj.source_is_input else spiking[proj.source]
            _learn(proj, pre, spiking[proj.target])
        for name, pop in network.populations.items():
            pop.previous_spikes = spiking[name]


def _dense_spikes(
    events: ChunkEvents, start: int, stop: int, batch: int, size: int
) -> torch.Tensor:
    """Return the spikes in steps ``[start, stop)`` as a (steps, B, N) boolean tensor."""
    inside = (events.step >= start) & (events.step < stop)
    spikes = torch.zeros(
        (stop - start, batch, size), dtype=torch.bool, device=events.step.device
    )
    spikes[events.step[inside] - start, events.batch[inside], events.neuron[inside]] = (
        True
    )
    return spikes


def _deliver(
    proj: ProjectionState, arriving: torch.Tensor, target: PopulationState
) -> None:
    """Add ``w`` to the target conductance for every synapse whose source spiked."""
    jumps = arriving[:, proj.pre] * proj.weight
    conductance = target.g_exc if proj.excitatory else target.g_inh
    conductance.index_add_(1, proj.post, jumps)


def _integrate(pop: PopulationState) -> torch.Tensor:
    """Advance v by one exact step, then apply threshold, reset and refractoriness."""
    log_a, v_inf = pop.membrane_coefficients(pop.g_exc, pop.g_inh)
    integrated = v_inf + (pop.v - v_inf) * torch.exp(log_a)
    refractory = pop.refractory_left > 0
    v = torch.where(refractory, pop.v, integrated)
    spiking = ~refractory & (v >= pop.spec.v_threshold)
    pop.v = torch.where(spiking, pop.spec.v_reset, v)
    left = torch.where(refractory, pop.refractory_left - 1, pop.refractory_left)
    pop.refractory_left = torch.where(spiking, pop.refractory_steps, left)
    return spiking


def _learn(proj: ProjectionState, pre: torch.Tensor, post: torch.Tensor) -> None:
    """Apply one step of STDP: pre spikes first, then post spikes."""
    rule = proj.rule
    pre_at_synapse = pre[:, proj.pre]
    depressed = rule.depress(proj.weight, proj.post_trace[:, proj.post])
    proj.weight = torch.where(pre_at_synapse, depressed, proj.weight)
    proj.pre_trace += pre

    post_at_synapse = post[:, proj.post]
    potentiated = rule.potentiate(proj.weight, proj.pre_trace[:, proj.pre])
    proj.weight = torch.where(post_at_synapse, potentiated, proj.weight)
    proj.post_trace += post
