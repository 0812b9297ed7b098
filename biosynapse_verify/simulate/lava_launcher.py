"""The Lava backend: translate a spec to Lava units, run a worker, read its results.

lava-nc 0.10 needs Python 3.10 and numpy < 2, so it lives in its own
environment, ``.venv-lava`` at the repository root, created by
``scripts/setup_lava.sh``. This module never imports Lava. It translates the
spec into Lava's units and bit widths (:func:`map_spec`), writes a job file,
runs ``lava_worker/worker.py`` under that environment's interpreter, and
turns the worker's output into a :class:`SimulationResult`.

How a spec maps onto Lava
-------------------------
Lava's LIF is current-based and discretised as ``u <- u (1 - du) + a_in`` then
``v <- v (1 - dv) + u + bias``, spiking when ``v > vth`` and resetting ``v``
(not ``u``) to 0. With ``du = 1 - exp(-dt / tau_syn)`` and
``dv = 1 - exp(-dt / tau_m)``, this is the torch backend's current-based
update step for step: ``u`` is ``dv * D * g`` in voltage units, with ``D`` the
driving force; Lava's ``v = 0`` is ``v_reset``; ``bias = dv * (v_rest +
i_bias - v_reset)``. In ``fixed_pt`` ``du`` and ``dv`` are 12-bit integers
(4096 is full decay; lava-nc adds 1 to ``du``), ``u`` and ``v`` are 24-bit,
``vth`` is 17-bit and shifted left by 6, synaptic input is shifted left by 6,
and the bias is a 13-bit mantissa times ``2**bias_exp`` with ``bias_exp`` in
0..7.

- Conductance-based synapses have no Lava equivalent. They run with the
  driving force frozen at ``driving_force_potential`` (default: midway between
  ``v_reset`` and ``v_threshold``), that is as the current-based model of
  :func:`current_based_equivalent`; the mapping report says so.
- Lava's Dense delivers a spike one step after its source emits it, while the
  torch model delivers input spikes in the step they occur. The worker's
  source therefore emits the spikes of step ``n`` in Lava step ``n + 1`` and
  the LIF integrates step ``n`` in Lava step ``n + 2``; Lava step 1 is an
  extra step whose only effect on ``v`` the initial potential undoes. The
  learning engine then sees input spikes one step early, which the trace
  impulses undo exactly (``exp(+dt/tau_plus)`` and ``exp(-dt/tau_minus)``),
  except for one case: a post spike exactly one step before an input spike
  falls into one Lava step, where lava-nc applies potentiation as well as the
  depression that the torch model applies alone.
- Weights are ``W = k w`` with ``k`` chosen per projection; a plastic
  projection's ``w_max`` maps to 255, the top of Loihi's 8-bit weight range.
  Spec bounds are applied by clipping after every learning epoch
  (:mod:`~biosynapse_verify.simulate.lava_worker.processes`).
- In ``fixed_pt``, lava-nc wraps the 24-bit synaptic current ``u`` around
  when coincident inputs overflow it, which flips its sign. The worker
  counts such steps and the run fails with :class:`LavaRangeError`.
  :mod:`~biosynapse_verify.simulate.lava_error_model` bounds how far
  ``fixed_pt`` STDP drifts from ``floating_pt``.
- STDP runs on ``LearningDense`` with one-step epochs. Additive STDP uses
  ``STDPLoihi`` (with ``scaling="stdploihi"``) or an equivalent rule string;
  multiplicative STDP and the power law with ``mu = 1`` use rule strings with
  the weight as a factor. The power law with ``0 < mu < 1`` needs a fractional
  power, which the learning engine cannot express.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from biosynapse_verify.simulate.base import (
    ProgressCallback,
    RunPlan,
    SimulationResult,
    prepare_run,
)
from biosynapse_verify.spec.schema import LIFPopulation, NetworkSpec, Projection

__all__ = [
    "LAVA_SETUP_COMMAND",
    "LavaBackend",
    "LavaMapping",
    "LavaUnavailableError",
    "LavaWorkerError",
    "RealisedParameter",
    "current_based_equivalent",
    "float_to_literal",
    "lava_python",
    "map_spec",
]

logger = logging.getLogger(__name__)

RunConfig = Literal["floating_pt", "fixed_pt"]
Scaling = Literal["preserve", "stdploihi"]

REPO_ROOT = Path(__file__).resolve().parents[2]
LAVA_VENV_ENV = "BIOSYNAPSE_LAVA_VENV"
LAVA_SETUP_COMMAND = "make setup (or: bash scripts/setup_lava.sh)"
WORKER_SCRIPT = Path(__file__).resolve().parent / "lava_worker" / "worker.py"
# Seconds between checks of a running worker's stderr and clock.
WORKER_POLL_INTERVAL = 1.0
# Seconds a traceback may stay on the worker's stderr without a progress line
# before the worker counts as hung. A worker that raises in its own code exits
# at once; this limit only catches lava-nc runtimes left waiting.
WORKER_ERROR_GRACE = 60.0

# Loihi bit widths as lava-nc 0.10's process models declare them.
WEIGHT_TOP = 255  # 8-bit weight magnitude
TRACE_TOP = 127  # 7-bit traces
DECAY_UNITY = 4096  # 12-bit du, dv
VTH_MAX = 2**17 - 1  # 17-bit threshold, shifted left by 6
UV_LIMIT = 2**23 - 1  # 24-bit u and v
BIAS_MANT_MAX = 4095  # 13-bit signed bias mantissa
BIAS_EXP_MAX = 7  # 3-bit bias exponent
LEARNING_MANT_MAX = 7  # learning-rule mantissa in [-8, 7]
LEARNING_EXP_RANGE = (-7, 8)  # learning-rule exponent
TRACE_TAU_MAX_STEPS = 255  # 8-bit trace time constant field
# Fixed point: trace impulses are at most 32, so a 7-bit trace saturates only
# after about four spikes within one time constant (127 / 32).
FIXED_IMPULSE_MAX = 32
# Synapse mask value of the tag ``t`` in fixed point: with it the right shift
# lava-nc applies to a product of x1 or y1 with t (7 + 9 + 4 bits > 15) loses
# no bits.
FIXED_MASK = 128
# Voltage headroom: the threshold may use at most this share of the 24-bit
# range, leaving room for excursions below reset and for large inputs.
VOLTAGE_HEADROOM = 0.25
# A realised ratio that differs from the requested one by more than this
# relative amount is reported as changed (well above float64 rounding).
RATIO_TOLERANCE = 1e-9
STDPLOIHI_IMPULSE = 16  # lava-nc's default x1_impulse and y1_impulse
# Start of the worker's message when the 24-bit current u would wrap
# (lava_worker/worker.py defines the same text).
OVERFLOW_MARKER = "fixed-point overflow:"


class LavaUnavailableError(RuntimeError):
    """The Lava environment is missing or broken; the message names the set-up command."""


class LavaWorkerError(RuntimeError):
    """The Lava worker process failed; the message carries its stderr."""


# --------------------------------------------------------------------------
# Environment


def lava_python(venv: str | Path | None = None) -> Path:
    """Return the Python 3.10 interpreter of the Lava environment.

    Parameters
    ----------
    venv : path, optional
        The environment folder; defaults to ``$BIOSYNAPSE_LAVA_VENV`` or
        ``.venv-lava`` at the repository root.

    Raises
    ------
    LavaUnavailableError
        If the folder has no interpreter or lava-nc was never installed.
    """
    folder = Path(venv or os.environ.get(LAVA_VENV_ENV) or REPO_ROOT / ".venv-lava")
    python = folder / "bin" / "python"
    if not python.exists():
        raise LavaUnavailableError(
            f"the Lava environment {folder} is missing (no {python}); create it "
            f"with: {LAVA_SETUP_COMMAND}"
        )
    if not any(folder.glob("lib/python3.10/site-packages/lava")):
        raise LavaUnavailableError(
            f"the Lava environment {folder} has no lava-nc for Python 3.10; "
            f"delete it and run: {LAVA_SETUP_COMMAND}"
        )
    return python


# --------------------------------------------------------------------------
# lava-nc's parameter rounding


def float_to_literal(value: float) -> tuple[int, int]:
    """Round ``value`` the way lava-nc 0.10's ``float_to_literal`` does.

    STDPLoihi writes each amplitude as ``mantissa * 2**exponent`` with
    ``mantissa = max(int(|value|), 1)`` and the exponent the nearest integer
    to ``log2(|value| / mantissa)``.

    Returns
    -------
    (mantissa, exponent) : tuple of int
        Signed mantissa and exponent; ``(0, 0)`` for zero.
    """
    if value == 0:
        return 0, 0
    sign = 1 if value > 0 else -1
    magnitude = abs(value)
    mantissa = max(int(magnitude), 1)
    remainder = magnitude / mantissa
    if remainder == 1:
        return sign * mantissa, 0
    return sign * mantissa, int(np.round(np.log2(remainder)))


def _literal_text(mantissa: int, exponent: int) -> str:
    """Format a literal as lava-nc's ``float_to_literal`` does."""
    if exponent == 0 and mantissa != 0:
        return f"({mantissa})"
    return f"({mantissa}) * 2 ^ {exponent}"


