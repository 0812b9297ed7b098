"""The LIF rate transfer function, fitted to rates measured in simulation.

The mean-field model needs the rate ``phi(u)`` of a LIF neuron as a smooth
function of its mean synaptic drive ``u`` (in volts: the mean depolarisation
that the synaptic input alone would cause, see :mod:`.meanfield`). It is
measured, not assumed: the population is simulated with learning off at a
grid of weight levels, and a softplus

    phi(u) = gain * width * log(1 + exp((u - threshold) / width))

is fitted to the measured (drive, rate) points. The fit's error is reported
with the model, because every later step inherits it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import least_squares
from scipy.special import expit

__all__ = ["SoftplusTransfer", "TransferFit", "fit_softplus"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SoftplusTransfer:
    """A softplus rate function of the drive.

    Attributes
    ----------
    gain : float
        Slope far above threshold, in Hz per volt of drive.
    width : float
        Width of the rounded threshold, in volts.
    threshold : float
        Drive at the centre of the rounded threshold, in volts.
    """

    gain: float
    width: float
    threshold: float

    def rate(self, drive: np.ndarray) -> np.ndarray:
        """Return ``phi(drive)`` in Hz."""
        z = (np.asarray(drive, dtype=np.float64) - self.threshold) / self.width
        return self.gain * self.width * np.logaddexp(0.0, z)

    def slope(self, drive: np.ndarray) -> np.ndarray:
        """Return ``phi'(drive)`` in Hz per volt."""
        z = (np.asarray(drive, dtype=np.float64) - self.threshold) / self.width
        return self.gain * expit(z)

    def curvature(self, drive: np.ndarray) -> np.ndarray:
        """Return ``phi''(drive)`` in Hz per volt squared."""
        z = (np.asarray(drive, dtype=np.float64) - self.threshold) / self.width
        sigma = expit(z)
        return self.gain / self.width * sigma * (1.0 - sigma)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class TransferFit:
    """A fitted transfer function with the points it was fitted to.

    Attributes
    ----------
    transfer : SoftplusTransfer
        The fitted function.
    drive : ndarray, shape (k,)
        Drives of the calibration points, in volts.
    rate : ndarray, shape (k,)
        Rates measured at those drives, in Hz.
    rms_error : float
        Root-mean-square of ``phi(drive) - rate``, in Hz.
    max_abs_error : float
        Largest ``|phi(drive) - rate|``, in Hz.
    """

    transfer: SoftplusTransfer
    drive: np.ndarray
    rate: np.ndarray
    rms_error: float
    max_abs_error: float

    def to_dict(self) -> dict[str, object]:
        return {
            "function": "softplus: gain*width*log(1+exp((u-threshold)/width))",
            "parameters": self.transfer.to_dict(),
            "drive_V": self.drive.tolist(),
            "rate_Hz": self.rate.tolist(),
            "rms_error_Hz": self.rms_error,
            "max_abs_error_Hz": self.max_abs_error,
        }


def fit_softplus(drive: np.ndarray, rate: np.ndarray, threshold_guess: float) -> TransferFit:
    """Fit a :class:`SoftplusTransfer` to measured points by least squares.

    Parameters
    ----------
    drive : ndarray, shape (k,)
        Mean synaptic drive of each point, in volts.
    rate : ndarray, shape (k,)
        Measured firing rate at each point, in Hz.
    threshold_guess : float
        Starting guess for the threshold drive, in volts (the distance from
        rest to the firing threshold is a good one).

    Raises
    ------
    ValueError
        If fewer than three points have a positive rate, so the slope of the
        function cannot be identified.
    """
    drive = np.asarray(drive, dtype=np.float64)
    rate = np.asarray(rate, dtype=np.float64)
    if np.count_nonzero(rate > 0) < 3:
        raise ValueError(
            f"only {np.count_nonzero(rate > 0)} calibration points fired; raise "
            "w_max or the input rates, or lengthen analysis.calibration.duration"
        )
    span = max(float(np.ptp(drive)), 1e-6)
    top = np.argsort(drive)[-3:]
    slope_guess = max(float(np.polyfit(drive[top], rate[top], 1)[0]), 1.0)

    # Fit in log-parameters so gain and width stay positive.
    def residual(theta: np.ndarray) -> np.ndarray:
        model = SoftplusTransfer(np.exp(theta[0]), np.exp(theta[1]), theta[2])
        return model.rate(drive) - rate

    start = np.array([np.log(slope_guess), np.log(0.1 * span), threshold_guess])
    solution = least_squares(residual, start, method="lm", max_nfev=10_000)
    transfer = SoftplusTransfer(
        float(np.exp(solution.x[0])), float(np.exp(solution.x[1])), float(solution.x[2])
    )
    errors = transfer.rate(drive) - rate
    fit = TransferFit(
        transfer=transfer,
        drive=drive,
        rate=rate,
        rms_error=float(np.sqrt(np.mean(errors**2))),
        max_abs_error=float(np.max(np.abs(errors))),
    )
    logger.info(
        "fitted transfer function %s, rms error %.3g Hz", transfer, fit.rms_error
    )
    return fit
