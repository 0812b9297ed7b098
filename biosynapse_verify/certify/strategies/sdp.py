"""P from a semidefinite program solved by SCS through cvxpy.

maximise beta over symmetric P and scalar beta subject to
    P - I >= 0,  kappa_max I - P >= 0,  -(A^T P + P A) - 2 beta I >= 0.

Every PSD constraint is written on an expression that is symmetric by
construction, 0.5 (X + X^T), because a modelling layer may read only one
triangle of a non-symmetric argument. SCS stops inside its tolerance, so the
solver's beta is never claimed: the shared finalisation recomputes beta from
the eigenvalues of the returned P and backs off.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from biosynapse_verify.certify.candidate import Failure, Proposal
from biosynapse_verify.certify.linalg import JacobianMatrix, as_jacobian
from biosynapse_verify.certify.options import SearchOptions
from biosynapse_verify.certify.strategy import Strategy

__all__ = ["SdpProblem", "SdpStrategy", "build_sdp"]

logger = logging.getLogger(__name__)

ACCEPTED_STATUSES = ("optimal", "optimal_inaccurate")
"""cvxpy statuses whose P is worth finalising; the finalisation checks it."""


class SdpProblem:
    """The cvxpy model of the Lyapunov SDP and its variables.

    Attributes
    ----------
    problem : cvxpy.Problem
    P : cvxpy.Variable, shape (n, n), symmetric
    beta : cvxpy.Variable, scalar
    psd_expressions : list of cvxpy.Expression
        The arguments of the three PSD constraints, each symmetric by
        construction.
    """

    def __init__(self, A: np.ndarray, kappa_max: float) -> None:
        import cvxpy as cp  # imported here: loading cvxpy takes about a second

        n = A.shape[0]
        identity = np.eye(n)
        self.P = cp.Variable((n, n), symmetric=True, name="P")
        self.beta = cp.Variable(name="beta")

        lower = _symmetric(self.P - identity)
        upper = _symmetric(kappa_max * identity - self.P)
        decay = _symmetric(-(A.T @ self.P + self.P @ A) - 2.0 * self.beta * identity)
        self.psd_expressions = [lower, upper, decay]
        constraints = [expression >> 0 for expression in self.psd_expressions]
        self.problem = cp.Problem(cp.Maximize(self.beta), constraints)


def build_sdp(A: object, kappa_max: float) -> SdpProblem:
    """Build the Lyapunov SDP for ``A``.

    Parameters
    ----------
    A : array_like or sparse, shape (n, n)
    kappa_max : float
        Upper bound on lambda_max(P); lambda_min(P) >= 1 is imposed too.

    Returns
    -------
    SdpProblem
    """
    return SdpProblem(as_jacobian(A).dense, kappa_max)


class SdpStrategy(Strategy):
    """Propose the P of the SDP that maximises beta (small n only)."""

    name = "sdp"

    def applies(
        self, A: object, options: SearchOptions | None = None
    ) -> tuple[bool, str]:
        options = options or SearchOptions()
        jacobian = as_jacobian(A)
        if jacobian.n > options.sdp_max_n:
            return False, (
                f"n = {jacobian.n} exceeds sdp_max_n = {options.sdp_max_n} (the SDP "
                "has n(n+1)/2 unknowns and SCS time grows quickly with n)"
            )
        # For n this small the spectrum is cheap, and without it SCS spends its
        # whole iteration budget proving that the optimal beta is negative.
        abscissa = float(np.linalg.eigvals(jacobian.dense).real.max())
        floor = options.marginal_relative_tol * jacobian.norm2_bound
        if abscissa >= -floor:
            return False, (
                f"A has an eigenvalue with real part {abscissa!r} >= -{floor!r} "
                "(marginal_relative_tol * ||A||_2 bound), so no quadratic "
                "certificate with a usable decay rate exists"
            )
        return True, ""

    def propose(self, A: JacobianMatrix, options: SearchOptions) -> Proposal | Failure:
        import cvxpy as cp

        model = build_sdp(A, options.kappa_max)
        start = time.perf_counter()
        try:
            model.problem.solve(
                solver=cp.SCS,
                eps_abs=options.scs_eps,
                eps_rel=options.scs_eps,
                max_iters=options.scs_max_iters,
                verbose=False,
            )
        except cp.error.SolverError as error:
            return Failure(f"SCS failed: {error}")

        details = {
            "solver": "SCS",
            "solver_status": model.problem.status,
            "solver_beta": _value_or_none(model.beta.value),
            "solver_seconds": time.perf_counter() - start,
            "solver_iterations": model.problem.solver_stats.num_iters,
            "scs_eps": options.scs_eps,
            "kappa_max": options.kappa_max,
        }
        logger.debug("SCS finished: %s", details)
        solver_beta = details["solver_beta"]
        accepted = model.problem.status in ACCEPTED_STATUSES
        if not accepted or model.P.value is None or solver_beta is None:
            return Failure(f"SCS returned status {model.problem.status!r}", details)
        if not solver_beta > 0:
            return Failure(
                f"the SDP optimum beta = {solver_beta!r} is not positive: "
                f"no quadratic certificate with kappa(P) <= kappa_max = "
                f"{options.kappa_max!r}",
                details,
            )
        return Proposal(P=np.asarray(model.P.value, dtype=np.float64), details=details)


def _symmetric(expression: object) -> object:
    """Return 0.5 (X + X^T), a cvxpy expression symmetric by construction."""
    return 0.5 * (expression + expression.T)


def _value_or_none(value: object) -> float | None:
    return None if value is None else float(value)
