"""Collect weights, spike counts and spike times during a torch run."""

from __future__ import annotations

import numpy as np
import torch

from biosynapse_verify.simulate.base import RunPlan, SimulationResult
from biosynapse_verify.simulate.torch_network import Network

__all__ = ["Recorder"]


class Recorder:
    """Accumulates what a :class:`SimulationResult` reports, step by step.

    The engines call :meth:`add_spike_events` for every step or window with
    LIF spikes and :meth:`reach_step` whenever the simulation reaches a record
    step; the backend calls :meth:`add_input_spikes` for every chunk of input
    spikes. Spike events stay on the simulation's device until the next
    record step, so a CUDA run copies them to the host once per record
    interval and not once per spike.
    """

    def __init__(
        self, plan: RunPlan, network: Network, input_sizes: dict[str, int]
    ) -> None:
        self.plan = plan
        self.network = network
        batch, records = plan.batch, plan.record_steps.size
        self._next_record = 1
        self.weights = {
            name: np.empty((batch, records, proj.weight.shape[1]))
            for name, proj in network.projections.items()
        }
        self._store_weights(0)
        self.window_counts = {}
        self._pending: dict[str, list[tuple[torch.Tensor, ...]]] = {}
        self._spike_log: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        for name, pop in network.populations.items():
            self.window_counts[name] = np.zeros(
                (batch, records - 1, pop.size), np.int64
            )
            self._pending[name] = []
            self._spike_log[name] = []
        self.input_counts = {
            name: np.zeros((batch, size), dtype=np.int64)
            for name, size in input_sizes.items()
        }

    @property
    def next_record_step(self) -> int:
        """The next step at which the state is recorded, or the run's end."""
        return int(
            self.plan.record_steps[
                min(self._next_record, self.plan.record_steps.size - 1)
            ]
        )

    def _store_weights(self, index: int) -> None:
        for name, proj in self.network.projections.items():
            self.weights[name][:, index, :] = proj.weight.to(
                "cpu", torch.float64
            ).numpy()

    def add_spike_events(
        self,
        population: str,
        steps: torch.Tensor,
        rows: torch.Tensor,
        neurons: torch.Tensor,
    ) -> None:
        """Log spikes of ``population`` given as (step, batch row, neuron) triples.

        Parameters
        ----------
        population : str
        steps, rows, neurons : Tensor of int64, shape (K,)
            Step, batch row and neuron of each spike. The tensors are kept,
            not copied, so the caller must not modify them in place later.
        """
        self._pending[population].append((steps, rows, neurons))

    def add_input_spikes(
        self, name: str, rows: torch.Tensor, neurons: torch.Tensor
    ) -> None:
        """Count input spikes given as (batch row, neuron) pairs."""
        size = self.input_counts[name].shape[1]
        flat = (rows * size + neurons).cpu().numpy()
        counts = np.bincount(flat, minlength=self.input_counts[name].size)
        self.input_counts[name] += counts.reshape(self.input_counts[name].shape)

    def reach_step(self, step: int) -> None:
        """Record the state at the start of ``step`` if it is a record step."""
        if (
            step != self.next_record_step
            or self._next_record >= self.plan.record_steps.size
        ):
            return
        index = self._next_record
        self._store_weights(index)
        for name in self._pending:
            self.window_counts[name][:, index - 1, :] = self._flush_spikes(name)
        self._next_record += 1

    def _flush_spikes(self, population: str) -> np.ndarray:
        """Move the logged spikes to the host; return counts per neuron (B, M)."""
        pending = self._pending[population]
        self._pending[population] = []
        shape = self.window_counts[population][:, 0, :].shape
        if not pending:
            return np.zeros(shape, dtype=np.int64)
        steps, rows, neurons = (
            torch.cat(column).cpu().numpy() for column in zip(*pending, strict=True)
        )
        self._spike_log[population].append((steps, rows, neurons))
        flat = rows * shape[1] + neurons
        return np.bincount(flat, minlength=shape[0] * shape[1]).reshape(shape)

    def result(self, backend: str, wall_time: float) -> SimulationResult:
        """Assemble the result once the last record step has been reached."""
        plan = self.plan
        if self._next_record != plan.record_steps.size:
            raise RuntimeError(
                f"run stopped before its end: {self._next_record} of "
                f"{plan.record_steps.size} record steps reached"
            )
        lengths = np.diff(plan.record_times)
        window_rates = {
            name: counts / lengths[None, :, None]
            for name, counts in self.window_counts.items()
        }
        return SimulationResult(
            backend=backend,
            seeds=list(plan.seeds),
            dt=plan.dt,
            duration=plan.duration,
            record_times=plan.record_times,
            weights=self.weights,
            spike_counts={
                name: counts.sum(axis=1) for name, counts in self.window_counts.items()
            },
            window_rates=window_rates,
            input_rates_measured={
                name: counts / plan.duration
                for name, counts in self.input_counts.items()
            },
            wall_time=wall_time,
            spike_times={name: self._spike_times(name) for name in self._spike_log},
        )

    def _spike_times(self, population: str) -> list[list[np.ndarray]]:
        size = self.network.populations[population].size
        log = self._spike_log[population]
        if log:
            steps, rows, neurons = (
                np.concatenate(part) for part in zip(*log, strict=True)
            )
        else:
            steps = rows = neurons = np.zeros(0, dtype=np.int64)
        order = np.lexsort((steps, neurons, rows))
        steps, rows, neurons = steps[order], rows[order], neurons[order]
        groups = rows * size + neurons
        bounds = np.searchsorted(groups, np.arange(self.plan.batch * size + 1))
        times = steps * self.plan.dt
        return [
            [
                times[bounds[b * size + j] : bounds[b * size + j + 1]]
                for j in range(size)
            ]
            for b in range(self.plan.batch)
        ]
