"""Measure how training on later tasks erodes what the first task learned.

Protocol, for the trial seeds batched in one simulation per phase:

1. Train on the first task from the spec's initial weights for
   ``training.duration``. The weights are at equilibrium when, in every seed,
   the mean plastic-weight vector over the last ``training.window`` differs
   from the mean over the window before it by less than
   ``training.tolerance`` of its norm. Until they are, training continues in
   further runs of ``duration`` from the end state, up to
   ``training.max_duration``. If they never are, the measurement goes on and
   the result records it.
2. ``W_A``: per seed, the plastic synapses whose weight rose during step 1
   by more than ``potentiation_threshold * (w_max - w_min)``.
3. Train on each later task for ``epochs`` epochs of length ``T``, in one run
   per task that continues from the previous end state (weights only; the
   membrane and trace state restarts at each run).
4. The forgetting rate of epoch ``k`` is ``||dW_A|| / ||W||``: the Euclidean
   norm of the change of the ``W_A`` weights over the epoch, divided by the
   norm of all plastic weights at the epoch's start.

The same rate over the epochs of the last window of step 1, while the first
task still trains, is reported as a noise floor: the measure is a norm, so
weight fluctuation alone makes it positive.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
import numpy as np

from biosynapse_verify.errors import BadInputError, NumericalFailure
from biosynapse_verify.forgetting.bound import bound_parameters
from biosynapse_verify.forgetting.result import ForgettingResult, TrainingRecord
from biosynapse_verify.forgetting.schedule import PlasticLayout, phase_seeds, task_spec
from biosynapse_verify.spec.schema import NetworkSpec, Task, TaskSchedule

__all__ = ["epoch_rates", "measure_forgetting", "window_drift"]

logger = logging.getLogger(__name__)

FractionCallback = Callable[[float], None]


def measure_forgetting(
    spec: NetworkSpec,
    backend: object,
    progress: FractionCallback | None = None,
    *,
    seeds: list[int] | None = None,
    epochs: int | None = None,
) -> ForgettingResult:
    """Train on the spec's tasks in turn and measure forgetting of the first.

    Parameters
    ----------
    spec : NetworkSpec
        A network with a ``forgetting`` section.
    backend
        A simulator backend (see :mod:`biosynapse_verify.simulate`) whose
        ``run`` accepts ``initial_weights``.
    progress : callable, optional
        Called with the fraction of the planned simulated time done, in [0, 1].
    seeds : list of int, optional
        Trial seeds; default ``spec.simulation.seeds``.
    epochs : int, optional
        Epochs per later task; default ``spec.forgetting.epochs``.

    Returns
    -------
    ForgettingResult

    Raises
    ------
    BadInputError
        If the spec has no tasks, the first task does not learn, or it
        potentiates no synapse above the threshold in some seed.
    NumericalFailure
        If a simulation returns non-finite weights.
    """
    schedule = _require_schedule(spec)
    seeds = list(spec.simulation.seeds if seeds is None else seeds)
    if not seeds:
        raise BadInputError("seeds is empty; pass at least one trial seed")
    epochs = schedule.epochs if epochs is None else int(epochs)
    if epochs < 1:
        raise BadInputError(f"epochs must be at least 1, got {epochs}")
    started = time.perf_counter()
    clock = _Clock(schedule, epochs, progress)

    layout, training, weights, finals = _train_first_task(
        spec, schedule, backend, seeds, clock
    )
    potentiated = _potentiated(schedule, layout, training, seeds)
    series, epoch_tasks = _train_later_tasks(
        spec, schedule, backend, seeds, epochs, layout, finals, clock
    )
    series = np.concatenate([weights[:, -1:, :], series], axis=1)

    records_per_window = _epochs_in(schedule.training.window, schedule.epoch)
    control = epoch_rates(weights[:, -records_per_window - 1 :, :], potentiated)
    clock.finish()
    return ForgettingResult(
        network=spec.name,
        backend=getattr(backend, "name", type(backend).__name__),
        seeds=seeds,
        tasks=[task.name for task in schedule.tasks],
        epoch=schedule.epoch,
        epoch_tasks=epoch_tasks,
        epoch_learning=[_task(schedule, name).learning for name in epoch_tasks],
        potentiation_threshold=schedule.potentiation_threshold,
        potentiated=potentiated,
        rates=epoch_rates(series, potentiated),
        cumulative=_cumulative(series, potentiated),
        potentiated_level=_mean_level(layout, series, potentiated),
        control_rates=control,
        training=training,
        bound=bound_parameters(spec, schedule.epoch),
        wall_time=time.perf_counter() - started,
    )


def _require_schedule(spec: NetworkSpec) -> TaskSchedule:
    if spec.forgetting is None:
        raise BadInputError(
            f"network {spec.name!r} has no forgetting section, so there are no "
            "tasks to train in turn; add forgetting.tasks and forgetting.epoch"
        )
    if not spec.forgetting.tasks[0].learning:
        raise BadInputError(
            f"forgetting.tasks.0 ({spec.forgetting.tasks[0].name!r}) has learning "
            "off, so it potentiates nothing to forget; set learning: true"
        )
    return spec.forgetting


def _task(schedule: TaskSchedule, name: str) -> Task:
    return next(task for task in schedule.tasks if task.name == name)


def _epochs_in(length: float, epoch: float) -> int:
    return int(round(length / epoch))


class _Clock:
    """Maps each run's progress to the fraction of all planned simulated time."""

    def __init__(
        self, schedule: TaskSchedule, epochs: int, progress: FractionCallback | None
    ) -> None:
        later = (len(schedule.tasks) - 1) * epochs * schedule.epoch
        self.total = schedule.training.duration + later
        self.done = 0.0
        self.progress = progress

    def run_callback(self, duration: float) -> FractionCallback | None:
        if self.progress is None:
            return None
        offset, total, report = self.done, self.total, self.progress
        return lambda fraction: report(min(1.0, (offset + fraction * duration) / total))

    def advance(self, duration: float) -> None:
        self.done += duration
        # Extended training makes the run longer than planned.
        self.total = max(self.total, self.done)

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(1.0)


