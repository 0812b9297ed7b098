"""The network spec: a pydantic v2 schema for the YAML files in ``networks/``.

Every quantity is stored in SI units (seconds, hertz, volts); weights and
learning amplitudes are dimensionless. A weight is the jump of a synaptic
conductance in units of the leak conductance, so ``w = 0.01`` opens one
hundredth of a leak conductance per presynaptic spike.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from biosynapse_verify.spec.units import parse_quantity

__all__ = [
    "Analysis",
    "Calibration",
    "InputPopulation",
    "LIFPopulation",
    "NetworkSpec",
    "Plasticity",
    "PoissonInput",
    "Projection",
    "Simulation",
    "SpikeTimesInput",
    "Task",
    "TaskInput",
    "TaskSchedule",
    "TaskTraining",
    "WeightInit",
]


def _quantity(dimension: str):
    return BeforeValidator(lambda value: parse_quantity(value, dimension))


Seconds = Annotated[float, _quantity("time")]
Hertz = Annotated[float, _quantity("rate")]
Volts = Annotated[float, _quantity("voltage")]
PositiveSeconds = Annotated[float, _quantity("time"), Field(gt=0)]
NonNegativeSeconds = Annotated[float, _quantity("time"), Field(ge=0)]
NonNegativeHertz = Annotated[float, _quantity("rate"), Field(ge=0)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PoissonInput(_Strict):
    """Independent Poisson spike trains, one per neuron of the population."""

    name: Name
    kind: Literal["poisson"]
    size: int = Field(gt=0, le=10_000_000)
    rate: NonNegativeHertz | list[NonNegativeHertz]

    @model_validator(mode="after")
    def _rates_match_size(self) -> "PoissonInput":
        if isinstance(self.rate, list) and len(self.rate) != self.size:
            raise ValueError(
                f"rate lists {len(self.rate)} values but size is {self.size}; "
                "give one rate for the whole population or one per neuron"
            )
        return self

    def rates(self) -> list[float]:
        """Return the rate of each neuron in hertz."""
        if isinstance(self.rate, list):
            return list(self.rate)
        return [self.rate] * self.size


class SpikeTimesInput(_Strict):
    """Prescribed spike times, for protocols such as pairing experiments.

    ``times[k]`` lists the spike times of neuron ``k``. When ``period`` is set
    the pattern repeats with that period for the whole simulation.
    """

    name: Name
    kind: Literal["spike_times"]
    times: list[list[NonNegativeSeconds]]
    period: PositiveSeconds | None = None

    @property
    def size(self) -> int:
        return len(self.times)

    @model_validator(mode="after")
    def _times_fit_period(self) -> "SpikeTimesInput":
        if not self.times:
            raise ValueError("times is empty; list one spike-time list per neuron")
        if self.period is not None:
            late = [t for row in self.times for t in row if t >= self.period]
            if late:
                raise ValueError(
                    f"spike time {late[0]} s is not below period {self.period} s; "
                    "every time of a repeating pattern must be in [0, period)"
                )
        return self

    def rates(self) -> list[float]:
        """Return each neuron's mean rate in hertz (needs ``period``)."""
        if self.period is None:
            raise ValueError(
                f"input {self.name!r} has spike times without a period, so it "
                "has no stationary rate; set period to analyse it"
            )
        return [len(row) / self.period for row in self.times]


InputPopulation = Annotated[
    Union[PoissonInput, SpikeTimesInput], Field(discriminator="kind")
]


class LIFPopulation(_Strict):
    """Leaky integrate-and-fire neurons with exponential synapses.

    The membrane obeys
    ``tau_m dv/dt = (v_rest - v) + g_exc (e_exc - v') + g_inh (e_inh - v') + i_bias``
    where ``v' = v`` for conductance-based synapses and ``v' = v_rest`` for
    current-based ones. Conductances are in units of the leak conductance and
    decay with ``tau_syn_exc`` and ``tau_syn_inh``.
    """

    name: Name
    kind: Literal["lif"] = "lif"
    size: int = Field(gt=0, le=10_000_000)
    tau_m: PositiveSeconds
    v_rest: Volts
    v_threshold: Volts
    v_reset: Volts
    refractory: NonNegativeSeconds = 0.0
    synapse: Literal["conductance", "current"] = "conductance"
    tau_syn_exc: PositiveSeconds = 5e-3
    tau_syn_inh: PositiveSeconds = 10e-3
    e_exc: Volts = 0.0
    e_inh: Volts = -80e-3
    i_bias: Volts = 0.0
    v_init: Volts | Literal["uniform"] = "uniform"

    @model_validator(mode="after")
    def _threshold_above_reset(self) -> "LIFPopulation":
        if not self.v_threshold > self.v_reset:
            raise ValueError(
                f"v_threshold ({self.v_threshold} V) must exceed v_reset "
                f"({self.v_reset} V)"
            )
        return self


