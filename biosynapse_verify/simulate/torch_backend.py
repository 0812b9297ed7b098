"""The PyTorch spiking simulator, batched over seeds.

Model
-----
Time advances in steps of ``dt``; step ``n`` covers ``[n dt, (n + 1) dt)`` and
every event found in it carries the time ``n dt``. Each seed is one row of a
leading batch dimension, with its own input spikes (a ``torch.Generator``
per seed and input) and its own initial weights.

LIF neurons follow
``tau_m dv/dt = (v_rest - v) + g_exc (e_exc - v') + g_inh (e_inh - v') + i_bias``
with ``v' = v`` for conductance-based and ``v' = v_rest`` for current-based
synapses. Conductances are in units of the leak conductance. Step ``n`` of a
population does, in this order:

1. decay both conductances by ``exp(-dt / tau_syn)`` (exact);
2. add ``w`` for every synapse whose source spiked: input spikes of step
   ``n``, LIF spikes of step ``n - 1`` (recurrent delivery takes one step);
3. integrate v over the step with the conductances held (exponential Euler,
   exact for constant conductance): ``v <- v_inf + (v - v_inf) exp(-dt/tau_eff)``;
   neurons in their refractory period skip this and stay at ``v_reset``;
4. spike where ``v >= v_threshold``, then set ``v = v_reset`` and hold it for
   ``refractory / dt`` whole steps, so inter-spike intervals are at least
   ``refractory / dt + 1`` steps.

STDP (all-to-all pairing, one trace per side, per plastic projection): the
pre trace ``x`` decays with ``tau_plus`` and the post trace ``y`` with
``tau_minus``, both by exact factors ``exp(-dt / tau)`` at the start of each
step. After the neurons of step ``n`` have spiked:

- every pre spike of step ``n`` (the source's spike time; the transmission
  delay plays no part) sets ``w <- clip(w - eta f_minus(u) a_minus y)`` and
  then ``x <- x + 1``;
- then every post spike of step ``n`` sets ``w <- clip(w + eta f_plus(u) a_plus x)``
  and then ``y <- y + 1``.

Here ``u = w / w_max`` and ``clip`` limits to ``[w_min, w_max]`` after each
update. Because pre spikes are processed first, a pre and a post spike in the
same step form a causal pair with ``t_post - t_pre = 0``: the synapse is
potentiated by ``eta a_plus`` and not depressed. Weight dependence: additive
``f_plus = f_minus = 1``; multiplicative ``f_plus = 1, f_minus = u``; power
law ``f_plus = (1 - u)**mu, f_minus = u**mu``.

Engines
-------
Three engines implement this model and agree up to rounding:

- ``"event"`` (:mod:`~biosynapse_verify.simulate.torch_event`) advances
  whole windows between LIF spikes with closed-form updates. Its cost grows
  with the number of steps that contain a LIF spike in the busiest batch
  row, so it suits small networks driven by many inputs (song2000).
- ``"clock"`` (:mod:`~biosynapse_verify.simulate.torch_clock`) runs the
  steps one by one and touches only the synapses of the neurons that spiked.
  Its cost grows with the number of steps plus spikes times fan-out, so it
  suits large recurrent networks, where nearly every step has a spike.
- ``"reference"`` (:mod:`~biosynapse_verify.simulate.torch_reference`) is
  the plain dense transcription, for tests.

``"auto"`` (the default) runs a short first segment with the clock engine.
It then measures in every segment the fraction of steps that contain a LIF
spike in the busiest row. The event engine runs while that fraction is low
and the clock engine while it is high (see :class:`EngineSchedule`).
Switching is exact, because both engines keep all state in the shared
:class:`~biosynapse_verify.simulate.torch_network.Network`.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from biosynapse_verify.errors import BadInputError
from biosynapse_verify.simulate.base import (
    ProgressCallback,
    RunPlan,
    SimulationResult,
    prepare_run,
)
from biosynapse_verify.simulate.inputs import ChunkEvents, make_source
from biosynapse_verify.simulate.recording import Recorder
from biosynapse_verify.simulate.torch_clock import ClockEngine
from biosynapse_verify.simulate.torch_event import EventEngine
from biosynapse_verify.simulate.torch_network import Network
from biosynapse_verify.simulate.torch_reference import ReferenceEngine
from biosynapse_verify.spec.schema import NetworkSpec, PoissonInput

__all__ = ["ENGINES", "EngineSchedule", "TorchBackend", "chunk_steps", "resolve_device"]

logger = logging.getLogger(__name__)

ENGINES = ("auto", "event", "clock", "reference")
# Input spikes are drawn for chunks of steps. The chunk length depends only on
# the spec (never on the batch or the engine), so a seed draws the same
# spikes alone or in a batch. The budget bounds the expected input spikes per
# seed and chunk.
_CHUNK_STEPS = 4096
_MIN_CHUNK_STEPS = 64
_INPUT_SPIKES_PER_CHUNK = 2**20

Engine = EventEngine | ClockEngine | ReferenceEngine


class TorchBackend:
    """Simulate a network with PyTorch, all seeds in one batch.

    Parameters
    ----------
    device : str or torch.device, default "cpu"
        Where the tensors live: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``. A CUDA
        generator draws different Poisson spikes than the CPU one for the
        same seed.
    dtype : torch.dtype, default torch.float64
        Floating-point type of weights, traces and membrane state.
    engine : {"auto", "event", "clock", "reference"}, default "auto"
        Which engine advances the network; see the module docstring.
    threads : int or None, default 1
        CPU threads torch may use during :meth:`run`; the previous setting is
        restored afterwards. The engines issue many small tensor operations,
        for which extra threads mostly add synchronisation (on a loaded
        2-core machine, 2 threads ran song2000 seven times slower than 1).
        ``None`` keeps torch's setting.

    Attributes
    ----------
    engine_steps : dict of str to int
        Steps that each engine simulated in the last :meth:`run` (empty
        before the first run).

    Raises
    ------
    BadInputError
        For an unknown engine, an unsupported dtype, a device that is not
        available, or a thread count below 1.
    """

    name = "torch"

    def __init__(
        self,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float64,
        engine: str = "auto",
        threads: int | None = 1,
    ) -> None:
        if engine not in ENGINES:
            raise BadInputError(
                f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}"
            )
        if dtype not in (torch.float64, torch.float32):
            raise BadInputError(
                f"dtype must be torch.float64 or torch.float32, got {dtype}"
            )
        if threads is not None and threads < 1:
            raise BadInputError(
                f"threads must be a positive integer or None, got {threads}"
            )
        # NOTE: the CUDA path has not run on a GPU yet; its tests skip without one.
        self.device = resolve_device(device)
        self.dtype = dtype
        self.engine = engine
        self.threads = threads
        self.engine_steps: dict[str, int] = {}

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
        """Simulate ``spec`` once per seed, as :class:`~.base.Backend` describes."""
        plan = prepare_run(
            spec,
            seeds=seeds,
            duration=duration,
            learning=learning,
            initial_weights=initial_weights,
        )
        previous_threads = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            return self._simulate(plan, progress)
        finally:
            torch.set_num_threads(previous_threads)

    def _simulate(
        self, plan: RunPlan, progress: ProgressCallback | None
    ) -> SimulationResult:
        spec = plan.spec
        started = time.perf_counter()
        with torch.inference_mode():
            network = Network(plan, self.device, self.dtype)
            sources = {
                inp.name: make_source(inp, plan.seeds, plan.dt, self.device)
                for inp in spec.inputs
            }
            recorder = Recorder(
                plan, network, {name: s.size for name, s in sources.items()}
            )
            engines = _EngineSet(network, recorder, plan.dt, self.dtype)
            schedule = EngineSchedule(self.engine)
            chunk = chunk_steps(spec)
            logger.info(
                "simulating %s: %d steps, %d seeds, %s engine on %s",
                spec.name,
                plan.steps,
                plan.batch,
                self.engine,
                self.device,
            )
            for start in range(0, plan.steps, chunk):
                stop = min(start + chunk, plan.steps)
                events = {name: s.chunk(start, stop) for name, s in sources.items()}
                for name, chunk_events in events.items():
                    recorder.add_input_spikes(
                        name, chunk_events.batch, chunk_events.neuron
                    )
                _run_chunk(engines, schedule, events, start, stop)
                if progress is not None:
                    progress(stop / plan.steps)
            wall_time = time.perf_counter() - started
        self.engine_steps = {
            name: steps for name, steps in schedule.steps_by_engine.items() if steps
        }
        logger.debug(
            "%d event-engine windows, %d clock-engine steps for %d steps",
            engines.windows(),
            schedule.steps_by_engine["clock"],
            plan.steps,
        )
        logger.info("simulated %s in %.2f s wall time", spec.name, wall_time)
        return recorder.result(self.name, wall_time)


class _EngineSet:
    """Builds each engine on first use, all sharing one network and recorder."""

    def __init__(
        self, network: Network, recorder: Recorder, dt: float, dtype: torch.dtype
    ) -> None:
        self.network = network
        self.recorder = recorder
        self.dt = dt
        self.dtype = dtype
        self._built: dict[str, Engine] = {}

    def get(self, name: str) -> Engine:
        if name not in self._built:
            if name == "event":
                engine = EventEngine(self.network, self.recorder, self.dt, self.dtype)
            elif name == "clock":
                engine = ClockEngine(self.network, self.recorder)
            else:
                engine = ReferenceEngine(self.network, self.recorder)
            self._built[name] = engine
        return self._built[name]

    def windows(self) -> int:
        event = self._built.get("event")
        return event.windows if isinstance(event, EventEngine) else 0


def _run_chunk(
    engines: _EngineSet,
    schedule: EngineSchedule,
    events: dict[str, ChunkEvents],
    start: int,
    stop: int,
) -> None:
    """Simulate one chunk of steps as segments, each with the scheduled engine."""
    position = start
    while position < stop:
        name, length = schedule.next_segment()
        segment_stop = min(stop, position + length)
        engine = engines.get(name)
        engine.run_segment(events, position, segment_stop)
        busy = int(engine.take_busy_steps().max())
        schedule.observe(busy, segment_stop - position)
        position = segment_stop


class EngineSchedule:
    """Choose the engine of each segment of steps.

    A fixed engine runs in segments as long as a chunk. With ``"auto"``, the
    first segment of ``PROBE_STEPS`` runs on the clock engine, whose cost
    per step is bounded. Every later segment of ``SEGMENT_STEPS`` runs on
    the engine that suits the busy fraction of the segment before, which is
    the fraction of its steps with at least one LIF spike in the busiest
    batch row. The event engine needs about one window per such step, and a
    window costs a few clock steps (estimate from operation counts: about
    150 tensor operations per window against 40 to 90 per clock step), so
    the break-even fraction lies between 1/4 and 1/2. The schedule moves to
    the clock engine above ``TO_CLOCK`` and back to the event engine below
    ``TO_EVENT``. The gap keeps it from switching at every segment when the
    fraction hovers near break-even.

    Parameters
    ----------
    engine : {"auto", "event", "clock", "reference"}

    Attributes
    ----------
    steps_by_engine : dict of str to int
        Steps simulated by each engine so far.
    """

    PROBE_STEPS = 256
    SEGMENT_STEPS = _CHUNK_STEPS
    TO_CLOCK = 0.4
    TO_EVENT = 0.2

    def __init__(self, engine: str) -> None:
        if engine not in ENGINES:
            raise BadInputError(
                f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}"
            )
        self.automatic = engine == "auto"
        self.current = "clock" if self.automatic else engine
        self.steps_by_engine = {name: 0 for name in ENGINES if name != "auto"}
        self._probing = self.automatic

    def next_segment(self) -> tuple[str, int]:
        """Return the engine and the maximum length in steps of the next segment."""
        if not self.automatic:
            return self.current, _CHUNK_STEPS
        return self.current, self.PROBE_STEPS if self._probing else self.SEGMENT_STEPS

    def observe(self, busy_steps: int, steps: int) -> None:
        """Record that the last segment of ``steps`` had ``busy_steps`` busy steps."""
        self.steps_by_engine[self.current] += steps
        if not self.automatic:
            return
        fraction = busy_steps / steps
        if self._probing:
            self._probing = False
            self.current = "clock" if fraction > self.TO_EVENT else "event"
        elif self.current == "event" and fraction > self.TO_CLOCK:
            self.current = "clock"
        elif self.current == "clock" and fraction < self.TO_EVENT:
            self.current = "event"
        logger.debug(
            "busy fraction %.3f: next segment on the %s engine", fraction, self.current
        )


def resolve_device(device: str | torch.device) -> torch.device:
    """Return ``device`` as a torch.device after checking that it can be used.

    Raises
    ------
    BadInputError
        If ``device`` is not a valid device string, is neither CPU nor CUDA,
        or names a CUDA device that this machine does not have.
    """
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise BadInputError(
            f"invalid device {device!r} ({err}); use 'cpu', 'cuda' or 'cuda:N'"
        ) from None
    if resolved.type == "cpu":
        return resolved
    if resolved.type != "cuda":
        raise BadInputError(
            f"device {device!r} is not supported; use 'cpu', 'cuda' or 'cuda:N'"
        )
    if not torch.cuda.is_available():
        raise BadInputError(
            f"device {device!r} was requested but CUDA is not available "
            f"(torch {torch.__version__}, torch.cuda.is_available() is False); "
            "use device 'cpu' or install a CUDA build of torch on a machine with "
            "an NVIDIA GPU"
        )
    count = torch.cuda.device_count()
    if resolved.index is not None and resolved.index >= count:
        raise BadInputError(
            f"device {device!r} does not exist: this machine has {count} CUDA "
            f"device(s), numbered 0 to {count - 1}"
        )
    return resolved


def chunk_steps(spec: NetworkSpec) -> int:
    """Return the number of steps whose input spikes are drawn at once."""
    expected = sum(
        sum(inp.rates()) * spec.simulation.dt if isinstance(inp, PoissonInput) else 0.0
        for inp in spec.inputs
    )
    if expected <= 0:
        return _CHUNK_STEPS
    by_budget = int(_INPUT_SPIKES_PER_CHUNK / expected)
    return max(_MIN_CHUNK_STEPS, min(_CHUNK_STEPS, by_budget))
