"""The grid file of a sweep and the points it expands to.

A grid file (YAML) lists axes over spec parameters and how to combine them::

    axes:
      - name: mu
        path: projections.feedforward.plasticity.mu
        linspace: [0.0, 1.0, 11]          # start, stop, number of values
      - name: eta
        path: projections.feedforward.plasticity.eta
        geomspace: [0.1, 100.0, 4]        # three decades
      - name: depression_ratio            # A-/A+
        path: projections.feedforward.plasticity.a_minus
        relative_to: projections.feedforward.plasticity.a_plus
        linspace: [0.9, 1.3, 5]
      - name: input_rate
        path: inputs.inputs.rate
        values: ["10 Hz", "15 Hz", "20 Hz"]
    set:                                  # applied to every point first
      projections.feedforward.plasticity.rule: power_law
    sampling: {mode: grid}                # or {mode: random, samples: 50, seed: 0}
    simulate: {duration: 20 s, seeds: [0, 1]}   # optional short simulation
    map: {x: mu, y: eta, value: beta}

Numbers in ``linspace`` and ``geomspace`` are in SI units (seconds, hertz,
volts); ``values`` may also hold unit strings, which the spec parser reads.
An axis with ``relative_to`` sets its path to the axis value times the value
at ``relative_to``. That value is read after ``set`` and the other axes are
applied, but before any relative axis is. When ``relative_to`` is the axis's
own path, the value multiplies the base spec's value. In random mode each axis is sampled
independently: uniformly on ``[start, stop]`` for ``linspace``,
log-uniformly for ``geomspace`` and uniformly from the list for ``values``.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from biosynapse_verify.errors import BadInputError
from biosynapse_verify.spec.loader import SpecError, parse_spec, spec_hash
from biosynapse_verify.spec.schema import NetworkSpec, PositiveSeconds
from biosynapse_verify.sweep.columns import result_column_names
from biosynapse_verify.sweep.spec_paths import get_path, set_path

__all__ = [
    "Axis",
    "GridError",
    "MapSettings",
    "Sampling",
    "SimulationSettings",
    "SweepGrid",
    "SweepPoint",
    "build_points",
    "load_grid",
    "parse_grid",
]

logger = logging.getLogger(__name__)

# A full grid larger than this is almost certainly a typo in ``num``; the
# limit can be raised in the grid file with ``max_points``.
DEFAULT_MAX_POINTS = 100_000
# Version of the point key's inputs. Bump it when the analysis of a point
# changes meaning, so that a resumed sweep does not mix old and new results.
POINT_FORMAT_VERSION = 1


class GridError(BadInputError):
    """An invalid grid file; the message names the field and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Axis(_Strict):
    """One swept parameter.

    Exactly one of ``values``, ``linspace`` and ``geomspace`` is given.
    """

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    path: str
    relative_to: str | None = None
    values: list[Any] | None = Field(default=None, min_length=1)
    linspace: tuple[float, float, int] | None = None
    geomspace: tuple[float, float, int] | None = None

    @model_validator(mode="after")
    def _one_range(self) -> "Axis":
        given = [k for k in ("values", "linspace", "geomspace") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"axis {self.name!r} gives {', '.join(given) or 'no range'}; give "
                "exactly one of values, linspace or geomspace"
            )
        for kind in ("linspace", "geomspace"):
            spec = getattr(self, kind)
            if spec is not None and spec[2] < 1:
                raise ValueError(f"axis {self.name!r}: {kind} needs num >= 1, got {spec[2]}")
        if self.geomspace is not None and min(self.geomspace[:2]) <= 0:
            raise ValueError(
                f"axis {self.name!r}: geomspace needs positive start and stop, "
                f"got {self.geomspace[:2]}; use linspace for ranges that include 0"
            )
        return self

    def grid_values(self) -> list[Any]:
        """Return the axis values of a full grid, in order."""
        if self.values is not None:
            return list(self.values)
        if self.linspace is not None:
            start, stop, num = self.linspace
            return [float(v) for v in np.linspace(start, stop, num)]
        start, stop, num = self.geomspace
        return [float(v) for v in np.geomspace(start, stop, num)]

    def sample(self, rng: np.random.Generator) -> Any:
        """Draw one value for random sampling."""
        if self.values is not None:
            return self.values[int(rng.integers(len(self.values)))]
        if self.linspace is not None:
            return float(rng.uniform(self.linspace[0], self.linspace[1]))
        low, high = math.log(self.geomspace[0]), math.log(self.geomspace[1])
        return float(math.exp(rng.uniform(low, high)))


class Sampling(_Strict):
    """Full grid (the Cartesian product of the axes) or a random sample."""

    mode: Literal["grid", "random"] = "grid"
    samples: int | None = Field(default=None, gt=0)
    seed: int = 0

    @model_validator(mode="after")
    def _samples_for_random(self) -> "Sampling":
        if self.mode == "random" and self.samples is None:
            raise ValueError("sampling mode 'random' needs samples (the number of points)")
        if self.mode == "grid" and self.samples is not None:
            raise ValueError("samples is set but mode is 'grid'; use mode: random")
        return self


class SimulationSettings(_Strict):
    """The optional short spiking simulation of every point."""

    duration: PositiveSeconds
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)


class MapSettings(_Strict):
    """The axes and the value shown on the stability map."""

    x: str
    y: str | None = None
    value: Literal["beta", "decay_rate_per_s", "spectral_abscissa_per_s"] = "beta"


