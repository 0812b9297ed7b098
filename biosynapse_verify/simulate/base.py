"""The interface every simulator backend implements, and its result.

A backend turns a :class:`~biosynapse_verify.spec.schema.NetworkSpec` into a
:class:`SimulationResult`. Backends differ in how they compute (in-process
PyTorch, or Lava in a worker process) but share the run preparation in
:func:`prepare_run`, so all of them use the same seeds, record times, synapse
order and initial weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from biosynapse_verify.spec.schema import NetworkSpec
from biosynapse_verify.spec.structure import (
    NetworkStructure,
    build_structure,
    initial_weights,
)

__all__ = [
    "Backend",
    "ProgressCallback",
    "RunPlan",
    "SimulationResult",
    "available_backends",
    "get_backend",
    "prepare_run",
    "record_steps",
]

ProgressCallback = Callable[[float], None]

# Initial weights may exceed a bound by this much before they are rejected:
# values written to a file in decimal and read back can be off by a few ulp.
WEIGHT_BOUND_SLACK = 1e-12


@dataclass
class SimulationResult:
    """What one simulation run of a batch of seeds produced.

    Attributes
    ----------
    backend : str
        Name of the backend that ran the simulation.
    seeds : list of int
        Trial seeds, one per batch row ``b``.
    dt, duration : float
        Time step and simulated time in seconds.
    record_times : ndarray, shape (R,)
        Record times in seconds, starting at 0 and ending at ``duration``.
    weights : dict of str to ndarray, shape (B, R, n_syn)
        Weights of every projection (plastic and static) at the record times,
        in the synapse order of
        :func:`~biosynapse_verify.spec.structure.build_structure`.
    spike_counts : dict of str to ndarray, shape (B, size)
        Total spikes of each neuron of each LIF population.
    window_rates : dict of str to ndarray, shape (B, R - 1, size)
        Firing rate in hertz of each LIF neuron within each record interval.
    input_rates_measured : dict of str to ndarray, shape (B, size)
        Firing rate in hertz of each input neuron over the whole run.
    wall_time : float
        Wall-clock time of the run in seconds.
    spike_times : dict of str to list of list of ndarray
        ``spike_times[population][b][j]`` contains the spike times in seconds of
        neuron ``j`` in batch row ``b``; empty where a backend does not record
        them.
    """

    backend: str
    seeds: list[int]
    dt: float
    duration: float
    record_times: np.ndarray
    weights: dict[str, np.ndarray]
    spike_counts: dict[str, np.ndarray]
    window_rates: dict[str, np.ndarray]
    input_rates_measured: dict[str, np.ndarray]
    wall_time: float
    spike_times: dict[str, list[list[np.ndarray]]] = field(default_factory=dict)

    def final_weights(self, name: str) -> np.ndarray:
        """Return the weights of projection ``name`` at the end, shape (B, n_syn)."""
        if name not in self.weights:
            raise KeyError(
                f"no projection {name!r} in this result; recorded projections: "
                f"{', '.join(self.weights)}"
            )
        return self.weights[name][:, -1, :]

    def mean_rates(self, population: str, last_fraction: float = 1.0) -> np.ndarray:
        """Return each neuron's firing rate in hertz over the end of the run.

        Parameters
        ----------
        population : str
            Name of a LIF population.
        last_fraction : float, default 1.0
            Fraction of the duration, counted back from the end, to average
            over. The average uses whole record intervals: those that start at
            or after ``(1 - last_fraction) * duration``, and at least the last.

        Returns
        -------
        ndarray, shape (B, size)
        """
        if population not in self.window_rates:
            raise KeyError(
                f"no LIF population {population!r} in this result; populations: "
                f"{', '.join(self.window_rates)}"
            )
        if not 0.0 < last_fraction <= 1.0:
            raise ValueError(f"last_fraction must be in (0, 1], got {last_fraction}")
        starts = self.record_times[:-1]
        lengths = np.diff(self.record_times)
        cutoff = (1.0 - last_fraction) * self.duration - 0.5 * self.dt
        chosen = starts >= cutoff
        chosen[-1] = True
        rates = self.window_rates[population][:, chosen, :]
        weights = lengths[chosen] / lengths[chosen].sum()
        return np.einsum("brn,r->bn", rates, weights)

    def save(self, path: str | Path) -> None:
        """Write the result to an ``.npz`` file that :meth:`load` reads back."""
        arrays: dict[str, Any] = {
            "backend": np.array(self.backend),
            "seeds": np.asarray(self.seeds, dtype=np.int64),
            "dt": np.array(self.dt),
            "duration": np.array(self.duration),
            "record_times": self.record_times,
            "wall_time": np.array(self.wall_time),
        }
        groups = {
            "weights": self.weights,
            "spike_counts": self.spike_counts,
            "window_rates": self.window_rates,
            "input_rates_measured": self.input_rates_measured,
        }
        for group, values in groups.items():
            for name, array in values.items():
                arrays[f"{group}/{name}"] = array
        for name, per_seed in self.spike_times.items():
            rows, neurons, times = _flatten_spike_times(per_seed)
            arrays[f"spike_times/{name}/row"] = rows
            arrays[f"spike_times/{name}/neuron"] = neurons
            arrays[f"spike_times/{name}/time"] = times
            arrays[f"spike_times/{name}/size"] = np.array(
                len(per_seed[0]) if per_seed else 0
            )
        with open(path, "wb") as handle:
            np.savez(handle, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> SimulationResult:
        """Read a result written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            groups: dict[str, dict[str, np.ndarray]] = {
                "weights": {},
                "spike_counts": {},
                "window_rates": {},
                "input_rates_measured": {},
            }
            flat_spikes: dict[str, dict[str, np.ndarray]] = {}
            for key in data.files:
                group, _, name = key.partition("/")
                if group in groups:
                    groups[group][name] = data[key]
                elif group == "spike_times":
                    population, _, part = name.rpartition("/")
                    flat_spikes.setdefault(population, {})[part] = data[key]
            seeds = [int(s) for s in data["seeds"]]
            spike_times = {
                name: _unflatten_spike_times(parts, len(seeds))
                for name, parts in flat_spikes.items()
            }
            return cls(
                backend=str(data["backend"]),
                seeds=seeds,
                dt=float(data["dt"]),
                duration=float(data["duration"]),
                record_times=data["record_times"],
                weights=groups["weights"],
                spike_counts=groups["spike_counts"],
                window_rates=groups["window_rates"],
                input_rates_measured=groups["input_rates_measured"],
                wall_time=float(data["wall_time"]),
                spike_times=spike_times,
            )


