"""Per-task copies of a spec, run seeds per training phase, and plastic weights.

A task replaces the patterns of some input populations. :func:`task_spec`
builds the spec the simulator runs for one task: the same network with those
inputs swapped and the state recorded once per epoch.
"""

from __future__ import annotations

import numpy as np

from biosynapse_verify.spec.schema import NetworkSpec, Task

__all__ = [
    "PlasticLayout",
    "phase_seeds",
    "task_spec",
]


def task_spec(spec: NetworkSpec, task: Task, epoch: float) -> NetworkSpec:
    """Return ``spec`` with the inputs of ``task`` and a record every ``epoch``.

    Parameters
    ----------
    spec : NetworkSpec
        The network; ``spec.forgetting`` has already been validated against
        it, so every input the task names exists and fits.
    task : Task
        The task whose input patterns replace the spec's.
    epoch : float
        Record interval in seconds, so each record falls on an epoch boundary.
    """
    patterns = {pattern.input: pattern for pattern in task.inputs}
    inputs = [
        patterns[inp.name].population(inp.size) if inp.name in patterns else inp
        for inp in spec.inputs
    ]
    simulation = spec.simulation.model_copy(update={"record_interval": epoch})
    return spec.model_copy(update={"inputs": inputs, "simulation": simulation})


def phase_seeds(seeds: list[int], task: int, run: int) -> list[int]:
    """Return the run seeds of run ``run`` of task ``task`` for the trial ``seeds``.

    The first run of the first task uses the trial seeds themselves, so it
    starts from the same initial weights as a plain simulation of the spec.
    Every other run mixes the trial seed with ``(task, run)``, so no run
    replays the Poisson spikes of another.
    """
    if task == 0 and run == 0:
        return list(seeds)
    mixed = []
    for seed in seeds:
        sequence = np.random.SeedSequence([seed, task, run])
        state = sequence.generate_state(1, np.uint64)
        mixed.append(int(state[0] >> np.uint64(1)))
    return mixed


class PlasticLayout:
    """The plastic synapses of a network, concatenated in spec order.

    Parameters
    ----------
    spec : NetworkSpec
    sizes : dict of str to int
        Number of synapses of every plastic projection.
    """

    def __init__(self, spec: NetworkSpec, sizes: dict[str, int]) -> None:
        self.names = [p.name for p in spec.projections if p.plasticity is not None]
        lows, highs = [], []
        for proj in spec.projections:
            if proj.plasticity is not None:
                lows.append(np.full(sizes[proj.name], proj.w_min))
                highs.append(np.full(sizes[proj.name], proj.w_max))
        self.w_min = np.concatenate(lows)
        self.w_max = np.concatenate(highs)

    @property
    def size(self) -> int:
        return int(self.w_min.size)

    def stack(self, weights: dict[str, np.ndarray]) -> np.ndarray:
        """Concatenate the plastic projections' weights along the last axis.

        Parameters
        ----------
        weights : dict of str to ndarray, shape (..., n_syn)
            Weights per projection, for example ``SimulationResult.weights``.

        Returns
        -------
        ndarray, shape (..., size)
        """
        return np.concatenate([weights[name] for name in self.names], axis=-1)

    def normalised(self, weights: np.ndarray) -> np.ndarray:
        """Map weights of shape (..., size) to ``(w - w_min) / (w_max - w_min)``."""
        return (weights - self.w_min) / (self.w_max - self.w_min)