class SweepGrid(_Strict):
    """A parsed grid file."""

    axes: list[Axis] = Field(min_length=1)
    set: dict[str, Any] = Field(default_factory=dict)
    sampling: Sampling = Sampling()
    simulate: SimulationSettings | None = None
    map: MapSettings | None = None
    calibration_max_level: float = Field(default=1.0, gt=0, le=1)
    max_points: int = Field(default=DEFAULT_MAX_POINTS, gt=0)

    @model_validator(mode="after")
    def _names_resolve(self) -> "SweepGrid":
        names = [axis.name for axis in self.axes]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"axis names must be unique; repeated: {', '.join(duplicates)}")
        clashes = sorted(set(names) & set(result_column_names()))
        if clashes:
            raise ValueError(
                f"axis name {clashes[0]!r} is also a result column; rename the axis"
            )
        if self.map is not None:
            for label, name in (("map.x", self.map.x), ("map.y", self.map.y)):
                if name is not None and name not in names:
                    raise ValueError(
                        f"{label}: {name!r} is not an axis; use one of {', '.join(names)}"
                    )
        return self

    def map_settings(self) -> MapSettings:
        """Return ``map``, or the first two axes with beta by default."""
        if self.map is not None:
            return self.map
        y = self.axes[1].name if len(self.axes) > 1 else None
        return MapSettings(x=self.axes[0].name, y=y)

    def options(self) -> dict[str, Any]:
        """Return the settings that change a point's result besides its spec."""
        return {
            "simulate": None if self.simulate is None else self.simulate.model_dump(),
            "calibration_max_level": self.calibration_max_level,
            "format": POINT_FORMAT_VERSION,
        }


def parse_grid(data: Any, origin: str = "<grid>") -> SweepGrid:
    """Validate an already-parsed mapping as a :class:`SweepGrid`.

    Raises
    ------
    GridError
        With the field's path and the value found.
    """
    if not isinstance(data, dict):
        raise GridError(f"{origin}: the top level must be a mapping with key axes")
    try:
        return SweepGrid.model_validate(data)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "grid"
        message = first["msg"].removeprefix("Value error, ")
        raise GridError(f"{origin}: {where}: {message}") from None


def load_grid(path: str | Path) -> SweepGrid:
    """Read and validate the YAML grid file at ``path``."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GridError(f"{path}: grid file not found; give the path of a grid YAML")
    except yaml.YAMLError as err:
        raise GridError(f"{path}: invalid YAML: {err}".splitlines()[0])
    return parse_grid(data, origin=str(path))


# ------------------------------------------------------------------ points
@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep.

    Attributes
    ----------
    index : int
        Position in the grid (or sample), from 0.
    values : dict of str to Any
        Axis name to axis value, as given in the grid.
    spec_data : dict
        The point's spec in its JSON form (SI units), ready for ``parse_spec``.
    key : str
        SHA-256 of the validated spec and the grid's options: two points with
        the same key compute the same result.
    """

    index: int
    values: dict[str, Any]
    spec_data: dict
    key: str


def _combinations(grid: SweepGrid) -> list[dict[str, Any]]:
    names = [axis.name for axis in grid.axes]
    if grid.sampling.mode == "random":
        rng = np.random.default_rng(grid.sampling.seed)
        return [
            {axis.name: axis.sample(rng) for axis in grid.axes}
            for _ in range(grid.sampling.samples)
        ]
    count = math.prod(len(axis.grid_values()) for axis in grid.axes)
    if count > grid.max_points:
        raise GridError(
            f"the grid has {count} points, more than max_points = {grid.max_points}; "
            "reduce num or raise max_points in the grid file"
        )
    product = itertools.product(*(axis.grid_values() for axis in grid.axes))
    return [dict(zip(names, combo)) for combo in product]


def _apply(base: dict, grid: SweepGrid, values: dict[str, Any]) -> dict:
    """Return a copy of ``base`` with ``set`` and the axis values applied."""
    data = copy.deepcopy(base)
    for path, value in grid.set.items():
        set_path(data, path, value)
    absolute = [axis for axis in grid.axes if axis.relative_to is None]
    relative = [axis for axis in grid.axes if axis.relative_to is not None]
    for axis in absolute:
        set_path(data, axis.path, values[axis.name])
    references = {axis.name: get_path(data, axis.relative_to) for axis in relative}
    for axis in relative:
        reference = _number(references[axis.name], axis.relative_to)
        set_path(data, axis.path, float(values[axis.name]) * reference)
    return data


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GridError(
            f"relative_to {path!r} contains {value!r}, not a number; a relative axis "
            "needs a numeric reference (write it as a number in SI units)"
        )
    return float(value)


def point_key(spec: NetworkSpec, options: dict[str, Any]) -> str:
    """Return the key of a point: SHA-256 of its spec hash and options."""
    canonical = json.dumps({"spec": spec_hash(spec), "options": options}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def build_points(base: dict, grid: SweepGrid, origin: str = "<spec>") -> list[SweepPoint]:
    """Expand ``grid`` over the spec mapping ``base`` and validate every point.

    Points whose spec and options coincide (possible with ``values`` axes in
    random mode) share a key; only the first is kept.

    Raises
    ------
    GridError
        If a path does not exist or a point's spec is invalid; the message
        gives the point's axis values.
    """
    options = grid.options()
    points: list[SweepPoint] = []
    seen: set[str] = set()
    combinations = _combinations(grid)
    for values in combinations:
        data = _apply(base, grid, values)
        try:
            spec = parse_spec(data, origin=origin)
        except SpecError as err:
            shown = ", ".join(f"{k} = {v!r}" for k, v in values.items())
            raise GridError(f"point ({shown}): {err}") from None
        key = point_key(spec, options)
        if key in seen:
            continue
        seen.add(key)
        points.append(SweepPoint(len(points), values, spec.model_dump(mode="json"), key))
    if len(combinations) > len(points):
        logger.info(
            "%d points repeat an earlier point and are dropped",
            len(combinations) - len(points),
        )
    return points
