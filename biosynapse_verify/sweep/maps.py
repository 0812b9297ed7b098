"""Stability maps of a sweep: heat maps over two axes and profiles along one.

The heat map colours each certified point by a value (beta, the decay rate,
or the spectral abscissa) and marks refuted, inconclusive and failed points
with fixed colours. It draws the certified/refuted boundary along the cell
edges between neighbouring points with those verdicts. Cells are laid out in grid
order (one column per axis value), so log-spaced axes get equal-width cells.
Axes of the grid that are not on the map split the points into panels, one
per combination of their values.

Like :mod:`biosynapse_verify.report.plots`, figures are built on a bare
:class:`matplotlib.figure.Figure` and rendered by the Agg canvas.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm, Normalize, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from biosynapse_verify.sweep.grid import MapSettings

__all__ = [
    "BIMODALITY_THRESHOLD",
    "MAX_PANELS",
    "boundary_positions",
    "profile_figure",
    "scatter_map_figure",
    "stability_map_figure",
]

logger = logging.getLogger(__name__)

# Sarle's bimodality coefficient of a uniform distribution; larger values
# suggest two modes (the reference line of the simulated-weights panel).
BIMODALITY_THRESHOLD = 5.0 / 9.0
# Panels beyond this count (combinations of the axes not on the map) are
# left out of the figure and counted in its title. The table keeps every point.
MAX_PANELS = 12
# Values that are all positive and span at least this many decades get a
# logarithmic colour scale.
LOG_COLOUR_MIN_DECADES = 2.0

VERDICT_COLOURS = {
    "refuted": "#e8a0a0",
    "inconclusive": "#c8c8c8",
    "failed": "#ffffff",
}
VALUE_LABELS = {
    "beta": "beta (1/s), certified",
    "decay_rate_per_s": "alpha (1/s), certified",
    "spectral_abscissa_per_s": "max Re lambda(A) (1/s)",
}


def _ordered_unique(values: Sequence[Any]) -> list[Any]:
    seen: list[Any] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


def _label(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _facets(
    rows: list[dict[str, Any]], axis_names: Sequence[str], shown: Sequence[str]
) -> list[tuple[str, list[dict[str, Any]]]]:
    """Group rows by the values of the axes that are not shown on the map."""
    others = [name for name in axis_names if name not in shown]
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[name] for name in others), []).append(row)
    return [
        (", ".join(f"{n} = {_label(v)}" for n, v in zip(others, key)), group)
        for key, group in groups.items()
    ]


def _value_norm(values: np.ndarray, column: str) -> tuple[Normalize, str]:
    """Pick the colour scale and colour map for the finite ``values``."""
    finite = values[np.isfinite(values)]
    if column == "spectral_abscissa_per_s":
        span = float(np.max(np.abs(finite))) if finite.size else 1.0
        span = span if span > 0 else 1.0
        return TwoSlopeNorm(0.0, -span, span), "RdBu_r"
    if finite.size and finite.min() > 0:
        low, high = float(finite.min()), float(finite.max())
        if np.log10(high / low) >= LOG_COLOUR_MIN_DECADES:
            return LogNorm(low, high), "viridis"
        if high > low:
            return Normalize(low, high), "viridis"
        return Normalize(0.9 * low, 1.1 * high), "viridis"
    return Normalize(0.0, 1.0), "viridis"


def _cells(
    rows: list[dict[str, Any]], x: str, y: str | None, xs: list, ys: list, column: str
) -> tuple[np.ndarray, np.ndarray]:
    """Return the value and verdict of every cell, shape (len(ys), len(xs))."""
    values = np.full((len(ys), len(xs)), np.nan)
    verdicts = np.full((len(ys), len(xs)), "", dtype=object)
    for row in rows:
        i = ys.index(row[y]) if y is not None else 0
        j = xs.index(row[x])
        verdicts[i, j] = row["verdict"]
        shown = row["verdict"] == "certified" or column == "spectral_abscissa_per_s"
        if shown and row.get(column) is not None:
            values[i, j] = row[column]
    return values, verdicts


def _boundary_segments(verdicts: np.ndarray, first: str, second: str) -> list[tuple]:
    """Return cell edges between a ``first`` cell and a ``second`` neighbour."""
    pair = {first, second}
    segments = []
    rows, cols = verdicts.shape
    for i in range(rows):
        for j in range(cols):
            if j + 1 < cols and {verdicts[i, j], verdicts[i, j + 1]} == pair:
                segments.append(((j + 0.5, j + 0.5), (i - 0.5, i + 0.5)))
            if i + 1 < rows and {verdicts[i, j], verdicts[i + 1, j]} == pair:
                segments.append(((j - 0.5, j + 0.5), (i + 0.5, i + 0.5)))
    return segments


def _fill_verdict_cells(axes: Axes, verdicts: np.ndarray, values: np.ndarray) -> None:
    """Paint cells that show no value in their verdict's colour."""
    for (i, j), verdict in np.ndenumerate(verdicts):
        if verdict not in VERDICT_COLOURS or np.isfinite(values[i, j]):
            continue
        axes.add_patch(
            Rectangle(
                (j - 0.5, i - 0.5),
                1.0,
                1.0,
                facecolor=VERDICT_COLOURS[verdict],
                edgecolor="white",
                hatch="//" if verdict == "refuted" else None,
                linewidth=0.5,
            )
        )
        if verdict == "failed":
            axes.plot(j, i, marker="x", color="black")


