"""The event-driven engine: whole windows of steps between LIF spikes at once.

Between two LIF spikes the model is linear in closed form. Input spikes are
known in advance, the post traces only decay, and each membrane obeys
``v[k+1] = a[k] v[k] + b[k]``. The engine therefore advances in windows:

1. It takes the input spikes of the next ``L`` steps and assumes that no LIF
   neuron spikes in them. Each input spike is applied in time order per
   synapse ("rank" = how many earlier spikes the same source neuron had in
   the window): its synapses transmit their current weight, then are
   depressed by the known post trace.
2. It integrates the conductances (a scaled cumulative sum) and the
   membranes (a cumulative product and sum in log space) over the window.
3. It finds the first step in which any neuron reaches threshold, keeps the
   window up to and including that step, undoes the depressions after it,
   and applies that step's spikes, resets and STDP exactly as the
   clock-driven engine does.

Batch rows are independent trials, so each row keeps its own position in
time and its window ends at its own first spike. Rows wait for each other
only at chunk ends and record steps. A window costs a fixed number of tensor
operations however many steps it covers, and a run costs about one window per
spike of the busiest row. The result matches
:mod:`~biosynapse_verify.simulate.torch_clock` up to rounding: both compute
the same recurrences, grouped differently.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from biosynapse_verify.simulate.inputs import (
    KEY_STRIDE,
    ChunkEvents,
    PoissonSource,
    PrescribedSource,
)
from biosynapse_verify.simulate.recording import Recorder
from biosynapse_verify.simulate.torch_network import (
    Network,
    PopulationState,
    ProjectionState,
    expand_rows,
    synapses_from,
)

__all__ = ["EventEngine"]

# Largest |log| of a decay factor that the window formulas may exponentiate.
# exp(500) and exp(60) leave room for the values they multiply in float64 and
# float32, whose largest numbers are about exp(709) and exp(88).
_LOG_SPAN = {torch.float64: 500.0, torch.float32: 60.0}
# Window lengths in steps: the first guess, the bounds of the adaptive length,
# and the cap on B * L * M elements of one window array (memory).
_FIRST_WINDOW = 64
_MIN_WINDOW = 8
_MAX_WINDOW = 4096
_MAX_WINDOW_ELEMENTS = 2**22


@dataclass
class _WindowEvents:
    """The input spikes of one window, ``offset`` in steps after the row's position."""

    batch: torch.Tensor
    neuron: torch.Tensor
    offset: torch.Tensor
    rank: torch.Tensor


@dataclass
class _Depression:
    """One rank's depressions, kept so that those after a row's cut can be undone."""

    flat_synapse: torch.Tensor
    batch: torch.Tensor
    offset: torch.Tensor
    weight_before: torch.Tensor


@dataclass
class _Membrane:
    """One population's trajectory over a window, shapes (B, L, M)."""

    g_exc: torch.Tensor
    g_inh: torch.Tensor
    v_after: torch.Tensor
    crossing: torch.Tensor
    valid_steps: torch.Tensor


class _DecayTable:
    """Powers ``d**k`` and ``d**-k`` of one decay factor ``d = exp(-dt / tau)``."""

    def __init__(
        self, dt_over_tau: float, length: int, dtype: torch.dtype, device: torch.device
    ) -> None:
        k = torch.arange(length + 2, dtype=torch.float64)
        self.power = torch.exp(-dt_over_tau * k).to(dtype=dtype, device=device)
        self.inverse = torch.exp(dt_over_tau * k).to(dtype=dtype, device=device)


