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
``"event"`` (default, :mod:`~biosynapse_verify.simulate.torch_event`)
advances whole windows between LIF spikes with closed-form updates;
``"clock"`` (:mod:`~biosynapse_verify.simulate.torch_clock`) runs the steps
above one by one. Both implement the same model and agree up to rounding.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from biosynapse_verify.simulate.base import (
    ProgressCallback,
    RunPlan,
    SimulationResult,
    prepare_run,
)
from biosynapse_verify.simulate.inputs import make_source
from biosynapse_verify.simulate.recording import Recorder
from biosynapse_verify.simulate.torch_clock import ClockEngine
from biosynapse_verify.simulate.torch_event import EventEngine
from biosynapse_verify.simulate.torch_network import Network
from biosynapse_verify.spec.schema import NetworkSpec, PoissonInput

__all__ = ["TorchBackend"]

logger = logging.getLogger(__name__)

ENGINES = ("event", "clock")
# Input spikes are drawn for chunks of steps. The chunk length depends only on
# the spec (never on the batch), so a seed draws the same spikes alone or in a
# batch. The budget bounds the expected input spikes per seed and chunk.
_CHUNK_STEPS = 4096
_MIN_CHUNK_STEPS = 64
_INPUT_SPIKES_PER_CHUNK = 2**20


class TorchBackend:
    """Simulate a network with PyTorch, all seeds in one batch.

    Parameters
    ----------
    device : str or torch.device, default "cpu"
        Where the tensors live, for example ``"cuda"``. A CUDA generator
        draws different Poisson spikes than the CPU one for the same seed.
    dtype : torch.dtype, default torch.float64
        Floating-point type of weights, traces and membrane state.
    engine : {"event", "clock"}, default "event"
        Event-driven windows between spikes, or one pass per step.
    threads : int or None, default 1
        CPU threads torch may use during :meth:`run`; the previous setting is
        restored afterwards. The engines issue many small tensor operations,
        for which extra threads mostly add synchronisation (on a loaded
        2-core machine, 2 threads ran song2000 seven times slower than 1).
        ``None`` keeps torch's setting.
    """

    name = "torch"

    def __init__(
        self,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float64,
        engine: str = "event",
        threads: int | None = 1,
    ) -> None:
        if engine not in ENGINES:
            raise ValueError(
                f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}"
            )
        if dtype not in (torch.float64, torch.float32):
            raise ValueError(
                f"dtype must be torch.float64 or torch.float32, got {dtype}"
            )
        # NOTE: the CUDA path is untested, because its tests skip without a GPU.
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                "device 'cuda' was requested but torch.cuda.is_available() is False; "
                "use device='cpu' or install a CUDA build of torch"
            )
        if threads is not None and threads < 1:
            raise ValueError(
                f"threads must be a positive integer or None, got {threads}"
            )
        self.dtype = dtype
        self.engine = engine
        self.threads = threads

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
            if self.engine == "event":
                engine = EventEngine(network, sources, recorder, plan.dt, self.dtype)
            else:
                engine = ClockEngine(network, sources, recorder)
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
                engine.run_chunk(start, min(start + chunk, plan.steps))
                if progress is not None:
                    progress(min(start + chunk, plan.steps) / plan.steps)
            wall_time = time.perf_counter() - started
        if isinstance(engine, EventEngine):
            logger.debug("%d windows for %d steps", engine.windows, plan.steps)
        logger.info("simulated %s in %.2f s wall time", spec.name, wall_time)
        return recorder.result(self.name, wall_time)


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
