"""Figures for the certificate report, rendered to PNG without pyplot.

Every figure is built on a bare :class:`matplotlib.figure.Figure` and drawn
by the Agg canvas, so no global backend or pyplot state changes and the
functions are safe to call from threads and servers. ``*_figure`` functions
return the figure, for tests and further styling. ``plot_*`` functions
return PNG bytes and, given ``path``, also write them atomically.

Units: time in seconds, rates and eigenvalues in 1/s, weights dimensionless.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure

from biosynapse_verify.report.atomic import atomic_write_bytes

__all__ = [
    "PNG_DPI",
    "decay_rate_figure",
    "distance_figure",
    "figure_to_png",
    "plot_decay_rates",
    "plot_distance",
    "plot_spectrum",
    "plot_weight_histograms",
    "spectrum_figure",
    "weight_histogram_figure",
]

logger = logging.getLogger(__name__)

# 150 dpi at 8 inches gives 1200 px: sharp in a browser and on A4 paper.
PNG_DPI = 150
# An axis switches to symlog when its largest magnitude exceeds the small
# ones by more than this many decades (a factor of about 30), because a
# linear axis would squash the small ones onto the imaginary axis.
SYMLOG_MIN_DECADES = 1.5
# Quantile of the nonzero magnitudes that stands for "the small ones" in
# that test and sets the width of the linear band around zero.
SYMLOG_QUANTILE = 0.1
# Symlog shows at most this many decades; smaller magnitudes share the
# linear band around zero, where they still sit on the correct side.
SYMLOG_MAX_DECADES = 8.0
# Width of the linear band, in decades of the log part, so that the tick
# labels at 0 and at +-linthresh have room.
SYMLOG_LINSCALE = 1.5
# Imaginary parts below this fraction of max |lambda| are rounding noise of
# a real spectrum; the axis then gets a fixed height instead of zooming in.
NEGLIGIBLE_IMAG_RELATIVE = 1e-9
# Decay rates that are all positive and span this many decades get log axes.
LOG_RATES_MIN_DECADES = 2.0
# Beyond this many points, labels would overlap, so none are drawn.
MAX_ANNOTATED_LABELS = 25
# The weight figure is 11 in wide, so on A4 (182 mm of text width) it prints
# at 65% of its size; its type is set 1.4 times the 10 pt default to print
# near 9 pt.
WIDE_FIGURE_FONT_SIZE = 14.0
# Height of the strip, as a fraction of the figure, kept free below the axes
# for a one-line note in small type.
NOTE_STRIP_HEIGHT = 0.06
# Top of a legend placed under the x-axis label, in axes fractions.
LEGEND_BELOW_AXES = -0.14
# Labels of points right of this fraction of the axes width go on the left
# of their point, so they stay inside the axes.
LABEL_FLIP_FRACTION = 0.6
# Labels of points closer than these fractions of the axes width and height
# would overlap (a label is up to about 40% of the axes wide), so they are
# stacked LABEL_STEP_POINTS apart, with a leader line to their point.
LABEL_CLASH_FRACTION = (0.45, 0.06)
LABEL_STEP_POINTS = 12.0
LEADER_LINE = {"arrowstyle": "-", "linewidth": 0.6, "color": "0.35", "shrinkB": 3}
# Weights further than this fraction of (w_max - w_min) outside the bounds
# are counted as out of bounds, above float rounding of a clipped weight.
WEIGHT_BOUND_SLACK_RELATIVE = 1e-9


def figure_to_png(figure: Figure, dpi: int = PNG_DPI) -> bytes:
    """Render ``figure`` with the Agg canvas and return the PNG bytes."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _finish(figure: Figure, path: str | Path | None) -> bytes:
    """Render ``figure`` to PNG and write it to ``path`` if one is given."""
    png = figure_to_png(figure)
    if path is not None:
        atomic_write_bytes(path, png)
    return png


