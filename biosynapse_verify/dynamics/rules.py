"""Weight dependence of the STDP rules and the integrals of the pair window.

With ``u = w / w_max`` the rules scale potentiation by ``f_plus(u)`` and
depression by ``f_minus(u)``:

* additive: ``f_plus = f_minus = 1`` (weights are clipped to their bounds);
* multiplicative (van Rossum, Bi & Turrigiano 2000): ``f_plus = 1``,
  ``f_minus = u``;
* power law (Gütig, Aharonov, Rotter & Sompolinsky 2003):
  ``f_plus = (1 - u)**mu``, ``f_minus = u**mu``.
"""

from __future__ import annotations

import numpy as np

from biosynapse_verify.spec.schema import Plasticity

__all__ = ["weight_dependence", "weight_dependence_derivative"]


def weight_dependence(
    plasticity: Plasticity, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(f_plus(u), f_minus(u))`` for normalised weights ``u``."""
    u = np.asarray(u, dtype=np.float64)
    ones = np.ones_like(u)
    if plasticity.rule == "additive":
        return ones, ones.copy()
    if plasticity.rule == "multiplicative":
        return ones, u.copy()
    mu = plasticity.mu
    clipped = np.clip(u, 0.0, 1.0)
    return (1.0 - clipped) ** mu, clipped**mu


def weight_dependence_derivative(
    plasticity: Plasticity, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(df_plus/du, df_minus/du)`` for normalised weights ``u``.

    The power-law derivatives are singular at ``u = 0`` (``f_minus``) and
    ``u = 1`` (``f_plus``) when ``mu < 1``; an interior equilibrium never sits
    there, and the values returned at the bounds are infinite.
    """
    u = np.asarray(u, dtype=np.float64)
    zeros = np.zeros_like(u)
    if plasticity.rule == "additive":
        return zeros, zeros.copy()
    if plasticity.rule == "multiplicative":
        return zeros, np.ones_like(u)
    mu = plasticity.mu
    if mu == 0.0:
        return zeros, zeros.copy()
    clipped = np.clip(u, 0.0, 1.0)
    with np.errstate(divide="ignore"):
        return -mu * (1.0 - clipped) ** (mu - 1.0), mu * clipped ** (mu - 1.0)
