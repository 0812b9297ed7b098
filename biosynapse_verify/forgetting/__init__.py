"""Forgetting: train on tasks in turn and measure how the first one erodes.

:func:`measure_forgetting` runs the protocol of a spec's ``forgetting``
section and returns a :class:`ForgettingResult` with the per-epoch rate
``||dW_A|| / ||W||`` over seeds, beside the analytic bound
``(A- / A+) exp(-T / tau-)`` of :mod:`biosynapse_verify.forgetting.bound`.
"""

from biosynapse_verify.forgetting.bound import (
    QUOTED_RATE,
    BoundParameters,
    bound_parameters,
    forgetting_bound,
)
from biosynapse_verify.forgetting.measure import epoch_rates, measure_forgetting
from biosynapse_verify.forgetting.result import ForgettingResult, TrainingRecord
from biosynapse_verify.forgetting.schedule import task_spec

__all__ = [
    "QUOTED_RATE",
    "BoundParameters",
    "ForgettingResult",
    "TrainingRecord",
    "bound_parameters",
    "epoch_rates",
    "forgetting_bound",
    "measure_forgetting",
    "task_spec",
]
