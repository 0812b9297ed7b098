"""Comparison systems: join block certificates through an M-matrix.

Split the state into groups g with block certificates W_g. For the joint
certificate P = blkdiag(d_g W_g) the Lyapunov form splits into blocks

    X_gg = d_g Q_g,   Q_g = -(A_gg^T W_g + W_g A_gg),
    X_gh = -(d_g W_g A_gh + d_h A_hg^T W_h),

and with xi_g = ||x_g||, x^T X x >= xi^T (D S + S^T D) xi, where S is the
comparison matrix: S_gg = lambda_min(Q_g) / 2 and S_gh = -||W_g A_gh||.
S has non-positive off-diagonal entries. If it is a nonsingular M-matrix,
there are v, w > 0 with S v > 0 and S^T w > 0, and D = diag(w / v) makes
the symmetric matrix C = D S + S^T D positive definite: C v = D S v + S^T w
is positive, and a symmetric matrix with non-positive off-diagonal entries
and a positive vector mapped to a positive one is positive definite
(Siljak's vector Lyapunov functions; Berman and Plemmons, *Nonnegative
Matrices in the Mathematical Sciences*, 1994, ch. 6). Then
lambda_min(X) >= lambda_min(C), and for any v > 0,
lambda_min(C) >= min_g (C v)_g / v_g.

Nothing here is rigorous; the checker redoes these bounds with outward
rounding.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

__all__ = [
    "MMatrixWeights",
    "is_m_matrix",
    "m_matrix_weights",
    "symmetric_lower_bound",
]

logger = logging.getLogger(__name__)

DIRECT_SOLVE_MAX = 300
"""Largest comparison matrix solved by sparse LU; larger ones use GMRES.

The comparison graph of a recurrent network is a random sparse graph, on
which LU fills in almost completely: with 2000 groups of a 1000-neuron
network one SuperLU factorisation took 2 s, against milliseconds for
Jacobi-preconditioned GMRES.
"""

KRYLOV_RTOL = 1e-10
"""Relative residual of the GMRES solves. Only the signs of v and S v matter,
and both are checked after the solve."""

KRYLOV_RESTART = 40
"""GMRES restart length."""

KRYLOV_MAX_RESTARTS = 8
"""GMRES restart cycles before the M-matrix test gives up. Away from the
boundary of the M-matrix cone Jacobi-preconditioned GMRES converges in a few
dozen steps; giving up early only makes a bisection on the cone conservative."""

INVERSE_ITERATIONS = 6
"""Inverse-iteration steps towards the Perron vector of a symmetric comparison
matrix. The bound min (C v)_g / v_g reaches lambda_min(C) at that vector;
six steps leave it within a few per cent on the matrices of this package."""


@dataclass(frozen=True)
class MMatrixWeights:
    """Positive weights that join the groups of a comparison system.

    Attributes
    ----------
    weights : ndarray, shape (m,)
        d = w / v, scaled so the largest is 1.
    min_Sv, min_STw : float
        Smallest entries of S v and S^T w (positive).
    """

    weights: np.ndarray
    min_Sv: float
    min_STw: float


def m_matrix_weights(S: sp.csr_array) -> MMatrixWeights | str:
    """Find D = diag(w / v) with D S + S^T D positive definite, or say why not.

    Parameters
    ----------
    S : csr_array, shape (m, m)
        Comparison matrix: positive diagonal, non-positive off-diagonal.

    Returns
    -------
    MMatrixWeights or str
        A string is the reason S was not shown to be a nonsingular M-matrix.
    """
    diagonal = np.asarray(S.diagonal(), dtype=np.float64)
    if not np.all(diagonal > 0):
        index = int(np.argmin(diagonal))
        return (
            f"group {index} has no decay of its own (comparison diagonal "
            f"{diagonal[index]!r} <= 0)"
        )
    v = _solve_positive(S, diagonal)
    w = _solve_positive(sp.csr_array(S.T), diagonal)
    if v is None or w is None:
        return "the comparison matrix is not a nonsingular M-matrix (S v = 1 has no positive solution)"
    min_sv = float((S @ v).min())
    min_stw = float((S.T @ w).min())
    if not (min_sv > 0 and min_stw > 0):
        return (
            f"the comparison solves are not accurate enough: min S v = {min_sv!r}, "
            f"min S^T w = {min_stw!r}"
        )
    weights = w / v
    return MMatrixWeights(weights / weights.max(), min_sv, min_stw)


def is_m_matrix(S: sp.csr_array) -> bool:
    """Whether S is shown to be a nonsingular M-matrix: some v > 0 has S v > 0.

    For a matrix with non-positive off-diagonal entries one such vector is
    enough (Berman and Plemmons, theorem 6.2.3, condition I27).
    """
    diagonal = np.asarray(S.diagonal(), dtype=np.float64)
    if not np.all(diagonal > 0):
        return False
    v = _solve_positive(S, diagonal)
    return v is not None and bool((S @ v).min() > 0)


def _solve_positive(S: sp.csr_array, diagonal: np.ndarray) -> np.ndarray | None:
    """Solve S v = 1; return v if it is finite and positive, else None."""
    m = S.shape[0]
    ones = np.ones(m)
    if m <= DIRECT_SOLVE_MAX:
        try:
            v = spla.splu(sp.csc_matrix(S)).solve(ones)
        except RuntimeError:
            return None
    else:
        preconditioner = spla.LinearOperator(
            (m, m), matvec=lambda x: x / diagonal, dtype=np.float64
        )
        v, info = spla.gmres(
            S,
            ones,
            rtol=KRYLOV_RTOL,
            restart=KRYLOV_RESTART,
            maxiter=KRYLOV_MAX_RESTARTS,
            M=preconditioner,
        )
        if info != 0:
            logger.debug("GMRES on the comparison matrix stopped with info %d", info)
            return None
    if not np.all(np.isfinite(v)) or not np.all(v > 0):
        return None
    return v


def symmetric_lower_bound(C: sp.csr_array) -> tuple[float, np.ndarray]:
    """Bound lambda_min of a symmetric matrix with non-positive off-diagonal.

    Runs :data:`INVERSE_ITERATIONS` steps of inverse iteration (conjugate
    gradients) from the vector of ones towards the Perron vector, then
    returns min_g (C v)_g / v_g, which is a lower bound of lambda_min(C) for
    every v > 0.

    Parameters
    ----------
    C : csr_array, shape (m, m)

    Returns
    -------
    bound : float
        -inf when the iteration leaves the positive orthant (C is then not
        shown to be positive definite).
    v : ndarray, shape (m,)
    """
    m = C.shape[0]
    diagonal = np.asarray(C.diagonal(), dtype=np.float64)
    if not np.all(diagonal > 0):
        return -np.inf, np.ones(m)
    v = np.ones(m)
    best, best_v = _collatz_bound(C, v), v
    preconditioner = spla.LinearOperator(
        (m, m), matvec=lambda x: x / diagonal, dtype=np.float64
    )
    for _ in range(INVERSE_ITERATIONS):
        nxt, info = spla.cg(C, v, rtol=1e-8, maxiter=1000, M=preconditioner)
        if info != 0 or not np.all(np.isfinite(nxt)) or not np.all(nxt > 0):
            break
        v = nxt / nxt.max()
        bound = _collatz_bound(C, v)
        if bound > best:
            best, best_v = bound, v
    return best, best_v


def _collatz_bound(C: sp.csr_array, v: np.ndarray) -> float:
    return float(np.min((C @ v) / v))
