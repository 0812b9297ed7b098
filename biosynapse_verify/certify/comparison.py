"""Comparison systems: join block certificates through an M-matrix.

Split the state into groups g with block certificates W_g. For the joint
certificate P = blkdiag(d_g W_g) the Lyapunov form splits into blocks

    X_gg = d_g Q_g,   Q_g = -(A_gg^T W_g + W_g A_gg),
    X_gh = -(d_g W_g A_gh + d_h A_hg^T W_h),

and with xi_g = ||x_g||, x^T X x >= xi^T (D S + S^T D) xi, where S is the
comparison matrix: S_gg = lambda_min(Q_g) / 2 and S_gh = -||W_g A_gh||.
S has non-positive off-diagonal entries. It is a nonsingular M-matrix
exactly when the spectral radius of T = D_S^-1 (D_S - S) is below 1
(D_S = diag(S)); then there are v, w > 0 with S v > 0 and S^T w > 0, and
D = diag(w / v) makes the symmetric matrix C = D S + S^T D positive
definite: C v = D S v + S^T w is positive, and a symmetric matrix with
non-positive off-diagonal entries that maps a positive vector to a positive
one is positive definite (Berman and Plemmons, *Nonnegative Matrices in the
Mathematical Sciences*, 1994, ch. 6; Siljak's vector Lyapunov functions).
For any v > 0, lambda_min(C) >= min_g (C v)_g / v_g.

The tests use power iteration on the non-negative matrix (I + T) / 2 (the
average keeps the iteration from oscillating on bipartite coupling graphs),
with the Collatz-Wielandt bounds min_g (T v)_g / v_g <= rho(T) <=
max_g (T v)_g / v_g deciding as soon as they fall on one side of 1. Only
matrix-vector products are needed, so the cost is O(nnz) per step on
comparison graphs where sparse LU would fill in.

Nothing here is rigorous; the checker redoes these bounds with outward
rounding.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass


import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

__all__ = [
    "MMatrixWeights",
    "PerronBounds",
    "is_m_matrix",
    "m_matrix_weights",
    "perron_bounds",
    "symmetric_lower_bound",
]

logger = logging.getLogger(__name__)

POWER_MAX_ITER = 400
"""Power-iteration steps before an undecided M-matrix test counts as failed.

Near the boundary of the M-matrix cone the two Collatz-Wielandt bounds
approach 1 slowly; giving up there only makes a bisection conservative."""

LOBPCG_MAX_ITER = 30
"""LOBPCG steps for the test vector of a symmetric comparison matrix; the
bound it gives improves little after a few dozen steps, and each step costs
a few products with a matrix of the size of the coupling graph."""

POWER_RTOL = 1e-6
"""Relative gap between the Collatz-Wielandt bounds at which the power
iteration stops when it is not testing against a threshold."""


@dataclass(frozen=True)
class PerronBounds:
    """Bounds on the spectral radius of a non-negative matrix T.

    Attributes
    ----------
    lower, upper : float
        min_g (T v)_g / v_g and max_g (T v)_g / v_g for the final v; they
        bracket rho(T).
    vector : ndarray, shape (m,)
        Positive approximation of the Perron vector.
    steps : int
    """

    lower: float
    upper: float
    vector: np.ndarray
    steps: int


def perron_bounds(
    T: sp.csr_array,
    start: np.ndarray | None = None,
    threshold: float | None = None,
    max_iter: int = POWER_MAX_ITER,
) -> PerronBounds:
    """Bracket rho(T) for a non-negative T by power iteration on (I + T) / 2.

    Parameters
    ----------
    T : csr_array, shape (m, m)
        Non-negative entries.
    start : ndarray, shape (m,), optional
        Positive start vector (a warm start from a nearby matrix).
    threshold : float, optional
        Stop as soon as both bounds lie on the same side of it.
    max_iter : int

    Returns
    -------
    PerronBounds
    """
    m = T.shape[0]
    v = np.ones(m) if start is None else np.maximum(start, 1e-300)
    v = v / v.max()
    lower, upper = 0.0, np.inf
    steps = 0
    for steps in range(1, max_iter + 1):
        image = T @ v
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = image / v
        lower, upper = float(ratios.min()), float(ratios.max())
        if threshold is not None and (upper < threshold or lower >= threshold):
            break
        if threshold is None and upper - lower <= POWER_RTOL * max(upper, 1e-300):
            break
        v = 0.5 * (v + image)
        v = v / v.max()
        if not np.all(v > 0):
            # A zero entry means T is reducible along it; keep it positive.
            v = np.maximum(v, 1e-300)
    return PerronBounds(lower, upper, v, steps)


def _jacobi_matrix(S: sp.csr_array) -> tuple[np.ndarray, sp.csr_array]:
    """Return diag(S) and T = diag(S)^-1 (diag(S) - S)."""
    diagonal = np.asarray(S.diagonal(), dtype=np.float64)
    off = sp.csr_array(sp.diags_array(diagonal) - S)
    off.eliminate_zeros()
    return diagonal, sp.csr_array(sp.diags_array(1.0 / diagonal) @ off)


@dataclass(frozen=True)
class MMatrixWeights:
    """Positive weights that join the groups of a comparison system.

    Attributes
    ----------
    weights : ndarray, shape (m,)
        d = w / v, scaled so the largest is 1.
    min_Sv, min_STw : float
        Smallest entries of S v and S^T w (positive).
    spectral_radius : float
        Upper bound of rho(D_S^-1 (D_S - S)), below 1.
    """

    weights: np.ndarray
    min_Sv: float
    min_STw: float
    spectral_radius: float


def is_m_matrix(S: sp.csr_array, start: np.ndarray | None = None) -> tuple[bool, np.ndarray]:
    """Whether S is shown to be a nonsingular M-matrix, and the Perron vector found.

    For a matrix with non-positive off-diagonal entries and positive
    diagonal this holds exactly when rho(D_S^-1 (D_S - S)) < 1 (Berman and
    Plemmons, theorem 6.2.3).
    """
    diagonal = np.asarray(S.diagonal(), dtype=np.float64)
    if not np.all(diagonal > 0):
        return False, np.ones(S.shape[0])
    _, T = _jacobi_matrix(S)
    bounds = perron_bounds(T, start=start, threshold=1.0)
    return bounds.upper < 1.0, bounds.vector


def m_matrix_weights(S: sp.csr_array) -> MMatrixWeights | str:
    """Find D = diag(w / v) with D S + S^T D positive definite, or say why not.

    The power iteration decides whether S is a nonsingular M-matrix; v and
    w then solve S v = 1 and S^T w = 1 (Jacobi-preconditioned GMRES, which
    converges well inside the M-matrix cone), because those weights gave
    larger comparison bounds than the Perron vectors on the networks of this
    package. The Perron vectors stand in if a solve fails.

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
            f"{float(diagonal[index])!r} <= 0)"
        )
    _, T = _jacobi_matrix(S)
    right = perron_bounds(T, threshold=1.0)
    if not right.upper < 1.0:
        return (
            "the comparison matrix is not a nonsingular M-matrix: the spectral radius "
            f"of its Jacobi matrix is at least {right.lower:.6g} (bounds "
            f"[{right.lower:.6g}, {right.upper:.6g}] after {right.steps} steps)"
        )
    transposed = sp.csr_array(S.T)
    _, T_left = _jacobi_matrix(transposed)
    left = perron_bounds(T_left, threshold=1.0)
    # With B = D_S - S, B v = rho D_S v for the right Perron vector, so
    # S v = (1 - rho) D_S v > 0; likewise S^T w > 0 for the left one.
    v = _solve_positive(S, diagonal, right.vector)
    w = _solve_positive(transposed, diagonal, left.vector)
    min_sv = float((S @ v).min())
    min_stw = float((transposed @ w).min())
    if not (min_sv > 0 and min_stw > 0):
        return (
            f"the comparison vectors do not confirm the M-matrix test: min S v = "
            f"{min_sv!r}, min S^T w = {min_stw!r}"
        )
    weights = w / v
    return MMatrixWeights(weights / weights.max(), min_sv, min_stw, right.upper)