def _as_array(name: str, value: object, ndim: int, shape_text: str) -> np.ndarray:
    """Return ``value`` as a finite float array with ``ndim`` dimensions."""
    array = np.asarray(value)
    if array.ndim != ndim:
        raise ValueError(
            f"{name}: expected shape {shape_text}, got shape {array.shape}"
        )
    if array.size == 0:
        raise ValueError(f"{name}: expected shape {shape_text}, got an empty array")
    if np.iscomplexobj(array):
        raise ValueError(f"{name}: expected real numbers, got dtype {array.dtype}")
    array = array.astype(float)
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        index = np.unravel_index(bad[0], array.shape)
        raise ValueError(
            f"{name}: {bad.size} non-finite value(s), first {float(array[index])!r} at "
            f"index {tuple(int(i) for i in index)}; remove or fix them before plotting"
        )
    return array


def _check_times(times: np.ndarray) -> None:
    """Require strictly increasing sample times."""
    if times.size > 1 and np.any(np.diff(times) <= 0):
        raise ValueError("times: expected strictly increasing sample times (s)")


# --- spectrum ------------------------------------------------------------------


def _choose_scale(
    values: np.ndarray, keep_visible: np.ndarray | None = None
) -> tuple[str, float | None]:
    """Return ("linear", None) or ("symlog", linthresh) for one axis's data.

    Symlog is chosen when the largest nonzero magnitude exceeds the
    ``SYMLOG_QUANTILE`` quantile of the nonzero magnitudes by more than
    ``SYMLOG_MIN_DECADES`` decades. A quantile, not the minimum, is used
    because a few values near zero (rounding noise, for example) would
    otherwise always trigger symlog. The linear band around zero reaches up
    to that quantile, lowered so that the magnitudes in ``keep_visible``
    land on the log part, but never more than ``SYMLOG_MAX_DECADES`` below
    the largest magnitude, and then rounded down to a power of ten.
    """
    magnitudes = np.abs(values[values != 0])
    if magnitudes.size == 0:
        return "linear", None
    largest = float(magnitudes.max())
    typical_small = float(np.quantile(magnitudes, SYMLOG_QUANTILE))
    if largest < typical_small * 10.0**SYMLOG_MIN_DECADES:
        return "linear", None
    linthresh = typical_small
    if keep_visible is not None and np.any(keep_visible != 0):
        linthresh = min(linthresh, float(np.abs(keep_visible[keep_visible != 0]).min()))
    linthresh = max(linthresh, largest * 10.0**-SYMLOG_MAX_DECADES)
    # A power of ten puts the band's edges on major ticks, so no decade tick
    # falls inside the band next to the label at zero.
    return "symlog", 10.0 ** np.floor(np.log10(linthresh))


def _apply_scale(
    axes: Axes, axis: str, values: np.ndarray, keep_visible: np.ndarray | None = None
) -> tuple[str, float | None]:
    """Set the scale of ``axis`` ("x" or "y") for ``values``.

    Returns the scale name and the symlog linthresh (None when linear).
    """
    scale, linthresh = _choose_scale(values, keep_visible)
    setter = axes.set_xscale if axis == "x" else axes.set_yscale
    if scale == "symlog":
        setter("symlog", linthresh=linthresh, linscale=SYMLOG_LINSCALE)
    else:
        setter("linear")
    return scale, linthresh


def _padded_range(
    low: float, high: float, scale: str, linthresh: float | None
) -> tuple[float, float]:
    """Return axis limits that contain ``low``, ``high`` and zero, with a margin."""
    low, high = min(low, 0.0), max(high, 0.0)
    if scale == "symlog":
        # A factor of two is a fixed fraction of a decade on the log part.
        return (
            2.0 * low if low < 0 else -linthresh,
            2.0 * high if high > 0 else linthresh,
        )
    span = high - low if high > low else 1.0
    return low - 0.08 * span, high + 0.08 * span


