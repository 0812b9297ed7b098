"""Diagonal P from two sparse linear solves (Metzler or H-matrix A).

Let C be the Metzler comparison matrix of A: c_ii = a_ii, c_ij = |a_ij|
(C = A when A is already Metzler). If C is Hurwitz, the solutions of
C v = -1 and C^T w = -1 are positive. With P = diag(w / v), P v = w, so
S = C^T P + P C satisfies S v = C^T w + P C v = -1 - w / v < 0. S is
symmetric and Metzler, and a symmetric Metzler matrix with S v < 0 for some
v > 0 is negative definite. Because x^T P A x <= |x|^T P C |x| for every x,
the same P satisfies A^T P + P A < 0. Cost: one sparse LU of C.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from biosynapse_verify.certify.candidate import Failure, Proposal
from biosynapse_verify.certify.comparison import m_matrix_weights
from biosynapse_verify.certify.linalg import JacobianMatrix, as_jacobian
from biosynapse_verify.certify.options import SearchOptions
from biosynapse_verify.certify.strategy import Strategy

__all__ = ["DIRECT_SOLVE_MAX_N", "DiagonalStrategy", "comparison_matrix"]

DIRECT_SOLVE_MAX_N = 5000
"""Largest n for which the comparison matrix is factorised by LU.

On a recurrent network Jacobian LU fills in the rate block: at n = 160209
(10^4 neurons) SuperLU took 700 s, where power iteration and GMRES take
seconds.
"""


class DiagonalStrategy(Strategy):
    """Propose P = diag(w / v) from the comparison matrix of A.

    Applies when every diagonal entry of A is negative; the solves then
    decide whether the comparison matrix is Hurwitz.
    """

    name = "diagonal"

    def applies(
        self, A: object, options: SearchOptions | None = None
    ) -> tuple[bool, str]:
        diagonal = as_jacobian(A).diagonal()
        index = int(np.argmax(diagonal))
        largest = float(diagonal[index])
        if largest >= 0:
            return False, (
                f"diagonal entry A[{index}, {index}] = {largest!r} is not "
                "negative; a diagonal certificate needs a negative diagonal"
            )
        return True, ""

    def propose(self, A: JacobianMatrix, options: SearchOptions) -> Proposal | Failure:
        comparison, is_metzler = comparison_matrix(A)
        if A.n > DIRECT_SOLVE_MAX_N:
            return _propose_iteratively(comparison, is_metzler)
        try:
            v, w = _solve_both(comparison, dense=not A.is_sparse_input)
        except (RuntimeError, np.linalg.LinAlgError) as error:
            return Failure(f"the comparison matrix is singular ({error})")
        min_v, min_w = float(v.min()), float(w.min())
        details = {"A_is_metzler": is_metzler, "min_v": min_v, "min_w": min_w}
        if not (np.all(np.isfinite(v)) and np.all(np.isfinite(w))):
            return Failure(
                "the solves with the comparison matrix gave non-finite values", details
            )
        if not (min_v > 0 and min_w > 0):
            which = "A" if is_metzler else "the comparison matrix of A"
            return Failure(
                f"{which} is not Hurwitz: the solutions of C v = -1 and C^T w = -1 "
                f"are not positive (min v = {min_v!r}, min w = {min_w!r})",
                details,
            )

        # C v < 0 and C^T w < 0 are what make diag(w / v) work; confirm them.
        decay_v = float((comparison @ v).max())
        decay_w = float((comparison.T @ w).max())
        details.update({"max_Cv": decay_v, "max_CTw": decay_w})
        if not (decay_v < 0 and decay_w < 0):
            return Failure(
                f"C v < 0 and C^T w < 0 do not hold after the solves (max C v = "
                f"{decay_v!r}, max C^T w = {decay_w!r}); the LU is inaccurate",
                details,
            )
        return Proposal(P=w / v, details=details)


def _propose_iteratively(comparison: sp.csr_array, is_metzler: bool) -> Proposal | Failure:
    """Find v, w > 0 with C v < 0 and C^T w < 0 without factorising C.

    -C is a nonsingular M-matrix exactly when C is Hurwitz (C is Metzler);
    :func:`~biosynapse_verify.certify.comparison.m_matrix_weights` decides
    that by power iteration and returns d = w / v.
    """
    weights = m_matrix_weights(sp.csr_array(-comparison))
    details: dict = {"A_is_metzler": is_metzler, "solver": "power iteration and GMRES"}
    if isinstance(weights, str):
        which = "A" if is_metzler else "the comparison matrix of A"
        return Failure(f"{which} is not Hurwitz: {weights}", details)
    details.update(
        {
            "min_Sv": weights.min_Sv,
            "min_STw": weights.min_STw,
            "spectral_radius_bound": weights.spectral_radius,
        }
    )
    return Proposal(P=weights.weights, details=details)


def _solve_both(comparison: sp.csr_array, dense: bool) -> tuple[np.ndarray, np.ndarray]:
    """Solve C v = -1 and C^T w = -1 with one LU factorisation of C.

    A dense A gets LAPACK's LU, because SuperLU on a full matrix is slower.
    """
    minus_ones = -np.ones(comparison.shape[0])
    if dense:
        factor = scipy.linalg.lu_factor(comparison.toarray(), check_finite=False)
        v = scipy.linalg.lu_solve(factor, minus_ones, check_finite=False)
        w = scipy.linalg.lu_solve(factor, minus_ones, trans=1, check_finite=False)
        return v, w
    factor = spla.splu(sp.csc_matrix(comparison))
    return factor.solve(minus_ones), factor.solve(minus_ones, trans="T")


def comparison_matrix(A: JacobianMatrix) -> tuple[sp.csr_array, bool]:
    """Return the Metzler comparison matrix of A and whether A is Metzler.

    Parameters
    ----------
    A : JacobianMatrix, shape (n, n)

    Returns
    -------
    comparison : csr_array, shape (n, n)
        Diagonal of A, absolute values of A off the diagonal.
    is_metzler : bool
        Whether A has no negative off-diagonal entry (then comparison == A).
    """
    matrix = sp.csr_array(A.sparse, copy=True)
    coo = matrix.tocoo()
    off_diagonal = coo.row != coo.col
    is_metzler = bool(np.all(coo.data[off_diagonal] >= 0))
    if is_metzler:
        return matrix, True
    data = np.where(off_diagonal, np.abs(coo.data), coo.data)
    comparison = sp.csr_array((data, (coo.row, coo.col)), shape=matrix.shape)
    return comparison, False
