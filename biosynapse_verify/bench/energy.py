"""Energy estimates from operation counts and published per-operation energies.

These are estimates, not measurements: an operation count from the
simulation is multiplied by an energy per operation from the literature.
Nothing here ran on Loihi or on a GPU.

Sources of the per-operation energies
-------------------------------------
Loihi (Intel, 14 nm): M. Davies et al., "Loihi: A Neuromorphic Manycore
Processor with On-Chip Learning", IEEE Micro 38(1):82-99 (2018), Table 2.
The values below (23.6 pJ per synaptic spike operation, 120 pJ per synaptic
learning update, 81 pJ per active neuron update, 1.7 pJ per spike message
within a tile) are the Table 2 figures as quoted by secondary sources.

NOTE: the Loihi figures were taken from sources quoting Table 2 of Davies et
al. (2018), not from the paper itself; check them against the paper before
citing the numbers produced here.

Digital arithmetic (45 nm, 0.9 V): M. Horowitz, "Computing's energy problem
(and what we can do about it)", ISSCC 2014: 32-bit floating-point multiply
3.7 pJ and add 0.9 pJ, so one multiply-accumulate costs 4.6 pJ; a 64-bit read
from an 8 KB SRAM costs 10 pJ, so about 5 pJ per 32-bit operand. The
arithmetic-only figure is a lower bound on a real GPU: it leaves out
register files, caches, DRAM, control and idle power.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from biosynapse_verify.bench.stdp import OperationCounts

__all__ = [
    "GPU_MAC_ENERGY_J",
    "GPU_MAC_WITH_SRAM_ENERGY_J",
    "LOIHI_NEURON_UPDATE_J",
    "LOIHI_SPIKE_MESSAGE_J",
    "LOIHI_SYNAPTIC_OP_J",
    "LOIHI_SYNAPTIC_UPDATE_J",
    "EnergyEstimate",
    "cnn_energy",
    "energy_sources",
    "loihi_energy",
]

PICOJOULE = 1e-12

LOIHI_SYNAPTIC_OP_J = 23.6 * PICOJOULE
LOIHI_SYNAPTIC_UPDATE_J = 120.0 * PICOJOULE
LOIHI_NEURON_UPDATE_J = 81.0 * PICOJOULE
LOIHI_SPIKE_MESSAGE_J = 1.7 * PICOJOULE

_FP32_MULTIPLY_J = 3.7 * PICOJOULE
_FP32_ADD_J = 0.9 * PICOJOULE
_SRAM_READ_32BIT_J = 5.0 * PICOJOULE
GPU_MAC_ENERGY_J = _FP32_MULTIPLY_J + _FP32_ADD_J
# Two 32-bit operands (weight and activation) read from an 8 KB SRAM per MAC.
GPU_MAC_WITH_SRAM_ENERGY_J = GPU_MAC_ENERGY_J + 2 * _SRAM_READ_32BIT_J

# Arithmetic per weight per SGD step with the EWC penalty: a subtraction, a
# square, a multiply by F and an accumulate (4 operations, each counted as
# one MAC-equivalent, which overstates the CNN's cost slightly).
_EWC_OPS_PER_WEIGHT = 4
# A backward pass costs about twice the forward MACs (gradients with respect
# to activations and to weights).
_TRAINING_MACS_PER_FORWARD_MAC = 3


@dataclass(frozen=True)
class EnergyEstimate:
    """An energy estimate and how it splits, in joules.

    Attributes
    ----------
    total : float
        Sum of the parts [J].
    parts : dict of str to float
        Energy per kind of operation [J].
    """

    total: float
    parts: dict[str, float]

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready copy."""
        return asdict(self)


def loihi_energy(counts: OperationCounts, include_learning: bool) -> EnergyEstimate:
    """Estimate the Loihi energy of a spiking run from its event counts.

    Parameters
    ----------
    counts : OperationCounts
        Events of the run (synaptic events, neuron updates, spikes, weight
        updates).
    include_learning : bool
        Charge the synaptic learning updates as well (adaptation runs).

    Returns
    -------
    EnergyEstimate
        Every neuron-step is charged at the active-neuron figure, which does
        not flatter the spiking network.
    """
    parts = {
        "synaptic_ops": counts.synaptic_events * LOIHI_SYNAPTIC_OP_J,
        "neuron_updates": counts.neuron_updates * LOIHI_NEURON_UPDATE_J,
        "spike_messages": (counts.input_spikes + counts.output_spikes)
        * LOIHI_SPIKE_MESSAGE_J,
    }
    if include_learning:
        parts["synaptic_updates"] = counts.synaptic_updates * LOIHI_SYNAPTIC_UPDATE_J
    return EnergyEstimate(sum(parts.values()), parts)


def cnn_energy(
    forward_macs: int,
    images: int,
    training: bool = False,
    parameter_count: int = 0,
    steps: int = 0,
    include_sram: bool = False,
) -> EnergyEstimate:
    """Estimate the energy of CNN inference or EWC training from MAC counts.

    Parameters
    ----------
    forward_macs : int
        MACs of one forward pass on one image.
    images : int
        Images processed.
    training : bool
        Charge forward plus backward passes (3x the forward MACs) and the EWC
        penalty (4 operations per weight per step) instead of inference.
    parameter_count : int
        Trainable weights (training only).
    steps : int
        Optimiser steps (training only).
    include_sram : bool
        Use the MAC energy with two 8 KB SRAM operand reads instead of the
        arithmetic-only figure.

    Returns
    -------
    EnergyEstimate
    """
    mac_energy = GPU_MAC_WITH_SRAM_ENERGY_J if include_sram else GPU_MAC_ENERGY_J
    factor = _TRAINING_MACS_PER_FORWARD_MAC if training else 1
    parts = {"macs": factor * forward_macs * images * mac_energy}
    if training:
        parts["ewc_penalty"] = (
            _EWC_OPS_PER_WEIGHT * parameter_count * steps * mac_energy
        )
    return EnergyEstimate(sum(parts.values()), parts)


def energy_sources() -> dict[str, object]:
    """Return the per-operation energies used, with their sources, for the record."""
    return {
        "loihi": {
            "source": "Davies et al. 2018, IEEE Micro 38(1):82-99, Table 2 "
            "(values as quoted by secondary sources)",
            "synaptic_op_pJ": LOIHI_SYNAPTIC_OP_J / PICOJOULE,
            "synaptic_update_pJ": LOIHI_SYNAPTIC_UPDATE_J / PICOJOULE,
            "neuron_update_active_pJ": LOIHI_NEURON_UPDATE_J / PICOJOULE,
            "spike_message_within_tile_pJ": LOIHI_SPIKE_MESSAGE_J / PICOJOULE,
        },
        "gpu_proxy": {
            "source": "Horowitz, ISSCC 2014, 45 nm 0.9 V: fp32 multiply 3.7 pJ + "
            "add 0.9 pJ; 8 KB SRAM 64-bit read 10 pJ",
            "mac_arithmetic_only_pJ": GPU_MAC_ENERGY_J / PICOJOULE,
            "mac_with_two_sram_reads_pJ": GPU_MAC_WITH_SRAM_ENERGY_J / PICOJOULE,
            "note": "a lower bound for a real GPU, which adds register files, "
            "caches, DRAM, control and idle power",
        },
    }