def _run(
    task: str,
    spec: NetworkSpec,
    backend: object,
    seeds: list[int],
    duration: float,
    learning: bool,
    initial: dict[str, np.ndarray] | None,
    clock: _Clock,
) -> object:
    try:
        result = backend.run(
            spec,
            seeds=seeds,
            duration=duration,
            learning=learning,
            initial_weights=initial,
            progress=clock.run_callback(duration),
        )
    except ValueError as err:
        # The backends raise ValueError for inputs they cannot run, such as a
        # rate above 1 / dt or two spikes of one neuron in one step.
        raise BadInputError(f"task {task!r}: {err}") from None
    clock.advance(duration)
    for name, weights in result.weights.items():
        if not np.all(np.isfinite(weights)):
            raise NumericalFailure(
                f"task {task!r}: simulation of {spec.name!r} produced non-finite "
                f"weights in projection {name!r}; lower dt or the learning rate eta"
            )
    return result


def _train_first_task(
    spec: NetworkSpec,
    schedule: TaskSchedule,
    backend: object,
    seeds: list[int],
    clock: _Clock,
) -> tuple[PlasticLayout, TrainingRecord, np.ndarray, dict[str, np.ndarray]]:
    """Run the first task until its weights settle or time runs out.

    Returns the plastic layout, the training record, the plastic weights of
    the last run at every epoch boundary, shape (B, R, N), and every
    projection's final weights, shape (B, n_syn) each.
    """
    training = schedule.training
    first = schedule.tasks[0]
    run_spec = task_spec(spec, first, schedule.epoch)
    window = _epochs_in(training.window, schedule.epoch)
    initial: dict[str, np.ndarray] | None = None
    start: np.ndarray | None = None
    trained, phase = 0.0, 0
    while True:
        result = _run(
            first.name,
            run_spec,
            backend,
            phase_seeds(seeds, 0, phase),
            training.duration,
            True,
            initial,
            clock,
        )
        sizes = {name: w.shape[-1] for name, w in result.weights.items()}
        layout = PlasticLayout(spec, sizes)
        weights = layout.stack(result.weights)
        if start is None:
            start = weights[:, 0, :]
        trained += training.duration
        drift = window_drift(weights, window)
        settled = bool(np.all(drift < training.tolerance))
        logger.info(
            "task %r: %.3g s trained, largest window drift %.3g (tolerance %.3g)",
            first.name, trained, drift.max(), training.tolerance,
        )
        initial = {name: result.final_weights(name) for name in result.weights}
        if settled or trained >= training.longest * (1 - 1e-9):
            break
        phase += 1
    if not settled:
        logger.warning(
            "task %r did not settle within %.3g s (largest drift %.3g, tolerance "
            "%.3g); forgetting is measured from a drifting state",
            first.name, trained, drift.max(), training.tolerance,
        )
    record = TrainingRecord(
        task=first.name,
        duration=trained,
        runs=phase + 1,
        window=training.window,
        tolerance=training.tolerance,
        drift=drift,
        settled=settled,
        start=start,
        end=weights[:, -1, :],
        w_min=layout.w_min,
        w_max=layout.w_max,
    )
    return layout, record, weights, initial


