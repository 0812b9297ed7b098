"""Mean-field STDP dynamics: weight dependence, transfer function, drift, equilibria."""

from biosynapse_verify.dynamics.equilibrium import (
    Equilibrium,
    EquilibriumError,
    find_boundary,
    find_interior,
)
from biosynapse_verify.dynamics.meanfield import MeanFieldModel, synaptic_scale
from biosynapse_verify.dynamics.transfer import SoftplusTransfer, TransferFit, fit_softplus

__all__ = [
    "Equilibrium",
    "EquilibriumError",
    "MeanFieldModel",
    "SoftplusTransfer",
    "TransferFit",
    "find_boundary",
    "find_interior",
    "fit_softplus",
    "synaptic_scale",
]
