"""The sweep's output folder: one JSON file per finished point, and the table.

Layout of the folder::

    manifest.json          grid, base spec hash and the point keys in order
    points/<key>.json      one finished point (written once, atomically)
    calibration/<key>.json one transfer-function calibration
    results.parquet        the assembled table (and/or results.csv)

A point file appears only when its point is complete, and never changes
afterwards. So a sweep that stops at any moment resumes by skipping the keys
found in ``points/``, and the table is rebuilt from those files.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from biosynapse_verify.report.atomic import atomic_write_bytes, atomic_write_text
from biosynapse_verify.sweep.columns import ETA_STAR_NOTE, KEY_COLUMNS, RESULT_COLUMNS

__all__ = ["POINT_FORMAT", "TABLE_FORMATS", "ResultStore", "table_rows"]

logger = logging.getLogger(__name__)

POINT_FORMAT = {"name": "biosynapse-verify sweep point", "version": 1}
TABLE_FORMATS = ("parquet", "csv")


class ResultStore:
    """Read and write the files of one sweep folder.

    Parameters
    ----------
    folder : Path
        Created, with its ``points`` and ``calibration`` subfolders, if missing.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.points_dir = self.folder / "points"
        self.calibration_dir = self.folder / "calibration"
        self.points_dir.mkdir(parents=True, exist_ok=True)
        self.calibration_dir.mkdir(exist_ok=True)

    # ----------------------------------------------------------- points
    def finished_keys(self) -> set[str]:
        """Return the keys of every point file in the folder."""
        return {path.stem for path in self.points_dir.glob("*.json")}

    def write_point(self, key: str, record: dict[str, Any]) -> Path | None:
        """Write the record of point ``key`` atomically, unless it exists.

        Returns the path written, or None when the point was already there
        (its first record is kept, so a point is never stored twice).
        """
        path = self.points_dir / f"{key}.json"
        if path.exists():
            logger.warning("point %s is already stored; the new result is discarded", key)
            return None
        payload = {"format": POINT_FORMAT, "key": key, **record}
        atomic_write_text(path, json.dumps(payload, indent=1, sort_keys=True, allow_nan=True))
        return path

    def read_point(self, key: str) -> dict[str, Any]:
        """Return the stored record of point ``key``."""
        return json.loads((self.points_dir / f"{key}.json").read_text(encoding="utf-8"))

    # ------------------------------------------------------- calibration
    def read_calibration(self, key: str) -> dict | None:
        """Return the stored calibration ``key``, or None if there is none."""
        path = self.calibration_dir / f"{key}.json"
        if not path.exists():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def write_calibration(self, key: str, fits: dict) -> Path:
        """Write calibration ``key`` (the output of ``fits_to_json``) atomically."""
        path = self.calibration_dir / f"{key}.json"
        return atomic_write_text(path, json.dumps(fits, indent=1, sort_keys=True))

    # ---------------------------------------------------------- manifest
    def write_manifest(self, manifest: dict[str, Any]) -> Path:
        """Write ``manifest.json`` atomically."""
        return atomic_write_text(
            self.folder / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True)
        )

    # ------------------------------------------------------------- table
    def write_table(
        self,
        rows: list[dict[str, Any]],
        axis_names: Sequence[str],
        formats: Sequence[str] = TABLE_FORMATS,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Path]:
        """Write the table in each of ``formats`` atomically.

        Parameters
        ----------
        rows : list of dict
            One per point, from :func:`table_rows`.
        axis_names : sequence of str
            The axis columns, placed after ``point_index``.
        formats : sequence of {"parquet", "csv"}
        metadata : dict, optional
            Stored as JSON in the Parquet schema metadata.

        Returns
        -------
        dict of str to Path
            Format to file written.
        """
        unknown = sorted(set(formats) - set(TABLE_FORMATS))
        if unknown:
            raise ValueError(f"unknown table format {unknown[0]!r}; use parquet or csv")
        names = _column_order(axis_names)
        paths = {}
        if "parquet" in formats:
            paths["parquet"] = atomic_write_bytes(
                self.folder / "results.parquet", _parquet_bytes(rows, names, axis_names, metadata)
            )
        if "csv" in formats:
            paths["csv"] = atomic_write_text(self.folder / "results.csv", _csv_text(rows, names))
        return paths


def _column_order(axis_names: Sequence[str]) -> list[str]:
    keys = [c.name for c in KEY_COLUMNS]
    return keys + list(axis_names) + [c.name for c in RESULT_COLUMNS]


def table_rows(
    store: ResultStore, points: Sequence[Any], finished: set[str] | None = None
) -> list[dict[str, Any]]:
    """Return one table row per finished point of ``points``, in grid order.

    ``points`` are :class:`~biosynapse_verify.sweep.grid.SweepPoint`; the key,
    index and axis values come from the current grid, the result columns from
    the stored record.
    """
    finished = store.finished_keys() if finished is None else finished
    rows = []
    for point in points:
        if point.key not in finished:
            continue
        record = store.read_point(point.key)
        rows.append(
            {"point_key": point.key, "point_index": point.index, **point.values, **record["row"]}
        )
    return rows


_ARROW_TYPES = {"string": "string", "float": "float64", "int": "int64", "bool": "bool_"}


def _axis_type(values: list[Any]) -> str:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "float"
    return "string"


def _parquet_bytes(
    rows: list[dict[str, Any]],
    names: list[str],
    axis_names: Sequence[str],
    metadata: dict[str, Any] | None,
) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    kinds = {c.name: c.kind for c in KEY_COLUMNS + RESULT_COLUMNS}
    for axis in axis_names:
        kinds[axis] = _axis_type([row.get(axis) for row in rows])
    columns = {}
    for name in names:
        values = [_cell(row.get(name), kinds[name]) for row in rows]
        columns[name] = pa.array(values, type=getattr(pa, _ARROW_TYPES[kinds[name]])())
    meta = {"eta_star_note": ETA_STAR_NOTE, **(metadata or {})}
    table = pa.table(columns).replace_schema_metadata(
        {"biosynapse_verify.sweep": json.dumps(meta, sort_keys=True)}
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def _cell(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "string":
        return str(value)
    if kind == "float":
        return float(value)
    if kind == "int":
        return int(value)
    return bool(value)


def _csv_text(rows: list[dict[str, Any]], names: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({name: "" if row.get(name) is None else row[name] for name in names})
    return buffer.getvalue()