# --------------------------------------------------------------------------
# Mapping records


@dataclass(frozen=True)
class RealisedParameter:
    """One spec parameter, as requested and as Lava realises it.

    Attributes
    ----------
    name : str
        ``"<spec element>.<parameter>"``, for example ``"feedforward.a_minus/a_plus"``.
    requested, realised : float
        In the spec's SI units (seconds, volts, weight units).
    note : str
        How the value is represented in Lava.
    """

    name: str
    requested: float
    realised: float
    note: str = ""

    @property
    def relative_change(self) -> float:
        if self.requested == 0:
            return 0.0 if self.realised == 0 else math.inf
        return (self.realised - self.requested) / abs(self.requested)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "requested": self.requested,
            "realised": self.realised,
            "relative_change": self.relative_change,
            "note": self.note,
        }


@dataclass
class PopulationMapping:
    """One LIF population in Lava units (float values in ``floating_pt``)."""

    name: str
    size: int
    du: float
    dv: float
    vth: float
    bias_mant: float
    bias_exp: int
    refractory_steps: int
    voltage_scale: float  # Lava v units per volt (raw 24-bit units in fixed_pt)
    driving_force: dict[str, float]  # receptor -> volts
    parameters: list[RealisedParameter] = field(default_factory=list)


@dataclass
class ProjectionMapping:
    """One projection in Lava units."""

    name: str
    source: str
    target: str
    source_is_input: bool
    excitatory: bool
    weight_scale: float  # Lava weight units per spec weight unit
    weight_exp: int
    low: float  # weight bounds in Lava units (plastic only)
    high: float
    rule: dict[str, Any] | None
    parameters: list[RealisedParameter] = field(default_factory=list)


@dataclass
class LavaMapping:
    """How a spec runs on Lava, with every requested and realised parameter."""

    run_config: str
    scaling: str
    populations: dict[str, PopulationMapping]
    projections: dict[str, ProjectionMapping]
    approximations: list[str]
    warnings: list[str]

    def parameters(self) -> list[RealisedParameter]:
        items: list[RealisedParameter] = []
        for pop in self.populations.values():
            items.extend(pop.parameters)
        for proj in self.projections.values():
            items.extend(proj.parameters)
        return items

    def report(self) -> dict[str, Any]:
        """Return the mapping as a JSON-able dict."""
        return {
            "run_config": self.run_config,
            "scaling": self.scaling,
            "parameters": [p.as_dict() for p in self.parameters()],
            "approximations": list(self.approximations),
            "warnings": list(self.warnings),
            "rules": {
                name: proj.rule["dw"] for name, proj in self.projections.items() if proj.rule
            },
        }


# --------------------------------------------------------------------------
# Spec checks


def _unsupported(feature: str, why: str) -> NotImplementedError:
    return NotImplementedError(f"the Lava backend cannot run {feature}: {why}")


