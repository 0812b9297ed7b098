"""Result records of the rigorous checks."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = ["CheckResult", "DefinitenessOutcome"]


def _json_safe(value: Any) -> Any:
    """Return ``value`` with numpy scalars made Python and inf/nan made strings.

    Strict JSON has no infinities, and an overflowing bound is still worth
    reporting, so ``float("inf")`` becomes ``"inf"``.
    """
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


@dataclass(frozen=True)
class DefinitenessOutcome:
    """Outcome of one attempt to prove lambda_min(X) > floor for a symmetric X.

    Attributes
    ----------
    matrix : str
        Symbol of X: ``"M"``, ``"Q"`` or ``"P"``.
    method : str
        The test that decided: ``"exact-residual"``, ``"sylvester"``,
        ``"rump"``, ``"gershgorin"`` or ``"diagonal"``.
    proven : bool
        Whether lambda_min(X) > floor was proven.
    floor : float
        0 for positive definiteness; the normalisation floor for P.
    lower_bound : float or None
        When proven, a rigorous lower bound on lambda_min(X), rounded down.
    estimate : float or None
        Floating-point estimate of lambda_min(X). Not rigorous: it only
        explains a failure.
    refuted : bool
        Whether a vector x != 0 with x^T (X - floor I) x <= 0 was verified,
        which proves lambda_min(X) <= floor.
    note : str
        One sentence on why the proof failed (empty when proven).
    details : dict
        JSON-able numbers of the test (shifts, residual norms, timings).
    """

    matrix: str
    method: str
    proven: bool
    floor: float = 0.0
    lower_bound: float | None = None
    estimate: float | None = None
    refuted: bool = False
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the outcome as a JSON-able dict."""
        return _json_safe(dataclasses.asdict(self))


@dataclass(frozen=True)
class CheckResult:
    """Verdict of a rigorous check of a stability or instability certificate.

    Attributes
    ----------
    valid : bool
        Whether every claim of the certificate was proven.
    claim : {"stable", "unstable"}
        What the certificate asserts about dx/dt = A x.
    method : str
        The method that decided (``"exact"``, ``"rump"``, ``"interval"``,
        ``"sylvester"``).
    n : int
        State dimension.
    margin : float or None
        Rigorous lower bound on the smallest eigenvalue of the matrix proven
        positive definite (M for "stable", Q for "unstable"), rounded down;
        None when that matrix was not proven positive definite.
    lambda_min_P_lower : float or None
        For "stable": rigorous lower bound on lambda_min(P), rounded down.
    growth_rate_lower : float or None
        For "unstable": rigorous lower bound on the spectral abscissa
        max Re lambda(A), in 1/s when A is in 1/s, rounded down.
    reason : str
        One plain sentence: what was proven, or which matrix failed and by
        how much.
    seconds : float
        Wall-clock time of the check.
    details : dict
        JSON-able record of each step (see :class:`DefinitenessOutcome`).
    """

    valid: bool
    claim: Literal["stable", "unstable"]
    method: str
    n: int
    margin: float | None
    lambda_min_P_lower: float | None
    growth_rate_lower: float | None
    reason: str
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-able dict."""
        return _json_safe(dataclasses.asdict(self))
