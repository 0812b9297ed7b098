"""The analytic forgetting bound ``(A- / A+) exp(-T / tau-)`` and the quoted figure.

The bound is a claim under audit: it states that one epoch of length ``T`` on
a new task changes the synapses of an old task by at most
``(A- / A+) exp(-T / tau-)`` of the weight norm. It contains neither the
learning rate nor the firing rates, so nothing in the model guarantees it;
the measurement in :mod:`biosynapse_verify.forgetting.measure` tests it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from biosynapse_verify.spec.schema import NetworkSpec

__all__ = [
    "QUOTED_EPOCH_IN_TAU",
    "QUOTED_RATE",
    "BoundParameters",
    "bound_parameters",
    "epoch_for_rate",
    "forgetting_bound",
]

# The claim under audit quotes "about 0.067% per epoch for T > 5 tau-".
QUOTED_RATE = 0.00067
QUOTED_EPOCH_IN_TAU = 5.0


def forgetting_bound(
    a_plus: float, a_minus: float, tau_minus: float, epoch: float
) -> float:
    """Return ``(a_minus / a_plus) exp(-epoch / tau_minus)``, a fraction per epoch.

    Parameters
    ----------
    a_plus, a_minus : float
        STDP amplitudes, both positive.
    tau_minus : float
        Depression time constant in seconds.
    epoch : float
        Epoch length ``T`` in seconds.
    """
    return a_minus / a_plus * math.exp(-epoch / tau_minus)


def epoch_for_rate(amplitude_ratio: float, rate: float) -> float:
    """Return ``T / tau-`` at which the bound equals ``rate``: ``ln(ratio / rate)``.

    The result is zero or negative when ``rate >= amplitude_ratio``, where
    every epoch length meets the rate.
    """
    return math.log(amplitude_ratio / rate)


@dataclass(frozen=True)
class BoundParameters:
    """The STDP parameters that enter the bound, and its value at the epoch.

    Attributes
    ----------
    projection : str
        The plastic projection whose parameters give the largest bound.
    a_plus, a_minus : float
        Its STDP amplitudes.
    tau_minus : float
        Its depression time constant in seconds.
    epoch : float
        Epoch length ``T`` in seconds.
    value : float
        The bound, as a fraction of the weight norm per epoch.
    uniform : bool
        Whether every plastic projection gives the same bound.
    """

    projection: str
    a_plus: float
    a_minus: float
    tau_minus: float
    epoch: float
    value: float
    uniform: bool

    @property
    def amplitude_ratio(self) -> float:
        return self.a_minus / self.a_plus

    @property
    def epoch_in_tau(self) -> float:
        return self.epoch / self.tau_minus


def bound_parameters(spec: NetworkSpec, epoch: float) -> BoundParameters:
    """Evaluate the bound for every plastic projection of ``spec`` and keep the largest.

    Taking the largest bound gives the claim its most lenient reading when
    projections differ; ``uniform`` records whether they do.

    Raises
    ------
    ValueError
        If ``spec`` has no plastic projection.
    """
    candidates = []
    for proj in spec.projections:
        rule = proj.plasticity
        if rule is None:
            continue
        value = forgetting_bound(rule.a_plus, rule.a_minus, rule.tau_minus, epoch)
        candidates.append((value, proj.name, rule))
    if not candidates:
        raise ValueError(
            f"network {spec.name!r} has no plastic projection, so the forgetting "
            "bound is undefined; add plasticity to a projection"
        )
    value, name, rule = max(candidates, key=lambda item: item[0])
    return BoundParameters(
        projection=name,
        a_plus=rule.a_plus,
        a_minus=rule.a_minus,
        tau_minus=rule.tau_minus,
        epoch=epoch,
        value=value,
        uniform=all(math.isclose(c[0], value, rel_tol=1e-12) for c in candidates),
    )