def check_supported(spec: NetworkSpec, run_config: RunConfig) -> None:
    """Raise NotImplementedError naming the first spec feature Lava cannot run."""
    if run_config not in ("floating_pt", "fixed_pt"):
        raise ValueError(
            f"run_config must be 'floating_pt' or 'fixed_pt', got {run_config!r}"
        )
    for index, pop in enumerate(spec.populations):
        where = f"populations.{index} ({pop.name})"
        if pop.refractory > 0 and run_config == "fixed_pt":
            raise _unsupported(
                f"{where}.refractory = {pop.refractory} s in fixed_pt",
                "lava-nc 0.10 has a refractory LIF (LIFRefractory) only in "
                "floating_pt; use run_config='floating_pt' or refractory: 0 ms",
            )
        receptors = {p.receptor for p in spec.projections if p.target == pop.name}
        if receptors == {"excitatory", "inhibitory"} and pop.tau_syn_exc != pop.tau_syn_inh:
            raise _unsupported(
                f"{where} with tau_syn_exc = {pop.tau_syn_exc} s and tau_syn_inh = "
                f"{pop.tau_syn_inh} s",
                "Lava's LIF has one synaptic current u with one decay du; give both "
                "receptors the same tau_syn",
            )
    for index, proj in enumerate(spec.projections):
        plasticity = proj.plasticity
        if plasticity is None:
            continue
        where = f"projections.{index} ({proj.name})"
        if proj.receptor == "inhibitory":
            raise _unsupported(
                f"{where}: plasticity on an inhibitory projection",
                "the mapping keeps plastic weights non-negative (excitatory sign "
                "mode); make the projection static or excitatory",
            )
        if plasticity.rule == "power_law" and plasticity.mu not in (0.0, 1.0):
            raise _unsupported(
                f"{where}.plasticity: power_law with mu = {plasticity.mu}",
                "Loihi's learning engine multiplies traces, weights and constants "
                "but has no fractional powers, so only mu = 0 (additive) and mu = 1 "
                "(linear soft bounds) can be expressed",
            )


def _driving_potential(pop: LIFPopulation, override: float | None) -> float:
    if pop.synapse == "current":
        return pop.v_rest
    if override is not None:
        return override
    return 0.5 * (pop.v_reset + pop.v_threshold)


def current_based_equivalent(
    spec: NetworkSpec, driving_force_potential: float | None = None
) -> NetworkSpec:
    """Return the current-based spec that the Lava backend actually runs.

    A conductance-based population with driving force frozen at ``v_f`` gets
    ``e_exc - v_f`` per unit conductance; the current-based model gets
    ``e_exc - v_rest``. So the equivalent spec sets ``synapse: current`` and
    shifts both reversal potentials by ``v_rest - v_f``. Running it on the
    torch backend separates Lava's arithmetic from the frozen driving force.
    """
    populations = []
    for pop in spec.populations:
        if pop.synapse == "current":
            populations.append(pop)
            continue
        shift = pop.v_rest - _driving_potential(pop, driving_force_potential)
        populations.append(
            pop.model_copy(
                update={
                    "synapse": "current",
                    "e_exc": pop.e_exc + shift,
                    "e_inh": pop.e_inh + shift,
                }
            )
        )
    return spec.model_copy(update={"populations": populations})


class LavaRangeError(ValueError):
    """A spec value that does not fit Loihi's fixed-point ranges."""


# --------------------------------------------------------------------------
# Neurons


def _receptor_taus(spec: NetworkSpec, pop: LIFPopulation) -> float:
    receptors = {p.receptor for p in spec.projections if p.target == pop.name}
    return pop.tau_syn_inh if receptors == {"inhibitory"} else pop.tau_syn_exc


def _driving_forces(pop: LIFPopulation, v_drive: float) -> dict[str, float]:
    return {"excitatory": pop.e_exc - v_drive, "inhibitory": pop.e_inh - v_drive}


def _reference_projection(spec: NetworkSpec, pop: LIFPopulation) -> Projection:
    onto = [p for p in spec.projections if p.target == pop.name]
    plastic = [p for p in onto if p.plasticity is not None]
    return (plastic or onto)[0]


def _decays(pop: LIFPopulation, tau_syn: float, dt: float, run_config: RunConfig):
    """Return (du, dv) as Lava takes them and (du, dv) as fractions of full decay."""
    du = 1.0 - math.exp(-dt / tau_syn)
    dv = 1.0 - math.exp(-dt / pop.tau_m)
    if run_config == "floating_pt":
        return (du, dv), (du, dv)
    dv_int = int(round(dv * DECAY_UNITY))
    du_int = int(round(du * DECAY_UNITY)) - 1  # lava-nc adds 1 to du
    if dv_int < 1:
        raise LavaRangeError(
            f"population {pop.name!r}: tau_m / dt = {pop.tau_m / dt:g} steps is too "
            "long for fixed_pt, where the 12-bit dv rounds to 0; use floating_pt or a "
            "larger dt"
        )
    du_int = min(max(du_int, 0), DECAY_UNITY - 1)
    dv_int = min(dv_int, DECAY_UNITY - 1)
    return (du_int, dv_int), ((du_int + 1) / DECAY_UNITY, dv_int / DECAY_UNITY)


def _fixed_voltage_scale(
    pop: LIFPopulation, k_ref: float, dv: float, force: float
) -> tuple[float, int]:
    """Choose the reference weight exponent and raw voltage units per volt.

    Tries weight exponents 0, -1, ..., -8 (each halves the synaptic input)
    until threshold, bias and resting potential fit their bit widths.
    """
    rest_offset = pop.v_rest + pop.i_bias - pop.v_reset
    for weight_exp in range(0, -9, -1):
        scale = 64 * 2.0**weight_exp * k_ref / (dv * force)
        threshold = (pop.v_threshold - pop.v_reset) * scale
        bias = dv * rest_offset * scale
        fits = (
            threshold / 64 <= VTH_MAX
            and threshold <= VOLTAGE_HEADROOM * UV_LIMIT
            and abs(rest_offset * scale) <= VOLTAGE_HEADROOM * UV_LIMIT
            and abs(bias) <= BIAS_MANT_MAX * 2**BIAS_EXP_MAX
        )
        if fits:
            return scale, weight_exp
    raise LavaRangeError(
        f"population {pop.name!r}: v_threshold - v_reset = "
        f"{pop.v_threshold - pop.v_reset:g} V and v_rest + i_bias - v_reset = "
        f"{rest_offset:g} V are too large relative to one synaptic input "
        f"(w_max * dv * driving force = {dv * force / k_ref * WEIGHT_TOP:g} V) for "
        "fixed_pt: even with weight_exp = -8 they overflow the 17-bit threshold, the "
        "13-bit bias mantissa or the 24-bit membrane potential; use floating_pt or "
        "larger weights"
    )


def _bias_literal(bias: float) -> tuple[int, int]:
    for exponent in range(BIAS_EXP_MAX + 1):
        mantissa = int(round(bias / 2**exponent))
        if abs(mantissa) <= BIAS_MANT_MAX:
            return mantissa, exponent
    raise LavaRangeError(f"bias {bias:g} does not fit a 13-bit mantissa and 3-bit exponent")