def _flatten_spike_times(
    per_seed: list[list[np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, neurons, times = [], [], []
    for row, per_neuron in enumerate(per_seed):
        for neuron, neuron_times in enumerate(per_neuron):
            rows.append(np.full(neuron_times.size, row, dtype=np.int64))
            neurons.append(np.full(neuron_times.size, neuron, dtype=np.int64))
            times.append(np.asarray(neuron_times, dtype=np.float64))
    if not times:
        empty_int = np.zeros(0, dtype=np.int64)
        return empty_int, empty_int, np.zeros(0)
    return np.concatenate(rows), np.concatenate(neurons), np.concatenate(times)


def _unflatten_spike_times(
    parts: dict[str, np.ndarray], batch: int
) -> list[list[np.ndarray]]:
    size = int(parts["size"])
    per_seed: list[list[np.ndarray]] = [[] for _ in range(batch)]
    for row in range(batch):
        in_row = parts["row"] == row
        for neuron in range(size):
            per_seed[row].append(parts["time"][in_row & (parts["neuron"] == neuron)])
    return per_seed


@runtime_checkable
class Backend(Protocol):
    """A spiking simulator that runs a batch of seeds of one spec.

    The reference model is stated in
    :mod:`biosynapse_verify.simulate.torch_backend`. Other implementations
    document where they depart from it, and take their seeds, record times
    and initial weights from :func:`prepare_run`.
    """

    name: str

    def run(
        self,
        spec: NetworkSpec,
        *,
        seeds: list[int] | None = None,
        duration: float | None = None,
        learning: bool = True,
        initial_weights: dict[str, np.ndarray] | None = None,
        progress: ProgressCallback | None = None,
    ) -> SimulationResult:
        """Simulate ``spec`` once per seed, all seeds in one batch.

        Parameters
        ----------
        spec : NetworkSpec
            The network.
        seeds : list of int, optional
            Trial seeds; defaults to ``spec.simulation.seeds``.
        duration : float, optional
            Simulated time in seconds; defaults to ``spec.simulation.duration``.
        learning : bool, default True
            Whether plastic projections learn; when False every weight stays
            at its initial value.
        initial_weights : dict of str to ndarray, shape (B, n_syn), optional
            Initial weights per projection name, overriding the spec's draw.
        progress : callable, optional
            Called with the fraction of the run done, a float in [0, 1].
        """
        ...


@dataclass(frozen=True)
class RunPlan:
    """Everything a backend needs to know before it starts stepping.

    Attributes
    ----------
    spec : NetworkSpec
    structure : NetworkStructure
        Synapse indices of every projection.
    seeds : list of int
    dt : float
        Time step in seconds.
    steps : int
        Number of time steps; step ``n`` covers ``[n dt, (n + 1) dt)``.
    record_steps : ndarray of int, shape (R,)
        Steps at whose start the state is recorded; the first is 0 and the
        last is ``steps`` (the end of the run).
    weights : dict of str to ndarray, shape (B, n_syn)
        Initial weights of every projection.
    learning : bool
    """

    spec: NetworkSpec
    structure: NetworkStructure
    seeds: list[int]
    dt: float
    steps: int
    record_steps: np.ndarray
    weights: dict[str, np.ndarray]
    learning: bool

    @property
    def batch(self) -> int:
        return len(self.seeds)

    @property
    def duration(self) -> float:
        return self.steps * self.dt

    @property
    def record_times(self) -> np.ndarray:
        return self.record_steps * self.dt


def record_steps(steps: int, dt: float, record_interval: float) -> np.ndarray:
    """Return the steps at which a run of ``steps`` steps records its state.

    Records fall every ``record_interval`` seconds (rounded to whole steps)
    from step 0, plus one at ``steps``; the last interval may be shorter.
    """
    interval = max(1, int(round(record_interval / dt)))
    marks = np.arange(0, steps, interval, dtype=np.int64)
    return np.append(marks, np.int64(steps))


def prepare_run(
    spec: NetworkSpec,
    *,
    seeds: list[int] | None = None,
    duration: float | None = None,
    learning: bool = True,
    initial_weights: dict[str, np.ndarray] | None = None,
) -> RunPlan:
    """Resolve a backend's run arguments against the spec and check them.

    Raises
    ------
    ValueError
        If the seeds are empty, the duration is shorter than one step, an
        initial weight array has the wrong shape, or an initial weight of a
        plastic projection lies outside ``[w_min, w_max]``. Static projections
        are never clipped, so their bounds are not checked.
    """
    seeds = list(spec.simulation.seeds if seeds is None else seeds)
    if not seeds:
        raise ValueError("seeds is empty; pass at least one trial seed")
    dt = spec.simulation.dt
    duration = spec.simulation.duration if duration is None else float(duration)
    steps = int(round(duration / dt))
    if not math.isfinite(duration) or steps < 1:
        raise ValueError(
            f"duration {duration} s is shorter than one step (dt = {dt} s); "
            "pass a longer duration"
        )
    structure = build_structure(spec)
    weights = _resolve_weights(structure, seeds, initial_weights or {})
    return RunPlan(
        spec=spec,
        structure=structure,
        seeds=seeds,
        dt=dt,
        steps=steps,
        record_steps=record_steps(steps, dt, spec.simulation.record_interval),
        weights=weights,
        learning=learning,
    )


def _resolve_weights(
    structure: NetworkStructure,
    seeds: list[int],
    overrides: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    unknown = sorted(set(overrides) - set(structure.projections))
    if unknown:
        raise ValueError(
            f"initial_weights names unknown projection {unknown[0]!r}; "
            f"projections: {', '.join(structure.projections)}"
        )
    weights = {}
    for name, proj in structure.projections.items():
        if name in overrides:
            array = np.asarray(overrides[name], dtype=np.float64)
            expected = (len(seeds), proj.size)
            if array.shape != expected:
                raise ValueError(
                    f"initial_weights[{name!r}] has shape {array.shape}, expected "
                    f"{expected} (seeds, synapses)"
                )
        else:
            array = np.stack([initial_weights(proj, seed) for seed in seeds])
        if proj.plastic:
            _check_within_bounds(name, array, proj.spec.w_min, proj.spec.w_max)
        elif not np.all(np.isfinite(array)):
            raise ValueError(
                f"initial weights of projection {name!r} are not all finite"
            )
        weights[name] = array
    return weights


def _check_within_bounds(
    name: str, weights: np.ndarray, w_min: float, w_max: float
) -> None:
    if not np.all(np.isfinite(weights)):
        raise ValueError(f"initial weights of projection {name!r} are not all finite")
    low, high = float(weights.min(initial=w_min)), float(weights.max(initial=w_max))
    if low < w_min - WEIGHT_BOUND_SLACK or high > w_max + WEIGHT_BOUND_SLACK:
        raise ValueError(
            f"initial weights of projection {name!r} span [{low}, {high}], outside "
            f"[w_min, w_max] = [{w_min}, {w_max}]; change the weight distribution "
            "or the bounds so that every initial weight lies within them"
        )


def available_backends() -> list[str]:
    """Return the names that :func:`get_backend` accepts."""
    return ["torch", "lava"]


def get_backend(name: str, **options: Any) -> Backend:
    """Return the backend called ``name``, built with ``options``.

    Parameters
    ----------
    name : {"torch", "lava"}
    **options
        Passed to the backend's constructor, for example ``device="cuda"``
        for :class:`~biosynapse_verify.simulate.torch_backend.TorchBackend`.

    Raises
    ------
    ValueError
        For an unknown name.
    """
    if name == "torch":
        from biosynapse_verify.simulate.torch_backend import TorchBackend

        return TorchBackend(**options)
    if name == "lava":
        from biosynapse_verify.simulate.lava_launcher import LavaBackend

        return LavaBackend(**options)
    raise ValueError(
        f"unknown backend {name!r}; choose one of {', '.join(available_backends())}"
    )