def spectrum_figure(eigenvalues: np.ndarray, *, title: str) -> Figure:
    """Draw eigenvalues in the complex plane, with Re > 0 highlighted.

    Parameters
    ----------
    eigenvalues : (n,) complex ndarray
        Eigenvalues in 1/s, for example of the Jacobian A. Real arrays are
        accepted. Thousands of points are fine: they are rasterized.
    title : str
        The figure title.

    Returns
    -------
    Figure
        One axes: Re on x, Im on y, each linear or symlog (when magnitudes
        span more than ``SYMLOG_MIN_DECADES`` decades, see ``_choose_scale``).
        The imaginary axis is drawn and the open right half-plane shaded.

    Notes
    -----
    The highlighting is a picture of floating-point eigenvalues. The verdict
    comes from the check layer's enclosures, not from this plot.
    """
    values = np.asarray(eigenvalues)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"eigenvalues: expected shape (n,), got shape {values.shape}")
    values = values.astype(complex)
    if not np.all(np.isfinite(values)):
        raise ValueError("eigenvalues: contains NaN or infinite values; fix the solver")
    real, imag = values.real, values.imag
    unstable = real > 0

    figure = Figure(figsize=(8.0, 5.0), layout="constrained")
    axes = figure.add_subplot()
    _scatter_eigenvalues(axes, real, imag, unstable)
    _set_spectrum_limits(axes, values)
    axes.axvline(0.0, color="black", linewidth=1.0, label="imaginary axis (Re λ = 0)")
    axes.axvspan(0.0, axes.get_xlim()[1], color="tab:red", alpha=0.06, linewidth=0)
    axes.set_xlabel("Re λ (1/s)")
    axes.set_ylabel("Im λ (1/s)")
    axes.set_title(title)
    axes.grid(True, linewidth=0.3, alpha=0.5)
    axes.legend(loc="best", fontsize="small")

    summary = (
        f"n = {values.size}, Re λ > 0: {int(unstable.sum())}, "
        f"max Re λ = {real.max():.4g} 1/s"
    )
    axes.text(
        0.01,
        0.01,
        summary,
        transform=axes.transAxes,
        fontsize="small",
        va="bottom",
        ha="left",
        bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"},
    )
    return figure


def _scatter_eigenvalues(
    axes: Axes, real: np.ndarray, imag: np.ndarray, unstable: np.ndarray
) -> None:
    """Scatter stable eigenvalues small and unstable ones large and red."""
    stable = ~unstable
    if stable.any():
        axes.scatter(
            real[stable],
            imag[stable],
            s=16,
            color="tab:blue",
            alpha=0.7,
            linewidths=0,
            rasterized=True,
            label=f"Re λ ≤ 0 ({int(stable.sum())})",
        )
    if unstable.any():
        # Large markers for a handful of unstable eigenvalues; smaller for
        # hundreds (weight competition), where large ones would merge.
        size = 30 if unstable.sum() <= 50 else 12
        axes.scatter(
            real[unstable],
            imag[unstable],
            s=size,
            color="tab:red",
            edgecolors="black",
            linewidths=0.5,
            rasterized=True,
            zorder=3,
            label=f"Re λ > 0 ({int(unstable.sum())})",
        )


def _set_spectrum_limits(axes: Axes, values: np.ndarray) -> None:
    """Choose scales and limits so that zero and every eigenvalue are visible."""
    real, imag = values.real, values.imag
    # Unstable eigenvalues are kept off the linear band, so none hides on the axis line.
    x_scale, x_linthresh = _apply_scale(axes, "x", real, keep_visible=real[real > 0])
    axes.set_xlim(
        *_padded_range(float(real.min()), float(real.max()), x_scale, x_linthresh)
    )

    largest = float(np.abs(values).max())
    if float(np.abs(imag).max()) <= NEGLIGIBLE_IMAG_RELATIVE * largest:
        # A real spectrum: show a band of fixed height instead of rounding noise.
        axes.set_yscale("linear")
        half = 0.05 * largest if largest > 0 else 1.0
        axes.set_ylim(-half, half)
        return
    y_scale, y_linthresh = _apply_scale(axes, "y", imag)
    half = float(np.abs(imag).max())
    axes.set_ylim(*_padded_range(-half, half, y_scale, y_linthresh))


