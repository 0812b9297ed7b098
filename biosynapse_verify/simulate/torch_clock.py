"""The clock-driven engine: one pass over the whole network per time step.

It is the plain transcription of the model in
:mod:`biosynapse_verify.simulate.torch_backend`, kept simple so that it can
serve as the reference for the event-driven engine. Its cost is dominated by
PyTorch's per-operation overhead. For song2000 with one seed it used about
670 microseconds of CPU time per step on one core of a loaded 2-core test
machine, against about 12 for the event-driven engine, so use it for short
runs and tests.
"""

from __future__ import annotations

import torch

from biosynapse_verify.simulate.inputs import (
    ChunkEvents,
    PoissonSource,
    PrescribedSource,
)
from biosynapse_verify.simulate.recording import Recorder
from biosynapse_verify.simulate.torch_network import (
    Network,
    PopulationState,
    ProjectionState,
)

__all__ = ["ClockEngine"]


class ClockEngine:
    """Advance a :class:`Network` one step at a time."""

    def __init__(
        self,
        network: Network,
        sources: dict[str, PoissonSource | PrescribedSource],
        recorder: Recorder,
    ) -> None:
        self.network = network
        self.sources = sources
        self.recorder = recorder
        # LIF spikes of the previous step, delivered in the current one.
        self._previous = {
            name: torch.zeros_like(pop.v, dtype=torch.bool)
            for name, pop in network.populations.items()
        }

    def run_chunk(self, start: int, stop: int) -> None:
        """Simulate steps ``[start, stop)``."""
        dense = {}
        for name, source in self.sources.items():
            events = source.chunk(start, stop)
            self.recorder.add_input_spikes(name, events.batch, events.neuron)
            dense[name] = _dense_spikes(events, start, stop, source.batch, source.size)
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
                else self._previous[proj.source]
            )
            _deliver(proj, arriving, network.populations[proj.target])

        spiking = {}
        for name, pop in network.populations.items():
            spiking[name] = _integrate(pop)
            if spiking[name].any():
                self.recorder.add_spikes(name, step, spiking[name])

        for proj in network.plastic_projections():
            pre = inputs[proj.source] if proj.source_is_input else spiking[proj.source]
            _learn(proj, pre, spiking[proj.target])
        self._previous = spiking


def _dense_spikes(
    events: ChunkEvents, start: int, stop: int, batch: int, size: int
) -> torch.Tensor:
    """Return the chunk's spikes as a (steps, B, N) boolean tensor."""
    spikes = torch.zeros(
        (stop - start, batch, size), dtype=torch.bool, device=events.step.device
    )
    spikes[events.step - start, events.batch, events.neuron] = True
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