class EventEngine:
    """Advance a :class:`Network` window by window, with exact results."""

    def __init__(
        self,
        network: Network,
        sources: dict[str, PoissonSource | PrescribedSource],
        recorder: Recorder,
        dt: float,
        dtype: torch.dtype,
    ) -> None:
        self.network = network
        self.sources = sources
        self.recorder = recorder
        self.log_span = _LOG_SPAN[dtype]
        first_pop = next(iter(network.populations.values()))
        self.device = first_pop.v.device
        self.batch = first_pop.v.shape[0]
        self.max_window = self._max_window(dt)
        self._window = min(_FIRST_WINDOW, self.max_window)

        def table(tau: float) -> _DecayTable:
            return _DecayTable(dt / tau, self.max_window, dtype, self.device)

        self._synapse_tables = {
            name: (table(pop.spec.tau_syn_exc), table(pop.spec.tau_syn_inh))
            for name, pop in network.populations.items()
        }
        self._trace_tables = {
            proj.name: (table(proj.tau_plus), table(proj.tau_minus))
            for proj in network.plastic_projections()
        }
        self._steps = torch.arange(self.max_window, device=self.device)
        self._pending = {
            name: torch.zeros_like(pop.v, dtype=torch.bool)
            for name, pop in network.populations.items()
        }
        self._position = torch.zeros(self.batch, dtype=torch.int64, device=self.device)
        self._undo: list[tuple[ProjectionState, _Depression]] = []
        self.windows = 0

    def _max_window(self, dt: float) -> int:
        """Return the maximum window length that keeps decay powers in float range."""
        pops = self.network.populations.values()
        fastest = max(dt / min(p.spec.tau_syn_exc, p.spec.tau_syn_inh) for p in pops)
        by_range = int(self.log_span / fastest) - 1
        by_memory = _MAX_WINDOW_ELEMENTS // (self.batch * sum(p.size for p in pops))
        return max(1, min(_MAX_WINDOW, by_range, by_memory))

    # ------------------------------------------------------------------ chunk
    def run_chunk(self, start: int, stop: int) -> None:
        """Simulate steps ``[start, stop)``, pausing at every record step."""
        events = {}
        for name, source in self.sources.items():
            events[name] = source.chunk(start, stop)
            self.recorder.add_input_spikes(
                name, events[name].batch, events[name].neuron
            )
        consumed = {
            name: torch.zeros(
                (self.batch, source.size), dtype=torch.int64, device=self.device
            )
            for name, source in self.sources.items()
        }
        reached = start
        while reached < stop:
            limit = min(stop, self.recorder.next_record_step)
            self._run_until(limit, events, consumed)
            reached = limit
            self.recorder.reach_step(reached)

    def _run_until(
        self,
        limit: int,
        events: dict[str, ChunkEvents],
        consumed: dict[str, torch.Tensor],
    ) -> None:
        """Advance every row to step ``limit``."""
        while True:
            remaining = limit - self._position
            longest = int(remaining.max())
            if longest == 0:
                return
            length = min(self._window, longest)
            row_length = torch.clamp(remaining, max=length)
            window = {
                name: _window_events(
                    events[name], consumed[name], self._position, row_length
                )
                for name in self.sources
            }
            committed_steps, spiked = self._advance(length, row_length, window)
            for name, selected in window.items():
                committed = selected.offset < committed_steps[selected.batch]
                consumed[name].index_put_(
                    (selected.batch, selected.neuron),
                    committed.to(torch.int64),
                    accumulate=True,
                )
            self._position += committed_steps
            self._adapt_window(length, committed_steps, row_length, spiked)
            self.windows += 1

    def _adapt_window(
        self,
        length: int,
        committed_steps: torch.Tensor,
        row_length: torch.Tensor,
        spiked: torch.Tensor,
    ) -> None:
        """Choose the next window length from how this window ended.

        After spikes it is four times the median stretch kept by the rows
        that spiked; after a full window without spikes it doubles.
        """
        if bool(spiked.any()):
            typical = int(committed_steps[spiked].float().median())
            self._window = max(_MIN_WINDOW, 4 * typical)
        elif bool((committed_steps == row_length).all()) and length == self._window:
            self._window = 2 * self._window
        self._window = min(self._window, self.max_window)

    # ----------------------------------------------------------------- window
    def _advance(
        self, length: int, row_length: torch.Tensor, window: dict[str, _WindowEvents]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Simulate up to ``row_length[b]`` steps per row.

        Returns the steps committed per row (B,) and whether each row ended its
        window with a spike (B,).
        """
        increments = self._deliver(length, window)
        in_window = self._steps[None, :length] < row_length[:, None]
        membranes = {
            name: self._integrate(pop, length, in_window, *increments[name])
            for name, pop in self.network.populations.items()
        }
        last, spiked = self._last_steps(membranes, row_length)
        self._undo_after(last)
        self._commit(last, spiked, window, membranes)
        return last + 1, spiked

    def _deliver(
        self, length: int, window: dict[str, _WindowEvents]
    ) -> dict[str, list[torch.Tensor | None]]:
        """Collect conductance jumps (B, L, M) per population and receptor.

        Plastic synapses are depressed by each input spike on the way.
        """
        increments: dict[str, list[torch.Tensor | None]] = {
            name: [None, None] for name in self.network.populations
        }
        for proj in self.network.projections.values():
            pop = self.network.populations[proj.target]
            slot = 0 if proj.excitatory else 1
            if increments[proj.target][slot] is None:
                shape = (self.batch, length, pop.size)
                increments[proj.target][slot] = torch.zeros(
                    shape, dtype=pop.v.dtype, device=self.device
                )
            jumps = increments[proj.target][slot]
            if proj.source_is_input:
                self._deliver_input(proj, window[proj.source], jumps)
            else:
                _deliver_previous_spikes(proj, self._pending[proj.source], jumps)
        return increments

    def _deliver_input(
        self, proj: ProjectionState, events: _WindowEvents, jumps: torch.Tensor
    ) -> None:
        """Transmit the window's input spikes and, if plastic, depress rank by rank."""
        if events.batch.numel() == 0:
            return
        event, synapse, post = synapses_from(proj, events.neuron)
        batch, offset = events.batch, events.offset
        if event is not None:
            batch, offset = batch.index_select(0, event), offset.index_select(0, event)
        length, width = jumps.shape[1], jumps.shape[2]
        slot = (batch * length + offset) * width
        if post is not None:
            slot = slot + post
        flat_synapse = batch * proj.weight.shape[1] + synapse
        weights, jumps_flat = proj.weight.view(-1), jumps.view(-1)
        if not proj.plastic:
            jumps_flat.index_add_(0, slot, weights.index_select(0, flat_synapse))
            return
        _, minus = self._trace_tables[proj.name]
        post_trace = (
            proj.post_trace[:, None, :] * minus.power[1 : length + 1, None]
        ).view(-1)
        rank = events.rank if event is None else events.rank.index_select(0, event)
        for group in _split_by_rank(rank):
            synapses_k = flat_synapse.index_select(0, group)
            slot_k = slot.index_select(0, group)
            before = weights.index_select(0, synapses_k)
            jumps_flat.index_add_(0, slot_k, before)
            after = proj.rule.depress(before, post_trace.index_select(0, slot_k))
            weights.index_copy_(0, synapses_k, after)
            depression = _Depression(
                synapses_k,
                batch.index_select(0, group),
                offset.index_select(0, group),
                before,
            )
            self._undo.append((proj, depression))

    def _integrate(
        self,
        pop: PopulationState,
        length: int,
        in_window: torch.Tensor,
        jumps_exc: torch.Tensor | None,
        jumps_inh: torch.Tensor | None,
    ) -> _Membrane:
        """Integrate one population over the window assuming it does not spike."""
        table_exc, table_inh = self._synapse_tables[pop.name]
        g_exc = _conductance(pop.g_exc, jumps_exc, table_exc, length)
        g_inh = _conductance(pop.g_inh, jumps_inh, table_inh, length)
        log_a, v_inf = pop.membrane_coefficients(g_exc, g_inh)
        # b = (1 - a) v_inf, written with expm1 for accuracy when a is near 1.
        offset = -torch.expm1(log_a) * v_inf
        free = in_window[:, :, None]
        if pop.refractory_steps > 0:
            refractory = (
                self._steps[None, :length, None] < pop.refractory_left[:, None, :]
            )
            log_a = torch.where(refractory, 0.0, log_a)
            offset = torch.where(refractory, 0.0, offset)
            free = free & ~refractory
        v_after, valid = _linear_recurrence(pop.v, log_a, offset, self.log_span)
        crossing = (v_after >= pop.spec.v_threshold) & free
        return _Membrane(g_exc, g_inh, v_after, crossing, valid)

    def _last_steps(
        self, membranes: dict[str, _Membrane], row_length: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return each row's last committed step (B,) and whether it spiked there (B,).

        A row stops at its first spike, or else at the end of its window or of
        the part of it whose values are exact. A row with nothing to do gets -1.
        """
        usable = row_length
        for membrane in membranes.values():
            usable = torch.minimum(usable, membrane.valid_steps)
        crossing = torch.stack([m.crossing.any(dim=2) for m in membranes.values()]).any(
            dim=0
        )
        crossing &= self._steps[None, : crossing.shape[1]] < usable[:, None]
        spiked = crossing.any(dim=1)
        first = torch.argmax(crossing.to(torch.int8), dim=1)
        return torch.where(spiked, first, usable - 1), spiked

    def _undo_after(self, last: torch.Tensor) -> None:
        """Restore the weights of depressions after each row's cut, latest first."""
        for proj, depression in reversed(self._undo):
            late = depression.offset > last.index_select(0, depression.batch)
            weights = proj.weight.view(-1)
            current = weights.index_select(0, depression.flat_synapse)
            restored = torch.where(late, depression.weight_before, current)
            weights.index_copy_(0, depression.flat_synapse, restored)
        self._undo = []

    # ----------------------------------------------------------------- commit
    def _commit(
        self,
        last: torch.Tensor,
        spiked: torch.Tensor,
        window: dict[str, _WindowEvents],
        membranes: dict[str, _Membrane],
    ) -> None:
        committed_steps = last + 1
        moved = committed_steps > 0
        for proj in self.network.plastic_projections():
            self._advance_traces(proj, window.get(proj.source), last)
        spiking = {}
        at_last = torch.clamp(last, min=0)[:, None, None]
        for name, pop in self.network.populations.items():
            membrane = membranes[name]
            index = at_last.expand(-1, 1, pop.size)
            keep = moved[:, None]
            pop.g_exc = torch.where(
                keep, membrane.g_exc.gather(1, index)[:, 0], pop.g_exc
            )
            pop.g_inh = torch.where(
                keep, membrane.g_inh.gather(1, index)[:, 0], pop.g_inh
            )
            v = torch.where(keep, membrane.v_after.gather(1, index)[:, 0], pop.v)
            spiking[name] = membrane.crossing.gather(1, index)[:, 0] & spiked[:, None]
            pop.v = torch.where(spiking[name], pop.spec.v_reset, v)
            if pop.refractory_steps > 0:
                left = torch.clamp(
                    pop.refractory_left - committed_steps[:, None], min=0
                )
                pop.refractory_left = torch.where(
                    spiking[name], pop.refractory_steps, left
                )
            self._pending[name] = torch.where(keep, spiking[name], self._pending[name])
        if not bool(spiked.any()):
            return
        for name, spikes in spiking.items():
            self.recorder.add_spikes(name, self._position + last, spikes)
        for proj in self.network.plastic_projections():
            _learn_at_spike(proj, spiking)

    def _advance_traces(
        self, proj: ProjectionState, events: _WindowEvents | None, last: torch.Tensor
    ) -> None:
        """Decay both traces over the committed steps and add those spikes to ``x``."""
        plus, minus = self._trace_tables[proj.name]
        committed_steps = last + 1
        proj.pre_trace = (
            proj.pre_trace * plus.power.index_select(0, committed_steps)[:, None]
        )
        proj.post_trace = (
            proj.post_trace * minus.power.index_select(0, committed_steps)[:, None]
        )
        if events is None or events.batch.numel() == 0:
            return
        ages = last.index_select(0, events.batch) - events.offset
        decayed = plus.power.index_select(0, torch.clamp(ages, min=0))
        contribution = torch.where(ages >= 0, decayed, 0.0)
        flat = events.batch * proj.n_source + events.neuron
        proj.pre_trace.view(-1).index_add_(0, flat, contribution)


def _window_events(
    events: ChunkEvents,
    consumed: torch.Tensor,
    position: torch.Tensor,
    row_length: torch.Tensor,
) -> _WindowEvents:
    """Select the chunk's events in ``[position[b], position[b] + row_length[b])``."""
    row_key = (
        torch.arange(position.numel(), device=position.device) * KEY_STRIDE + position
    )
    first = torch.searchsorted(events.key, row_key)
    counts = torch.searchsorted(events.key, row_key + row_length) - first
    batch = torch.repeat_interleave(counts)
    start_of_row = torch.cumsum(counts, 0) - counts
    within_row = torch.arange(
        batch.numel(), device=batch.device
    ) - start_of_row.index_select(0, batch)
    index = first.index_select(0, batch) + within_row
    neuron = events.neuron.index_select(0, index)
    earlier = consumed.view(-1).index_select(0, batch * consumed.shape[1] + neuron)
    return _WindowEvents(
        batch=batch,
        neuron=neuron,
        offset=events.step.index_select(0, index) - position.index_select(0, batch),
        rank=events.occurrence.index_select(0, index) - earlier,
    )


def _split_by_rank(rank: torch.Tensor) -> list[torch.Tensor]:
    """Group positions by rank, lowest first, so a group lists each synapse once."""
    ranks = int(rank.max()) + 1 if rank.numel() else 0
    if ranks <= 1:
        return [torch.arange(rank.numel(), device=rank.device)]
    return [torch.nonzero(rank == k).squeeze(1) for k in range(ranks)]


def _deliver_previous_spikes(
    proj: ProjectionState, spiking: torch.Tensor, jumps: torch.Tensor
) -> None:
    """Deliver LIF spikes of the step before each row's window into its first step."""
    rows, neurons = spiking.nonzero(as_tuple=True)
    if rows.numel() == 0:
        return
    event, synapse = expand_rows(neurons, proj.rows_ptr, proj.rows_order)
    batch = rows[event]
    first = torch.zeros_like(batch)
    jumps.index_put_(
        (batch, first, proj.post[synapse]), proj.weight[batch, synapse], accumulate=True
    )


def _conductance(
    g_before: torch.Tensor, jumps: torch.Tensor | None, table: _DecayTable, length: int
) -> torch.Tensor:
    """Return g after each window step's decay and jumps, shape (B, L, M).

    ``g[k] = d**(k+1) g_before + sum_{i<=k} d**(k-i) jumps[i]``, computed as
    ``d**k (d g_before + cumsum(d**-i jumps[i]))``. Jumps are non-negative,
    so the sum has no cancellation.
    """
    power = table.power[:length, None]
    if jumps is None:
        return (g_before * table.power[1])[:, None, :] * power
    scaled = torch.cumsum(jumps * table.inverse[:length, None], dim=1)
    return power * (scaled + (g_before * table.power[1])[:, None, :])


def _linear_recurrence(
    v_start: torch.Tensor, log_a: torch.Tensor, offset: torch.Tensor, log_span: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Solve ``v[k+1] = exp(log_a[k]) v[k] + offset[k]`` over a window.

    Parameters
    ----------
    v_start : Tensor, shape (B, M)
    log_a, offset : Tensor, shape (B, L, M)
    log_span : float
        Largest decay, as a negative log, that may be exponentiated.

    Returns
    -------
    v_after : Tensor, shape (B, L, M)
        ``v_after[:, k]`` is v after step k.
    valid : Tensor of int64, shape (B,)
        Number of leading steps of each row whose values are exact; later ones
        may have lost range. At least 1, because the first step is computed
        directly.
    """
    first = torch.exp(log_a[:, 0]) * v_start + offset[:, 0]
    if log_a.shape[1] == 1:
        return first[:, None, :], torch.ones(
            first.shape[0], dtype=torch.int64, device=first.device
        )
    # With C[k] = sum_{1<=i<=k} log_a[i]:
    # v[k+1] = e^C[k] (v[1] + sum_{1<=i<=k} offset[i] e^-C[i]).
    cumulative = torch.cumsum(log_a[:, 1:], dim=1)
    growth = torch.exp(torch.clamp(-cumulative, max=log_span))
    scaled = torch.cumsum(offset[:, 1:] * growth, dim=1)
    later = torch.exp(cumulative) * (first[:, None, :] + scaled)
    # cumulative only decreases along the window, so the count is a prefix length.
    within = (cumulative >= -log_span).sum(dim=1).amin(dim=1)
    return torch.cat([first[:, None, :], later], dim=1), 1 + within


def _learn_at_spike(proj: ProjectionState, spiking: dict[str, torch.Tensor]) -> None:
    """Apply STDP for the LIF spikes of one step: pre spikes first, then post spikes."""
    if not proj.source_is_input:
        rows, neurons = spiking[proj.source].nonzero(as_tuple=True)
        if rows.numel():
            event, synapse = expand_rows(neurons, proj.rows_ptr, proj.rows_order)
            batch = rows[event]
            before = proj.weight[batch, synapse]
            trace = proj.post_trace[batch, proj.post[synapse]]
            proj.weight[batch, synapse] = proj.rule.depress(before, trace)
            proj.pre_trace[rows, neurons] += 1.0
    rows, neurons = spiking[proj.target].nonzero(as_tuple=True)
    if rows.numel() == 0:
        return
    if proj.all_to_all:
        # Synapses onto target j are the column j of the (B, N, M) weight view.
        weights = proj.weight.view(proj.weight.shape[0], proj.n_source, proj.n_target)
        before = weights[rows, :, neurons]
        weights[rows, :, neurons] = proj.rule.potentiate(before, proj.pre_trace[rows])
    else:
        event, synapse = expand_rows(neurons, proj.columns_ptr, proj.columns_order)
        batch = rows[event]
        before = proj.weight[batch, synapse]
        trace = proj.pre_trace[batch, proj.pre[synapse]]
        proj.weight[batch, synapse] = proj.rule.potentiate(before, trace)
    proj.post_trace[rows, neurons] += 1.0
