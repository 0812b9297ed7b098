"""Integrals of the pair-STDP window that the mean-field weight drift uses.

Derives, for the window ``W(s) = A+ exp(-s/tau+)`` (``s = t_post - t_pre > 0``)
and ``-A- exp(s/tau-)`` (``s < 0``):

1. the drift of a weight under independent Poisson pre and post trains at
   rates ``nu`` and ``r``: ``nu r int W = nu r (A+ tau+ - A- tau-)``;
2. the spike-triggered term ``c+ = int_0^inf kappa(s) exp(-s/tau+) ds =
   g tau+ / (tau+ + tau_kappa)`` for the causal kernel
   ``kappa(s) = (g / tau_kappa) exp(-s / tau_kappa)``;
3. that ``g`` equals ``phi'(d) k``, the linear response of the post rate to
   one presynaptic spike per unit weight, so the two terms add up to the
   drift in ``biosynapse_verify.dynamics.meanfield`` with ``f+ = f- = 1``.

Run as ``python proofs/window_integrals.py``.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from scipy.integrate import quad

__all__ = [
    "derive",
    "pairs_over_epoch",
    "spike_triggered_integral",
    "window_integral",
]

# quad reaches about 1e-13 relative on these smooth exponentials; 1e-9 leaves
# room for its error estimate without hiding a wrong closed form.
QUADRATURE_RTOL = 1e-9

A_PLUS, A_MINUS = sp.symbols("A_+ A_-", positive=True)
TAU_PLUS, TAU_MINUS = sp.symbols("tau_+ tau_-", positive=True)
NU, RATE = sp.symbols("nu r", positive=True)
GAIN, TAU_KAPPA = sp.symbols("g tau_kappa", positive=True)
LAG = sp.Symbol("s", real=True)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def window_integral() -> sp.Expr:
    """Return ``int_{-inf}^{inf} W(s) ds`` computed by sympy."""
    causal = sp.integrate(
        A_PLUS * sp.exp(-LAG / TAU_PLUS), (LAG, 0, sp.oo), conds="none"
    )
    acausal = sp.integrate(
        -A_MINUS * sp.exp(LAG / TAU_MINUS), (LAG, -sp.oo, 0), conds="none"
    )
    return sp.simplify(causal + acausal)


def spike_triggered_integral() -> sp.Expr:
    """Return ``int_0^inf kappa(s) exp(-s / tau+) ds`` computed by sympy."""
    kernel = GAIN / TAU_KAPPA * sp.exp(-LAG / TAU_KAPPA)
    return sp.simplify(
        sp.integrate(kernel * sp.exp(-LAG / TAU_PLUS), (LAG, 0, sp.oo), conds="none")
    )


def _decaying(s: float, amplitude: float, rate: float) -> float:
    return amplitude * np.exp(rate * s)


def _check_by_quadrature(window: sp.Expr, c_plus: sp.Expr) -> None:
    """Compare both closed forms with adaptive quadrature at random parameters."""
    rng = np.random.default_rng(0)
    for _ in range(5):
        a_p, a_m = rng.uniform(0.5, 2.0, size=2)
        t_p, t_m, t_k = rng.uniform(5e-3, 50e-3, size=3)
        gain = rng.uniform(0.1, 10.0)
        causal, _ = quad(_decaying, 0, np.inf, args=(a_p, -1 / t_p))
        acausal, _ = quad(_decaying, -np.inf, 0, args=(-a_m, 1 / t_m))
        spike, _ = quad(_decaying, 0, np.inf, args=(gain / t_k, -1 / t_k - 1 / t_p))
        values = {A_PLUS: a_p, A_MINUS: a_m, TAU_PLUS: t_p, TAU_MINUS: t_m}
        values.update({TAU_KAPPA: t_k, GAIN: gain})
        _check(
            np.isclose(
                float(window.subs(values)), causal + acausal, rtol=QUADRATURE_RTOL
            ),
            f"window integral {window} disagrees with quadrature at {values}",
        )
        _check(
            np.isclose(float(c_plus.subs(values)), spike, rtol=QUADRATURE_RTOL),
            f"spike-triggered integral {c_plus} disagrees with quadrature at {values}",
        )


def _kernel_gain() -> tuple[sp.Expr, sp.Expr]:
    """Return ``d phi(b + w nu k) / d nu / w`` and the expected ``k phi'(d)``.

    This is the number of extra post spikes that one presynaptic spike causes
    per unit weight, which is the integral ``g`` of the kernel ``kappa``.
    """
    bias, weight, scale, drive_symbol = sp.symbols("b w k d", positive=True)
    phi = sp.Function("phi")
    drive = bias + weight * NU * scale
    gain = sp.diff(phi(drive), NU) / weight
    expected = (scale * sp.diff(phi(drive_symbol), drive_symbol)).subs(
        drive_symbol, drive
    )
    return gain, expected


def pairs_over_epoch() -> sp.Expr:
    """Return ``int_0^T int_0^T W(t2 - t1) dt1 dt2`` for an epoch ``[0, T]``.

    For independent stationary Poisson trains the expected number of
    (pre at ``t1``, post at ``t2``) pairs in ``dt1 dt2`` is ``nu r dt1 dt2``,
    so the expected summed window over an epoch is ``nu r`` times this.
    """
    epoch, t_pre, t_post = sp.symbols("T t_1 t_2", positive=True)
    causal = sp.integrate(
        sp.integrate(
            A_PLUS * sp.exp(-(t_post - t_pre) / TAU_PLUS),
            (t_pre, 0, t_post),
            conds="none",
        ),
        (t_post, 0, epoch),
        conds="none",
    )
    acausal = sp.integrate(
        sp.integrate(
            -A_MINUS * sp.exp(-(t_pre - t_post) / TAU_MINUS),
            (t_post, 0, t_pre),
            conds="none",
        ),
        (t_pre, 0, epoch),
        conds="none",
    )
    return sp.expand(causal + acausal)


def derive() -> dict[str, object]:
    """Derive the window integrals and check them; return the appendix entry."""
    window = window_integral()
    expected_window = A_PLUS * TAU_PLUS - A_MINUS * TAU_MINUS
    _check(
        sp.simplify(window - expected_window) == 0,
        f"int W = {window}, expected {expected_window}",
    )

    # The drift per unit time is the long-epoch limit of the expected summed
    # window divided by T: summed = T int W + edge, and edge / T -> 0.
    epoch = sp.Symbol("T", positive=True)
    summed = pairs_over_epoch()
    edge = sp.simplify(summed - epoch * window)
    _check(
        sp.limit(edge / epoch, epoch, sp.oo) == 0,
        f"edge term {edge} of the epoch integral should grow slower than T",
    )
    drift = NU * RATE * window

    c_plus = spike_triggered_integral()
    expected_c_plus = GAIN * TAU_PLUS / (TAU_PLUS + TAU_KAPPA)
    _check(
        sp.simplify(c_plus - expected_c_plus) == 0,
        f"c+ = {c_plus}, expected {expected_c_plus}",
    )
    _check_by_quadrature(window, c_plus)

    gain, expected_gain = _kernel_gain()
    _check(
        sp.simplify(gain - expected_gain) == 0,
        f"kernel gain {gain} differs from k phi'(d) = {expected_gain}",
    )

    latex = (
        r"\nu r \int_{-\infty}^{\infty} W(s)\,ds = "
        + sp.latex(drift)
        + r",\qquad c_+ = \int_0^\infty \kappa(s) e^{-s/\tau_+} ds = "
        + sp.latex(c_plus)
    )
    statement = (
        f"For independent Poisson trains the expected summed window over an "
        f"epoch [0, T] is nu r ({summed}), so the drift per unit "
        f"time is {drift}. A presynaptic spike adds w kappa(s) to the post "
        f"rate with kappa(s) = (g/tau_kappa) exp(-s/tau_kappa), which adds "
        f"nu w A+ c+ with c+ = {c_plus}. Linear response of the rate "
        f"phi(b + w nu k) gives g = k phi'(d), the c+ that the mean-field "
        f"drift uses."
    )
    return {
        "title": "Integrals of the STDP pair window",
        "statement": statement,
        "latex": latex,
        "assumptions": [
            "pre and post trains are stationary Poisson with rates nu and r",
            "apart from the spike-triggered kernel the trains are uncorrelated",
            "all pairs contribute (all-to-all pairing), weight dependence f+ = f- = 1",
            "A+, A-, tau+, tau-, g, tau_kappa > 0",
        ],
    }


def main() -> None:
    result = derive()
    print(result["title"])
    print(result["statement"])
    print("LaTeX:", result["latex"])


if __name__ == "__main__":
    main()
