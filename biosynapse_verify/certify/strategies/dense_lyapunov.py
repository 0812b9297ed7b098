"""P from the dense Lyapunov equation A^T P + P A = -I (Bartels-Stewart)."""

from __future__ import annotations

import math

import numpy as np

from biosynapse_verify.certify.candidate import Failure, Proposal
from biosynapse_verify.certify.linalg import (
    JacobianMatrix,
    LyapunovSolution,
    as_jacobian,
    solve_lyapunov,
)
from biosynapse_verify.certify.options import SearchOptions
from biosynapse_verify.certify.strategy import Strategy

__all__ = ["DenseLyapunovStrategy"]

LYAPUNOV_RESIDUAL_TOL = 1e-10
"""Largest accepted relative residual of the Lyapunov solve.

Bartels-Stewart leaves about n * u (2e-13 at n = 1000) on a well-posed
equation; a residual near 1e-10 or above means the Lyapunov operator is
nearly singular (some lambda_i + lambda_j close to 0).
"""


class DenseLyapunovStrategy(Strategy):
    """Propose the solution P of A^T P + P A = -I.

    For Hurwitz A the solution is positive definite and
    -(A^T P + P A) = I, so beta = 1/2 before normalisation. For A with an
    eigenvalue in the right half-plane P is indefinite and the shared
    normalisation step rejects it.
    """

    name = "dense_lyapunov"

    def applies(
        self, A: object, options: SearchOptions | None = None
    ) -> tuple[bool, str]:
        options = options or SearchOptions()
        n = as_jacobian(A).n
        if n > options.lyapunov_max_n:
            return False, (
                f"n = {n} exceeds lyapunov_max_n = {options.lyapunov_max_n} "
                "(the real Schur form costs O(n^3) time and several n x n arrays)"
            )
        return True, ""

    def propose(self, A: JacobianMatrix, options: SearchOptions) -> Proposal | Failure:
        solution = solve_lyapunov(A.dense, np.eye(A.n))
        details = _solution_details(solution)
        if solution.singular:
            return Failure(
                "the Lyapunov operator is singular: A has eigenvalues with "
                "lambda_i + lambda_j close to 0 (marginal, e.g. on the imaginary axis)",
                details,
            )
        if not solution.relative_residual <= LYAPUNOV_RESIDUAL_TOL:
            return Failure(
                f"Lyapunov solve inaccurate: relative residual "
                f"{solution.relative_residual!r} > {LYAPUNOV_RESIDUAL_TOL!r}",
                details,
            )
        return Proposal(P=solution.X, details=details)


def _solution_details(solution: LyapunovSolution) -> dict[str, object]:
    """Describe the solve for the ladder's record, which is written as JSON.

    An infinite residual (X overflowed) is stored as None with a note,
    because JSON has no infinity.
    """
    residual = solution.relative_residual
    details: dict[str, object] = {
        "lyapunov_relative_residual": residual if math.isfinite(residual) else None,
        "lyapunov_operator_singular": solution.singular,
    }
    if not math.isfinite(residual):
        details["lyapunov_relative_residual_note"] = (
            "not computable: the solution X overflows float64"
        )
    return details
