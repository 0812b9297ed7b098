"""Lava processes and process models that the worker adds to lava-nc 0.10.

- :class:`EventSource` plays a precomputed list of input spikes, one step at a
  time (lava-nc's ``RingBuffer`` would need a dense steps-by-neurons array).
- :class:`SpikeCounter` counts the spikes of a LIF population, so the host
  reads counts per record interval instead of probing every step.
- The two ``Bounded*`` models subclass lava-nc's ``LearningDense`` models and
  clip every weight to per-synapse bounds after each learning epoch.
  lava-nc's floating-point model never clips and its fixed-point model only
  saturates at the 8-bit range, so without them a spec's ``w_min`` and
  ``w_max`` would be lost.
- :class:`CheckedLIF` and its model subclass lava-nc's bit-accurate LIF and
  count the steps where the 24-bit synaptic current wraps around, so the
  worker can stop with an error instead of returning wrong dynamics.

Runs under ``.venv-lava`` only; imports lava.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.dense.models import (
    PyLearningDenseModelBitApproximate,
    PyLearningDenseModelFloat,
)
from lava.proc.lif.models import PyLifModelBitAcc
from lava.proc.lif.process import LIF


class EventSource(AbstractProcess):
    """Emits prescribed spikes: in Lava step ``t`` the neurons listed for ``t``.

    Parameters
    ----------
    size : int
        Number of output neurons.
    steps : ndarray of int, shape (E,)
        Lava time step (1-based) of each spike, sorted ascending.
    neurons : ndarray of int, shape (E,)
        Output neuron of each spike.
    """

    def __init__(self, *, size: int, steps: np.ndarray, neurons: np.ndarray) -> None:
        steps = np.asarray(steps, dtype=np.int64)
        neurons = np.asarray(neurons, dtype=np.int64)
        boundaries = np.searchsorted(steps, np.arange(int(steps.max(initial=0)) + 2))
        super().__init__(size=size, boundaries=boundaries, neurons=neurons)
        self.s_out = OutPort(shape=(size,))
        self.counts = Var(shape=(size,), init=0)


class _EventSourceModel(PyLoihiProcessModel):
    s_out = None
    counts = None

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self._size = proc_params["size"]
        self._boundaries = proc_params["boundaries"]
        self._neurons = proc_params["neurons"]

    def run_spk(self) -> None:
        spikes = np.zeros(self._size, dtype=self._dtype)
        t = self.time_step
        if t + 1 < self._boundaries.size:
            chosen = self._neurons[self._boundaries[t] : self._boundaries[t + 1]]
            spikes[chosen] = 1
            self.counts[chosen] += 1
        self.s_out.send(spikes)


@implements(proc=EventSource, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyEventSourceFloat(_EventSourceModel):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    counts: np.ndarray = LavaPyType(np.ndarray, np.int64)
    _dtype = float


@implements(proc=EventSource, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyEventSourceFixed(_EventSourceModel):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    counts: np.ndarray = LavaPyType(np.ndarray, np.int64)
    _dtype = np.int32


class SpikeCounter(AbstractProcess):
    """Accumulates the spikes arriving at ``s_in`` per neuron in ``counts``."""

    def __init__(self, *, size: int) -> None:
        super().__init__(size=size)
        self.s_in = InPort(shape=(size,))
        self.counts = Var(shape=(size,), init=0)


@implements(proc=SpikeCounter, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySpikeCounterFloat(PyLoihiProcessModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    counts: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def run_spk(self) -> None:
        self.counts += self.s_in.recv() != 0


@implements(proc=SpikeCounter, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySpikeCounterFixed(PyLoihiProcessModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    counts: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def run_spk(self) -> None:
        self.counts += self.s_in.recv() != 0


def _clip_to_bounds(model: PyLoihiProcessModel, weights: np.ndarray) -> np.ndarray:
    """Clip ``weights`` to the ``weight_low`` and ``weight_high`` proc params."""
    low = model.proc_params.get("weight_low")
    high = model.proc_params.get("weight_high")
    if low is None or high is None:
        return weights
    return np.clip(weights, low, high).astype(weights.dtype, copy=False)


class BoundedLearningDenseFloat(PyLearningDenseModelFloat):
    """lava-nc's floating-point LearningDense model, plus per-synapse weight bounds."""

    def _saturate_synaptic_variable(self, name: str, values: np.ndarray) -> np.ndarray:
        values = super()._saturate_synaptic_variable(name, values)
        if name == "weights":
            values = _clip_to_bounds(self, values)
        return values


class BoundedLearningDenseFixed(PyLearningDenseModelBitApproximate):
    """lava-nc's bit-approximate LearningDense model, plus per-synapse weight bounds.

    The bounds are integers in the 8-bit weight range, applied after lava-nc's
    own saturation.
    """

    def _saturate_synaptic_variable(self, name: str, values: np.ndarray) -> np.ndarray:
        values = super()._saturate_synaptic_variable(name, values)
        if name == "weights":
            values = _clip_to_bounds(self, values)
        return values


class CheckedLIF(LIF):
    """lava-nc's LIF plus ``overflows``: per neuron, the steps in which ``u`` wrapped.

    Only a fixed-point model exists (:class:`CheckedLifModelFixed`); the
    worker uses this process in ``fixed_pt`` runs.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.overflows = Var(shape=kwargs["shape"], init=0)


@implements(proc=CheckedLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class CheckedLifModelFixed(PyLifModelBitAcc):
    """lava-nc's bit-accurate LIF model, counting the steps where ``u`` wraps.

    When the decayed current plus the shifted synaptic input leaves the
    signed 24-bit range, lava-nc 0.10 wraps ``u`` modulo ``2**24``, so a large
    excitatory current turns into a large inhibitory one. This model computes
    the same sum first and counts the wraps per neuron; the worker stops the
    run with an error when any occurred. (Raising inside a process model
    leaves lava-nc's runtime waiting forever.)
    """

    # lava-nc's implements decorator rejects a model whose parent implements
    # another process; clearing the inherited value lets it bind CheckedLIF.
    implements_process = None
    overflows: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def subthr_dynamics(self, activation_in: np.ndarray) -> None:
        factor = self.decay_unity - self.du - self.ds_offset
        product = np.asarray(self.u, dtype=np.int64) * factor
        decayed = np.sign(product) * (np.abs(product) >> self.decay_shift)
        total = decayed + (np.asarray(activation_in, dtype=np.int64) << self.act_shift)
        self.overflows += (total > self.max_uv_val) | (total <= -self.max_uv_val)
        super().subthr_dynamics(activation_in)