def plot_spectrum(
    eigenvalues: np.ndarray, *, title: str, path: str | Path | None = None
) -> bytes:
    """Return the PNG of :func:`spectrum_figure`, also written to ``path`` if given."""
    return _finish(spectrum_figure(eigenvalues, title=title), path)


# --- weight histograms -----------------------------------------------------------


def _snapshot_indices(n_times: int, n_snapshots: int) -> list[int]:
    """Return up to ``n_snapshots`` evenly spaced indices, including first and last."""
    picks = np.round(np.linspace(0, n_times - 1, max(n_snapshots, 1))).astype(int)
    return sorted({int(i) for i in picks})


def _cell_edges(centres: np.ndarray) -> np.ndarray:
    """Return cell edges halfway between sorted ``centres``, extended at both ends."""
    if centres.size == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    middle = 0.5 * (centres[1:] + centres[:-1])
    first = centres[0] - (middle[0] - centres[0])
    last = centres[-1] + (centres[-1] - middle[-1])
    return np.concatenate([[first], middle, [last]])


def weight_histogram_figure(
    times: np.ndarray,
    weights: np.ndarray,
    w_min: float,
    w_max: float,
    *,
    title: str,
    n_snapshots: int = 3,
    bins: int = 50,
) -> Figure:
    """Draw weight histograms at a few times and the weight distribution over time.

    Parameters
    ----------
    times : (R,) ndarray
        Sample times in s, strictly increasing.
    weights : (B, R, n_syn) ndarray
        Weights (dimensionless) of ``n_syn`` synapses in ``B`` seeds at each
        sample time. Histograms pool seeds and synapses.
    w_min, w_max : float
        The weight bounds of the rule, drawn as dashed lines. Weights outside
        them widen the plotted range and are counted in a red note, because
        a backend that fails to clip should be visible.
    title : str
        The figure title.
    n_snapshots : int
        Number of histogram times, evenly spaced from first to last sample.
    bins : int
        Number of weight bins.

    Returns
    -------
    Figure
        Left: the fraction of synapses per bin at the snapshot times. Right:
        a heat map of the same fraction over all times (square-root colour
        scale, so that small fractions between the modes stay visible).
    """
    times = _as_array("times", times, 1, "(R,)")
    weights = _as_array("weights", weights, 3, "(B, R, n_syn)")
    _check_times(times)
    if weights.shape[1] != times.size:
        raise ValueError(
            f"weights: expected shape (B, {times.size}, n_syn) to match times, "
            f"got shape {weights.shape}"
        )
    if not (np.isfinite(w_min) and np.isfinite(w_max) and w_max > w_min):
        raise ValueError(
            f"w_min, w_max: expected finite w_min < w_max, got {w_min}, {w_max}"
        )

    edges = np.linspace(min(w_min, weights.min()), max(w_max, weights.max()), bins + 1)
    fractions = _weight_fractions(weights, edges)

    with matplotlib.rc_context({"font.size": WIDE_FIGURE_FONT_SIZE}):
        figure = _draw_weight_histograms(times, weights, w_min, w_max, edges, fractions, n_snapshots)
    figure.suptitle(title, fontsize=WIDE_FIGURE_FONT_SIZE * 1.2)
    _note_out_of_bounds(figure, weights, w_min, w_max)
    return figure