def _draw_panel(
    axes: Axes, values: np.ndarray, verdicts: np.ndarray, norm: Normalize, cmap: str
) -> Any:
    """Draw one heat map panel; return the image for the colour bar."""
    image = axes.imshow(
        np.ma.masked_invalid(values), origin="lower", aspect="auto", norm=norm, cmap=cmap
    )
    _fill_verdict_cells(axes, verdicts, values)
    for xs, ys in _boundary_segments(verdicts, "certified", "refuted"):
        axes.plot(xs, ys, color="black", linewidth=2.5, solid_capstyle="butt")
    for xs, ys in _boundary_segments(verdicts, "certified", "inconclusive"):
        axes.plot(xs, ys, color="black", linewidth=1.2, linestyle="--")
    axes.set_xlim(-0.5, values.shape[1] - 0.5)
    axes.set_ylim(-0.5, values.shape[0] - 0.5)
    return image


def _legend_handles() -> list[Any]:
    handles: list[Any] = [
        Patch(facecolor=VERDICT_COLOURS["refuted"], hatch="//", label="refuted"),
        Patch(facecolor=VERDICT_COLOURS["inconclusive"], label="inconclusive"),
        Line2D([], [], color="black", marker="x", linestyle="", label="failed"),
        Line2D([], [], color="black", linewidth=2.5, label="certified / refuted boundary"),
        Line2D([], [], color="black", linestyle="--", label="certified / inconclusive"),
    ]
    return handles


def _set_ticks(axes: Axes, xs: list, ys: list | None, x: str, y: str | None) -> None:
    axes.set_xticks(range(len(xs)), [_label(v) for v in xs], rotation=45 if len(xs) > 8 else 0)
    axes.set_xlabel(x)
    if ys is None:
        axes.set_yticks([])
        return
    axes.set_yticks(range(len(ys)), [_label(v) for v in ys])
    axes.set_ylabel(y or "")


