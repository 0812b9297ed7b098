"""The forgetting figure, drawn on a bare matplotlib Figure with the Agg canvas.

Like the report layer's figures, nothing here touches pyplot or the global
matplotlib backend, so it is safe to call from threads and servers.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from biosynapse_verify.forgetting.bound import QUOTED_RATE

if TYPE_CHECKING:
    from biosynapse_verify.forgetting.result import ForgettingResult

__all__ = ["forgetting_figure", "forgetting_png"]

# Same resolution as the report's figures: 150 dpi on an 11-inch figure.
PNG_DPI = 150


def forgetting_figure(result: ForgettingResult) -> Figure:
    """Draw the per-epoch forgetting rate beside the bound, and the W_A weights.

    Left: the rate in percent per epoch, each seed thin, the seed mean thick
    with a band of one standard deviation, the bound, the quoted 0.067% and
    the noise floor. Right: the mean normalised weight of ``W_A`` at each
    epoch boundary, per seed and on average.
    """
    figure = Figure(figsize=(11.0, 5.5), layout="constrained")
    rate_axes, level_axes = figure.subplots(1, 2)
    _draw_rates(rate_axes, result)
    _draw_levels(level_axes, result)
    figure.suptitle(
        f"{result.network}: forgetting of task {result.tasks[0]!r} per epoch "
        f"of T = {1e3 * result.epoch:g} ms = {result.bound.epoch_in_tau:.3g} τ-"
    )
    return figure


def forgetting_png(result: ForgettingResult) -> bytes:
    """Render :func:`forgetting_figure` to PNG bytes."""
    figure = forgetting_figure(result)
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=PNG_DPI)
    return buffer.getvalue()


def _draw_rates(axes: Axes, result: ForgettingResult) -> None:
    epochs = np.arange(1, result.n_epochs + 1)
    percent = 100 * result.rates
    stats = result.statistics()
    for row in percent:
        axes.plot(epochs, row, color="tab:blue", alpha=0.25, linewidth=0.8)

    mean = 100 * stats.mean
    axes.plot(
        epochs, mean, color="tab:blue", linewidth=2.0, label="measured, seed mean"
    )
    if not np.isnan(stats.std).all():
        std = 100 * stats.std
        axes.fill_between(
            epochs,
            mean - std,
            mean + std,
            color="tab:blue",
            alpha=0.2,
            label="± 1 std",
        )

    axes.axhline(
        100 * result.bound.value, color="tab:red", linewidth=1.5,
        label=f"bound (A-/A+) e^(-T/τ-) = {100 * result.bound.value:.3g}%",
    )
    axes.axhline(
        100 * QUOTED_RATE, color="tab:red", linestyle="--", linewidth=1.0,
        label=f"quoted {100 * QUOTED_RATE:.3g}%",
    )
    axes.axhline(
        100 * result.control_rates.mean(), color="0.4", linestyle=":", linewidth=1.2,
        label="noise floor (still on first task)",
    )

    if (percent > 0).all():
        axes.set_yscale("log")
    axes.set_xlabel("epoch of later-task training")
    axes.set_ylabel("forgetting rate ||ΔW_A|| / ||W|| (% per epoch)")
    # Below the axes, because the lines span the whole height on a log scale.
    axes.legend(
        fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2
    )
    axes.grid(True, which="both", alpha=0.3)


def _draw_levels(axes: Axes, result: ForgettingResult) -> None:
    boundaries = np.arange(result.n_epochs + 1)
    for row in result.potentiated_level:
        axes.plot(boundaries, row, color="tab:green", alpha=0.25, linewidth=0.8)
    axes.plot(
        boundaries, result.potentiated_level.mean(axis=0), color="tab:green",
        linewidth=2.0, label="seed mean",
    )
    axes.set_xlabel("epoch boundary (0 = end of first task)")
    axes.set_ylabel("mean W_A weight, (w - w_min) / (w_max - w_min)")
    axes.set_ylim(0.0, 1.0)
    axes.legend(fontsize="small")
    axes.grid(True, alpha=0.3)