def _draw_weight_histograms(
    times: np.ndarray,
    weights: np.ndarray,
    w_min: float,
    w_max: float,
    edges: np.ndarray,
    fractions: np.ndarray,
    n_snapshots: int,
) -> Figure:
    """Draw the histogram and heat-map panels of :func:`weight_histogram_figure`."""
    figure = Figure(figsize=(11.0, 4.2), layout="constrained")
    left, right = figure.subplots(1, 2, width_ratios=[1.0, 1.25])
    for index in _snapshot_indices(times.size, n_snapshots):
        left.stairs(
            fractions[:, index], edges, linewidth=1.4, label=f"t = {times[index]:.4g} s"
        )
    _mark_bounds(left, w_min, w_max, vertical=True)
    left.set_xlabel("weight w (dimensionless)")
    left.set_ylabel("fraction of synapses per bin")
    left.set_title("histograms (all seeds pooled)", fontsize="medium")
    left.legend(fontsize="small")

    mesh = right.pcolormesh(
        _cell_edges(times),
        edges,
        fractions,
        shading="flat",
        cmap="viridis",
        norm=PowerNorm(gamma=0.5),
        rasterized=True,
    )
    _mark_bounds(right, w_min, w_max, vertical=False)
    right.set_xlabel("time (s)")
    right.set_ylabel("weight w")
    right.set_title("distribution over time", fontsize="medium")
    figure.colorbar(mesh, ax=right, label="fraction of synapses per bin")
    # Tick labels are created when the figure is drawn, after the rc context
    # has closed, so their size is set here.
    for axes in figure.axes:
        axes.tick_params(labelsize=WIDE_FIGURE_FONT_SIZE)
    return figure


