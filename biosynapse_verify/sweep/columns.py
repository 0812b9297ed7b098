"""The columns of the sweep table: one row per point, one column per result.

The table starts with ``point_key`` and ``point_index``, then one column per
grid axis (named after the axis), then the result columns below in this
order. Every result column has a fixed type, so the Parquet schema is the
same for every sweep. A value that a point does not have is null, for example
``beta`` of a refuted point or the simulation columns of a sweep without
simulation.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ETA_STAR_NOTE",
    "KEY_COLUMNS",
    "RESULT_COLUMNS",
    "VERDICTS",
    "Column",
    "result_column_names",
]

# Verdicts of the verify pipeline, plus "failed" for a point whose analysis
# raised a numerical failure (for example non-finite simulated weights).
VERDICTS = ("certified", "refuted", "inconclusive", "failed")

ETA_STAR_NOTE = (
    "eta_star is the largest learning rate of the first plastic projection up to "
    "which the certificate's construction holds, with every plastic eta scaled "
    "together. Only the two-time-scale strategy of the certificate search bounds "
    "it, in floating point, and only the certificate at the spec's eta is checked "
    "rigorously. Points certified by another strategy, or not certified, have null"
)


@dataclass(frozen=True)
class Column:
    """One column of the sweep table.

    Attributes
    ----------
    name : str
    kind : {"string", "float", "int", "bool"}
        Value type; every column also allows null.
    description : str
        Meaning and unit.
    """

    name: str
    kind: str
    description: str


KEY_COLUMNS = (
    Column("point_key", "string", "hash of the point's validated spec and options"),
    Column("point_index", "int", "position of the point in the grid, from 0"),
)

RESULT_COLUMNS = (
    Column("verdict", "string", "certified, refuted, inconclusive or failed"),
    Column("reason", "string", "one sentence on what decided the verdict"),
    Column("strategy", "string", "search strategy that produced the Lyapunov candidate"),
    Column("beta", "float", "certified margin beta of dV/dt <= -beta |x - x*|^2, 1/s"),
    Column("decay_rate_per_s", "float", "certified decay rate alpha = beta / lambda_max(P), 1/s"),
    Column("lambda_max_P", "float", "largest eigenvalue of the normalised P"),
    Column("growth_rate_lower_per_s", "float", "refuted: proven lower bound on max Re lambda(A), 1/s"),
    Column("spectral_abscissa_per_s", "float", "floating-point max Re lambda(A), 1/s"),
    Column("n_unstable", "int", "floating-point count of eigenvalues with Re lambda > 0"),
    Column("eta_star", "float", "largest learning rate the certificate covers; see ETA_STAR_NOTE"),
    Column("check_method", "string", "method of the rigorous check (exact, rump, ...)"),
    Column("state_dimension", "int", "dimension of the judged Jacobian"),
    Column("equilibrium_kind", "string", "interior or boundary"),
    Column("equilibrium_inside_bounds", "bool", "every equilibrium weight within its bounds"),
    Column("equilibrium_weight_mean", "float", "mean plastic weight at x*, fraction of w_max"),
    Column("equilibrium_rate_Hz", "float", "mean rate of the LIF neurons at x*, Hz"),
    Column("calibration_key", "string", "hash of the transfer-function calibration used"),
    Column("calibration_rms_error_Hz", "float", "largest rms error of the fitted transfer functions, Hz"),
    Column("sim_duration_s", "float", "simulated time of the point's short simulation, s"),
    Column("sim_seeds", "int", "number of trial seeds simulated"),
    Column("sim_rate_Hz", "float", "mean simulated rate of the LIF neurons, Hz"),
    Column("sim_weight_mean", "float", "mean final weight, first plastic projection, weight units"),
    Column("sim_weight_std", "float", "standard deviation of the final weights, weight units"),
    Column("sim_fraction_near_min", "float", "fraction of final weights within 10% of the range from w_min"),
    Column("sim_fraction_near_max", "float", "fraction of final weights within 10% of the range from w_max"),
    Column("sim_bimodality_coefficient", "float", "Sarle's (skew^2 + 1) / kurtosis of the final weights; above 5/9 suggests two modes"),
    Column("calibration_s", "float", "wall time of the calibration this point used (shared between points), s"),
    Column("equilibrium_s", "float", "wall time of the equilibrium search, s"),
    Column("search_s", "float", "wall time of the certificate search, s"),
    Column("check_s", "float", "wall time of the rigorous check, s"),
    Column("simulation_s", "float", "wall time of the short simulation, s"),
    Column("point_s", "float", "wall time of the whole point on its worker, s"),
    Column("worker", "string", "host name and process id of the worker"),
    Column("finished_at", "string", "UTC time the point finished, ISO 8601"),
)


def result_column_names() -> list[str]:
    """Return the names of the key and result columns (not the axis columns)."""
    return [c.name for c in KEY_COLUMNS + RESULT_COLUMNS]