def _map_population(
    spec: NetworkSpec,
    pop: LIFPopulation,
    run_config: RunConfig,
    v_drive: float,
) -> tuple[PopulationMapping, dict[str, tuple[float, int]]]:
    """Map one population; also return (weight scale, weight_exp) per projection onto it."""
    dt = spec.simulation.dt
    tau_syn = _receptor_taus(spec, pop)
    (du, dv), (du_frac, dv_frac) = _decays(pop, tau_syn, dt, run_config)
    forces = _driving_forces(pop, v_drive)
    reference = _reference_projection(spec, pop)
    force_ref = forces[reference.receptor]
    if reference.receptor == "excitatory" and force_ref <= 0:
        raise ValueError(
            f"population {pop.name!r}: e_exc = {pop.e_exc} V is not above the driving "
            f"potential {v_drive} V, so excitatory input would hyperpolarise"
        )
    k_ref = WEIGHT_TOP / reference.w_max
    rest_offset = pop.v_rest + pop.i_bias - pop.v_reset
    fixed = run_config == "fixed_pt"
    if fixed:
        scale, weight_exp_ref = _fixed_voltage_scale(pop, k_ref, dv_frac, abs(force_ref))
        vth = int(round((pop.v_threshold - pop.v_reset) * scale / 64))
        bias_mant, bias_exp = _bias_literal(dv_frac * rest_offset * scale)
        realised_threshold = pop.v_reset + vth * 64 / scale
        realised_rest = pop.v_reset + bias_mant * 2.0**bias_exp / (dv_frac * scale) - pop.i_bias
        input_unit = 64
    else:
        scale, weight_exp_ref = k_ref / (dv_frac * abs(force_ref)), 0
        vth = (pop.v_threshold - pop.v_reset) * scale
        bias_mant, bias_exp = dv_frac * rest_offset * scale, 0
        realised_threshold, realised_rest = pop.v_threshold, pop.v_rest
        input_unit = 1

    scales: dict[str, tuple[float, int]] = {}
    for proj in (p for p in spec.projections if p.target == pop.name):
        per_weight = dv_frac * abs(forces[proj.receptor]) * scale / input_unit
        if proj.name == reference.name:
            scales[proj.name] = (k_ref, weight_exp_ref)
        elif fixed:
            weight_exp = math.ceil(math.log2(per_weight * proj.w_max / WEIGHT_TOP))
            scales[proj.name] = (per_weight / 2.0**weight_exp, weight_exp)
        else:
            scales[proj.name] = (per_weight, 0)

    tau_m_real = -dt / math.log(1.0 - dv_frac)
    tau_syn_real = -dt / math.log(1.0 - du_frac) if du_frac < 1 else 0.0
    parameters = [
        RealisedParameter(f"{pop.name}.tau_m", pop.tau_m, tau_m_real, f"dv = {dv}"),
        RealisedParameter(f"{pop.name}.tau_syn", tau_syn, tau_syn_real, f"du = {du}"),
        RealisedParameter(
            f"{pop.name}.v_threshold", pop.v_threshold, realised_threshold, f"vth = {vth}"
        ),
        RealisedParameter(
            f"{pop.name}.v_rest",
            pop.v_rest,
            realised_rest,
            f"bias = {bias_mant} * 2**{bias_exp}",
        ),
    ]
    if pop.synapse == "conductance":
        parameters.append(
            RealisedParameter(
                f"{pop.name}.driving_force_exc",
                math.nan,
                forces["excitatory"],
                f"conductance-based synapses run with v frozen at {v_drive:g} V",
            )
        )
    mapping = PopulationMapping(
        name=pop.name,
        size=pop.size,
        du=du,
        dv=dv,
        vth=vth,
        bias_mant=bias_mant,
        bias_exp=bias_exp,
        refractory_steps=int(round(pop.refractory / dt)),
        voltage_scale=scale,
        driving_force=forces,
        parameters=parameters,
    )
    return mapping, scales


# --------------------------------------------------------------------------
# Learning rules


@dataclass(frozen=True)
class _Product:
    """One product of a learning rule, ``coefficient * trace [* (w + const)]``.

    ``coefficient`` is the requested weight change in Lava weight units per
    unit of the spec's trace (times one Lava weight unit when weighted).
    """

    dependency: str  # "y0" (post spike) or "x0" (pre spike)
    trace: str  # "x1" or "y1"
    weight_const: int | None  # None: no weight factor
    coefficient: float


def _rule_products(plasticity, k: float, w_max_lava: int, shift: bool, dt: float):
    """List the products that express the spec's rule in Lava weight units."""
    plus = math.exp(dt / plasticity.tau_plus) if shift else 1.0
    minus = math.exp(-dt / plasticity.tau_minus) if shift else 1.0
    eta = plasticity.eta
    w_max = w_max_lava / k
    rule = plasticity.rule
    if rule == "power_law" and plasticity.mu == 0.0:
        rule = "additive"
    if rule == "additive":
        potentiation = _Product("y0", "x1", None, k * eta * plasticity.a_plus * plus)
    else:
        potentiation = _Product("y0", "x1", None, k * eta * plasticity.a_plus * plus)
        if rule == "power_law":
            potentiation = _Product(
                "y0", "x1", -w_max_lava, -eta * plasticity.a_plus * plus / w_max
            )
    if rule == "additive":
        depression = _Product("x0", "y1", None, -k * eta * plasticity.a_minus * minus)
    else:
        depression = _Product("x0", "y1", 0, -eta * plasticity.a_minus * minus / w_max)
    return [potentiation, depression], {"x1": plus, "y1": minus}


def _gain(product: _Product, run_config: RunConfig) -> float:
    """Factor lava-nc's arithmetic applies on top of literal * trace [* w]."""
    if run_config == "floating_pt":
        return 1.0
    # (trace * t * m) >> r with t = 128: r = 5 without and r = 14 with w.
    return 4.0 if product.weight_const is None else 2.0**-7