def _weight_fractions(weights: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Return (bins, R): the fraction of all seeds' synapses per bin at each time."""
    per_time = weights.shape[0] * weights.shape[2]
    fractions = np.empty((edges.size - 1, weights.shape[1]))
    for r in range(weights.shape[1]):
        counts, _ = np.histogram(weights[:, r, :], bins=edges)
        fractions[:, r] = counts / per_time
    return fractions


def _mark_bounds(axes: Axes, w_min: float, w_max: float, *, vertical: bool) -> None:
    """Draw the weight bounds as dashed lines."""
    draw = axes.axvline if vertical else axes.axhline
    draw(w_min, color="grey", linestyle="--", linewidth=0.9)
    draw(w_max, color="grey", linestyle="--", linewidth=0.9)


def _note_out_of_bounds(
    figure: Figure, weights: np.ndarray, w_min: float, w_max: float
) -> None:
    """Add a red note with the number of weights outside [w_min, w_max]."""
    slack = WEIGHT_BOUND_SLACK_RELATIVE * (w_max - w_min)
    outside = int(
        np.count_nonzero((weights < w_min - slack) | (weights > w_max + slack))
    )
    if outside == 0:
        return
    logger.warning(
        "%d of %d weights lie outside [%g, %g]", outside, weights.size, w_min, w_max
    )
    figure.text(
        0.01,
        0.01,
        f"{outside} of {weights.size} weight samples outside [{w_min:g}, {w_max:g}]",
        color="tab:red",
        fontsize="small",
    )


def plot_weight_histograms(
    times: np.ndarray,
    weights: np.ndarray,
    w_min: float,
    w_max: float,
    *,
    title: str,
    n_snapshots: int = 3,
    bins: int = 50,
    path: str | Path | None = None,
) -> bytes:
    """Return the PNG of :func:`weight_histogram_figure`; write it to ``path`` too."""
    figure = weight_histogram_figure(
        times, weights, w_min, w_max, title=title, n_snapshots=n_snapshots, bins=bins
    )
    return _finish(figure, path)


# --- distance to equilibrium ---------------------------------------------------


def distance_figure(
    times: np.ndarray,
    distance: np.ndarray,
    bound: np.ndarray | None,
    *,
    title: str,
) -> Figure:
    """Draw ||x(t) - x*|| per seed on a log axis beside the certified bound.

    Parameters
    ----------
    times : (R,) ndarray
        Sample times in s, strictly increasing.
    distance : (B, R) ndarray
        Euclidean distance of each seed's state from the equilibrium x*.
        Zeros cannot be drawn on a log axis and are left out of the lines.
    bound : (R,) ndarray or None
        The bound sqrt(kappa) exp(-alpha t) ||x(0) - x*||, or None when there
        is no certificate.
    title : str
        The figure title.

    Returns
    -------
    Figure
        One log-y axes. When a bound is given, a note gives the number of
        seeds that exceed it at some sample time. The bound is proved for the
        mean-field ODE, so a spiking trajectory may cross it.
    """
    times = _as_array("times", times, 1, "(R,)")
    distance = _as_array("distance", distance, 2, "(B, R)")
    _check_times(times)
    if distance.shape[1] != times.size:
        raise ValueError(
            f"distance: expected shape (B, {times.size}) to match times, "
            f"got shape {distance.shape}"
        )
    if np.any(distance < 0):
        raise ValueError("distance: norms cannot be negative; pass ||x(t) - x*||")

    figure = Figure(figsize=(8.0, 4.5), layout="constrained")
    # Reserve a strip at the bottom for the note on seeds above the bound, so
    # the note never covers a curve.
    figure.get_layout_engine().set(rect=(0.0, NOTE_STRIP_HEIGHT, 1.0, 1.0 - NOTE_STRIP_HEIGHT))
    axes = figure.add_subplot()
    positive_distance = np.where(distance > 0, distance, np.nan)
    n_seeds = distance.shape[0]
    opacity = 0.9 if n_seeds <= 5 else max(0.15, 3.0 / n_seeds)
    for seed in range(n_seeds):
        axes.plot(
            times,
            positive_distance[seed],
            color="tab:blue",
            linewidth=0.9,
            alpha=opacity,
            label=f"distance from the equilibrium, one line per seed ({n_seeds})"
            if seed == 0
            else None,
        )
    axes.set_yscale("log")
    _draw_bound(axes, times, distance, bound)
    _limit_to_data(axes, distance)
    axes.set_xlabel("time (s)")
    axes.set_ylabel("distance to equilibrium")
    axes.set_title(title)
    axes.grid(True, which="both", linewidth=0.3, alpha=0.5)
    # Below the axes: the bound starts at the top of the plot and the data
    # may lie anywhere, so a legend inside the axes could cover either.
    # Constrained layout makes room for it.
    axes.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, LEGEND_BELOW_AXES),
        ncols=2,
        fontsize="small",
        frameon=False,
    )
    return figure


def _draw_bound(
    axes: Axes, times: np.ndarray, distance: np.ndarray, bound: np.ndarray | None
) -> None:
    """Draw the certified bound and note how many seeds exceed it."""
    if bound is None:
        return
    bound = _as_array("bound", bound, 1, "(R,)")
    if bound.size != times.size:
        raise ValueError(
            f"bound: expected shape ({times.size},) to match times, got {bound.shape}"
        )
    axes.plot(
        times,
        np.where(bound > 0, bound, np.nan),
        color="black",
        linestyle="--",
        linewidth=1.6,
        label=r"certified bound $\sqrt{\kappa}\,e^{-\alpha t}\,\|x(0)-x^*\|$",
    )
    exceeding = int(np.count_nonzero(np.any(distance > bound, axis=1)))
    colour = "tab:red" if exceeding else "black"
    axes.figure.text(
        0.01,
        0.01,
        f"{exceeding} of {distance.shape[0]} seed(s) exceed the bound "
        "at some sample time",
        fontsize="small",
        color=colour,
        va="bottom",
    )


def _limit_to_data(axes: Axes, distance: np.ndarray) -> None:
    """Keep the y range on the measured distances, not on a bound near zero."""
    positive = distance[distance > 0]
    if positive.size == 0:
        return
    low, high = float(positive.min()), float(positive.max())
    bottom, top = axes.get_ylim()
    axes.set_ylim(max(bottom, low / 3.0), max(top, high * 1.5))


