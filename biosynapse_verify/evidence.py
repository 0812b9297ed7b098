"""Simulation evidence for a mean-field verdict: distances, decay rates, weight shape.

The certificate is about the averaged ODE; these functions measure what the
spiking simulation did, so the report can show the two side by side.
"""

from __future__ import annotations

import numpy as np

__all__ = ["distance_series", "fit_decay_rate", "weight_summary"]

# Weights within this fraction of their range from a bound count as "near" it
# in the summary (Song, Miller & Abbott report the fraction near 0 and g_max).
NEAR_BOUND_FRACTION = 0.1
# The decay fit uses the part of the distance curve above this multiple of
# its final level, so the noise floor of STDP jitter does not flatten the fit.
FLOOR_MULTIPLE = 2.0


def distance_series(
    states: np.ndarray, target: np.ndarray, coordinates: np.ndarray
) -> np.ndarray:
    """Return ``||x(t) - x*||`` over the chosen coordinates.

    Parameters
    ----------
    states : ndarray, shape (B, R, n)
        Simulated states (rates and normalised weights) per seed and record time.
    target : ndarray, shape (n,)
        The equilibrium.
    coordinates : ndarray of bool, shape (n,)
        Which coordinates to include.

    Returns
    -------
    ndarray, shape (B, R)
    """
    diff = states[..., coordinates] - target[coordinates]
    return np.linalg.norm(diff, axis=-1)


def fit_decay_rate(times: np.ndarray, distance: np.ndarray) -> dict[str, float | None]:
    """Fit ``distance ~ C exp(-rate t)`` on the part above the noise floor.

    The floor is the minimum over the last tenth of the record; it is removed
    in quadrature before a log-linear fit of the leading run of points above
    :data:`FLOOR_MULTIPLE` times the floor.

    Parameters
    ----------
    times : ndarray, shape (R,)
    distance : ndarray, shape (R,)
        A positive distance curve, typically the seed average.

    Returns
    -------
    dict
        ``rate`` (1/s, positive for decay, negative for growth, None when
        fewer than three points are usable), and the time window used.
    """
    floor = float(np.min(distance[-max(2, len(distance) // 10) :]))
    above = distance > FLOOR_MULTIPLE * floor
    if distance[-1] > distance[0]:
        # Growth: fit the whole curve.
        return _log_linear(times, distance, "growth over the whole record")
    # Decay: keep the leading run of points above the noise floor.
    stop = int(np.argmin(above)) if not above.all() else len(above)
    if stop < 3:
        return {
            "rate": None,
            "t_start": None,
            "t_stop": None,
            "reason": f"only {stop} record points lie above {FLOOR_MULTIPLE:g} times the "
            "noise floor; lower simulation.record_interval to resolve the decay",
        }
    # Noise adds to the decaying part in quadrature (independent fluctuations
    # across many coordinates), so it is removed that way before the log fit.
    decaying = np.sqrt(np.maximum(distance[:stop] ** 2 - floor**2, 0.0))
    return _log_linear(
        times[:stop], decaying, "decay phase above the noise floor, floor removed in quadrature"
    )


def _log_linear(times: np.ndarray, distance: np.ndarray, window: str) -> dict:
    keep = distance > 0
    if keep.sum() < 3:
        return {"rate": None, "t_start": None, "t_stop": None, "reason": "fewer than 3 positive points"}
    t, d = times[keep], distance[keep]
    slope = np.polyfit(t, np.log(d), 1)[0]
    return {"rate": float(-slope), "t_start": float(t[0]), "t_stop": float(t[-1]), "window": window}


def weight_summary(weights: np.ndarray, w_min: float, w_max: float) -> dict[str, float]:
    """Summarise final weights, pooled over seeds.

    Returns the mean, the standard deviation, the fractions within
    :data:`NEAR_BOUND_FRACTION` of each bound, and Sarle's bimodality
    coefficient ``(skew^2 + 1) / kurtosis`` (above 5/9 suggests two modes).
    """
    flat = np.asarray(weights, dtype=np.float64).ravel()
    span = w_max - w_min
    mean, std = float(flat.mean()), float(flat.std())
    if std > 0:
        z = (flat - mean) / std
        skew = float(np.mean(z**3))
        kurtosis = float(np.mean(z**4))
        bimodality = (skew**2 + 1.0) / kurtosis
    else:
        bimodality = 0.0
    return {
        "mean": mean,
        "std": std,
        "fraction_near_min": float(np.mean(flat <= w_min + NEAR_BOUND_FRACTION * span)),
        "fraction_near_max": float(np.mean(flat >= w_max - NEAR_BOUND_FRACTION * span)),
        "bimodality_coefficient": float(bimodality),
    }
