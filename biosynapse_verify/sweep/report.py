"""The sweep's HTML report: summary, stability map, profile and point table.

Figures are embedded as PNG data, so ``report.html`` is one self-contained
file; the PNG files are also written beside it.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import jinja2

from biosynapse_verify.report.atomic import atomic_write_bytes, atomic_write_text
from biosynapse_verify.report.plots import figure_to_png
from biosynapse_verify.spec.schema import NetworkSpec
from biosynapse_verify.sweep.columns import ETA_STAR_NOTE
from biosynapse_verify.sweep.grid import SweepGrid
from biosynapse_verify.sweep.maps import (
    BIMODALITY_THRESHOLD,
    boundary_positions,
    profile_figure,
    scatter_map_figure,
    stability_map_figure,
)

__all__ = ["MAX_TABLE_ROWS", "boundary_summary", "write_sweep_report"]

logger = logging.getLogger(__name__)

# The HTML table lists at most this many points; the Parquet/CSV table has all.
MAX_TABLE_ROWS = 2000

SCOPE = (
    "Each verdict is about the averaged (mean-field) learning dynamics at the "
    "judged equilibrium; the short simulations, where run, are evidence for "
    "the spiking network."
)

TABLE_COLUMNS = (
    "verdict",
    "beta",
    "decay_rate_per_s",
    "spectral_abscissa_per_s",
    "strategy",
    "equilibrium_weight_mean",
    "equilibrium_rate_Hz",
    "sim_bimodality_coefficient",
    "sim_rate_Hz",
    "point_s",
)

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Sweep of {{ network }}</title>
<style>
body { font-family: sans-serif; max-width: 72rem; margin: 2rem auto; color: #222; }
table { border-collapse: collapse; font-size: 0.85rem; }
td, th { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: right; }
th { background: #f0f0f0; }
.certified { background: #e4f4e4; } .refuted { background: #f8dede; }
.inconclusive { background: #eee; } .failed { background: #fff3cd; }
img { max-width: 100%; }
pre { background: #f6f6f6; padding: 0.5rem; font-size: 0.8rem; overflow-x: auto; }
</style></head><body>
<h1>Sweep of {{ network }}</h1>
<p>{{ scope }}</p>
<table>
{% for label, value in summary %}<tr><th>{{ label }}</th><td>{{ value }}</td></tr>
{% endfor %}</table>
{% if boundaries %}<h2>Boundaries along {{ profile_axis }}</h2><ul>
{% for line in boundaries %}<li>{{ line }}</li>{% endfor %}</ul>{% endif %}
{% for figure in figures %}<h2>{{ figure.title }}</h2>
<img alt="{{ figure.title }}" src="data:image/png;base64,{{ figure.data }}">
{% endfor %}
<h2>Notes</h2><ul><li>{{ eta_note }}</li>
{% for note in notes %}<li>{{ note }}</li>{% endfor %}</ul>
<h2>Points</h2>
<table><tr>{% for name in columns %}<th>{{ name }}</th>{% endfor %}</tr>
{% for row in rows %}<tr class="{{ row.verdict }}">{% for cell in row.cells %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</table>
{% if truncated %}<p>{{ truncated }} more points are in the table files.</p>{% endif %}
<h2>Grid</h2><pre>{{ grid_json }}</pre>
</body></html>
"""


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _crossings(rows: list[dict[str, Any]], x: str) -> list[tuple[Any, Any]]:
    """Neighbouring x values where the simulated bimodality crosses 5/9."""
    ordered = sorted(rows, key=lambda row: row["point_index"])
    pairs = []
    for left, right in zip(ordered, ordered[1:]):
        a, b = left.get("sim_bimodality_coefficient"), right.get("sim_bimodality_coefficient")
        if a is not None and b is not None and (a > BIMODALITY_THRESHOLD) != (b > BIMODALITY_THRESHOLD):
            pairs.append((left[x], right[x]))
    return pairs