def plot_distance(
    times: np.ndarray,
    distance: np.ndarray,
    bound: np.ndarray | None,
    *,
    title: str,
    path: str | Path | None = None,
) -> bytes:
    """Return the PNG of :func:`distance_figure`, also written to ``path`` if given."""
    return _finish(distance_figure(times, distance, bound, title=title), path)


# --- decay rates -----------------------------------------------------------------


def decay_rate_figure(
    predicted: Sequence[float],
    measured: Sequence[float],
    labels: Sequence[str],
    *,
    measured_spread: Sequence[float] | None = None,
    title: str = "Predicted and measured decay rates",
) -> Figure:
    """Draw measured against predicted decay rates, with the line of equality.

    Parameters
    ----------
    predicted, measured : sequence of float, length k
        Decay rates in 1/s: predicted from the mean-field Jacobian, measured
        in simulation.
    labels : sequence of str, length k
        A name for each pair, drawn beside its point when k is at most
        ``MAX_ANNOTATED_LABELS``.
    measured_spread : sequence of float, length k, optional
        Spread of the measurement across seeds (for example one standard
        deviation), drawn as vertical error bars.
    title : str
        The figure title.

    Returns
    -------
    Figure
        A square scatter plot; log axes when all rates are positive and span
        ``LOG_RATES_MIN_DECADES`` decades or more.
    """
    predicted_array = _as_array("predicted", list(predicted), 1, "(k,)")
    measured_array = _as_array("measured", list(measured), 1, "(k,)")
    labels = [str(label) for label in labels]
    if not (predicted_array.size == measured_array.size == len(labels)):
        raise ValueError(
            f"predicted, measured, labels: expected equal lengths, got "
            f"{predicted_array.size}, {measured_array.size}, {len(labels)}"
        )
    spread = None
    if measured_spread is not None:
        spread = _as_array("measured_spread", list(measured_spread), 1, "(k,)")
        if spread.size != measured_array.size or np.any(spread < 0):
            raise ValueError(
                "measured_spread: expected k non-negative values, one per rate"
            )

    figure = Figure(figsize=(6.0, 5.5), layout="constrained")
    axes = figure.add_subplot()
    axes.errorbar(
        predicted_array,
        measured_array,
        yerr=spread,
        fmt="o",
        color="tab:blue",
        ecolor="tab:gray",
        capsize=3,
        label="measured vs predicted",
    )
    _draw_identity(axes, predicted_array, measured_array)
    if len(labels) <= MAX_ANNOTATED_LABELS:
        _label_points(axes, predicted_array, measured_array, labels)
    axes.set_xlabel("predicted decay rate (1/s)")
    axes.set_ylabel("measured decay rate (1/s)")
    axes.set_title(title)
    axes.grid(True, which="both", linewidth=0.3, alpha=0.5)
    axes.legend(loc="upper left", fontsize="small")
    return figure


def _label_points(
    axes: Axes, x: np.ndarray, y: np.ndarray, labels: Sequence[str]
) -> None:
    """Write each label beside its point, on the side where the axes has room.

    Labels of nearby points are stacked so that they do not overlap, and a
    thin line joins each of them to its point.
    """
    to_axes = axes.transData + axes.transAxes.inverted()
    fractions = [to_axes.transform(point) for point in zip(x, y, strict=True)]
    placed: list[tuple[float, float, int]] = []
    slots: dict[int, int] = {}
    for index in _label_order(fractions):
        fraction_x, fraction_y = fractions[index]
        slots[index] = _free_label_slot(placed, fraction_x, fraction_y)
        placed.append((fraction_x, fraction_y, slots[index]))
    # Annotations follow the order of labels, so axes.texts does too.
    for index, (point_x, point_y, label) in enumerate(zip(x, y, labels, strict=True)):
        fraction_x, fraction_y = fractions[index]
        right = fraction_x > LABEL_FLIP_FRACTION
        slot = slots[index]
        crowded = _has_near_point(fractions, fraction_x, fraction_y)
        rise = _label_rise(slot, upwards=fraction_y < 0.5, crowded=crowded)
        axes.annotate(
            label,
            (point_x, point_y),
            textcoords="offset points",
            xytext=(-5, rise) if right else (5, rise),
            ha="right" if right else "left",
            fontsize="small",
            # A light box keeps the label readable where a line crosses it.
            bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 1.0},
            arrowprops=LEADER_LINE if crowded else None,
        )


