"""Spiking simulation: the backend interface and the PyTorch backend.

Use :func:`get_backend` to obtain a backend by name and call its ``run``
method with a spec. Importing this package does not import torch; the torch
backend is loaded when it is first requested.
"""

from biosynapse_verify.simulate.base import (
    Backend,
    RunPlan,
    SimulationResult,
    available_backends,
    get_backend,
    prepare_run,
)

__all__ = [
    "Backend",
    "RunPlan",
    "SimulationResult",
    "available_backends",
    "get_backend",
    "prepare_run",
]