def _best_fixed_literal(target: float) -> tuple[int, int, int]:
    """Find impulse, mantissa and exponent whose product is closest to ``target`` > 0."""
    best: tuple[float, int, int, int, int] | None = None
    for exponent in range(LEARNING_EXP_RANGE[0], LEARNING_EXP_RANGE[1] + 1):
        for mantissa in range(1, LEARNING_MANT_MAX + 1):
            impulse = int(round(target / (mantissa * 2.0**exponent)))
            if not 1 <= impulse <= FIXED_IMPULSE_MAX:
                continue
            error = abs(impulse * mantissa * 2.0**exponent / target - 1.0)
            key = (error, -impulse * mantissa, impulse, mantissa, exponent)
            if best is None or key < best:
                best = key
    if best is None:
        raise LavaRangeError(
            f"learning-rule coefficient {target:g} is outside what Loihi's learning "
            f"engine can represent (impulse <= {FIXED_IMPULSE_MAX}, mantissa <= "
            f"{LEARNING_MANT_MAX}, exponent in {LEARNING_EXP_RANGE})"
        )
    return best[2], best[3], best[4]


def _realise(product: _Product, run_config: RunConfig, scaling: Scaling):
    """Return (impulse, mantissa, exponent) of one product."""
    gain = _gain(product, run_config)
    magnitude = abs(product.coefficient)
    sign = 1 if product.coefficient > 0 else -1
    if scaling == "stdploihi":
        mantissa, exponent = float_to_literal(magnitude / STDPLOIHI_IMPULSE)
        exponent -= int(round(math.log2(gain)))
        if not (
            LEARNING_EXP_RANGE[0] <= exponent <= LEARNING_EXP_RANGE[1]
            and mantissa <= LEARNING_MANT_MAX
        ):
            raise LavaRangeError(
                f"STDPLoihi would write coefficient {magnitude / STDPLOIHI_IMPULSE:g} "
                f"as {mantissa} * 2^{exponent}, outside the learning engine's mantissa "
                f"<= {LEARNING_MANT_MAX} and exponent in {LEARNING_EXP_RANGE}; use "
                "scaling='preserve'"
            )
        return float(STDPLOIHI_IMPULSE), sign * mantissa, exponent
    if run_config == "floating_pt":
        return magnitude / gain, sign, 0
    impulse, mantissa, exponent = _best_fixed_literal(magnitude / gain)
    return float(impulse), sign * mantissa, exponent


def _product_text(product: _Product, mantissa: int, exponent: int, first: bool) -> str:
    sign = "-" if mantissa < 0 else ("" if first else "+")
    text = f"{sign}{abs(mantissa)}*2^{exponent}*{product.dependency}*{product.trace}"
    if product.weight_const is not None:
        const = product.weight_const
        text += "*w" if const == 0 else f"*(w{const:+d})"
    return text + "*t"


def _map_rule(
    proj: Projection,
    k: float,
    source_is_input: bool,
    dt: float,
    run_config: RunConfig,
    scaling: Scaling,
) -> tuple[dict[str, Any], dict[str, float]]:
    """Build the rule dict for the worker and the realised amplitudes A+, A-."""
    plasticity = proj.plasticity
    w_max_lava = int(round(k * proj.w_max))
    products, shifts = _rule_products(plasticity, k, w_max_lava, source_is_input, dt)
    impulses: dict[str, float] = {}
    texts, realised = [], {}
    for index, product in enumerate(products):
        impulse, mantissa, exponent = _realise(product, run_config, scaling)
        impulses[product.trace] = impulse
        texts.append(_product_text(product, mantissa, exponent, first=index == 0))
        value = abs(mantissa) * 2.0**exponent * _gain(product, run_config) * impulse
        realised[product.trace] = value / abs(product.coefficient)
    rule: dict[str, Any] = {
        "dw": "".join(texts),
        "x1_impulse": impulses["x1"],
        "x1_tau": plasticity.tau_plus / dt,
        "y1_impulse": impulses["y1"],
        "y1_tau": plasticity.tau_minus / dt,
        "mask_value": FIXED_MASK if run_config == "fixed_pt" else 1,
        "stdploihi": None,
    }
    additive = plasticity.rule == "additive" or plasticity.mu == 0.0
    if scaling == "stdploihi" and additive:
        rule["stdploihi"] = _stdploihi_arguments(products)
    amplitudes = {
        "a_plus": plasticity.a_plus * realised["x1"],
        "a_minus": plasticity.a_minus * realised["y1"],
    }
    return rule, amplitudes


def _stdploihi_arguments(products: list[_Product]) -> dict[str, Any]:
    """Arguments for lava-nc's STDPLoihi and the dw string it will build."""
    a_plus = products[0].coefficient / STDPLOIHI_IMPULSE
    a_minus = products[1].coefficient / STDPLOIHI_IMPULSE  # negative: depression
    rate = _literal_text(*float_to_literal(1.0))
    expected = (
        f"{rate} * {_literal_text(*float_to_literal(a_minus))} * x0 * y1 +"
        f"{rate} * {_literal_text(*float_to_literal(a_plus))} * y0 * x1"
    )
    return {
        "learning_rate": 1.0,
        "A_plus": a_plus,
        "A_minus": a_minus,
        "expected_dw": expected,
    }


def _map_projection(
    spec: NetworkSpec,
    proj: Projection,
    scales: dict[str, tuple[float, int]],
    run_config: RunConfig,
    scaling: Scaling,
    learning: bool,
) -> ProjectionMapping:
    k, weight_exp = scales[proj.name]
    dt = spec.simulation.dt
    source_is_input = spec.is_input(proj.source)
    fixed = run_config == "fixed_pt"
    low, high = k * proj.w_min, k * proj.w_max
    if fixed:
        low, high = float(round(low)), float(round(high))
    parameters = [
        RealisedParameter(f"{proj.name}.w_min", proj.w_min, low / k, f"{low:g} Lava units"),
        RealisedParameter(f"{proj.name}.w_max", proj.w_max, high / k, f"{high:g} Lava units"),
    ]
    if fixed:
        parameters.append(
            RealisedParameter(
                f"{proj.name}.weight_resolution", 0.0, 1.0 / k, "one 8-bit weight step"
            )
        )
    rule = None
    if learning and proj.plasticity is not None:
        rule, amplitudes = _map_rule(proj, k, source_is_input, dt, run_config, scaling)
        parameters.extend(_rule_parameters(proj, rule, amplitudes, dt, run_config))
    return ProjectionMapping(
        name=proj.name,
        source=proj.source,
        target=proj.target,
        source_is_input=source_is_input,
        excitatory=proj.receptor == "excitatory",
        weight_scale=k,
        weight_exp=weight_exp,
        low=low,
        high=high,
        rule=rule,
        parameters=parameters,
    )


