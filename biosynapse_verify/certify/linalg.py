"""Linear algebra shared by the strategies: the input matrix, spectra, Lyapunov.

Nothing here is rigorous. These are the floating-point computations of the
search; the rigorous ones live in :mod:`biosynapse_verify.check`, which does
not import this module.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.linalg.lapack import dtrsyl

from biosynapse_verify.certify.margins import UNIT_ROUNDOFF
from biosynapse_verify.certify.structure import StateStructure, infer_structure

__all__ = [
    "JacobianMatrix",
    "LyapunovSolution",
    "SpectrumBounds",
    "as_jacobian",
    "is_positive_definite",
    "lyapunov_inequality_matrix",
    "lyapunov_relative_residual",
    "solve_lyapunov",
    "solve_schur_sylvester",
    "symmetric_spectrum",
]

logger = logging.getLogger(__name__)

SPARSE_EIG_RTOL = 1e-10
"""Relative tolerance given to ARPACK for extreme eigenvalues of a symmetric
matrix. A factorisation confirms each estimate, so this tolerance only sets
how much margin the sparse route gives away."""

SPARSE_SPECTRUM_MIN_N = 1000
"""Sparse symmetric matrices above this size take the ARPACK route first.

Measured on M = -(A^T + A) for a sparse Metzler A with six non-zeros per row
(one BLAS thread): n = 1000, eigvalsh 0.20 s and ARPACK 0.12 s; n = 3000,
eigvalsh 4.9 s and ARPACK 1.7 s.
"""

SYLVESTER_LEAF = 64
"""Block size below which the recursive Sylvester solver calls LAPACK dtrsyl.

