"""Input spike trains for the torch backend, produced one chunk of steps at a time.

A Poisson neuron with rate ``nu`` spikes in each step with probability
``p = nu * dt``, independently of other steps, so its mean rate is exactly
``nu``. Instead of one uniform draw per neuron and step, the sources draw the
gap to the next spike from the geometric distribution with success probability
``p``, which gives the same process with one draw per spike. Each (seed,
input) pair owns a ``torch.Generator``, and a seed's draws depend only on its
own spikes, so a seed produces the same spikes alone or in a batch.

Prescribed spike times are rounded to the nearest step, ``round(t / dt)``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import torch

from biosynapse_verify.spec.schema import PoissonInput, SpikeTimesInput

__all__ = [
    "KEY_STRIDE",
    "ChunkEvents",
    "PoissonSource",
    "PrescribedSource",
    "make_source",
]

# Step index used for "never spikes" (rate 0); larger than any run.
_NEVER = 2**62


@dataclass
class ChunkEvents:
    """The input spikes of one chunk of steps, sorted by batch row, then step.

    Attributes
    ----------
    step : Tensor of int64, shape (E,)
        Absolute step of each spike.
    batch : Tensor of int64, shape (E,)
        Batch row (seed index) of each spike.
    neuron : Tensor of int64, shape (E,)
        Input neuron of each spike.
    occurrence : Tensor of int64, shape (E,)
        How many spikes the same (batch, neuron) had earlier in this chunk.
    key : Tensor of int64, shape (E,)
        ``batch * KEY_STRIDE + step``, ascending, for searching a row's steps.
    """

    step: torch.Tensor
    batch: torch.Tensor
    neuron: torch.Tensor
    occurrence: torch.Tensor
    key: torch.Tensor

    @property
    def count(self) -> int:
        return int(self.step.numel())

    @property
    def step_numpy(self) -> np.ndarray:
        """``step`` copied to the host."""
        return self.step.cpu().numpy()


# Multiplier of the batch row in ChunkEvents.key; larger than any step.
KEY_STRIDE = 2**40


def _seed_for(seed: int, name: str) -> int:
    """Mix a trial seed with an input's name into one 63-bit generator seed."""
    state = np.random.SeedSequence([seed, zlib.crc32(name.encode())])
    return int(state.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def _sorted_events(
    step: torch.Tensor,
    batch: torch.Tensor,
    neuron: torch.Tensor,
    occurrence: torch.Tensor,
    n_neurons: int,
    batch_size: int,
) -> ChunkEvents:
    order = torch.argsort((batch * KEY_STRIDE + step) * n_neurons + neuron)
    step, batch = step[order], batch[order]
    return ChunkEvents(
        step=step,
        batch=batch,
        neuron=neuron[order],
        occurrence=occurrence[order],
        key=batch * KEY_STRIDE + step,
    )


class PoissonSource:
    """Independent Poisson spike trains, one per (seed, input neuron).

    Parameters
    ----------
    spec : PoissonInput
    seeds : list of int
        Trial seeds, one per batch row.
    dt : float
        Time step in seconds.
    device : torch.device

    Raises
    ------
    ValueError
        If a rate exceeds ``1 / dt``, so that a step would need more than one
        spike.
    """

    def __init__(
        self, spec: PoissonInput, seeds: list[int], dt: float, device: torch.device
    ) -> None:
        rates = np.asarray(spec.rates(), dtype=np.float64)
        probability = rates * dt
        if probability.max() > 1.0:
            raise ValueError(
                f"input {spec.name!r}: rate {rates.max()} Hz is above 1 / dt = "
                f"{1.0 / dt:g} Hz, so a step would need more than one spike; "
                "lower the rate or the time step"
            )
        self.name = spec.name
        self.size = spec.size
        self.batch = len(seeds)
        self.device = device
        self._silent = torch.as_tensor(probability == 0.0, device=device)
        # log(1 - p), -inf where p = 1 (every step spikes, every gap is 1).
        self._log_stay = torch.log1p(-torch.as_tensor(probability, device=device))
        self._generators = []
        for seed in seeds:
            generator = torch.Generator(device=device)
            generator.manual_seed(_seed_for(seed, spec.name))
            self._generators.append(generator)
        every = torch.arange(self.size, device=device)
        rows = torch.arange(self.batch, device=device).repeat_interleave(self.size)
        first_gaps = self._draw_gaps(rows, every.repeat(self.batch))
        self._next_step = (first_gaps - 1).view(self.batch, self.size)

    def _draw_gaps(self, rows: torch.Tensor, neurons: torch.Tensor) -> torch.Tensor:
        """Draw steps to the next spike, >= 1, for each (row, neuron); rows sorted."""
        counts = torch.bincount(rows, minlength=self.batch).tolist()
        uniforms = [
            torch.rand(
                count, generator=generator, dtype=torch.float64, device=self.device
            )
            for count, generator in zip(counts, self._generators, strict=True)
        ]
        # 1 - U lies in (0, 1], so its log is finite and <= 0.
        log_u = torch.log1p(-torch.cat(uniforms))
        gaps = torch.floor(log_u / self._log_stay[neurons]) + 1.0
        gaps = torch.where(self._silent[neurons], float(_NEVER), gaps)
        return gaps.clamp(max=float(_NEVER)).to(torch.int64)

    def chunk(self, start: int, stop: int) -> ChunkEvents:
        """Return the spikes in steps ``[start, stop)``; chunks must follow in order."""
        parts = []
        occurrence = 0
        while True:
            due = self._next_step < stop
            rows, neurons = due.nonzero(as_tuple=True)
            if rows.numel() == 0:
                break
            steps = self._next_step[rows, neurons]
            parts.append((steps, rows, neurons, torch.full_like(steps, occurrence)))
            self._next_step[rows, neurons] = steps + self._draw_gaps(rows, neurons)
            occurrence += 1
        if not parts:
            return _empty_events(self.device)
        columns = [torch.cat(column) for column in zip(*parts, strict=True)]
        return _sorted_events(*columns, self.size, self.batch)


class PrescribedSource:
    """Spike times given in the spec, identical for every seed.

    Raises
    ------
    ValueError
        If two spike times of one neuron fall into the same step.
    """

    def __init__(
        self,
        spec: SpikeTimesInput,
        seeds: list[int],
        dt: float,
        device: torch.device,
    ) -> None:
        self.name = spec.name
        self.size = spec.size
        self.batch = len(seeds)
        self.device = device
        self.dt = dt
        self.period = spec.period
        neurons = [
            np.full(len(row), k, dtype=np.int64) for k, row in enumerate(spec.times)
        ]
        self._neurons = np.concatenate(neurons)
        self._times = np.concatenate(
            [np.asarray(row, dtype=np.float64) for row in spec.times]
        )

    def _steps_between(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        if self.period is None:
            steps = np.rint(self._times / self.dt).astype(np.int64)
            keep = (steps >= start) & (steps < stop)
            return steps[keep], self._neurons[keep]
        first = int(np.floor(start * self.dt / self.period)) - 1
        last = int(np.ceil(stop * self.dt / self.period)) + 1
        repeats = np.arange(max(first, 0), last + 1)
        times = (self._times[None, :] + repeats[:, None] * self.period).ravel()
        neurons = np.tile(self._neurons, repeats.size)
        steps = np.rint(times / self.dt).astype(np.int64)
        keep = (steps >= start) & (steps < stop)
        return steps[keep], neurons[keep]

    def chunk(self, start: int, stop: int) -> ChunkEvents:
        """Return the spikes in steps ``[start, stop)``, repeated for every seed."""
        steps, neurons = self._steps_between(start, stop)
        order = np.lexsort((steps, neurons))
        steps, neurons = steps[order], neurons[order]
        self._check_one_spike_per_step(steps, neurons)
        occurrence = _occurrence_in_sorted_groups(neurons)
        columns = [
            torch.as_tensor(column, device=self.device).repeat(self.batch)
            for column in (steps, neurons, occurrence)
        ]
        rows = torch.arange(self.batch, device=self.device)
        batch = rows.repeat_interleave(steps.size)
        return _sorted_events(
            columns[0], batch, columns[1], columns[2], self.size, self.batch
        )

    def _check_one_spike_per_step(self, steps: np.ndarray, neurons: np.ndarray) -> None:
        clash = (np.diff(steps) == 0) & (np.diff(neurons) == 0)
        if clash.any():
            where = int(np.argmax(clash))
            raise ValueError(
                f"input {self.name!r}: neuron {neurons[where]} has two spikes in "
                f"step {steps[where]} (t = {steps[where] * self.dt:g} s, dt = "
                f"{self.dt:g} s); separate its spike times by at least dt or "
                "lower dt"
            )


def _occurrence_in_sorted_groups(groups: np.ndarray) -> np.ndarray:
    """Return each element's index within its run of equal values."""
    if groups.size == 0:
        return np.zeros(0, dtype=np.int64)
    positions = np.arange(groups.size)
    starts = np.r_[True, groups[1:] != groups[:-1]]
    return positions - np.maximum.accumulate(np.where(starts, positions, 0))


def _empty_events(device: torch.device) -> ChunkEvents:
    empty = torch.zeros(0, dtype=torch.int64, device=device)
    return ChunkEvents(empty, empty, empty, empty, empty)


def make_source(
    spec: PoissonInput | SpikeTimesInput,
    seeds: list[int],
    dt: float,
    device: torch.device,
) -> PoissonSource | PrescribedSource:
    """Build the spike source for one input population."""
    if isinstance(spec, PoissonInput):
        return PoissonSource(spec, seeds, dt, device)
    return PrescribedSource(spec, seeds, dt, device)