def _rule_parameters(
    proj: Projection,
    rule: dict[str, Any],
    amplitudes: dict[str, float],
    dt: float,
    run_config: RunConfig,
) -> list[RealisedParameter]:
    plasticity = proj.plasticity
    name = proj.name
    items = [
        RealisedParameter(f"{name}.a_plus", plasticity.a_plus, amplitudes["a_plus"], rule["dw"]),
        RealisedParameter(f"{name}.a_minus", plasticity.a_minus, amplitudes["a_minus"]),
        RealisedParameter(
            f"{name}.a_minus/a_plus",
            plasticity.a_minus / plasticity.a_plus,
            amplitudes["a_minus"] / amplitudes["a_plus"],
            "sets the balance of depression and potentiation",
        ),
        RealisedParameter(
            f"{name}.tau_plus", plasticity.tau_plus, rule["x1_tau"] * dt,
            f"x1_tau = {rule['x1_tau']:g} steps, x1_impulse = {rule['x1_impulse']:g}",
        ),
        RealisedParameter(
            f"{name}.tau_minus", plasticity.tau_minus, rule["y1_tau"] * dt,
            f"y1_tau = {rule['y1_tau']:g} steps, y1_impulse = {rule['y1_impulse']:g}",
        ),
    ]
    if run_config == "fixed_pt":
        for trace in ("x1", "y1"):
            capacity = TRACE_TOP / rule[f"{trace}_impulse"]
            items.append(
                RealisedParameter(
                    f"{name}.{trace}_capacity", math.inf, capacity,
                    "spec trace value at which the 7-bit trace saturates",
                )
            )
    return items


def map_spec(
    spec: NetworkSpec,
    run_config: RunConfig = "floating_pt",
    scaling: Scaling = "preserve",
    driving_force_potential: float | None = None,
    learning: bool = True,
) -> LavaMapping:
    """Translate ``spec`` into Lava units and report what changes on the way.

    Parameters
    ----------
    spec : NetworkSpec
    run_config : {"floating_pt", "fixed_pt"}
        lava-nc's run configuration; ``fixed_pt`` uses Loihi's bit widths.
    scaling : {"preserve", "stdploihi"}
        ``"stdploihi"`` rounds each amplitude as lava-nc's STDPLoihi does
        (trace impulse 16, amplitude a power of two). ``"preserve"`` moves the
        amplitude into the trace impulse, which is exact in floating_pt and
        keeps amplitudes within about 1.5 % in fixed_pt (measured on song2000.yaml,
        where the smallest exponent, -7, limits the resolution).
    driving_force_potential : float, optional
        Membrane potential in volts at which conductance-based synapses are
        frozen; default midway between ``v_reset`` and ``v_threshold``.
    learning : bool, default True
        When False, plastic projections map to static ones.

    Raises
    ------
    NotImplementedError
        For a spec feature Lava cannot run; the message names it.
    LavaRangeError
        For values that overflow fixed-point ranges.
    """
    check_supported(spec, run_config)
    if scaling not in ("preserve", "stdploihi"):
        raise ValueError(f"scaling must be 'preserve' or 'stdploihi', got {scaling!r}")
    populations, scales, approximations = {}, {}, []
    for pop in spec.populations:
        v_drive = _driving_potential(pop, driving_force_potential)
        populations[pop.name], pop_scales = _map_population(spec, pop, run_config, v_drive)
        scales.update(pop_scales)
        if pop.synapse == "conductance":
            approximations.append(
                f"population {pop.name!r}: conductance-based synapses run with the "
                f"driving force frozen at v = {v_drive:g} V (Lava's LIF is "
                "current-based); compare against current_based_equivalent(spec)"
            )
    projections = {
        proj.name: _map_projection(spec, proj, scales, run_config, scaling, learning)
        for proj in spec.projections
    }
    if any(p.source_is_input and p.rule for p in projections.values()):
        approximations.append(
            "a post spike exactly one step before an input spike also potentiates "
            "on Lava (both fall into one learning epoch there)"
        )
    mapping = LavaMapping(run_config, scaling, populations, projections, approximations, [])
    mapping.warnings.extend(_ratio_warnings(spec, mapping, driving_force_potential, learning))
    for message in mapping.warnings:
        logger.warning(message)
    return mapping


def _ratio_warnings(
    spec: NetworkSpec,
    mapping: LavaMapping,
    driving_force_potential: float | None,
    learning: bool,
) -> list[str]:
    """Warn where A-/A+ changes, and offer the preserving scaling."""
    messages = []
    for param in mapping.parameters():
        if not param.name.endswith("a_minus/a_plus"):
            continue
        if abs(param.relative_change) <= RATIO_TOLERANCE:
            continue
        message = (
            f"{param.name} changes from {param.requested:.6g} to {param.realised:.6g} "
            f"({100 * param.relative_change:+.3g} %) in {mapping.run_config} with "
            f"scaling={mapping.scaling!r}"
        )
        if mapping.scaling != "preserve":
            offer = map_spec(
                spec, mapping.run_config, "preserve", driving_force_potential, learning
            )
            kept = next(p for p in offer.parameters() if p.name == param.name)
            message += (
                f"; scaling='preserve' realises {kept.realised:.6g} "
                f"({100 * kept.relative_change:+.3g} %)"
            )
        messages.append(message)
    return messages


# --------------------------------------------------------------------------
# Job files