Measured with n = 2000 on 2 cores: 1.5 s for leaves of 32 or 64, 4-5 s for
128 or 256. dtrsyl is unblocked, so large leaves run at memory speed.
"""


class JacobianMatrix:
    """A validated real square matrix with the dense and sparse forms cached.

    Parameters
    ----------
    matrix : ndarray or scipy.sparse matrix, shape (n, n)
        Real and finite. It is converted to float64 once; the forms that are
        not given are built on first use.
    """

    def __init__(self, matrix: np.ndarray | sp.sparray | sp.spmatrix) -> None:
        if sp.issparse(matrix):
            self._sparse: sp.csr_array | None = sp.csr_array(matrix, dtype=np.float64)
            self._dense: np.ndarray | None = None
        else:
            self._sparse = None
            self._dense = np.ascontiguousarray(matrix, dtype=np.float64)
        self.n = int(matrix.shape[0])
        self.is_sparse_input = self._sparse is not None
        self.structure: StateStructure | None = None
        self._inferred: tuple[StateStructure | None, str] | None = None

    @property
    def dense(self) -> np.ndarray:
        """The matrix as a dense (n, n) float64 array."""
        if self._dense is None:
            self._dense = self._sparse.toarray()
        return self._dense

    @property
    def sparse(self) -> sp.csr_array:
        """The matrix as a CSR array with sorted, summed indices."""
        if self._sparse is None:
            self._sparse = sp.csr_array(self._dense)
        return self._sparse

    def native(self) -> np.ndarray | sp.csr_array:
        """Return the form the matrix was given in (dense or CSR)."""
        return self._sparse if self.is_sparse_input else self._dense

    @cached_property
    def norm2_bound(self) -> float:
        """Upper bound sqrt(||A||_1 ||A||_inf) on ||A||_2 and on || |A| ||_2."""
        absolute = abs(self.native())
        norm1 = float(absolute.sum(axis=0).max())
        norm_inf = float(absolute.sum(axis=1).max())
        return float(np.sqrt(norm1 * norm_inf))

    @cached_property
    def max_column_count(self) -> int:
        """Largest number of non-zero entries in one column."""
        if not self.is_sparse_input:
            return self.n
        return int(np.bincount(self.sparse.indices, minlength=self.n).max())

    def diagonal(self) -> np.ndarray:
        """Return the diagonal, shape (n,)."""
        return np.asarray(self.native().diagonal(), dtype=np.float64)

    def state_structure(self) -> tuple[StateStructure | None, str]:
        """Return the time-scale split and block partition, and why there is none.

        The structure set by the caller (``self.structure``) wins; otherwise it
        is inferred from A once and cached.
        """
        if self.structure is not None:
            return self.structure, ""
        if self._inferred is None:
            self._inferred = infer_structure(self.sparse)
        return self._inferred


def as_jacobian(A: object, name: str = "A") -> JacobianMatrix:
    """Validate ``A`` and wrap it; a :class:`JacobianMatrix` is returned as is.

    Raises
    ------
    ValueError
        If ``A`` is not a square 2-D real matrix with finite entries.
    """
    if isinstance(A, JacobianMatrix):
        return A
    matrix = A if sp.issparse(A) else np.asarray(A)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] < 1:
        raise ValueError(
            f"{name} must be a square 2-D matrix; got shape {matrix.shape}. Pass "
            "the Jacobian of the free coordinates as an (n, n) array."
        )
    if np.iscomplexobj(matrix):
        raise ValueError(
            f"{name} has complex dtype {matrix.dtype}; the search needs a real "
            "Jacobian. Pass its real part if the imaginary part is zero."
        )
    values = matrix.data if sp.issparse(matrix) else matrix
    if not np.all(np.isfinite(values)):
        raise ValueError(
            f"{name} has non-finite entries; a Jacobian evaluated outside the "
            "model's domain gives NaN or inf. Check the equilibrium first."
        )
    return JacobianMatrix(matrix)


@dataclass(frozen=True)
class SpectrumBounds:
    """Extreme eigenvalues of a symmetric matrix and how they were obtained.

    Attributes
    ----------
    lambda_min, lambda_max : float
        Floating-point estimates of the smallest and largest eigenvalue.
    error : float
        Estimate of the absolute error of both values: 0 for a diagonal
        matrix, n * u * max |lambda| for ``eigvalsh`` (before the safety
        factor), the confirmed slack for ARPACK.
    method : str
        ``"diagonal"``, ``"eigvalsh"`` or ``"arpack"`` (an ARPACK estimate
        confirmed by a factorisation).
    """

    lambda_min: float
    lambda_max: float
    error: float
    method: str


def symmetric_spectrum(
    matrix: np.ndarray | sp.sparray, *, dense_max_n: int, diagonal: bool = False
) -> SpectrumBounds:
    """Estimate the extreme eigenvalues of a symmetric matrix.

    Parameters
    ----------
    matrix : ndarray, shape (n, n) or (n,), or sparse array, shape (n, n)
        Symmetric. A 1-D array is the diagonal of a diagonal matrix.
    dense_max_n : int
        Largest n for ``eigvalsh``; larger matrices go to ARPACK. A sparse
        matrix with more than ``SPARSE_SPECTRUM_MIN_N`` rows also tries
        ARPACK first, and falls back to ``eigvalsh`` if that fails.
    diagonal : bool
        Whether ``matrix`` is diagonal (read its diagonal, no eigensolver).

    Returns
    -------
    SpectrumBounds

    Raises
    ------
    numpy.linalg.LinAlgError
        If ARPACK fails (does not converge or is not confirmed) and n exceeds
        ``dense_max_n``, so ``eigvalsh`` cannot stand in.
    """
    if matrix.ndim == 1 or diagonal:
        values = matrix if matrix.ndim == 1 else np.asarray(matrix.diagonal())
        return SpectrumBounds(float(values.min()), float(values.max()), 0.0, "diagonal")

    n = matrix.shape[0]
    large_sparse = sp.issparse(matrix) and n > SPARSE_SPECTRUM_MIN_N
    if large_sparse or n > dense_max_n:
        try:
            return _iterative_spectrum(matrix)
        except np.linalg.LinAlgError as error:
            if n > dense_max_n:
                raise
            logger.info("ARPACK spectrum failed (%s); using eigvalsh", error)

    dense = matrix.toarray() if sp.issparse(matrix) else matrix
    values = scipy.linalg.eigvalsh(dense, check_finite=False)
    scale = float(max(abs(values[0]), abs(values[-1])))
    error = n * UNIT_ROUNDOFF * scale
    return SpectrumBounds(float(values[0]), float(values[-1]), error, "eigvalsh")


def _iterative_spectrum(matrix: np.ndarray | sp.sparray) -> SpectrumBounds:
    """Estimate extreme eigenvalues with ARPACK and confirm them by factorisation.

    A sparse matrix is confirmed by sparse LDL^T, a dense one by Cholesky.
    """
    n = matrix.shape[0]
    try:
        low = spla.eigsh(
            matrix, k=1, which="SA", tol=SPARSE_EIG_RTOL, return_eigenvectors=False
        )
        high = spla.eigsh(
            matrix, k=1, which="LA", tol=SPARSE_EIG_RTOL, return_eigenvectors=False
        )
    except spla.ArpackNoConvergence as error:
        raise np.linalg.LinAlgError(
            f"ARPACK did not converge on a symmetric {n} x {n} matrix ({error}); "
            "raise SearchOptions.dense_max_n to use the dense eigensolver."
        ) from error

    lambda_min, lambda_max = float(low[0]), float(high[0])
    slack = 10.0 * SPARSE_EIG_RTOL * max(abs(lambda_min), abs(lambda_max))
    identity = sp.identity(n, format="csr") if sp.issparse(matrix) else np.eye(n)
    below = matrix - (lambda_min - slack) * identity
    above = (lambda_max + slack) * identity - matrix
    if not (is_positive_definite(below) and is_positive_definite(above)):
        raise np.linalg.LinAlgError(
            f"ARPACK eigenvalue estimates [{lambda_min!r}, {lambda_max!r}] of a "
            f"{n} x {n} matrix were not confirmed by a factorisation with slack "
            f"{slack!r}; "
            "raise SearchOptions.dense_max_n to use the dense eigensolver."
        )
    return SpectrumBounds(lambda_min - slack, lambda_max + slack, slack, "arpack")


def is_positive_definite(matrix: np.ndarray | sp.sparray) -> bool:
    """Test positive definiteness in floating point (not a proof).

    Dense matrices use Cholesky. Sparse ones use SuperLU with diagonal
    pivoting and a symmetric fill-reducing permutation, so U's diagonal
    contains the pivots of an LDL^T factorisation. They are all positive if
    and only if the matrix is positive definite (up to rounding).

    Parameters
    ----------
    matrix : ndarray or sparse array, shape (n, n)
        Symmetric.

    Returns
    -------
    bool
    """
    if not sp.issparse(matrix):
        try:
            scipy.linalg.cholesky(matrix, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return False
        return True

    csc = sp.csc_matrix(matrix)
    try:
        factor = spla.splu(
            csc,
            permc_spec="MMD_AT_PLUS_A",
            diag_pivot_thresh=0.0,
            options={"SymmetricMode": True},
        )
    except RuntimeError:
        # SuperLU raises RuntimeError for an exactly singular factor.
        return False
    if not np.array_equal(factor.perm_r, factor.perm_c):
        logger.debug("SuperLU left the diagonal; definiteness test is inconclusive")
        return False
    return bool(np.all(factor.U.diagonal() > 0))


def lyapunov_inequality_matrix(
    A: JacobianMatrix, P: np.ndarray
) -> np.ndarray | sp.csr_array:
    """Form M0 = -(A^T P + P A), exactly symmetric in floating point.

    Parameters
    ----------
    A : JacobianMatrix, shape (n, n)
    P : ndarray, shape (n, n) symmetric, or shape (n,) for a diagonal P

    Returns
    -------
    ndarray or csr_array, shape (n, n)
        Sparse when A was given sparse and P is diagonal, dense otherwise.
        M0 is built as -(G + G^T) with G = P A, so M0[i, j] and M0[j, i]
        are equal floats (float addition is commutative).
    """
    if P.ndim == 1 and A.is_sparse_input:
        product = sp.csr_array(sp.diags_array(P) @ A.sparse)
        return sp.csr_array(-(product + product.T))
    if P.ndim == 1:
        product = P[:, None] * A.dense
    else:
        product = P @ A.dense
    return -(product + product.T)


@dataclass(frozen=True)
class LyapunovSolution:
    """Solution X of A^T X + X A = -Q from the Bartels-Stewart method.

    Attributes
    ----------
    X : ndarray, shape (n, n)
        Symmetrised solution.
    relative_residual : float
        ||A^T X + X A + Q||_F / (2 ||A||_F ||X||_F + ||Q||_F), or ``math.inf``
        when X or this ratio is not finite, which happens when dtrsyl scales
        a nearly singular equation down and X overflows float64.
    singular : bool
        True when LAPACK dtrsyl reported that eigenvalues lambda_i + lambda_j
        were close to zero and it perturbed them; X is then unreliable.
    """

    X: np.ndarray
    relative_residual: float
    singular: bool


def solve_lyapunov(A: np.ndarray, Q: np.ndarray) -> LyapunovSolution:
    """Solve the continuous Lyapunov equation A^T X + X A = -Q.

    The sign convention is the control one: for Hurwitz A and Q > 0 the
    solution X is positive definite. (``scipy.linalg.solve_continuous_lyapunov``
    solves a X + X a^H = q, so the same X would be ``solve(A.T, -Q)``.)

    The method is Bartels-Stewart: the real Schur form A = U T U^T, then
    T^T Y + Y T = -U^T Q U by recursive halving down to LAPACK dtrsyl on
    blocks of ``SYLVESTER_LEAF``, then X = U Y U^T. The recursion turns the
    work into matrix products; scipy's solver calls dtrsyl on the whole
    matrix, which took 8 s at n = 1000 against 1.8 s here (2 cores).

    Parameters
    ----------
    A : ndarray, shape (n, n)
        Real. No eigenvalue pair may satisfy lambda_i + lambda_j = 0.
    Q : ndarray, shape (n, n)
        Symmetric right-hand side.

    Returns
    -------
    LyapunovSolution
    """
    T, U = scipy.linalg.schur(A, output="real", check_finite=False)
    rhs = -(U.T @ Q @ U)
    flags: list[int] = []
    Y = solve_schur_sylvester(T, T, rhs, flags)
    X = U @ Y @ U.T
    X = 0.5 * (X + X.T)
    relative = lyapunov_relative_residual(A, X, Q)
    return LyapunovSolution(X=X, relative_residual=relative, singular=any(flags))


def lyapunov_relative_residual(A: np.ndarray, X: np.ndarray, Q: np.ndarray) -> float:
    """Return ||A^T X + X A + Q||_F / (2 ||A||_F ||X||_F + ||Q||_F), or inf.

    The result is ``math.inf`` when it cannot be computed in float64: X has
    an infinite or NaN entry, or a norm overflows. Then the solve failed,
    and inf fails every tolerance test, where NaN would print as a residual
    and 0.0 (from 0 * inf in the scale) would pass as an exact solve.
    """
    if not np.all(np.isfinite(X)):
        return math.inf
    with np.errstate(over="ignore", invalid="ignore"):
        residual = A.T @ X + X @ A + Q
        numerator = _frobenius_norm(residual)
        scale = 2.0 * _frobenius_norm(A) * _frobenius_norm(X) + _frobenius_norm(Q)
        relative = numerator / scale if scale > 0 else 0.0
    return float(relative) if math.isfinite(relative) else math.inf


def _frobenius_norm(M: np.ndarray) -> float:
    """Return ||M||_F, scaled by max |m_ij| first so that squares do not overflow."""
    largest = float(np.abs(M).max()) if M.size else 0.0
    if largest == 0.0 or not math.isfinite(largest):
        return largest
    return largest * float(np.linalg.norm(M / largest))


def solve_schur_sylvester(
    S: np.ndarray, T: np.ndarray, C: np.ndarray, flags: list[int]
) -> np.ndarray:
    """Solve S^T Y + Y T = C for upper quasi-triangular S, T by recursive halving.

    Splitting S = [[S11, S12], [0, S22]] and Y by rows gives
    S11^T Y1 + Y1 T = C1 and S22^T Y2 + Y2 T = C2 - S12^T Y1; splitting T by
    columns gives the analogous pair. A split never cuts a 2 x 2 block of the
    real Schur form. Blocks of at most ``SYLVESTER_LEAF`` go to LAPACK dtrsyl.

    Parameters
    ----------
    S : ndarray, shape (m, m)
        Upper quasi-triangular (real Schur form).
    T : ndarray, shape (k, k)
        Upper quasi-triangular (real Schur form).
    C : ndarray, shape (m, k)
    flags : list of int
        Receives dtrsyl's info value per block; a 1 means eigenvalues of S^T
        and -T were close and LAPACK perturbed them.

    Returns
    -------
    ndarray, shape (m, k)
    """
    rows, cols = C.shape
    if max(rows, cols) <= SYLVESTER_LEAF:
        Y, scale, info = dtrsyl(S, T, C, trana="T", tranb="N", isgn=1)
        if info < 0:
            raise ValueError(f"dtrsyl rejected argument {-info}; this is a bug")
        flags.append(int(info))
        return Y / scale

    if rows >= cols:
        half = _schur_split(S)
        top = solve_schur_sylvester(S[:half, :half], T, C[:half], flags)
        rest = C[half:] - S[:half, half:].T @ top
        bottom = solve_schur_sylvester(S[half:, half:], T, rest, flags)
        return np.vstack([top, bottom])

    half = _schur_split(T)
    left = solve_schur_sylvester(S, T[:half, :half], C[:, :half], flags)
    rest = C[:, half:] - left @ T[:half, half:]
    right = solve_schur_sylvester(S, T[half:, half:], rest, flags)
    return np.hstack([left, right])


def _schur_split(T: np.ndarray) -> int:
    """Return a split index near the middle that keeps 2 x 2 blocks whole."""
    half = T.shape[0] // 2
    if T[half, half - 1] != 0.0:
        half += 1
    return half