def boundary_summary(rows: list[dict[str, Any]], axis_names: list[str], x: str) -> list[str]:
    """Describe, per combination of the other axes, where the verdict and the
    simulated bimodality change along ``x``.
    """
    others = [name for name in axis_names if name != x]
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[name] for name in others), []).append(row)
    lines = []
    for key, group in groups.items():
        prefix = ", ".join(f"{n} = {_format(v)}" for n, v in zip(others, key))
        prefix = f"{prefix}: " if prefix else ""
        certified = [f"between {x} = {_format(a)} and {_format(b)}" for a, b in boundary_positions(group, x)]
        lines.append(prefix + "certified/refuted boundary " + ("; ".join(certified) or "not crossed"))
        if any(row.get("sim_bimodality_coefficient") is not None for row in group):
            crossed = [f"between {x} = {_format(a)} and {_format(b)}" for a, b in _crossings(group, x)]
            lines.append(
                prefix + "simulated bimodality coefficient crosses 5/9 "
                + ("; ".join(crossed) or "nowhere")
            )
    return lines


def _figures(
    rows: list[dict[str, Any]], spec: NetworkSpec, grid: SweepGrid
) -> dict[str, tuple[str, bytes]]:
    settings = grid.map_settings()
    axis_names = [axis.name for axis in grid.axes]
    title = f"Stability map of {spec.name}"
    if grid.sampling.mode == "random":
        figure = scatter_map_figure(rows, settings, title=title)
    else:
        figure = stability_map_figure(rows, axis_names, settings, title=title)
    figures = {"stability_map": ("Stability map", figure_to_png(figure))}
    if settings.y is None and grid.sampling.mode == "grid":
        profile = profile_figure(rows, axis_names, settings.x, title=f"{spec.name} along {settings.x}")
        figures["profile"] = (f"Profile along {settings.x}", figure_to_png(profile))
    return figures


def _summary(rows: list[dict[str, Any]], outcome: Any) -> list[tuple[str, str]]:
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(outcome.verdicts.items()))
    compute = sum(row.get("point_s") or 0.0 for row in rows)
    return [
        ("points", f"{len(rows)} stored of {outcome.n_points}"),
        ("verdicts", counts),
        ("computed in this run", str(outcome.n_computed)),
        ("reused from earlier runs", str(outcome.n_reused)),
        ("failed tasks (retried on the next run)", str(len(outcome.errors))),
        ("Dask workers", str(outcome.workers)),
        ("wall time of this run", f"{outcome.wall_time_s:.1f} s"),
        ("worker time of all stored points (calibration not included)", f"{compute:.1f} s"),
    ]


def write_sweep_report(
    folder: Path,
    spec: NetworkSpec,
    grid: SweepGrid,
    rows: list[dict[str, Any]],
    outcome: Any,
) -> dict[str, Path]:
    """Draw the figures and write ``report.html`` into ``folder``.

    Parameters
    ----------
    folder : Path
        The sweep folder.
    spec : NetworkSpec
        The base network.
    grid : SweepGrid
    rows : list of dict
        The table rows of the stored points.
    outcome : SweepOutcome
        Counts and timing for the summary.

    Returns
    -------
    dict of str to Path
        ``"stability_map"``, ``"profile"`` (one-axis maps only) and ``"report"``.
    """
    paths: dict[str, Path] = {}
    figures = _figures(rows, spec, grid)
    for name, (_, png) in figures.items():
        paths[name] = atomic_write_bytes(folder / f"{name}.png", png)

    settings = grid.map_settings()
    axis_names = [axis.name for axis in grid.axes]
    ordered = sorted(rows, key=lambda row: row["point_index"])
    columns = axis_names + list(TABLE_COLUMNS)
    boundaries = []
    if grid.sampling.mode == "grid":
        boundaries = boundary_summary(ordered, axis_names, settings.x)
    html = jinja2.Environment(autoescape=True).from_string(_TEMPLATE).render(
        network=spec.name,
        scope=SCOPE,
        summary=_summary(rows, outcome),
        profile_axis=settings.x,
        boundaries=boundaries,
        figures=[
            {"title": title, "data": base64.b64encode(png).decode("ascii")}
            for title, png in figures.values()
        ],
        eta_note=ETA_STAR_NOTE,
        notes=[f"point {index}: {message}" for index, message in outcome.errors],
        columns=columns,
        rows=[
            {"verdict": row["verdict"], "cells": [_format(row.get(c)) for c in columns]}
            for row in ordered[:MAX_TABLE_ROWS]
        ],
        truncated=max(0, len(ordered) - MAX_TABLE_ROWS),
        grid_json=json.dumps(grid.model_dump(mode="json", exclude_none=True), indent=1),
    )
    paths["report"] = atomic_write_text(folder / "report.html", html)
    return paths