class Plasticity(_Strict):
    """Pair-based STDP with one trace per side.

    The window is ``W(dt) = a_plus exp(-dt/tau_plus)`` for ``dt = t_post -
    t_pre > 0`` and ``-a_minus exp(dt/tau_minus)`` for ``dt < 0``; each change
    is scaled by ``eta`` and by the weight dependence of ``rule``. Amplitudes
    are in weight units.
    """

    rule: Literal["additive", "multiplicative", "power_law"]
    a_plus: float = Field(gt=0)
    a_minus: float = Field(gt=0)
    tau_plus: PositiveSeconds = 20e-3
    tau_minus: PositiveSeconds = 20e-3
    eta: float = Field(default=1.0, gt=0)
    mu: float = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _mu_only_for_power_law(self) -> "Plasticity":
        if self.rule != "power_law" and self.mu != 0.0:
            raise ValueError(
                f"mu = {self.mu} is set but rule is {self.rule!r}; mu applies "
                "only to rule 'power_law'"
            )
        return self


class WeightInit(_Strict):
    """Initial weights: a constant or uniform on ``[low, high]``."""

    distribution: Literal["constant", "uniform"] = "constant"
    value: float | None = Field(default=None, ge=0)
    low: float | None = Field(default=None, ge=0)
    high: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _parameters_for_distribution(self) -> "WeightInit":
        if self.distribution == "constant" and self.value is None:
            raise ValueError("a constant initial weight needs value")
        if self.distribution == "uniform":
            if self.low is None or self.high is None:
                raise ValueError("a uniform initial weight needs low and high")
            if self.low > self.high:
                raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self

    def upper(self) -> float:
        return self.value if self.distribution == "constant" else self.high


def _weight_init(value: object) -> object:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"distribution": "constant", "value": value}
    return value


class Projection(_Strict):
    """Synapses from a source population onto a target LIF population."""

    name: Name
    source: Name
    target: Name
    receptor: Literal["excitatory", "inhibitory"] = "excitatory"
    connectivity: Literal["all_to_all", "sparse"] = "all_to_all"
    probability: float = Field(default=1.0, gt=0, le=1)
    weight: Annotated[WeightInit, BeforeValidator(_weight_init)]
    w_min: float = Field(default=0.0, ge=0)
    w_max: float = Field(gt=0)
    plasticity: Plasticity | None = None

    @model_validator(mode="after")
    def _weights_within_bounds(self) -> "Projection":
        if self.w_min >= self.w_max:
            raise ValueError(f"w_min ({self.w_min}) must be below w_max ({self.w_max})")
        if self.weight.upper() > self.w_max:
            raise ValueError(
                f"initial weight {self.weight.upper()} exceeds w_max {self.w_max}; "
                "lower the initial weight or raise w_max"
            )
        if self.connectivity == "all_to_all" and self.probability != 1.0:
            raise ValueError(
                f"probability {self.probability} needs connectivity 'sparse'"
            )
        return self


class Simulation(_Strict):
    """Time step, duration, seeds and recording of the spiking simulation."""

    dt: PositiveSeconds = 1e-4
    duration: PositiveSeconds
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    connectivity_seed: int = 0
    record_interval: PositiveSeconds = 1.0

    @model_validator(mode="after")
    def _duration_covers_steps(self) -> "Simulation":
        if self.duration < self.dt:
            raise ValueError(f"duration ({self.duration} s) is shorter than dt")
        if self.record_interval < self.dt:
            raise ValueError("record_interval must be at least dt")
        return self

    @property
    def steps(self) -> int:
        return int(round(self.duration / self.dt))


class Calibration(_Strict):
    """How the LIF rate transfer function is measured in simulation."""

    duration: PositiveSeconds = 4.0
    points: int = Field(default=12, ge=5, le=64)
    seed: int = 12345


class Analysis(_Strict):
    """Which equilibrium is judged and how the mean-field model is built."""

    equilibrium: Literal["interior", "boundary"] = "interior"
    tau_rate: PositiveSeconds | None = None
    calibration: Calibration = Calibration()
    settle_fraction: float = Field(default=0.2, gt=0, le=1)