def _input_events(spec: NetworkSpec, plan: RunPlan) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Draw every input's spikes with the torch backend's sources.

    Chunks follow the torch backend's chunk length, so both backends see the
    same input spikes for the same seeds. Returns Lava steps (step + 1) and
    neuron indices stacked seed by seed.
    """
    import torch

    from biosynapse_verify.simulate.inputs import make_source
    from biosynapse_verify.simulate.torch_backend import chunk_steps

    events = {}
    chunk = chunk_steps(spec)
    for inp in spec.inputs:
        source = make_source(inp, plan.seeds, plan.dt, torch.device("cpu"))
        steps, neurons = [], []
        for start in range(0, plan.steps, chunk):
            part = source.chunk(start, min(start + chunk, plan.steps))
            steps.append(part.step_numpy)
            neurons.append((part.batch * inp.size + part.neuron).cpu().numpy())
        step = np.concatenate(steps) + 1
        neuron = np.concatenate(neurons)
        order = np.argsort(step, kind="stable")
        events[inp.name] = (step[order], neuron[order])
    return events


def _initial_potentials(pop: LIFPopulation, seeds: list[int]) -> np.ndarray:
    # NOTE: reuses the torch backend's draw so both backends start from the
    # same membrane potentials; it is private there and may move.
    from biosynapse_verify.simulate.torch_network import _initial_potential

    return _initial_potential(pop, seeds)


def _lava_v_init(pop: LIFPopulation, mapping: PopulationMapping, seeds: list[int], fixed: bool):
    """Lava's v before its extra first step, so that after it v equals v_init."""
    volts = _initial_potentials(pop, seeds).ravel()
    v = (volts - pop.v_reset) * mapping.voltage_scale
    if fixed:
        decay = 1.0 - mapping.dv / DECAY_UNITY
        bias = mapping.bias_mant * 2.0**mapping.bias_exp
        return np.rint((v - bias) / decay).astype(np.int64)
    return (v - mapping.bias_mant) / (1.0 - mapping.dv)