def _solve_positive(S: sp.csr_array, diagonal: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Solve S v = 1 by GMRES; return ``fallback`` if v is not positive with S v > 0."""
    m = S.shape[0]
    preconditioner = spla.LinearOperator(
        (m, m), matvec=lambda x: x / diagonal, dtype=np.float64
    )
    v, info = spla.gmres(
        S, np.ones(m), rtol=1e-10, restart=40, maxiter=8, M=preconditioner
    )
    if info != 0 or not np.all(np.isfinite(v)) or not np.all(v > 0):
        return fallback
    if not (S @ v).min() > 0:
        return fallback
    return v


def symmetric_lower_bound(C: sp.csr_array) -> tuple[float, np.ndarray]:
    """Bound lambda_min of a symmetric matrix with non-positive off-diagonal.

    For every v > 0, min_g (C v)_g / v_g <= lambda_min(C), with equality at
    the eigenvector of lambda_min, which is positive for an irreducible C.
    That eigenvector comes from LOBPCG with a Jacobi preconditioner; the
    Perron vector of D_C^-1 (D_C - C) is the fallback, and the larger bound
    is returned.

    Parameters
    ----------
    C : csr_array, shape (m, m)

    Returns
    -------
    bound : float
        -inf when C has a non-positive diagonal entry.
    v : ndarray, shape (m,)
    """
    m = C.shape[0]
    diagonal = np.asarray(C.diagonal(), dtype=np.float64)
    if not np.all(diagonal > 0):
        return -np.inf, np.ones(m)
    _, T = _jacobi_matrix(C)
    candidates = [perron_bounds(T).vector]
    eigenvector = _lowest_eigenvector(C, diagonal, candidates[0])
    if eigenvector is not None:
        candidates.append(eigenvector)
    best, best_v = -np.inf, candidates[0]
    for v in candidates:
        bound = float(np.min((C @ v) / v))
        if bound > best:
            best, best_v = bound, v
    return best, best_v


def _lowest_eigenvector(
    C: sp.csr_array, diagonal: np.ndarray, start: np.ndarray
) -> np.ndarray | None:
    """Approximate the eigenvector of lambda_min(C); None if it is not positive."""
    m = C.shape[0]
    if m < 3:
        values, vectors = np.linalg.eigh(C.toarray())
        vector = np.abs(vectors[:, 0])
        return vector if np.all(vector > 0) else None
    preconditioner = spla.LinearOperator(
        (m, m), matvec=lambda x: x / diagonal.reshape((-1,) + (1,) * (x.ndim - 1)),
        dtype=np.float64,
    )
    try:
        with warnings.catch_warnings():
            # LOBPCG warns when it stops short of tol; any positive vector still
            # gives a valid bound, so a rough one is fine.
            warnings.simplefilter("ignore", UserWarning)
            _, vectors = spla.lobpcg(
                C, start[:, None], M=preconditioner, largest=False, tol=1e-8,
                maxiter=LOBPCG_MAX_ITER,
            )
    except (np.linalg.LinAlgError, ValueError) as error:
        logger.debug("LOBPCG failed on the comparison matrix: %s", error)
        return None
    vector = vectors[:, 0]
    vector = vector * np.sign(vector.sum())
    if not np.all(vector > 0):
        return None
    return vector