def stability_map_figure(
    rows: list[dict[str, Any]],
    axis_names: Sequence[str],
    settings: MapSettings,
    *,
    title: str,
) -> Figure:
    """Draw the stability map of a full-grid sweep.

    Parameters
    ----------
    rows : list of dict
        Table rows (axis values, ``verdict`` and the value column).
    axis_names : sequence of str
        All axes of the grid, in grid order.
    settings : MapSettings
        The x axis, the optional y axis and the value column. Without a y
        axis the map is one strip per combination of the other axes.
    title : str

    Returns
    -------
    Figure
    """
    x, y, column = settings.x, settings.y, settings.value
    ordered = sorted(rows, key=lambda row: row["point_index"])
    xs = _ordered_unique([row[x] for row in ordered])
    facets = _facets(ordered, axis_names, [x] if y is None else [x, y])
    if y is None:
        # Each combination of the other axes becomes one row of cells.
        labelled = [
            dict(row, _facet=label or "all points") for label, group in facets for row in group
        ]
        facets_to_draw, y_name = [("", labelled)], "_facet"
        ys = _ordered_unique([row["_facet"] for row in labelled])
    else:
        facets_to_draw, y_name = facets, y
        ys = _ordered_unique([row[y] for row in ordered])
    omitted = max(0, len(facets_to_draw) - MAX_PANELS)
    facets_to_draw = facets_to_draw[:MAX_PANELS]

    all_values = np.array(
        [row.get(column) if row.get(column) is not None else np.nan for row in ordered],
        dtype=float,
    )
    certified = np.array([row["verdict"] == "certified" for row in ordered])
    shown = all_values if column == "spectral_abscissa_per_s" else all_values[certified]
    norm, cmap = _value_norm(shown, column)

    columns = min(3, len(facets_to_draw))
    panel_rows = -(-len(facets_to_draw) // columns)
    height = max(2.2, 0.45 * len(ys) + 1.6)
    figure = Figure(
        figsize=(min(16.0, 5.5 * columns + 1.5), height * panel_rows + 1.2), layout="constrained"
    )
    grid_axes = figure.subplots(panel_rows, columns, squeeze=False)
    image = None
    for axes, (label, group) in zip(grid_axes.ravel(), facets_to_draw):
        values, verdicts = _cells(group, x, y_name, xs, ys, column)
        image = _draw_panel(axes, values, verdicts, norm, cmap)
        _set_ticks(axes, xs, None if ys == ["all points"] else ys, x, y)
        if label:
            axes.set_title(label, fontsize=9)
    for axes in grid_axes.ravel()[len(facets_to_draw) :]:
        axes.set_visible(False)
    figure.colorbar(image, ax=grid_axes.ravel().tolist(), label=VALUE_LABELS[column])
    figure.legend(
        handles=_legend_handles(), loc="outside lower center", ncol=3, fontsize=8, frameon=False
    )
    note = f" ({omitted} more panels in the table)" if omitted else ""
    figure.suptitle(title + note)
    return figure


def boundary_positions(rows: list[dict[str, Any]], x: str) -> list[tuple[Any, Any]]:
    """Return each pair of neighbouring x values where certified meets refuted.

    ``rows`` are the points of one profile (one value per x), in grid order.
    """
    ordered = sorted(rows, key=lambda row: row["point_index"])
    pairs = []
    for left, right in zip(ordered, ordered[1:]):
        if {left["verdict"], right["verdict"]} == {"certified", "refuted"}:
            pairs.append((left[x], right[x]))
    return pairs


def profile_figure(
    rows: list[dict[str, Any]],
    axis_names: Sequence[str],
    x: str,
    *,
    title: str,
) -> Figure:
    """Draw the spectral abscissa, the certified decay rate and the simulated
    bimodality along one axis, one line per combination of the other axes.

    The certified/refuted boundary is drawn as a vertical line halfway
    between the neighbouring points where the verdict changes.
    """
    ordered = sorted(rows, key=lambda row: row["point_index"])
    xs = _ordered_unique([row[x] for row in ordered])
    facets = _facets(ordered, axis_names, [x])[:MAX_PANELS]
    simulated = any(row.get("sim_bimodality_coefficient") is not None for row in ordered)
    figure = Figure(figsize=(8.0, 6.5 if simulated else 4.0))
    panels = figure.subplots(2 if simulated else 1, 1, sharex=True, squeeze=False)[:, 0]

    for label, group in facets:
        positions = [xs.index(row[x]) for row in group]
        abscissa = [_nan(row.get("spectral_abscissa_per_s")) for row in group]
        decay = [_nan(row.get("decay_rate_per_s")) for row in group]
        line = panels[0].plot(positions, abscissa, marker="o", label=f"max Re lambda(A) {label}")
        panels[0].plot(
            positions, [-d for d in decay], marker="s", linestyle=":",
            color=line[0].get_color(), label=f"-alpha (certified) {label}",
        )
        if simulated:
            bimodality = [_nan(row.get("sim_bimodality_coefficient")) for row in group]
            panels[1].plot(positions, bimodality, marker="o", label=label or None)
        for left, right in boundary_positions(group, x):
            for axes in panels:
                axes.axvline((xs.index(left) + xs.index(right)) / 2, color="black", linewidth=2)
    panels[0].axhline(0.0, color="grey", linewidth=0.8)
    panels[0].set_ylabel("rate (1/s)")
    panels[0].legend(fontsize=8)
    if simulated:
        panels[1].axhline(BIMODALITY_THRESHOLD, color="grey", linestyle="--", label="5/9")
        panels[1].set_ylabel("bimodality coefficient\nof simulated weights")
        panels[1].legend(fontsize=8)
    panels[-1].set_xticks(range(len(xs)), [_label(v) for v in xs])
    panels[-1].set_xlabel(f"{x} (black line: certified / refuted boundary)")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def _nan(value: Any) -> float:
    return np.nan if value is None else float(value)


def _numeric(values: list[Any]) -> np.ndarray:
    """Return the finite values as floats, or an empty array if any is not a number."""
    present = [v for v in values if v is not None]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return np.zeros(0)
    data = np.asarray(present, dtype=float)
    return data[np.isfinite(data)]


def scatter_map_figure(
    rows: list[dict[str, Any]], settings: MapSettings, *, title: str
) -> Figure:
    """Draw a randomly sampled sweep as a scatter plot over its map axes.

    Certified points are coloured by the value column; the others get one
    marker per verdict. Without a y axis the spectral abscissa is the y axis.
    """
    # NOTE: no boundary is drawn for random samples, because scattered points
    # have no cell edges; read it from where the markers change.
    x, column = settings.x, settings.value
    y = settings.y or "spectral_abscissa_per_s"
    figure = Figure(figsize=(7.5, 5.5))
    axes = figure.subplots()
    certified = [r for r in rows if r["verdict"] == "certified" and r.get(y) is not None]
    values = np.array([_nan(r.get(column)) for r in certified])
    norm, cmap = _value_norm(values, column)
    points = axes.scatter(
        [r[x] for r in certified], [r[y] for r in certified], c=values, norm=norm, cmap=cmap,
        marker="o", label="certified",
    )
    markers = {"refuted": "^", "inconclusive": "s", "failed": "x"}
    for verdict, marker in markers.items():
        chosen = [r for r in rows if r["verdict"] == verdict and r.get(y) is not None]
        if chosen:
            axes.scatter(
                [r[x] for r in chosen], [r[y] for r in chosen], marker=marker,
                color="black" if verdict == "failed" else VERDICT_COLOURS[verdict],
                edgecolors="black", label=verdict,
            )
    for name, setter in ((x, axes.set_xscale), (y, axes.set_yscale)):
        data = _numeric([r.get(name) for r in rows])
        if data.size and data.min() > 0 and np.log10(data.max() / data.min()) >= 2:
            setter("log")
    axes.set_xlabel(x)
    axes.set_ylabel(y)
    axes.legend(fontsize=8)
    figure.colorbar(points, ax=axes, label=VALUE_LABELS[column])
    figure.suptitle(title)
    return figure
