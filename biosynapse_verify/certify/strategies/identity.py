"""P = I: a certificate whenever the symmetric part of A is negative definite."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from biosynapse_verify.certify.candidate import Failure, Proposal
from biosynapse_verify.certify.linalg import (
    JacobianMatrix,
    as_jacobian,
    is_positive_definite,
)
from biosynapse_verify.certify.options import SearchOptions
from biosynapse_verify.certify.strategy import Strategy

__all__ = ["IdentityStrategy"]


class IdentityStrategy(Strategy):
    """Propose P = I; then beta = -lambda_max((A + A^T) / 2).

    Applies when -(A + A^T) / 2 is positive definite, tested by a Cholesky
    factorisation (dense A) or a sparse LDL^T factorisation (sparse A).
    """

    name = "identity"

    def applies(
        self, A: object, options: SearchOptions | None = None
    ) -> tuple[bool, str]:
        jacobian = as_jacobian(A)
        negative_symmetric_part = _negated_symmetric_part(jacobian)
        if sp.issparse(negative_symmetric_part):
            minor = _failing_two_by_two_minor(negative_symmetric_part)
            if minor:
                return False, minor
            if is_positive_definite(negative_symmetric_part):
                return True, ""
            return False, (
                "the symmetric part (A + A^T) / 2 is not negative definite "
                "(sparse LDL^T of its negation has a non-positive pivot)"
            )
        try:
            scipy.linalg.cholesky(negative_symmetric_part, check_finite=False)
        except np.linalg.LinAlgError as error:
            return False, (
                "the symmetric part (A + A^T) / 2 is not negative definite "
                f"(Cholesky of its negation failed: {error})"
            )
        return True, ""

    def propose(self, A: JacobianMatrix, options: SearchOptions) -> Proposal | Failure:
        return Proposal(P=np.ones(A.n), details={"P": "identity"})


def _failing_two_by_two_minor(S: sp.csr_array) -> str:
    """Return a 2 x 2 principal minor of S that is not positive, in words.

    A positive definite S has s_ii s_jj > s_ij^2 for every pair, so one
    failing pair rules P = I out in O(nnz) before any factorisation (a
    sparse LDL^T of a recurrent network's matrix fills in).
    """
    coo = sp.coo_array(S)
    diagonal = np.asarray(S.diagonal(), dtype=np.float64)
    if not np.all(diagonal > 0):
        index = int(np.argmin(diagonal))
        return (
            "the symmetric part (A + A^T) / 2 is not negative definite (its "
            f"diagonal entry {index} is {-float(diagonal[index])!r})"
        )
    off = coo.row != coo.col
    rows, cols, values = coo.row[off], coo.col[off], coo.data[off]
    slack = diagonal[rows] * diagonal[cols] - values**2
    if slack.size == 0 or slack.min() > 0:
        return ""
    k = int(np.argmin(slack))
    return (
        "the symmetric part (A + A^T) / 2 is not negative definite (its 2 x 2 "
        f"principal minor at ({int(rows[k])}, {int(cols[k])}) has determinant "
        f"{float(slack[k])!r} <= 0)"
    )


def _negated_symmetric_part(A: JacobianMatrix) -> np.ndarray | sp.csr_array:
    """Return -(A + A^T) / 2, sparse when A was given sparse."""
    if A.is_sparse_input:
        return sp.csr_array(-0.5 * (A.sparse + A.sparse.T))
    return -0.5 * (A.dense + A.dense.T)