class TaskInput(_Strict):
    """The spike pattern that one input population presents during a task.

    Give ``rate`` for Poisson trains (one rate for the population or one per
    neuron, as in :class:`PoissonInput`) or ``times`` with an optional
    ``period`` for prescribed spike times (as in :class:`SpikeTimesInput`).
    The population keeps its name and size; only its pattern changes.
    """

    input: Name
    rate: NonNegativeHertz | list[NonNegativeHertz] | None = None
    times: list[list[NonNegativeSeconds]] | None = None
    period: PositiveSeconds | None = None

    @model_validator(mode="after")
    def _one_kind_of_pattern(self) -> "TaskInput":
        if (self.rate is None) == (self.times is None):
            raise ValueError(
                f"input {self.input!r}: give either rate (Poisson trains) or times "
                "(prescribed spike times), and not both"
            )
        if self.period is not None and self.times is None:
            raise ValueError(
                f"input {self.input!r}: period applies only to spike times; remove "
                "it or give times"
            )
        return self

    def population(self, size: int) -> PoissonInput | SpikeTimesInput:
        """Return the input population ``input`` of ``size`` neurons with this pattern.

        Raises
        ------
        ValueError
            If the pattern lists a number of neurons other than ``size``, or
            a spike time is not below ``period``.
        """
        if self.rate is not None:
            return PoissonInput(
                name=self.input, kind="poisson", size=size, rate=self.rate
            )
        pattern = SpikeTimesInput(
            name=self.input, kind="spike_times", times=self.times, period=self.period
        )
        if pattern.size != size:
            raise ValueError(
                f"times lists {pattern.size} neurons but input {self.input!r} has "
                f"{size}; give one spike-time list per neuron"
            )
        return pattern


class Task(_Strict):
    """A task: the patterns that some inputs present while the network trains.

    Inputs that the task does not list keep the pattern the spec gives them.
    With ``learning`` false the task is presented with plasticity off, as in
    a recall test.
    """

    name: Name
    inputs: list[TaskInput] = Field(min_length=1)
    learning: bool = True


class TaskTraining(_Strict):
    """Training time of the first task, and the test that its weights settled.

    The first task runs for ``duration``. Its weights are at equilibrium when,
    in every seed, the mean plastic-weight vector over the last ``window``
    differs from the mean over the ``window`` before it by less than
    ``tolerance`` times the norm of the later mean. While they are not,
    training continues in further runs of ``duration``, up to
    ``max_duration`` in all (default: ``duration``, no extension).
    """

    duration: PositiveSeconds
    max_duration: PositiveSeconds | None = None
    window: PositiveSeconds
    tolerance: float = Field(default=0.01, gt=0, lt=1)

    @model_validator(mode="after")
    def _windows_fit(self) -> "TaskTraining":
        fits = 2 * self.window <= self.duration or math.isclose(
            2 * self.window, self.duration
        )
        if not fits:
            raise ValueError(
                f"two windows of {self.window} s do not fit into duration "
                f"{self.duration} s; shorten window or lengthen duration"
            )
        if self.max_duration is not None and not (
            self.max_duration >= self.duration
            and _whole_steps(self.max_duration, self.duration)
        ):
            raise ValueError(
                f"max_duration ({self.max_duration} s) is not a whole multiple of "
                f"duration ({self.duration} s), because training is extended in "
                "runs of duration; use a multiple or leave max_duration out"
            )
        return self

    @property
    def longest(self) -> float:
        """Total training time allowed, in seconds."""
        return self.duration if self.max_duration is None else self.max_duration


class TaskSchedule(_Strict):
    """Sequential training on tasks, to measure how the first one is forgotten.

    The first task trains to equilibrium as :class:`TaskTraining` states.
    Each later task then trains for ``epochs`` epochs of length ``epoch``.
    The synapses whose weight rose by more than ``potentiation_threshold``
    times ``w_max - w_min`` during the first task are the ones whose
    forgetting is measured.
    """

    epoch: PositiveSeconds
    epochs: int = Field(gt=0, le=100_000)
    tasks: list[Task] = Field(min_length=2)
    training: TaskTraining
    potentiation_threshold: float = Field(default=0.1, gt=0, lt=1)


