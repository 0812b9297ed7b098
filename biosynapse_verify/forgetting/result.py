"""The outcome of a forgetting measurement: numbers, sentences, table and JSON.

Rates are fractions of the weight norm per epoch (0.01 is 1% per epoch);
the sentences and the table print them in percent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from biosynapse_verify.forgetting.bound import (
    QUOTED_EPOCH_IN_TAU,
    QUOTED_RATE,
    BoundParameters,
    epoch_for_rate,
    forgetting_bound,
)

__all__ = ["ForgettingResult", "SeedStatistics", "TrainingRecord", "seed_statistics"]

MEASURE = "||dW_A|| / ||W||"
DEFINITIONS = {
    "forgetting_rate": (
        "||dW_A|| / ||W||: Euclidean norm of the change of the W_A weights over "
        "one epoch, divided by the norm of all plastic weights at the epoch's start"
    ),
    "W_A": (
        "per seed, the plastic synapses whose weight rose during training on the "
        "first task by more than potentiation_threshold * (w_max - w_min)"
    ),
    "equilibrium": (
        "the mean plastic-weight vectors of the last two windows of first-task "
        "training differ by less than tolerance times the norm of the later one, "
        "in every seed"
    ),
    "cumulative": (
        "||W_A(k) - W_A(0)|| / ||W(0)|| after epoch k, where 0 is the end of the "
        "first task"
    ),
    "noise_floor": (
        "the forgetting rate over the epochs of the last window of first-task "
        "training, while that task still trains"
    ),
    "bound": "(A- / A+) exp(-T / tau-) per epoch of length T",
}


@dataclass(frozen=True)
class TrainingRecord:
    """Record of the first task's training.

    Attributes
    ----------
    task : str
        Name of the first task.
    duration : float
        Simulated training time in seconds, over all runs.
    runs : int
        Number of runs of ``training.duration`` that were needed.
    window : float
        Length in seconds of each of the two windows compared.
    tolerance : float
        Largest relative change between the window means that counts as settled.
    drift : ndarray, shape (B,)
        Relative change between the two window means in each seed.
    settled : bool
        Whether every seed's drift is below ``tolerance``.
    start, end : ndarray, shape (B, N)
        Plastic weights before and after training.
    w_min, w_max : ndarray, shape (N,)
        Weight bounds of each plastic synapse.
    """

    task: str
    duration: float
    runs: int
    window: float
    tolerance: float
    drift: np.ndarray
    settled: bool
    start: np.ndarray
    end: np.ndarray
    w_min: np.ndarray
    w_max: np.ndarray


@dataclass(frozen=True)
class SeedStatistics:
    """Mean and spread over seeds, one value per epoch (arrays of shape (E,)).

    ``std`` is the sample standard deviation (ddof = 1) and NaN for one seed.
    """

    mean: np.ndarray
    std: np.ndarray
    low: np.ndarray
    high: np.ndarray


def seed_statistics(values: np.ndarray) -> SeedStatistics:
    """Summarise ``values`` of shape (B, E) over the seed axis."""
    if values.shape[0] > 1:
        std = values.std(axis=0, ddof=1)
    else:
        std = np.full(values.shape[1], np.nan)
    return SeedStatistics(
        mean=values.mean(axis=0),
        std=std,
        low=values.min(axis=0),
        high=values.max(axis=0),
    )


def _percent(fraction: float) -> str:
    if math.isnan(fraction):
        return "n/a"
    return f"{100 * fraction:.3g}%"


def _number(value: float) -> float | None:
    """Return ``value`` as a JSON-ready float, with NaN and infinities as None."""
    value = float(value)
    return value if math.isfinite(value) else None


def _numbers(values: np.ndarray) -> list[float | None]:
    return [_number(v) for v in np.asarray(values).ravel()]


@dataclass(frozen=True)
class ForgettingResult:
    """Forgetting of the first task, per epoch of the later tasks, over seeds.

    Attributes
    ----------
    network, backend : str
    seeds : list of int
        Trial seeds, one per batch row ``b``.
    tasks : list of str
        Task names in training order.
    epoch : float
        Epoch length ``T`` in seconds.
    epoch_tasks : list of str, length E
        The task trained in each epoch.
    epoch_learning : list of bool, length E
        Whether plasticity was on in each epoch.
    potentiation_threshold : float
        Fraction of ``w_max - w_min`` a weight had to rise by to join ``W_A``.
    potentiated : ndarray of bool, shape (B, N)
        ``W_A`` per seed.
    rates : ndarray, shape (B, E)
        Forgetting rate ``||dW_A|| / ||W||`` per seed and epoch.
    cumulative : ndarray, shape (B, E)
        ``||W_A(k) - W_A(0)|| / ||W(0)||`` after each epoch.
    potentiated_level : ndarray, shape (B, E + 1)
        Mean of ``(w - w_min) / (w_max - w_min)`` over ``W_A`` at each epoch
        boundary, starting at the end of the first task.
    control_rates : ndarray, shape (B, C)
        The forgetting rate over the last ``C`` epochs of first-task
        training: the noise floor of the measure.
    training : TrainingRecord
    bound : BoundParameters
    wall_time : float
        Seconds of wall-clock time for all runs.
    """

    network: str
    backend: str
    seeds: list[int]
    tasks: list[str]
    epoch: float
    epoch_tasks: list[str]
    epoch_learning: list[bool]
    potentiation_threshold: float
    potentiated: np.ndarray
    rates: np.ndarray
    cumulative: np.ndarray
    potentiated_level: np.ndarray
    control_rates: np.ndarray
    training: TrainingRecord
    bound: BoundParameters
    wall_time: float

    @property
    def n_epochs(self) -> int:
        return int(self.rates.shape[1])

    def statistics(self) -> SeedStatistics:
        """Return the per-epoch mean and spread of the forgetting rate over seeds."""
        return seed_statistics(self.rates)

    def above_bound(self) -> np.ndarray:
        """Return, per epoch, whether any seed's rate exceeds the bound, shape (E,)."""
        return self.rates.max(axis=0) > self.bound.value

    def above_quoted(self) -> np.ndarray:
        """Return, per epoch, whether any seed's rate exceeds the quoted 0.067%."""
        return self.rates.max(axis=0) > QUOTED_RATE

    @property
    def bound_holds(self) -> bool:
        """Whether no seed's rate exceeds the bound in any epoch."""
        return not bool(self.above_bound().any())

    def summary(self) -> list[str]:
        """Return plain sentences: training, W_A, measured rate, bound, noise floor."""
        return [
            self._training_sentence(),
            self._potentiated_sentence(),
            self._measured_sentence(),
            self._bound_sentence(),
            self._quoted_sentence(),
            self._noise_sentence(),
        ]

    def _training_sentence(self) -> str:
        record = self.training
        runs = f" in {record.runs} runs" if record.runs > 1 else ""
        drift = (
            f"{_percent(record.drift.max())} (tolerance {_percent(record.tolerance)})"
        )
        if record.settled:
            return (
                f"Task {record.task!r} trained for {record.duration:g} s{runs} and "
                f"settled: the mean weights of its last two {record.window:g} s "
                f"windows differ by at most {drift}."
            )
        return (
            f"Task {record.task!r} did not settle within {record.duration:g} s{runs}: "
            f"the mean weights of its last two {record.window:g} s windows differ by "
            f"up to {drift}, so the forgetting below starts from a drifting state."
        )

    def _potentiated_sentence(self) -> str:
        counts = self.potentiated.sum(axis=1)
        per_seed = (
            f"{counts.min()} to {counts.max()}" if counts.min() != counts.max()
            else f"{counts.min()}"
        )
        return (
            f"It potentiated {per_seed} of {self.potentiated.shape[1]} plastic "
            f"synapses per seed by more than {self.potentiation_threshold:g} of the "
            "weight range; these form W_A."
        )

    def _measured_sentence(self) -> str:
        stats = self.statistics()
        later = ", ".join(repr(name) for name in self.tasks[1:])
        level = self.potentiated_level.mean(axis=0)
        return (
            f"Over {self.n_epochs} epochs of T = {1e3 * self.epoch:g} ms on {later}, "
            f"the forgetting rate {MEASURE} averaged {_percent(stats.mean.mean())} "
            f"over {len(self.seeds)} seeds (epoch means {_percent(stats.mean.min())} "
            f"to {_percent(stats.mean.max())}, largest single value "
            f"{_percent(self.rates.max())}); the mean W_A weight went from "
            f"{level[0]:.3f} to {level[-1]:.3f} of the weight range."
        )

    def _bound_sentence(self) -> str:
        bound = self.bound
        formula = (
            f"The bound (A-/A+) e^(-T/tau-) = {bound.amplitude_ratio:.3g} * "
            f"e^(-{bound.epoch_in_tau:.3g}) = {_percent(bound.value)} per epoch"
        )
        if not bound.uniform:
            formula += (
                f" (projection {bound.projection!r}, the largest of the projections)"
            )
        above = self.above_bound()
        if not above.any():
            largest = self.rates.max()
            if largest == 0:
                return (
                    f"{formula} holds in all {self.n_epochs} epochs: the rate is 0 in "
                    "every epoch and seed."
                )
            return (
                f"{formula} holds in all {self.n_epochs} epochs: the largest rate in "
                f"any seed, {_percent(largest)}, is {bound.value / largest:.3g} times "
                "below it."
            )
        stats = self.statistics()
        first = int(np.argmax(above))
        spread = ""
        if not math.isnan(stats.std[first]):
            spread = f" +- {_percent(stats.std[first])}"
        return (
            f"{formula} fails in {int(above.sum())} of {self.n_epochs} epochs (some "
            f"seed above it), first in epoch {first + 1}, where the rate is "
            f"{_percent(stats.mean[first])}{spread} over {len(self.seeds)} seeds; "
            f"the seed mean is above it in {int((stats.mean > bound.value).sum())} "
            "epochs."
        )

    def _quoted_sentence(self) -> str:
        ratio = self.bound.amplitude_ratio
        at_quoted_epoch = forgetting_bound(1.0, ratio, 1.0, QUOTED_EPOCH_IN_TAU)
        needed = epoch_for_rate(ratio, QUOTED_RATE)
        return (
            f"The quoted figure of about {_percent(QUOTED_RATE)} per epoch for "
            f"T > {QUOTED_EPOCH_IN_TAU:g} tau- is exceeded in "
            f"{int(self.above_quoted().sum())} of {self.n_epochs} epochs. With this "
            f"network's A-/A+ = {ratio:.3g} the bound formula gives "
            f"{_percent(at_quoted_epoch)} at T = {QUOTED_EPOCH_IN_TAU:g} tau- and "
            f"reaches {_percent(QUOTED_RATE)} only for T >= {needed:.3g} tau-."
        )

    def _noise_sentence(self) -> str:
        control = self.control_rates
        spread = (
            f" +- {_percent(control.mean(axis=1).std(ddof=1))}"
            if control.shape[0] > 1 else ""
        )
        return (
            f"While task {self.training.task!r} still trained, the same measure was "
            f"{_percent(control.mean())}{spread} per epoch over its last "
            f"{control.shape[1]} epochs. That much comes from weight fluctuation and "
            "any remaining drift, not from the later tasks."
        )

    def table(self) -> str:
        """Return the per-epoch table as fixed-width text, rates in percent."""
        stats = self.statistics()
        bound = self.bound.value
        header = (
            f"{'epoch':>5}  {'task':<10} {'mean %':>8} {'std %':>8} {'min %':>8} "
            f"{'max %':>8} {'bound %':>8} {'cumul. %':>9} {'W_A level':>9}  status"
        )
        lines = [header]
        cumulative = self.cumulative.mean(axis=0)
        level = self.potentiated_level.mean(axis=0)
        for k in range(self.n_epochs):
            status = "above bound" if stats.high[k] > bound else "ok"
            if not self.epoch_learning[k]:
                status += " (learning off)"
            std = "n/a" if math.isnan(stats.std[k]) else f"{100 * stats.std[k]:.4f}"
            lines.append(
                f"{k + 1:>5}  {self.epoch_tasks[k]:<10} {100 * stats.mean[k]:>8.4f} "
                f"{std:>8} {100 * stats.low[k]:>8.4f} "
                f"{100 * stats.high[k]:>8.4f} {100 * bound:>8.4f} "
                f"{100 * cumulative[k]:>9.4f} {level[k + 1]:>9.4f}  {status}"
            )
        return "\n".join(lines)

    def figure(self) -> bytes:
        """Return the forgetting plot as PNG bytes (see :mod:`.plot`)."""
        from biosynapse_verify.forgetting.plot import forgetting_png

        return forgetting_png(self)

    def to_dict(self) -> dict:
        """Return a JSON-ready record of the measurement, rates as fractions."""
        stats = self.statistics()
        control = seed_statistics(self.control_rates.mean(axis=1, keepdims=True))
        return {
            "network": self.network,
            "backend": self.backend,
            "seeds": list(self.seeds),
            "tasks": list(self.tasks),
            "epoch_s": self.epoch,
            "epochs": self.n_epochs,
            "definitions": dict(DEFINITIONS),
            "training": self._training_dict(),
            "potentiation_threshold": self.potentiation_threshold,
            "plastic_synapses": int(self.potentiated.shape[1]),
            "potentiated_synapses": [int(n) for n in self.potentiated.sum(axis=1)],
            "bound": self._bound_dict(),
            "per_epoch": {
                "task": list(self.epoch_tasks),
                "learning": list(self.epoch_learning),
                "mean": _numbers(stats.mean),
                "std": _numbers(stats.std),
                "min": _numbers(stats.low),
                "max": _numbers(stats.high),
                "per_seed": [_numbers(row) for row in self.rates],
                "cumulative_mean": _numbers(self.cumulative.mean(axis=0)),
                "potentiated_level_mean": _numbers(self.potentiated_level.mean(axis=0)),
                "above_bound": [bool(v) for v in self.above_bound()],
                "above_quoted": [bool(v) for v in self.above_quoted()],
            },
            "noise_floor": {
                "epochs": int(self.control_rates.shape[1]),
                "mean": _number(self.control_rates.mean()),
                "std_over_seeds": _number(control.std[0]),
                "min": _number(self.control_rates.min()),
                "max": _number(self.control_rates.max()),
            },
            "bound_holds": self.bound_holds,
            "epochs_above_bound": int(self.above_bound().sum()),
            "summary": self.summary(),
            "wall_time_s": self.wall_time,
        }

    def _training_dict(self) -> dict:
        record = self.training
        return {
            "task": record.task,
            "duration_s": record.duration,
            "runs": record.runs,
            "window_s": record.window,
            "tolerance": record.tolerance,
            "drift": _numbers(record.drift),
            "settled": record.settled,
        }

    def _bound_dict(self) -> dict:
        bound = self.bound
        return {
            "formula": DEFINITIONS["bound"],
            "projection": bound.projection,
            "uniform_over_projections": bound.uniform,
            "a_plus": bound.a_plus,
            "a_minus": bound.a_minus,
            "amplitude_ratio": bound.amplitude_ratio,
            "tau_minus_s": bound.tau_minus,
            "epoch_in_tau": bound.epoch_in_tau,
            "value": bound.value,
            "quoted_value": QUOTED_RATE,
            "quoted_epoch_in_tau": QUOTED_EPOCH_IN_TAU,
            "epoch_in_tau_for_quoted_value": epoch_for_rate(
                bound.amplitude_ratio, QUOTED_RATE
            ),
        }
