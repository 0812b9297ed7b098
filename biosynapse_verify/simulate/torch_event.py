"""The event-driven engine: whole windows of steps between LIF spikes at once.

Between two LIF spikes the model is linear in closed form. Input spikes are
known in advance, the post traces only decay, and each membrane obeys
``v[k+1] = a[k] v[k] + b[k]``. The engine therefore advances in windows:

1. It takes the input spikes of the next ``L`` steps and assumes that no LIF
   neuron spikes in them. Every input spike transmits the weight its synapse
   has at that moment, after the depressions by the earlier spikes of the
   same source in the window ("rank" = how many earlier spikes the same
   source neuron had in the window). For additive and multiplicative STDP
   those weights follow in closed form from a cumulative sum over ranks
   (see :func:`_depression_table`). Otherwise (power-law STDP, or a table
   that would be too large) the spikes are applied rank by rank, and the
   depressions after the cut are undone.
2. It integrates the conductances (a scaled cumulative sum) and the
   membranes (a cumulative product and sum in log space) over the window.
3. It finds the first step in which any neuron reaches threshold, keeps the
   window up to and including that step, commits the depressions up to it,
   and applies that step's spikes, resets and STDP exactly as the
   clock-driven engine does.

Batch rows are independent trials, so each row keeps its own position in
time and its window ends at its own first spike. Rows wait for each other
only at segment ends and record steps. A window costs a fixed number of
tensor operations however many steps it covers. A run therefore costs
about one window per step that contains a LIF spike in the busiest row,
and the engine suits networks whose LIF spikes are sparse in time. The result matches
:mod:`~biosynapse_verify.simulate.torch_reference` up to rounding: both
compute the same recurrences, grouped differently.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from biosynapse_verify.simulate.inputs import KEY_STRIDE, ChunkEvents
from biosynapse_verify.simulate.recording import Recorder
from biosynapse_verify.simulate.torch_network import (
    Network,
    PopulationState,
    ProjectionState,
    Spikes,
    apply_stdp,
    expand_rows,
    outgoing_synapses,
    synapses_from,
)

__all__ = ["EventEngine"]

# Largest |log| of a decay factor that the window formulas may exponentiate.
# exp(500) and exp(60) leave room for the values they multiply in float64 and
# float32, whose largest numbers are about exp(709) and exp(88).
_LOG_SPAN = {torch.float64: 500.0, torch.float32: 60.0}
# Lower bound of log(1 - c) for a multiplicative depression factor 1 - c. A
# factor of exp(-80) or less scales any weight below the smallest positive
# float32 (about exp(-103)) and below float64 resolution of any w_min > 0,
# while keeping prefix sums of many such logs far from overflow.
_LOG_FACTOR_FLOOR = -80.0
# Window lengths in steps: the first guess, the bounds of the adaptive length,
# and the cap on B * L * M elements of one window array (memory).
_FIRST_WINDOW = 64
_MIN_WINDOW = 8
_MAX_WINDOW = 4096
_MAX_WINDOW_ELEMENTS = 2**22
# The next window is this many times the median stretch that the rows which
# spiked kept. A window costs a fixed ~150 tensor operations, and the spikes
# it processes beyond the cut are cheap, so a generous margin wins. On
# song2000 a margin of 4 used 20 % less CPU time than 2 and 45 % less than 1.
_WINDOW_MARGIN = 4.0
# Largest ranks * B * S elements of a depression table (see
# _depression_table); beyond it the rank-by-rank path runs instead.
_MAX_TABLE_ELEMENTS = 2**21


@dataclass
class _WindowEvents:
    """The input spikes of one window, ``offset`` in steps after the row's position.

    All fields have shape (E,); ``rank`` is filled in on first use by
    :meth:`ranks`.
    """

    batch: torch.Tensor
    neuron: torch.Tensor
    offset: torch.Tensor
    occurrence: torch.Tensor
    rank: torch.Tensor | None = None

    def ranks(self, n_source: int, batch_size: int) -> torch.Tensor:
        """Return how many earlier spikes of the same source each spike has here.

        The chunk numbers the spikes of each source in time order
        (``occurrence``), so the rank is the occurrence minus the smallest
        occurrence of that source in the window.
        """
        if self.rank is None:
            key = self.batch * n_source + self.neuron
            first = torch.full(
                (batch_size * n_source,),
                torch.iinfo(torch.int64).max,
                dtype=torch.int64,
                device=key.device,
            )
            first.scatter_reduce_(0, key, self.occurrence, "amin")
            self.rank = self.occurrence - first.index_select(0, key)
        return self.rank


@dataclass
class _Depression:
    """One rank's depressions, kept so that those after a row's cut can be undone."""

    flat_synapse: torch.Tensor
    batch: torch.Tensor
    offset: torch.Tensor
    weight_before: torch.Tensor


@dataclass
class _PendingDepressions:
    """A window's depressions of one projection, written when the window is cut.

    ``weight_after[i]`` is the weight of synapse ``flat_synapse[i]`` after
    the depression by its spike ``i`` and by every earlier one in the window.
    """

    flat_synapse: torch.Tensor
    batch: torch.Tensor
    offset: torch.Tensor
    weight_after: torch.Tensor


@dataclass
class _Membrane:
    """One population's trajectory over a window, shapes (B, L, M).

    A conductance is None when no projection targets its receptor.
    """

    g_exc: torch.Tensor | None
    g_inh: torch.Tensor | None
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
    """Advance a :class:`Network` window by window, with exact results.

    Attributes
    ----------
    windows : int
        Windows simulated so far.
    busy_steps : Tensor of int64, shape (B,)
        Steps with at least one LIF spike, per batch row, since the last
        :meth:`take_busy_steps`.
    """

    def __init__(
        self, network: Network, recorder: Recorder, dt: float, dtype: torch.dtype
    ) -> None:
        self.network = network
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
        self._receptors = {
            name: network.receptors_used(name) for name in network.populations
        }
        self._steps = torch.arange(self.max_window, device=self.device)
        self._row_key = (
            torch.arange(self.batch, device=self.device, dtype=torch.int64) * KEY_STRIDE
        )
        self._position = torch.zeros(self.batch, dtype=torch.int64, device=self.device)
        self._trace_increment = torch.ones((), dtype=dtype, device=self.device)
        self._undo: list[tuple[ProjectionState, _Depression]] = []
        self._pending: list[tuple[ProjectionState, _PendingDepressions]] = []
        self.windows = 0
        self.busy_steps = torch.zeros(self.batch, dtype=torch.int64, device=self.device)

    def _max_window(self, dt: float) -> int:
        """Return the maximum window length that keeps decay powers in float range."""
        pops = self.network.populations.values()
        fastest = max(dt / min(p.spec.tau_syn_exc, p.spec.tau_syn_inh) for p in pops)
        by_range = int(self.log_span / fastest) - 1
        by_memory = _MAX_WINDOW_ELEMENTS // (self.batch * sum(p.size for p in pops))
        return max(1, min(_MAX_WINDOW, by_range, by_memory))

    def take_busy_steps(self) -> torch.Tensor:
        """Return :attr:`busy_steps` (B,) and reset the count."""
        busy = self.busy_steps
        self.busy_steps = torch.zeros_like(busy)
        return busy

    # ---------------------------------------------------------------- segment
    def run_segment(
        self, events: dict[str, ChunkEvents], start: int, stop: int
    ) -> None:
        """Simulate steps ``[start, stop)``, pausing at every record step.

        ``events`` contains each input's spikes of a chunk that contains the
        segment. Spikes outside the segment are ignored.
        """
        self._position.fill_(start)
        reached = start
        while reached < stop:
            limit = min(stop, self.recorder.next_record_step)
            if limit <= reached:
                limit = stop
            self._run_until(limit, events)
            reached = limit
            self.recorder.reach_step(reached)

    def _run_until(self, limit: int, events: dict[str, ChunkEvents]) -> None:
        """Advance every row to step ``limit``."""
        while True:
            remaining = limit - self._position
            longest = int(remaining.max())
            if longest == 0:
                return
            length = min(self._window, longest)
            row_length = torch.clamp(remaining, max=length)
            window = {
                name: _window_events(chunk, self._row_key, self._position, row_length)
                for name, chunk in events.items()
            }
            committed_steps, spiked = self._advance(length, row_length, window)
            self._position += committed_steps
            self.busy_steps += spiked
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

        After spikes it is ``_WINDOW_MARGIN`` times the median stretch kept
        by the rows that spiked; after a full window without spikes it
        doubles.
        """
        if bool(spiked.any()):
            typical = int(committed_steps[spiked].float().median())
            self._window = max(_MIN_WINDOW, int(_WINDOW_MARGIN * typical))
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

        A receptor that no projection targets gets None.
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
                source = self.network.populations[proj.source]
                _deliver_previous_spikes(proj, source.previous_spikes, jumps)
        return increments

    def _deliver_input(
        self, proj: ProjectionState, events: _WindowEvents, jumps: torch.Tensor
    ) -> None:
        """Transmit the window's input spikes, depressing plastic synapses on the way."""
        if events.batch.numel() == 0:
            return
        event, synapse, post = synapses_from(proj, events.neuron)
        if synapse.numel() == 0:
            return
        batch, offset = events.batch, events.offset
        if event is not None:
            batch, offset = batch.index_select(0, event), offset.index_select(0, event)
        length, width = jumps.shape[1], jumps.shape[2]
        # synapses_from gives no targets only when each source has one target.
        target = batch if post is None else batch * width + post
        slot = (batch * length + offset) * width + (0 if post is None else post)
        flat_synapse = batch * proj.weight.shape[1] + synapse
        weights = proj.weight.view(-1)
        if not proj.plastic:
            jumps.view(-1).index_add_(0, slot, weights.index_select(0, flat_synapse))
            return
        _, minus = self._trace_tables[proj.name]
        # The post trace at each spike: decayed, and not yet raised by a post
        # spike, because the window ends at the first one.
        post_trace = proj.post_trace.view(-1).index_select(0, target) * (
            minus.power.index_select(0, offset + 1)
        )
        rank = events.ranks(proj.n_source, self.batch)
        if event is not None:
            rank = rank.index_select(0, event)
        ranks = int(rank.max()) + 1
        closed_form = proj.rule.rule in ("additive", "multiplicative")
        if closed_form and ranks * weights.numel() <= _MAX_TABLE_ELEMENTS:
            before, after = _depression_table(
                proj, flat_synapse, rank, ranks, post_trace
            )
            jumps.view(-1).index_add_(0, slot, before)
            pending = _PendingDepressions(flat_synapse, batch, offset, after)
            self._pending.append((proj, pending))
            return
        self._deliver_by_rank(
            proj, flat_synapse, batch, offset, slot, post_trace, rank, jumps
        )

    def _deliver_by_rank(
        self,
        proj: ProjectionState,
        flat_synapse: torch.Tensor,
        batch: torch.Tensor,
        offset: torch.Tensor,
        slot: torch.Tensor,
        post_trace: torch.Tensor,
        rank: torch.Tensor,
        jumps: torch.Tensor,
    ) -> None:
        """Transmit and depress rank by rank, recording each rank for undoing."""
        weights, jumps_flat = proj.weight.view(-1), jumps.view(-1)
        for group in _split_by_rank(rank):
            synapses_k = flat_synapse.index_select(0, group)
            before = weights.index_select(0, synapses_k)
            jumps_flat.index_add_(0, slot.index_select(0, group), before)
            after = proj.rule.depress(before, post_trace.index_select(0, group))
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
        uses_exc, uses_inh = self._receptors[pop.name]
        g_exc = g_inh = None
        if uses_exc:
            g_exc = _conductance(pop.g_exc, jumps_exc, table_exc, length)
        if uses_inh:
            g_inh = _conductance(pop.g_inh, jumps_inh, table_inh, length)
        if g_exc is None and g_inh is None:
            # No synapses at all: keep one zero tensor so the shapes work out.
            g_exc = _conductance(pop.g_exc, None, table_exc, length)
        log_a, v_inf = pop.membrane_coefficients(
            0.0 if g_exc is None else g_exc, 0.0 if g_inh is None else g_inh
        )
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
        crossing = None
        for membrane in membranes.values():
            usable = torch.minimum(usable, membrane.valid_steps)
            any_neuron = membrane.crossing.any(dim=2)
            crossing = any_neuron if crossing is None else crossing | any_neuron
        crossing &= self._steps[None, : crossing.shape[1]] < usable[:, None]
        spiked = crossing.any(dim=1)
        first = torch.argmax(crossing.to(torch.int8), dim=1)
        return torch.where(spiked, first, usable - 1), spiked

    def _undo_after(self, last: torch.Tensor) -> None:
        """Restore the weights of rank-by-rank depressions after each row's cut."""
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
        """Keep each row's window up to ``last``, then apply the spikes there."""
        for proj in self.network.plastic_projections():
            self._advance_traces(proj, window.get(proj.source), last)
        for proj, pending in self._pending:
            _commit_depressions(proj, pending, last)
        self._pending = []
        spiking = {
            name: _commit_population(pop, membranes[name], last, spiked)
            for name, pop in self.network.populations.items()
        }
        if not bool(spiked.any()):
            return
        spikes: dict[str, Spikes] = {}
        for name, spikes_now in spiking.items():
            rows, neurons = spikes_now.nonzero(as_tuple=True)
            spikes[name] = (rows, neurons) if rows.numel() else None
            if rows.numel():
                steps = (self._position + last).index_select(0, rows)
                self.recorder.add_spike_events(name, steps, rows, neurons)
        # Input spikes of this step were depressed and traced with the window,
        # so only LIF sources count as pre spikes here.
        for proj in self.network.plastic_projections():
            pre = None if proj.source_is_input else spikes[proj.source]
            pre_synapses = None if pre is None else outgoing_synapses(proj, *pre)
            apply_stdp(
                proj, pre, pre_synapses, spikes[proj.target], self._trace_increment
            )

    def _advance_traces(
        self, proj: ProjectionState, events: _WindowEvents | None, last: torch.Tensor
    ) -> None:
        """Decay both traces over the committed steps and add those spikes to ``x``."""
        plus, minus = self._trace_tables[proj.name]
        committed_steps = last + 1
        proj.pre_trace.mul_(plus.power.index_select(0, committed_steps)[:, None])
        proj.post_trace.mul_(minus.power.index_select(0, committed_steps)[:, None])
        if events is None or events.batch.numel() == 0:
            return
        ages = last.index_select(0, events.batch) - events.offset
        decayed = plus.power.index_select(0, torch.clamp(ages, min=0))
        contribution = torch.where(ages >= 0, decayed, 0.0)
        flat = events.batch * proj.n_source + events.neuron
        proj.pre_trace.view(-1).index_add_(0, flat, contribution)


