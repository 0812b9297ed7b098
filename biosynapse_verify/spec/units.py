"""Parse quantities written with units ("20 ms", "15 Hz", "-70 mV") into SI floats.

Inside the toolkit every quantity is a float in seconds, hertz, volts or a
dimensionless number. A spec may write a bare number, which is then read in
the field's SI unit.
"""

from __future__ import annotations

import re

__all__ = ["UnitError", "parse_quantity", "DIMENSIONS"]

# Multipliers to SI for each accepted unit symbol, grouped by dimension.
DIMENSIONS: dict[str, dict[str, float]] = {
    "time": {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "min": 60.0},
    "rate": {"Hz": 1.0, "kHz": 1e3, "/s": 1.0},
    "voltage": {"V": 1.0, "mV": 1e-3, "uV": 1e-6, "µV": 1e-6},
    "dimensionless": {"": 1.0},
}

_QUANTITY = re.compile(
    r"^\s*(?P<number>[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)\s*(?P<unit>\S*)\s*$"
)


class UnitError(ValueError):
    """A quantity string whose number or unit cannot be read."""


def parse_quantity(value: float | int | str, dimension: str) -> float:
    """Convert ``value`` to a float in the SI unit of ``dimension``.

    Parameters
    ----------
    value : float, int or str
        A bare number (already in SI units) or a string such as ``"20 ms"``.
    dimension : {"time", "rate", "voltage", "dimensionless"}
        The physical dimension the field expects.

    Returns
    -------
    float
        The value in seconds, hertz, volts or as a plain number.

    Raises
    ------
    UnitError
        If the string is not a number followed by a unit of ``dimension``.
    """
    if isinstance(value, bool):
        raise UnitError(f"expected a number with a {dimension} unit, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    match = _QUANTITY.match(str(value))
    if match is None:
        raise UnitError(f"{value!r} is not a number followed by a unit")
    units = DIMENSIONS[dimension]
    unit = match["unit"]
    if unit not in units:
        allowed = ", ".join(repr(u) for u in units if u) or "no unit"
        raise UnitError(f"unit {unit!r} is not a {dimension} unit (use {allowed})")
    return float(match["number"]) * units[unit]
