"""Parameter sweeps: stability maps over spec parameters, run on Dask.

:func:`run_sweep` expands a grid file (:func:`load_grid`) over a network
spec. It analyses every point (mean-field equilibrium, certificate search,
rigorous check and, on request, a short simulation) on a local Dask cluster
or an existing scheduler, and stores each finished point in the output
folder. From the stored points it assembles a table (Parquet and/or CSV) and
an HTML report with the stability map. Rerunning into the same folder
resumes the sweep.

Importing this package does not import Dask; :func:`run_sweep` does.
"""

from biosynapse_verify.sweep.columns import ETA_STAR_NOTE, RESULT_COLUMNS, VERDICTS
from biosynapse_verify.sweep.execute import (
    SchedulerError,
    SweepOptions,
    SweepOutcome,
    run_sweep,
)
from biosynapse_verify.sweep.grid import (
    GridError,
    SweepGrid,
    SweepPoint,
    build_points,
    load_grid,
    parse_grid,
)
from biosynapse_verify.sweep.point import analyse_point, calibration_key
from biosynapse_verify.sweep.store import ResultStore, table_rows

__all__ = [
    "ETA_STAR_NOTE",
    "RESULT_COLUMNS",
    "VERDICTS",
    "GridError",
    "ResultStore",
    "SchedulerError",
    "SweepGrid",
    "SweepOptions",
    "SweepOutcome",
    "SweepPoint",
    "analyse_point",
    "build_points",
    "calibration_key",
    "load_grid",
    "parse_grid",
    "run_sweep",
    "table_rows",
]
