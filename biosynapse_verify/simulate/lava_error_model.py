"""How far a Lava ``fixed_pt`` STDP run may drift from ``floating_pt``.

The model covers one plastic synapse driven by an input source (so the
launcher's one-step alignment applies) with prescribed pre and post spike
steps, additive STDP, and weights that never reach a bound. In
lava-nc 0.10's bit-approximate learning engine the weight change is then

    dw_fixed = sum_j g+ X(p_j + 1) - sum_i g- Y(q_i) + sum_n rho_n

in Lava weight units. Here ``q_i`` are the pre spike steps and ``p_j`` the
post spike steps. ``X`` and ``Y`` are the 7-bit pre and post traces read at
those learning epochs. ``g+ = |m+| 2^e+ * 4`` and ``g- = |m-| 2^e- * 4`` are
the realised amplitudes per trace unit, where the factor 4 is lava-nc's
shift of ``trace * t * m`` with ``t = 128``. ``rho_n`` is the stochastic
rounding of the 16-bit accumulator to the 8-bit weight in each epoch with a
pre or post spike. The products themselves lose no bits, and the impulses
are integers, so adding an impulse rounds nothing.

Each trace decays as ``T_s = floor(d T_{s-1}) + [U_s < frac(d T_{s-1})]`` with
``d = exp(-1 / tau)``, ``tau`` in steps and ``U_s`` uniform on [0, 1), so
``T_s = d T_{s-1} + r_s`` with ``E[r_s | past] = 0`` and ``r_s`` in an interval
of length 1. Unrolled, ``T_t = Tbar_t + sum_{s <= t} d^(t - s) r_s`` with
``Tbar`` the exact trace, hence

    dw_fixed = k eta (A+_real S+ - A-_real S-) + sum_s c_s r_s + sum_n rho_n,
    c_s = g sum_{reads t >= s} d^(t - s),

with ``S+`` and ``S-`` the pair sums of :func:`pair_sums` and ``A_real`` the
realised amplitudes of the mapping report. ``floating_pt`` computes the first
term with the requested amplitudes and no rounding. The rounding terms form a
martingale difference sequence (each ``U`` is drawn after the state it
rounds), each term in an interval of length ``c_s`` or 1, so the
Azuma-Hoeffding inequality gives

    P(|dw_fixed - k eta (A+_real S+ - A-_real S-)| >= eps) <= 2 exp(-2 eps^2 / C),
    C = sum_s c_s^2 + N_updates,

that is ``eps = sqrt(C ln(2 / p) / 2)`` for failure probability ``p``. The
trace rounding at a step where the trace is exactly zero is zero, so counting
those steps only loosens the bound.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["deviation_bound", "pair_sums", "rounding_coefficients"]


def pair_sums(
    pre_steps: np.ndarray, post_steps: np.ndarray, tau_plus: float, tau_minus: float
) -> tuple[float, float]:
    """Return the all-pairs STDP sums ``S+`` and ``S-`` of one synapse.

    ``S+`` sums ``exp(-(p - q) / tau_plus)`` over pairs with the pre step ``q``
    at or before the post step ``p``. ``S-`` sums ``exp(-(q - p) / tau_minus)``
    over pairs with ``q`` after ``p``. This is the torch backend's convention,
    in which a pre and a post spike in one step potentiate.

    Parameters
    ----------
    pre_steps, post_steps : ndarray of int
        Spike steps.
    tau_plus, tau_minus : float
        Trace time constants in steps.
    """
    lag = np.asarray(post_steps)[:, None] - np.asarray(pre_steps)[None, :]
    causal = lag >= 0
    s_plus = np.sum(np.exp(-lag[causal] / tau_plus))
    s_minus = np.sum(np.exp(lag[~causal] / tau_minus))
    return float(s_plus), float(s_minus)


def rounding_coefficients(
    read_epochs: np.ndarray, first_epoch: int, last_epoch: int, unit: float, tau: float
) -> np.ndarray:
    """Return ``c_s`` for the trace roundings in epochs ``first_epoch + 1 .. last_epoch``.

    ``c_s = unit * sum_{t in read_epochs, t >= s} exp(-(t - s) / tau)`` is the
    weight change, in Lava weight units, caused by a rounding error of one
    trace unit in epoch ``s``. Before ``first_epoch`` (the first spike of the
    trace) the trace is exactly zero and rounds nothing.
    """
    epochs = np.arange(first_epoch + 1, last_epoch + 1)
    lag = np.asarray(read_epochs)[None, :] - epochs[:, None]
    weights = np.where(lag >= 0, np.exp(-np.maximum(lag, 0) / tau), 0.0)
    return unit * weights.sum(axis=1)


def deviation_bound(
    pre_steps: np.ndarray,
    post_steps: np.ndarray,
    unit_plus: float,
    unit_minus: float,
    tau_plus: float,
    tau_minus: float,
    last_epoch: int,
    failure_probability: float,
) -> float:
    """Return ``eps`` with ``P(|dw_fixed - expected| >= eps) <= failure_probability``.

    The launcher shifts input spikes one Lava step earlier than the LIF's
    spikes, so relative to one origin the pre spike of step ``q`` is in
    learning epoch ``q`` and the post spike of step ``p`` in epoch ``p + 1``.
    The pre trace is read at post epochs, the post trace at pre epochs, and
    the weight accumulator is rounded once in every epoch with a spike.

    Parameters
    ----------
    pre_steps, post_steps : ndarray of int
        Spike steps of the synapse's source and target.
    unit_plus, unit_minus : float
        ``g+`` and ``g-``: Lava weight units per trace unit.
    tau_plus, tau_minus : float
        Trace time constants in steps.
    last_epoch : int
        Last learning epoch of the run, in the same origin as the steps.
    failure_probability : float
        ``p`` in the module docstring, in (0, 1).

    Returns
    -------
    float
        The bound in Lava weight units.
    """
    if not 0 < failure_probability < 1:
        raise ValueError(
            f"failure_probability must be in (0, 1), got {failure_probability!r}"
        )
    pre_epochs = np.sort(np.asarray(pre_steps, dtype=np.int64))
    post_epochs = np.sort(np.asarray(post_steps, dtype=np.int64)) + 1
    total = float(len(set(pre_epochs.tolist()) | set(post_epochs.tolist())))
    if pre_epochs.size and post_epochs.size:
        trace_plus = rounding_coefficients(
            post_epochs, int(pre_epochs[0]), last_epoch, unit_plus, tau_plus
        )
        trace_minus = rounding_coefficients(
            pre_epochs, int(post_epochs[0]), last_epoch, unit_minus, tau_minus
        )
        total += float(np.sum(trace_plus**2) + np.sum(trace_minus**2))
    return math.sqrt(0.5 * total * math.log(2.0 / failure_probability))