def _label_order(fractions: list[np.ndarray]) -> list[int]:
    """Return the order in which labels take stacking slots, nearest slot first.

    A label runs from its point towards the middle of the axes, so the
    point furthest in that direction gets the lowest slot. The labels
    stacked above it then start further out, and leader lines do not cross.
    """

    def key(index: int) -> float:
        fraction_x = float(fractions[index][0])
        return fraction_x if fraction_x > LABEL_FLIP_FRACTION else -fraction_x

    return sorted(range(len(fractions)), key=key)


def _has_near_point(
    fractions: list[np.ndarray], fraction_x: float, fraction_y: float
) -> bool:
    """Return True when another point is close enough for labels to collide."""
    near_x, near_y = LABEL_CLASH_FRACTION
    near = [
        abs(other_x - fraction_x) < near_x and abs(other_y - fraction_y) < near_y
        for other_x, other_y in fractions
    ]
    return sum(near) > 1


def _label_rise(slot: int, *, upwards: bool, crowded: bool) -> float:
    """Return the baseline of a label relative to its point, in points.

    A label of a point with no near neighbour sits just above it. Crowded
    labels move one step per slot off their point, so their leader lines
    show: upwards in the lower half of the axes, downwards in the upper half.
    """
    if not crowded:
        return 4.0
    offset = (slot + 1) * LABEL_STEP_POINTS
    return 4.0 + offset if upwards else -8.0 - offset


def _free_label_slot(
    placed: list[tuple[float, float, int]], fraction_x: float, fraction_y: float
) -> int:
    """Return the lowest stacking slot that no label of a nearby point uses."""
    near_x, near_y = LABEL_CLASH_FRACTION
    taken = {
        slot
        for other_x, other_y, slot in placed
        if abs(other_x - fraction_x) < near_x and abs(other_y - fraction_y) < near_y
    }
    slot = 0
    while slot in taken:
        slot += 1
    return slot


def _draw_identity(axes: Axes, predicted: np.ndarray, measured: np.ndarray) -> None:
    """Draw y = x over a common range and pick linear or log axes."""
    both = np.concatenate([predicted, measured])
    low, high = float(both.min()), float(both.max())
    use_log = low > 0 and high >= low * 10.0**LOG_RATES_MIN_DECADES
    if use_log:
        limits = (low / 2.0, high * 2.0)
        axes.set_xscale("log")
        axes.set_yscale("log")
    else:
        pad = 0.1 * (high - low) if high > low else 0.1 * max(abs(high), 1.0)
        limits = (low - pad, high + pad)
    axes.plot(
        limits,
        limits,
        color="black",
        linestyle="--",
        linewidth=1.0,
        label="measured = predicted",
    )
    axes.set_xlim(limits)
    axes.set_ylim(limits)
    axes.set_aspect("equal", adjustable="box")


def plot_decay_rates(
    predicted: Sequence[float],
    measured: Sequence[float],
    labels: Sequence[str],
    *,
    measured_spread: Sequence[float] | None = None,
    title: str = "Predicted and measured decay rates",
    path: str | Path | None = None,
) -> bytes:
    """Return the PNG of :func:`decay_rate_figure`; write it to ``path`` if given."""
    figure = decay_rate_figure(
        predicted, measured, labels, measured_spread=measured_spread, title=title
    )
    return _finish(figure, path)