def _projection_arrays(
    plan: RunPlan, mapping: ProjectionMapping, fixed: bool
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Block-diagonal weight matrix, mask and bounds of one projection."""
    structure = plan.structure.projections[mapping.name]
    batch, n_pre, n_post = plan.batch, structure.n_source, structure.n_target
    offsets = np.arange(batch)[:, None]
    rows = (offsets * n_post + structure.post[None, :]).ravel()
    cols = (offsets * n_pre + structure.pre[None, :]).ravel()
    sign = 1.0 if mapping.excitatory else -1.0
    values = sign * mapping.weight_scale * plan.weights[mapping.name].ravel()
    if fixed:
        values = np.rint(values)
    shape = (batch * n_post, batch * n_pre)
    weights = np.zeros(shape)
    weights[rows, cols] = values
    arrays = {
        f"weights/{mapping.name}": weights,
        f"rows/{mapping.name}": rows,
        f"cols/{mapping.name}": cols,
    }
    if mapping.rule is not None:
        mask = np.zeros(shape)
        mask[rows, cols] = 1.0
        arrays[f"mask/{mapping.name}"] = mask
        arrays[f"low/{mapping.name}"] = mask * mapping.low
        arrays[f"high/{mapping.name}"] = mask * mapping.high
    return arrays, values.reshape(batch, -1)


def write_job(
    folder: Path, plan: RunPlan, mapping: LavaMapping, rng_seed: int = 1
) -> dict[str, np.ndarray]:
    """Write ``job.json`` and ``arrays.npz`` into ``folder``.

    Returns the initial weights in Lava units per projection, shape (B, n_syn).
    """
    fixed = mapping.run_config == "fixed_pt"
    arrays: dict[str, np.ndarray] = {}
    for name, (step, neuron) in _input_events(plan.spec, plan).items():
        arrays[f"events_step/{name}"] = step
        arrays[f"events_neuron/{name}"] = neuron
    populations = []
    for pop in plan.spec.populations:
        pm = mapping.populations[pop.name]
        arrays[f"v_init/{pop.name}"] = _lava_v_init(pop, pm, plan.seeds, fixed)
        populations.append(
            {
                "name": pop.name,
                "size": plan.batch * pop.size,
                "du": pm.du,
                "dv": pm.dv,
                "vth": pm.vth,
                "bias_mant": pm.bias_mant,
                "bias_exp": pm.bias_exp,
                "refractory_steps": pm.refractory_steps,
            }
        )
    projections, initial = [], {}
    for name, pm in mapping.projections.items():
        proj_arrays, initial[name] = _projection_arrays(plan, pm, fixed)
        arrays.update(proj_arrays)
        projections.append(
            {
                "name": name,
                "source": pm.source,
                "target": pm.target,
                "excitatory": pm.excitatory,
                "weight_exp": pm.weight_exp,
                "rule": pm.rule,
            }
        )
    job = {
        "run_config": mapping.run_config,
        "rng_seed": rng_seed,
        "arrays": "arrays.npz",
        "results": "results.npz",
        "sources": [{"name": i.name, "size": plan.batch * i.size} for i in plan.spec.inputs],
        "populations": populations,
        "projections": projections,
        # Lava step r + 1 ends the LIF's step r - 1 (see the module docstring).
        "record_after_lava_steps": [int(s) + 1 for s in plan.record_steps[1:]],
    }
    (folder / "job.json").write_text(json.dumps(job, indent=1))
    with open(folder / "arrays.npz", "wb") as handle:
        np.savez(handle, **arrays)
    return initial


def _run_worker(
    python: Path, folder: Path, progress: ProgressCallback | None, timeout: float | None
) -> None:
    """Run the worker on the job in ``folder`` and wait for it.

    The worker runs in its own session so that Lava's runtime processes are
    killed with it. A process model that raises inside lava-nc 0.10 prints a
    traceback but leaves the runtime waiting for a message that never comes,
    so the worker does not exit. Once a traceback has been on stderr for
    WORKER_ERROR_GRACE seconds without further progress, the launcher kills
    the worker and raises its stderr.
    """
    command = [str(python), str(WORKER_SCRIPT), str(folder / "job.json")]
    logger.info("starting the Lava worker: %s", " ".join(command))
    stderr_path = folder / "worker.stderr"
    with open(stderr_path, "w") as stderr:
        process = subprocess.Popen(
            command,
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )
        try:
            failure = _follow_worker(process, stderr_path, progress, timeout)
        finally:
            if process.poll() is None:
                _kill_session(process)
        code = process.wait()
    text = stderr_path.read_text()
    if failure is not None:
        logger.error("Lava worker %d killed: %s", process.pid, failure)
        raise LavaWorkerError(f"the Lava worker {failure}; its stderr ends with:\n{text[-3000:]}")
    if code != 0:
        overflow = _overflow_message(text)
        if overflow is not None:
            raise LavaRangeError(overflow)
        raise LavaWorkerError(f"the Lava worker exited with status {code}:\n{text[-3000:]}")


def _follow_worker(
    process: subprocess.Popen,
    stderr_path: Path,
    progress: ProgressCallback | None,
    timeout: float | None,
) -> str | None:
    """Forward progress lines until the worker's stdout closes.

    Returns None when the worker closed its stdout (it exited), or the
    reason it must be killed: the timeout passed, or a traceback stayed on
    stderr for WORKER_ERROR_GRACE seconds.
    """
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(
        target=_queue_lines, args=(process.stdout, lines), daemon=True
    )
    reader.start()
    started = time.monotonic()
    traceback_seen: float | None = None
    while True:
        try:
            line = lines.get(timeout=WORKER_POLL_INTERVAL)
        except queue.Empty:
            line = ""
        if line is None:
            return None
        if line.startswith("progress "):
            traceback_seen = None
            if progress is not None:
                progress(float(line.split()[1]))
        now = time.monotonic()
        if timeout is not None and now - started > timeout:
            return f"timed out after {timeout:g} s"
        if traceback_seen is None and _has_traceback(stderr_path):
            traceback_seen = now
        if traceback_seen is not None and now - traceback_seen > WORKER_ERROR_GRACE:
            return (
                f"raised an exception and made no progress for {WORKER_ERROR_GRACE:g} s"
            )


def _queue_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _has_traceback(stderr_path: Path) -> bool:
    try:
        return "Traceback (most recent call last)" in stderr_path.read_text(errors="replace")
    except OSError:
        return False


def _kill_session(process: subprocess.Popen) -> None:
    """Kill the worker and every process of its session (Lava's runtime)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _overflow_message(stderr: str) -> str | None:
    """Return the worker's fixed-point overflow message, if it reported one."""
    for line in stderr.splitlines():
        start = line.find(OVERFLOW_MARKER)
        if start >= 0:
            return line[start:].strip()
    return None


# --------------------------------------------------------------------------
# Backend


def _assemble_result(
    plan: RunPlan,
    mapping: LavaMapping,
    initial: dict[str, np.ndarray],
    output: dict[str, np.ndarray],
    wall_time: float,
) -> SimulationResult:
    batch = plan.batch
    weights = {}
    for name, pm in mapping.projections.items():
        recorded = output[f"weights/{name}"].reshape(-1, batch, initial[name].shape[1])
        lava = np.concatenate([initial[name][:, None, :], recorded.transpose(1, 0, 2)], axis=1)
        sign = 1.0 if pm.excitatory else -1.0
        weights[name] = sign * lava / pm.weight_scale
    lengths = np.diff(plan.record_times)
    window_rates, spike_counts = {}, {}
    for pop in plan.spec.populations:
        cumulative = output[f"counts/{pop.name}"].reshape(-1, batch, pop.size)
        per_window = np.diff(cumulative, axis=0, prepend=0).transpose(1, 0, 2)
        window_rates[pop.name] = per_window / lengths[None, :, None]
        spike_counts[pop.name] = cumulative[-1]
    input_rates = {
        inp.name: output[f"input_counts/{inp.name}"].reshape(batch, inp.size) / plan.duration
        for inp in plan.spec.inputs
    }
    return SimulationResult(
        backend=f"lava:{mapping.run_config}",
        seeds=list(plan.seeds),
        dt=plan.dt,
        duration=plan.duration,
        record_times=plan.record_times,
        weights=weights,
        spike_counts=spike_counts,
        window_rates=window_rates,
        input_rates_measured=input_rates,
        wall_time=wall_time,
    )


class LavaBackend:
    """Run specs on lava-nc 0.10 (Loihi 2 simulation) in a worker process.

    Parameters
    ----------
    run_config : {"floating_pt", "fixed_pt"}, default "floating_pt"
    scaling : {"preserve", "stdploihi"}, default "preserve"
        See :func:`map_spec`.
    driving_force_potential : float, optional
        Volts at which conductance-based synapses are frozen.
    venv : path, optional
        The Lava environment; see :func:`lava_python`.
    device : str, default "cpu"
        Accepted for the common backend options; the Lava simulation runs on CPU.
    timeout : float, optional
        Seconds after which the worker is killed.

    Attributes
    ----------
    last_mapping : LavaMapping or None
        The mapping of the most recent run, with requested and realised parameters.
    """

    name = "lava"

    def __init__(
        self,
        run_config: RunConfig = "floating_pt",
        scaling: Scaling = "preserve",
        driving_force_potential: float | None = None,
        venv: str | Path | None = None,
        device: str = "cpu",
        timeout: float | None = None,
    ) -> None:
        if run_config not in ("floating_pt", "fixed_pt"):
            raise ValueError(
                f"run_config must be 'floating_pt' or 'fixed_pt', got {run_config!r}"
            )
        if str(device) != "cpu":
            logger.warning("the Lava backend runs on CPU; ignoring device %r", device)
        self.run_config = run_config
        self.scaling = scaling
        self.driving_force_potential = driving_force_potential
        self.venv = venv
        self.timeout = timeout
        self.last_mapping: LavaMapping | None = None

    def mapping(self, spec: NetworkSpec, learning: bool = True) -> LavaMapping:
        """Return how ``spec`` maps onto Lava with this backend's settings."""
        return map_spec(
            spec, self.run_config, self.scaling, self.driving_force_potential, learning
        )

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
        """Simulate ``spec`` on Lava; see :class:`~biosynapse_verify.simulate.base.Backend`.

        Raises
        ------
        LavaUnavailableError
            If ``.venv-lava`` is missing; the message names the set-up command.
        NotImplementedError
            If the spec uses a feature Lava cannot run; the message names it.
        LavaRangeError
            If a value overflows a fixed-point range; the message names it.
        LavaWorkerError
            If the worker fails.
        """
        started = time.perf_counter()
        # Map first: a spec that Lava cannot run is reported as such even
        # where the Lava environment is missing.
        mapping = self.mapping(spec, learning)
        self.last_mapping = mapping
        python = lava_python(self.venv)
        plan = prepare_run(
            spec, seeds=seeds, duration=duration, learning=learning,
            initial_weights=initial_weights,
        )
        with tempfile.TemporaryDirectory(prefix="biosynapse-lava-") as tmp:
            folder = Path(tmp)
            initial = write_job(folder, plan, mapping)
            _run_worker(python, folder, progress, self.timeout)
            with np.load(folder / "results.npz", allow_pickle=False) as data:
                output = {key: data[key] for key in data.files}
        wall_time = time.perf_counter() - started
        logger.info(
            "Lava (%s) simulated %s in %.1f s wall time", self.run_config, spec.name, wall_time
        )
        return _assemble_result(plan, mapping, initial, output, wall_time)