def _window_events(
    events: ChunkEvents,
    row_key: torch.Tensor,
    position: torch.Tensor,
    row_length: torch.Tensor,
) -> _WindowEvents:
    """Select the chunk's events in ``[position[b], position[b] + row_length[b])``.

    ``row_key`` is ``b * KEY_STRIDE`` per row (B,). The chunk lists each
    row's events in time order, so every row's window is one contiguous
    run. With one row that run is a slice, which needs no gather.
    """
    key = row_key + position
    first = torch.searchsorted(events.key, key)
    stop = torch.searchsorted(events.key, key + row_length)
    if position.numel() == 1:
        span = slice(int(first), int(stop))
        return _WindowEvents(
            batch=events.batch[span],
            neuron=events.neuron[span],
            offset=events.step[span] - position,
            occurrence=events.occurrence[span],
        )
    counts = stop - first
    batch = torch.repeat_interleave(counts)
    shift = first - (torch.cumsum(counts, 0) - counts)
    index = torch.arange(batch.numel(), device=batch.device) + shift.index_select(
        0, batch
    )
    return _WindowEvents(
        batch=batch,
        neuron=events.neuron.index_select(0, index),
        offset=events.step.index_select(0, index) - position.index_select(0, batch),
        occurrence=events.occurrence.index_select(0, index),
    )


