"""Network specs: schema, units and loading."""

from biosynapse_verify.spec.loader import SpecError, load_spec, parse_spec, spec_hash
from biosynapse_verify.spec.schema import (
    LIFPopulation,
    NetworkSpec,
    Plasticity,
    PoissonInput,
    Projection,
    Simulation,
    SpikeTimesInput,
)
from biosynapse_verify.spec.units import UnitError, parse_quantity

__all__ = [
    "LIFPopulation",
    "NetworkSpec",
    "Plasticity",
    "PoissonInput",
    "Projection",
    "Simulation",
    "SpecError",
    "SpikeTimesInput",
    "UnitError",
    "load_spec",
    "parse_quantity",
    "parse_spec",
    "spec_hash",
]