class NetworkSpec(_Strict):
    """A complete network: inputs, neurons, synapses, simulation and analysis."""

    name: Name
    description: str = ""
    source: str = ""
    inputs: list[InputPopulation] = Field(min_length=1)
    populations: list[LIFPopulation] = Field(min_length=1)
    projections: list[Projection] = Field(min_length=1)
    simulation: Simulation
    analysis: Analysis = Analysis()
    forgetting: TaskSchedule | None = None

    @model_serializer(mode="wrap")
    def _omit_absent_forgetting(
        self, handler: SerializerFunctionWrapHandler
    ) -> dict[str, object]:
        # Specs without tasks serialise as they did before the field existed,
        # so their spec hashes stay the same.
        data = handler(self)
        if self.forgetting is None:
            data.pop("forgetting", None)
        return data

    @model_validator(mode="after")
    def _references_resolve(self) -> "NetworkSpec":
        _check_unique_names(self)
        sources = {p.name for p in self.inputs} | {p.name for p in self.populations}
        targets = {p.name for p in self.populations}
        for index, proj in enumerate(self.projections):
            if proj.source not in sources:
                raise ValueError(
                    f"projections.{index}.source: {proj.source!r} is not an input "
                    f"or population (defined: {', '.join(sorted(sources))})"
                )
            if proj.target not in targets:
                raise ValueError(
                    f"projections.{index}.target: {proj.target!r} is not a LIF "
                    f"population (defined: {', '.join(sorted(targets))})"
                )
        for index, pop in enumerate(self.populations):
            steps = pop.refractory / self.simulation.dt
            if not math.isclose(steps, round(steps), rel_tol=0, abs_tol=1e-6):
                raise ValueError(
                    f"populations.{index}.refractory: {pop.refractory} s is not a "
                    f"whole number of steps of dt = {self.simulation.dt} s; use a "
                    "multiple of dt"
                )
        return self

    @model_validator(mode="after")
    def _tasks_resolve(self) -> "NetworkSpec":
        if self.forgetting is None:
            return self
        _check_task_timing(self.forgetting, self.simulation.dt)
        if not any(proj.plasticity is not None for proj in self.projections):
            raise ValueError(
                "forgetting: no projection is plastic, so there is nothing to "
                "forget; add plasticity to a projection or remove forgetting"
            )
        names = [task.name for task in self.forgetting.tasks]
        for index, task in enumerate(self.forgetting.tasks):
            if names.index(task.name) != index:
                raise ValueError(
                    f"forgetting.tasks.{index}.name: {task.name!r} is used twice; "
                    "give every task its own name"
                )
            _check_task_inputs(self, index, task)
        return self

    def input(self, name: str) -> PoissonInput | SpikeTimesInput:
        """Return the input population called ``name``."""
        return next(p for p in self.inputs if p.name == name)

    def population(self, name: str) -> LIFPopulation:
        """Return the LIF population called ``name``."""
        return next(p for p in self.populations if p.name == name)

    def is_input(self, name: str) -> bool:
        return any(p.name == name for p in self.inputs)


def _check_unique_names(spec: NetworkSpec) -> None:
    seen: set[str] = set()
    for group in ("inputs", "populations", "projections"):
        for index, item in enumerate(getattr(spec, group)):
            if item.name in seen:
                raise ValueError(
                    f"{group}.{index}.name: {item.name!r} is used twice; names of "
                    "inputs, populations and projections must be unique"
                )
            seen.add(item.name)


def _whole_steps(value: float, step: float) -> bool:
    count = value / step
    return math.isclose(count, round(count), rel_tol=0, abs_tol=1e-6)


def _check_task_timing(schedule: TaskSchedule, dt: float) -> None:
    """Require the epoch to be whole steps and the training to be whole epochs."""
    if not _whole_steps(schedule.epoch, dt):
        raise ValueError(
            f"forgetting.epoch: {schedule.epoch} s is not a whole number of steps "
            f"of dt = {dt} s; use a multiple of dt"
        )
    training = schedule.training
    lengths = {"duration": training.duration, "window": training.window}
    if training.max_duration is not None:
        lengths["max_duration"] = training.max_duration
    for field_name, value in lengths.items():
        if not _whole_steps(value, schedule.epoch):
            raise ValueError(
                f"forgetting.training.{field_name}: {value} s is not a whole number "
                f"of epochs of {schedule.epoch} s; use a multiple of the epoch"
            )


def _check_task_inputs(spec: NetworkSpec, index: int, task: Task) -> None:
    """Require every input a task lists to exist once and to fit its pattern."""
    defined = [p.name for p in spec.inputs]
    seen: set[str] = set()
    for position, pattern in enumerate(task.inputs):
        where = f"forgetting.tasks.{index}.inputs.{position}"
        if pattern.input not in defined:
            raise ValueError(
                f"{where}.input: {pattern.input!r} is not an input population "
                f"(defined: {', '.join(defined)})"
            )
        if pattern.input in seen:
            raise ValueError(
                f"{where}.input: {pattern.input!r} is listed twice in task "
                f"{task.name!r}; give each input one pattern per task"
            )
        seen.add(pattern.input)
        try:
            pattern.population(spec.input(pattern.input).size)
        except ValidationError as err:
            message = err.errors(include_url=False)[0]["msg"]
            raise ValueError(
                f"{where}: {message.removeprefix('Value error, ')}"
            ) from None
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