def _depression_table(
    proj: ProjectionState,
    flat_synapse: torch.Tensor,
    rank: torch.Tensor,
    ranks: int,
    post_trace: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the weight each spike transmits and the weight after its depression.

    Within one window a synapse is only depressed, by amounts that are known
    in advance, so sequential updates compose in closed form:

    - additive: ``w_k = max(w_0 - sum_{j<k} c_j, w_min)`` with
      ``c_j = eta a_minus y_j``, because each step subtracts ``c_j >= 0`` and
      clips from below;
    - multiplicative: ``w_k = max(w_0 prod_{j<k} f_j, w_min)`` with
      ``f_j = max(1 - eta a_minus y_j / w_max, 0)``: each factor lies in
      [0, 1], so clipping at ``w_min`` earlier or later gives the same result.

    The sums run over the earlier spikes of the same synapse in the window.
    They come from a (ranks, B * S) table that contains each spike's change
    at (rank, synapse) and is summed cumulatively along the ranks. Each
    synapse's sum therefore involves only its own changes.

    Parameters
    ----------
    flat_synapse, rank : Tensor of int64, shape (K,)
        Per spike and synapse: ``b * S + s`` and the spike's rank.
    ranks : int
        One more than the largest rank.
    post_trace : Tensor, shape (K,)
        The post trace ``y`` at each spike.

    Returns
    -------
    before, after : Tensor, shape (K,)
        The weight each spike transmits, and the weight once it is depressed.
    """
    rule = proj.rule
    if rule.rule == "additive":
        change = -rule.depression_step * post_trace
    else:
        # log(1 - c) through log1p, which keeps its precision for small c.
        c = (rule.depression_step / rule.w_max) * post_trace
        change = torch.log1p(-torch.clamp(c, max=1.0)).clamp_(min=_LOG_FACTOR_FLOOR)
    size = proj.weight.numel()
    cell = rank * size + flat_synapse
    table = torch.zeros(ranks * size, dtype=change.dtype, device=change.device)
    table.index_copy_(0, cell, change)
    inclusive = table.view(ranks, size).cumsum(0).view(-1).index_select(0, cell)
    exclusive = inclusive - change
    initial = proj.weight.view(-1).index_select(0, flat_synapse)
    if rule.rule == "additive":
        before, after = initial + exclusive, initial + inclusive
    else:
        before, after = initial * torch.exp(exclusive), initial * torch.exp(inclusive)
    return before.clamp_(min=rule.w_min), after.clamp_(min=rule.w_min)


def _commit_depressions(
    proj: ProjectionState, pending: _PendingDepressions, last: torch.Tensor
) -> None:
    """Write each synapse's weight after its last depression up to the row's cut.

    Depressions only lower a weight, so that weight is the smallest
    ``weight_after`` among the synapse's committed spikes.
    """
    committed = pending.offset <= last.index_select(0, pending.batch)
    final = torch.where(committed, pending.weight_after, torch.inf)
    proj.weight.view(-1).scatter_reduce_(0, pending.flat_synapse, final, "amin")


def _commit_population(
    pop: PopulationState, membrane: _Membrane, last: torch.Tensor, spiked: torch.Tensor
) -> torch.Tensor:
    """Move one population to the end of each row's kept window; return its spikes."""
    moved = (last >= 0)[:, None]
    index = torch.clamp(last, min=0)[:, None, None].expand(-1, 1, pop.size)
    if membrane.g_exc is not None:
        g_exc = membrane.g_exc.gather(1, index)[:, 0]
        pop.g_exc = torch.where(moved, g_exc, pop.g_exc)
    if membrane.g_inh is not None:
        g_inh = membrane.g_inh.gather(1, index)[:, 0]
        pop.g_inh = torch.where(moved, g_inh, pop.g_inh)
    v = torch.where(moved, membrane.v_after.gather(1, index)[:, 0], pop.v)
    spiking = membrane.crossing.gather(1, index)[:, 0] & spiked[:, None]
    pop.v = v.masked_fill_(spiking, pop.spec.v_reset)
    if pop.refractory_steps > 0:
        left = torch.clamp(pop.refractory_left - (last + 1)[:, None], min=0)
        pop.refractory_left = left.masked_fill_(spiking, pop.refractory_steps)
    pop.previous_spikes = torch.where(moved, spiking, pop.previous_spikes)
    return spiking


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
        may have lost range. At least 1 (see below).
    """
    # A step that decays v by more than exp(-log_span) leaves v equal to its
    # offset to within float precision, so limiting such a step's decay to
    # exp(-log_span) changes nothing and keeps the first step valid.
    log_a = torch.clamp(log_a, min=-log_span)
    # With C[k] = sum_{i<=k} log_a[i]:
    # v[k+1] = e^C[k] (v[0] + sum_{i<=k} offset[i] e^-C[i]).
    cumulative = torch.cumsum(log_a, dim=1)
    growth = torch.exp(torch.clamp(cumulative, min=-log_span).neg_())
    scaled = torch.cumsum(offset * growth, dim=1)
    v_after = torch.exp(cumulative) * (scaled + v_start[:, None, :])
    # cumulative only decreases along the window, so the count is a prefix length.
    valid = (cumulative >= -log_span).sum(dim=1).amin(dim=1)
    return v_after, valid