def window_drift(weights: np.ndarray, window: int) -> np.ndarray:
    """Return each seed's relative change between the means of the last two windows.

    Parameters
    ----------
    weights : ndarray, shape (B, R, N)
        Weights at ``R`` record times, one per epoch boundary.
    window : int
        Records per window; ``2 * window <= R`` is required.

    Returns
    -------
    ndarray, shape (B,)
        ``||m_last - m_before|| / ||m_last||``, where ``m_last`` is the mean of
        the last ``window`` records and ``m_before`` that of the ``window``
        records before them.
    """
    if not 1 <= 2 * window <= weights.shape[1]:
        raise ValueError(
            f"two windows of {window} records need at least {2 * window} records, "
            f"got {weights.shape[1]}"
        )
    last = weights[:, -window:, :].mean(axis=1)
    before = weights[:, -2 * window : -window, :].mean(axis=1)
    scale = np.linalg.norm(last, axis=1)
    change = np.linalg.norm(last - before, axis=1)
    return np.divide(change, scale, out=np.zeros_like(change), where=scale > 0)


def _potentiated(
    schedule: TaskSchedule,
    layout: PlasticLayout,
    training: TrainingRecord,
    seeds: list[int],
) -> np.ndarray:
    """Return the mask (B, N) of synapses the first task potentiated.

    Raises BadInputError if the mask of some seed is empty.
    """
    threshold = schedule.potentiation_threshold * (layout.w_max - layout.w_min)
    mask = (training.end - training.start) > threshold
    empty = [seed for seed, row in zip(seeds, mask, strict=True) if not row.any()]
    if empty:
        raise BadInputError(
            f"task {training.task!r} potentiated no synapse by more than "
            f"{schedule.potentiation_threshold:g} of the weight range in seed "
            f"{empty[0]}, so there is nothing to forget; lower "
            "forgetting.potentiation_threshold or train the task longer"
        )
    logger.info(
        "task %r potentiated %s of %d plastic synapses (per seed)",
        training.task, mask.sum(axis=1).tolist(), layout.size,
    )
    return mask


def _train_later_tasks(
    spec: NetworkSpec,
    schedule: TaskSchedule,
    backend: object,
    seeds: list[int],
    epochs: int,
    layout: PlasticLayout,
    initial: dict[str, np.ndarray],
    clock: _Clock,
) -> tuple[np.ndarray, list[str]]:
    """Run each later task for ``epochs`` epochs.

    Returns the plastic weights, shape (B, E, N), and the task of each epoch.

    The returned weights are those at the end of each epoch; the start of
    the first epoch is the first task's end state.
    """
    parts, names = [], []
    for index, task in enumerate(schedule.tasks[1:], start=1):
        result = _run(
            task.name,
            task_spec(spec, task, schedule.epoch),
            backend,
            phase_seeds(seeds, index, 0),
            epochs * schedule.epoch,
            task.learning,
            initial,
            clock,
        )
        weights = layout.stack(result.weights)
        if weights.shape[1] != epochs + 1:
            raise NumericalFailure(
                f"task {task.name!r}: expected {epochs + 1} weight records, one per "
                f"epoch boundary, got {weights.shape[1]}"
            )
        parts.append(weights[:, 1:, :])
        names.extend([task.name] * epochs)
        initial = {name: result.final_weights(name) for name in result.weights}
    return np.concatenate(parts, axis=1), names


def epoch_rates(series: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Return ``||dW_A|| / ||W||`` for every seed and epoch.

    Parameters
    ----------
    series : ndarray, shape (B, E + 1, N)
        Plastic weights at the epoch boundaries.
    mask : ndarray of bool, shape (B, N)
        ``W_A``: the synapses whose forgetting is measured.

    Returns
    -------
    ndarray, shape (B, E)
        Norm of the change of the ``W_A`` weights over each epoch, divided by
        the norm of all plastic weights at the epoch's start (0 where that
        norm is 0).
    """
    change = np.diff(series, axis=1) * mask[:, None, :]
    scale = np.linalg.norm(series[:, :-1, :], axis=2)
    moved = np.linalg.norm(change, axis=2)
    return np.divide(moved, scale, out=np.zeros_like(moved), where=scale > 0)


def _cumulative(series: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Return ``||W_A(k) - W_A(0)|| / ||W(0)||`` after each epoch, shape (B, E)."""
    change = (series[:, 1:, :] - series[:, :1, :]) * mask[:, None, :]
    scale = np.linalg.norm(series[:, 0, :], axis=1)[:, None]
    moved = np.linalg.norm(change, axis=2)
    return np.divide(moved, scale, out=np.zeros_like(moved), where=scale > 0)


def _mean_level(
    layout: PlasticLayout, series: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """Return the mean normalised weight over ``W_A``, shape (B, E + 1)."""
    level = layout.normalised(series) * mask[:, None, :]
    return level.sum(axis=2) / mask.sum(axis=1)[:, None]
