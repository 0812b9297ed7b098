"""Rigorous check of block-diagonal and sheared Lyapunov certificates, O(nnz).

Certificate. P = T^T W T with T = I + N, where W is exactly symmetric and
block diagonal (its *fine groups* are the connected components of its
pattern) and N is a shear whose rows and columns are disjoint sets of
coordinates, so N^2 = 0 and T^-1 = I - N exactly. With N = 0 this is a
block-diagonal (or diagonal) P. The fine groups joined by N form *coarse
blocks*; P is block diagonal over them. Claims checked:

1. lambda_min(P) > floor, block by block;
2. X = -(A^T P + P A) - 2 beta I - 2 gamma P is positive definite, for the
   claimed beta (with gamma = 0) and, separately, for the claimed decay rate
   gamma (with beta = 0).

Proof of 2. X is positive definite exactly when X~ = T^-T X T^-1 is
(Sylvester's law of inertia), and

    X~ = -(A~^T W + W A~) - 2 beta G - 2 gamma W,  A~ = T A T^-1,  G = T^-T T^-1.

For symmetric X~ split into the fine groups g, with mu_g <= lambda_min(X~_gg)
and rho_gh >= ||X~_gh||_2, every x satisfies x^T X~ x >= xi^T C xi with
xi_g = ||x_g||, C_gg = mu_g, C_gh = -rho_gh. C has non-positive off-diagonal
entries, so for any v > 0, lambda_min(C) >= min_g (C v)_g / v_g (the
Collatz-Wielandt bound on the Perron root of the non-negative part). A
positive value proves X~, and hence X, positive definite.

Enclosures. Within a coarse block everything is a small dense matrix, formed
with entrywise error bounds (:mod:`biosynapse_verify.check.enclosure`);
mu_g comes from a shifted Cholesky factorisation with Rump's a-priori bound
on its rounding error (as in :mod:`biosynapse_verify.check.rump`), batched
over blocks of equal size. Between coarse blocks j != i, X~_ji =
-(W_j A~_ji + A~_ij^T W_i) and A~_ji = sum_c (T_j a_c) l_c^T over the columns
c of the off-block part of A, with l_c^T = e_c^T (I - N). Columns that are
not rows of N have l_c = e_c and their contributions to one group pair are
orthogonal; the others are added by the triangle inequality. So one sparse
product W (I + N) E, enclosed entrywise, bounds every coupling norm
(Frobenius norms, which bound 2-norms).

This module imports nothing from the certificate search.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.csgraph import connected_components

from biosynapse_verify.check.enclosure import (
    DenseEnclosure,
    SparseEnclosure,
    add_up,
    sum_correction,
    upper_sparse_product,
)
from biosynapse_verify.check.inputs import (
    validate_nonnegative_scalar,
    validate_system_matrix,
)
from biosynapse_verify.check.result import CheckResult, DefinitenessOutcome
from biosynapse_verify.check.rounding import (
    SMALLEST_SUBNORMAL,
    float_down,
    gamma_up,
    next_down,
    next_up,
    upper_nonneg_matvec,
)

__all__ = ["BLOCK_CHECK_MAX_BLOCK", "check_block_lyapunov"]

logger = logging.getLogger(__name__)

BLOCK_CHECK_MAX_BLOCK = 1024
"""Largest coarse block the block check forms densely (k^2 floats per block)."""

SHIFT_FRACTIONS = (1e-3, 0.1, 0.5)
"""Attempts for the shifted Cholesky of a block: shift by lambda_est minus
this fraction of |lambda_est| (plus the enclosure radius). A small fraction
gives the sharpest bound; the larger ones rescue blocks whose estimate was
slightly optimistic."""

FLOOR_SHIFT_FRACTIONS = (0.5, 0.9)
"""Attempts when a floor f must be proven: shift by lambda_est minus this
fraction of (lambda_est - f), leaving the rest of the gap for the rounding
bounds."""

PERRON_ITERATIONS = 6
"""Inverse-iteration steps for the test vector v of the comparison matrix."""


@dataclass(frozen=True)
class _Groups:
    """Partition bookkeeping: coordinates grouped by label, stacks by group size."""

    labels: np.ndarray
    order: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray
    local: np.ndarray
    position: np.ndarray
    by_size: dict[int, np.ndarray]

    @classmethod
    def from_labels(cls, labels: np.ndarray) -> _Groups:
        m = int(labels.max()) + 1
        sizes = np.bincount(labels, minlength=m)
        order = np.argsort(labels, kind="stable")
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        local = np.empty(labels.size, dtype=np.int64)
        local[order] = np.arange(labels.size) - np.repeat(starts, sizes)
        by_size = {int(k): np.flatnonzero(sizes == k) for k in np.unique(sizes)}
        position = np.empty(m, dtype=np.int64)
        for ids in by_size.values():
            position[ids] = np.arange(ids.size)
        return cls(labels, order, starts, sizes, local, position, by_size)

    @property
    def m(self) -> int:
        return int(self.sizes.size)

    def members(self, ids: np.ndarray) -> np.ndarray:
        k = int(self.sizes[ids[0]])
        return self.order[self.starts[ids][:, None] + np.arange(k)[None, :]]

    def stacks(self, matrix: sp.sparray) -> dict[int, np.ndarray]:
        """Return the diagonal blocks of ``matrix`` as dense stacks by size."""
        coo = sp.coo_array(sp.csr_array(matrix))
        keep = self.labels[coo.row] == self.labels[coo.col]
        rows, cols, values = coo.row[keep], coo.col[keep], coo.data[keep]
        group = self.labels[rows]
        out = {k: np.zeros((ids.size, k, k)) for k, ids in self.by_size.items()}
        sizes = self.sizes[group]
        for k, stack in out.items():
            mask = sizes == k
            # Entries were summed by the CSR conversion, so plain assignment is exact.
            stack[self.position[group[mask]], self.local[rows[mask]], self.local[cols[mask]]] = values[mask]
        return out

    def assemble(self, stacks: dict[int, np.ndarray], n: int) -> sp.csr_array:
        rows, cols, values = [], [], []
        for k, ids in self.by_size.items():
            members = self.members(ids)
            stack = stacks[k]
            rows.append(np.broadcast_to(members[:, :, None], stack.shape).ravel())
            cols.append(np.broadcast_to(members[:, None, :], stack.shape).ravel())
            values.append(stack.ravel())
        coo = sp.coo_array(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n, n),
        )
        return sp.csr_array(coo)


# ---------------------------------------------------------------- validation
def _validate_structure(
    W: object, N: object, n: int
) -> tuple[sp.csr_array, sp.csr_array | None]:
    """Validate W (exactly symmetric, finite) and N (finite, rows and columns disjoint)."""
    if sp.issparse(W):
        W = sp.csr_array(W, dtype=np.float64)
    else:
        array = np.asarray(W, dtype=np.float64)
        W = sp.csr_array(sp.diags_array(array) if array.ndim == 1 else array)
    if W.shape != (n, n):
        raise ValueError(f"P must have shape ({n}, {n}) to match A; got {W.shape}.")
    W.sum_duplicates()
    if not np.all(np.isfinite(W.data)):
        raise ValueError("P contains a non-finite value; a certificate must be finite.")
    asymmetry = W - W.T
    if asymmetry.count_nonzero():
        raise ValueError(
            "P is not exactly symmetric; a definiteness claim about a non-symmetric "
            "matrix is meaningless. Symmetrise it before the search produces it."
        )
    if N is None:
        return W, None
    N = sp.csr_array(N, dtype=np.float64)
    if N.shape != (n, n):
        raise ValueError(f"transform must have shape ({n}, {n}); got {N.shape}.")
    N.sum_duplicates()
    N.eliminate_zeros()
    if not np.all(np.isfinite(N.data)):
        raise ValueError("transform contains a non-finite value.")
    coo = sp.coo_array(N)
    rows, cols = np.unique(coo.row), np.unique(coo.col)
    if np.intersect1d(rows, cols).size:
        raise ValueError(
            "transform N has a coordinate that is both a row and a column of its "
            "non-zeros, so (I + N)^-1 is not I - N; a shear must map slow "
            "coordinates into fast ones only."
        )
    return W, (N if N.nnz else None)


def _partitions(W: sp.csr_array, N: sp.csr_array | None) -> tuple[np.ndarray, np.ndarray]:
    """Fine groups (components of W) and coarse blocks (components of W and N)."""
    pattern = sp.csr_array(abs(W) + sp.identity(W.shape[0], format="csr"))
    _, fine = connected_components(pattern, directed=False)
    if N is None:
        return fine, fine
    _, coarse = connected_components(pattern + abs(N), directed=False)
    return fine, coarse


# ------------------------------------------------------------ coarse blocks
@dataclass(frozen=True)
class _Local:
    """Enclosures of the per-coarse-block matrices, assembled as sparse (mid, rad)."""

    WA: tuple[sp.csr_array, sp.csr_array]
    G: tuple[sp.csr_array, sp.csr_array]
    W: sp.csr_array
    P_lower: float
    P_upper: float
    P_failed: int


def _coarse_enclosures(
    A: sp.csr_array, W: sp.csr_array, N: sp.csr_array, coarse: _Groups, floor: float
) -> _Local:
    """Enclose W A~, G and P per coarse block, and prove lambda_min(P) > floor."""
    n = A.shape[0]
    a_stacks, w_stacks, n_stacks = coarse.stacks(A), coarse.stacks(W), coarse.stacks(N)
    wa_mid, wa_rad, g_mid, g_rad = {}, {}, {}, {}
    lower, upper, failed = np.inf, 0.0, 0
    for k in a_stacks:
        identity = np.eye(k)
        shear = DenseEnclosure.exact(identity + n_stacks[k])
        inverse = DenseEnclosure.exact(identity - n_stacks[k])
        weight = DenseEnclosure.exact(w_stacks[k])
        sheared = shear @ DenseEnclosure.exact(a_stacks[k]) @ inverse
        product = weight @ sheared
        wa_mid[k], wa_rad[k] = product.mid, product.rad
        shear_form = inverse.transpose() @ inverse
        g_mid[k], g_rad[k] = shear_form.mid, shear_form.rad

        P = shear.transpose() @ weight @ shear
        bounds = _prove_lambda_min(P, floor=floor)
        failed += int(np.sum(~(bounds > floor)))
        lower = min(lower, float(bounds.min()))
        upper = max(upper, float(_lambda_max_upper(P).max()))
    return _Local(
        WA=(coarse.assemble(wa_mid, n), coarse.assemble(wa_rad, n)),
        G=(coarse.assemble(g_mid, n), coarse.assemble(g_rad, n)),
        W=W,
        P_lower=lower,
        P_upper=upper,
        P_failed=failed,
    )


def _lambda_max_upper(X: DenseEnclosure) -> np.ndarray:
    """Upper bounds of lambda_max per matrix: the largest row sum of |mid| + rad."""
    k = X.mid.shape[-1]
    rows = add_up(np.abs(X.mid), X.rad).sum(axis=-1)
    return next_up(rows.max(axis=-1) * sum_correction(k))


def _rump_constant(diagonal: np.ndarray) -> np.ndarray:
    """Rump's bound c on -lambda_min(B) when the Cholesky of B completes, per matrix.

    c = gamma_{k+1} / (1 - gamma_{k+1}) * sum_i max(b_ii, 0) (padded for the
    rounded sum) + 6 k (k + max_i b_ii) eta; see
    :mod:`biosynapse_verify.check.rump`.
    """
    k = diagonal.shape[-1]
    gamma = gamma_up(k + 1)
    alpha = next_up(gamma / next_down(1.0 - gamma))
    trace = next_up(np.maximum(diagonal, 0.0).sum(axis=-1) * sum_correction(k))
    largest = np.maximum(diagonal.max(axis=-1), 0.0)
    underflow = next_up(6.0 * k * next_up(k + largest) * SMALLEST_SUBNORMAL)
    return next_up(next_up(alpha * trace) + underflow)


def _cholesky_succeeds(stack: np.ndarray) -> np.ndarray:
    """Return, per matrix, whether LAPACK's Cholesky of the stack completes."""
    if stack.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    try:
        np.linalg.cholesky(stack)
        return np.ones(stack.shape[0], dtype=bool)
    except np.linalg.LinAlgError:
        if stack.shape[0] == 1:
            return np.zeros(1, dtype=bool)
    half = stack.shape[0] // 2
    return np.concatenate([_cholesky_succeeds(stack[:half]), _cholesky_succeeds(stack[half:])])


def _prove_lambda_min(X: DenseEnclosure, floor: float | None = None) -> np.ndarray:
    """Return rigorous lower bounds of lambda_min per matrix of a stack (-inf if none).

    With r >= ||X - mid||_2 and B = mid - s I (diagonal rounded down), a
    completed Cholesky of B gives lambda_min(X) >= s - c(B) - r. The shift s
    lies below the floating-point estimate: by a fraction of its magnitude,
    or, with a ``floor`` to prove, by a fraction of its distance to the floor.
    """
    # The exact matrix is symmetric, so it differs from the symmetric part of
    # X.mid by the symmetric part of an E with |E| <= rad, and ||E||_2 bounds that.
    mid = 0.5 * (X.mid + np.swapaxes(X.mid, -1, -2))
    radius = X.radius_norm()
    estimate = np.linalg.eigvalsh(mid)[:, 0]
    if floor is None:
        gaps, fractions = np.abs(estimate), SHIFT_FRACTIONS
    else:
        gaps, fractions = np.maximum(estimate - floor, 0.0), FLOOR_SHIFT_FRACTIONS
    bounds = np.full(mid.shape[0], -np.inf)
    index = np.arange(mid.shape[-1])
    for fraction in fractions:
        todo = ~(bounds > (-np.inf if floor is None else floor))
        if not todo.any():
            break
        shift = estimate[todo] - fraction * gaps[todo]
        shifted = mid[todo].copy()
        shifted[:, index, index] = next_down(shifted[:, index, index] - shift[:, None])
        ok = _cholesky_succeeds(shifted)
        constant = _rump_constant(shifted[:, index, index])
        lower = next_down(next_down(shift - constant) - radius[todo])
        rows = np.flatnonzero(todo)[ok]
        bounds[rows] = np.maximum(bounds[rows], lower[ok])
    return bounds


# ------------------------------------------------------ comparison entries
def _fine_diagonal_bounds(
    X: tuple[sp.csr_array, sp.csr_array], fine: _Groups
) -> np.ndarray:
    """Rigorous lower bounds of lambda_min(X~_gg) for every fine group g."""
    mid_stacks, rad_stacks = fine.stacks(X[0]), fine.stacks(X[1])
    bounds = np.empty(fine.m)
    for k, ids in fine.by_size.items():
        bounds[ids] = _prove_lambda_min(DenseEnclosure(mid_stacks[k], rad_stacks[k]))
    return bounds


def _pair_norm_bounds(
    X: tuple[sp.csr_array, sp.csr_array], labels: np.ndarray, m: int
) -> sp.csr_array:
    """Upper bounds of ||X_gh||_F for g != h from an entrywise enclosure."""
    upper = sp.coo_array(add_up_sparse(abs(X[0]), X[1]))
    g, h = labels[upper.row], labels[upper.col]
    keep = g != h
    squares = next_up(upper.data[keep] ** 2)
    return _rooted_sum(squares, g[keep], h[keep], (m, m))


def add_up_sparse(left: sp.csr_array, right: sp.csr_array) -> sp.csr_array:
    """Return an upper bound of ``left + right`` for non-negative sparse matrices."""
    total = sp.csr_array(left + right)
    total.data = next_up(total.data)
    return total


def _rooted_sum(
    squares: np.ndarray, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]
) -> sp.csr_array:
    """Return upper bounds of sqrt(sum of squares) per (row, col) key."""
    matrix = sp.csr_array(sp.coo_array((squares, (rows, cols)), shape=shape))
    matrix.sum_duplicates()
    counts = sp.csr_array(sp.coo_array((np.ones(squares.size), (rows, cols)), shape=shape))
    counts.sum_duplicates()
    terms = int(counts.data.max(initial=1))
    matrix.data = next_up(np.sqrt(next_up(matrix.data * sum_correction(terms))))
    return matrix


def _off_block_bounds(
    A: sp.csr_array, W: sp.csr_array, N: sp.csr_array | None, fine: np.ndarray,
    coarse: np.ndarray, m: int,
) -> sp.csr_array:
    """Upper bounds of ||(W A~)_gh||_F for g, h in different coarse blocks.

    The comparison matrix adds this bound and its transpose. Without a shear
    the bound is instead half of ||X_gh||_F for X = W E + (W E)^T, with E the
    off-block part of A, so that entries of W E and (W E)^T that cancel
    (a rotation between two diagonal blocks of P, say) are not counted twice.
    """
    n = A.shape[0]
    coo = sp.coo_array(A)
    off = coarse[coo.row] != coarse[coo.col]
    E = sp.csr_array((coo.data[off], (coo.row[off], coo.col[off])), shape=(n, n))
    if N is None:
        return _symmetric_off_block_bounds(SparseEnclosure(E).times_exact_left(W), fine, m)
    sheared = SparseEnclosure(E)
    if N is not None:
        sheared = sheared + SparseEnclosure(E).times_exact_left(N)
    Z = sheared.times_exact_left(W).upper_abs()
    shear_rows = np.zeros(n, dtype=bool)
    if N is not None:
        shear_rows[np.unique(sp.coo_array(N).row)] = True

    zc = sp.coo_array(Z)
    squares = next_up(zc.data**2)
    plain = ~shear_rows[zc.col]
    result = _rooted_sum(squares[plain], fine[zc.row[plain]], fine[zc.col[plain]], (m, m))
    if N is not None and (~plain).any():
        column_norms = _rooted_sum(
            squares[~plain], fine[zc.row[~plain]], zc.col[~plain], (m, n)
        )
        result = add_up_sparse(result, upper_sparse_product(column_norms, _shear_row_norms(N, fine, m)))
    return result


def _symmetric_off_block_bounds(
    Z: SparseEnclosure, fine: np.ndarray, m: int
) -> sp.csr_array:
    """Upper bounds of ||(Z + Z^T)_gh||_F / 2 per pair of fine groups."""
    transposed = SparseEnclosure(
        sp.csr_array(Z.mid.T), None if Z.rad is None else sp.csr_array(Z.rad.T)
    )
    upper = sp.coo_array((Z + transposed).upper_abs())
    squares = next_up(upper.data**2)
    result = _rooted_sum(squares, fine[upper.row], fine[upper.col], (m, m))
    # Halving is exact in binary floating point above the subnormal range,
    # and next_up keeps the bound an upper bound below it.
    result.data = next_up(0.5 * result.data)
    return result


def _shear_row_norms(N: sp.csr_array, fine: np.ndarray, m: int) -> sp.csr_array:
    """Upper bounds of ||(e_c - N[c, :])_h|| for every coordinate c and group h."""
    n = N.shape[0]
    coo = sp.coo_array(N)
    rows = np.concatenate([np.arange(n), coo.row])
    groups = np.concatenate([fine, fine[coo.col]])
    squares = np.concatenate([np.ones(n), next_up(coo.data**2)])
    return _rooted_sum(squares, rows, groups, (n, m))


# ---------------------------------------------------------- the proof
def _comparison_bound(mu: np.ndarray, rho: sp.csr_array) -> tuple[float, str]:
    """Rigorous lower bound of lambda_min(C), C = diag(mu) - rho, and a note."""
    if not np.all(mu > 0):
        g = int(np.argmin(mu))
        return -np.inf, f"fine group {g} has no proven decay (lower bound {mu[g]:.3g})"
    rho = sp.csr_array(rho.maximum(rho.T))
    vector = _test_vector(mu, rho)
    terms = int(np.diff(rho.indptr).max(initial=0)) or 1
    coupling = upper_nonneg_matvec(rho, vector, terms)
    own = next_down(mu * vector)
    ratios = next_down(next_down(own - coupling) / vector)
    bound = float(ratios.min())
    if bound > 0:
        return bound, ""
    g = int(np.argmin(ratios))
    return bound, (
        f"the comparison matrix is not shown positive definite: row {g} has "
        f"(C v)_g / v_g = {bound:.3g}"
    )


def _test_vector(mu: np.ndarray, rho: sp.csr_array) -> np.ndarray:
    """Approximate the Perron vector of C = diag(mu) - rho by inverse iteration."""
    m = mu.size
    C = sp.csr_array(sp.diags_array(mu) - rho)
    preconditioner = spla.LinearOperator((m, m), matvec=lambda x: x / mu, dtype=np.float64)
    vector = np.ones(m)
    best, best_value = vector, np.min((C @ vector) / vector)
    for _ in range(PERRON_ITERATIONS):
        image, info = spla.cg(C, vector, rtol=1e-8, maxiter=1000, M=preconditioner)
        if info != 0 or not np.all(np.isfinite(image)) or not np.all(image > 0):
            break
        vector = image / image.max()
        value = np.min((C @ vector) / vector)
        if value > best_value:
            best, best_value = vector, value
    return best


def _form(local: _Local, beta: float, rate: float) -> tuple[sp.csr_array, sp.csr_array]:
    """Enclose the coarse-block-diagonal part of X~ = -(WA + (WA)^T) - 2 beta G - 2 rate W."""
    wa_mid, wa_rad = local.WA
    mid = sp.csr_array(-(wa_mid + wa_mid.T))
    rad = add_up_sparse(add_up_sparse(wa_rad, sp.csr_array(wa_rad.T)), _spacing(mid))
    for factor, (term_mid, term_rad) in (
        (2.0 * beta, local.G),
        (2.0 * rate, (local.W, None)),
    ):
        if factor == 0.0:
            continue
        scaled = sp.csr_array(term_mid * factor)
        scaled_rad = _spacing(scaled)
        if term_rad is not None:
            scaled_rad = add_up_sparse(scaled_rad, sp.csr_array(next_up_sparse(term_rad * factor)))
        mid = sp.csr_array(mid - scaled)
        rad = add_up_sparse(add_up_sparse(rad, scaled_rad), _spacing(mid))
    return mid, rad


def next_up_sparse(matrix: sp.csr_array) -> sp.csr_array:
    result = sp.csr_array(matrix, copy=True)
    result.data = next_up(result.data)
    return result


def _spacing(matrix: sp.csr_array) -> sp.csr_array:
    result = sp.csr_array(matrix, copy=True)
    result.data = np.spacing(np.abs(result.data))
    return result


def _prove_claim(
    local: _Local, inter: sp.csr_array, fine: _Groups, beta: float, rate: float, symbol: str
) -> DefinitenessOutcome:
    """Prove X~(beta, rate) positive definite by the comparison bound."""
    X = _form(local, beta, rate)
    mu = _fine_diagonal_bounds(X, fine)
    intra = _pair_norm_bounds(X, fine.labels, fine.m)
    rho = add_up_sparse(intra, add_up_sparse(inter, sp.csr_array(inter.T)))
    bound, note = _comparison_bound(mu, rho)
    details = {
        "fine_groups": fine.m,
        "smallest_group_bound": float(mu.min()),
        "comparison_bound": bound,
    }
    if bound > 0:
        return DefinitenessOutcome(symbol, "block-comparison", True, lower_bound=bound, details=details)
    return DefinitenessOutcome(symbol, "block-comparison", False, note=note, details=details)


def check_block_lyapunov(
    A: object,
    P: object,
    beta: float,
    *,
    transform: object = None,
    rate: float = 0.0,
    min_lambda_P: float = 1.0 - 2.0**-20,
) -> CheckResult:
    """Check a block-diagonal or sheared Lyapunov certificate rigorously, O(nnz).

    Parameters
    ----------
    A : array_like or sparse, shape (n, n)
        System matrix, in 1/s; float64 values are taken as exact.
    P : sparse or array_like, shape (n, n) or (n,)
        W, exactly symmetric and block diagonal (a vector is a diagonal).
        The certificate is P_cert = (I + N)^T W (I + N).
    beta : float
        Claimed margin: -(A^T P_cert + P_cert A) - 2 beta I > 0.
    transform : sparse, shape (n, n), optional
        The shear N; rows and columns of its non-zeros must be disjoint.
    rate : float
        Claimed decay rate gamma: -(A^T P_cert + P_cert A) - 2 gamma P_cert > 0.
        0 skips that claim.
    min_lambda_P : float
        Floor that lambda_min(P_cert) must exceed.

    Returns
    -------
    CheckResult
        Valid when the floor and the beta claim are proven. ``details`` holds
        each claim's outcome; ``details["decay_rate"]`` is the proven rate,
        or None. ``margin`` bounds lambda_min(M - 2 beta I) from below.

    Raises
    ------
    ValueError
        On invalid inputs, or a coarse block larger than
        :data:`BLOCK_CHECK_MAX_BLOCK`.
    """
    start = time.perf_counter()
    A = sp.csr_array(validate_system_matrix(A))
    n = A.shape[0]
    beta = validate_nonnegative_scalar("beta", beta)
    rate = validate_nonnegative_scalar("rate", rate)
    floor = validate_nonnegative_scalar("min_lambda_P", min_lambda_P)
    W, N = _validate_structure(P, transform, n)
    fine_labels, coarse_labels = _partitions(W, N)
    fine, coarse = _Groups.from_labels(fine_labels), _Groups.from_labels(coarse_labels)
    if coarse.sizes.max() > BLOCK_CHECK_MAX_BLOCK:
        raise ValueError(
            f"a block of the certificate has {int(coarse.sizes.max())} coordinates, "
            f"above {BLOCK_CHECK_MAX_BLOCK}; check it with a dense method instead."
        )
    logger.info(
        "block check: n = %d, %d fine groups in %d coarse blocks (largest %d)",
        n, fine.m, coarse.m, int(coarse.sizes.max()),
    )

    N_matrix = N if N is not None else sp.csr_array((n, n))
    local = _coarse_enclosures(A, W, N_matrix, coarse, floor)
    inter = _off_block_bounds(A, W, N, fine_labels, coarse_labels, fine.m)
    p_outcome = _p_outcome(local, floor)
    m_outcome = _prove_claim(local, inter, fine, beta, 0.0, "M")
    rate_outcome = None
    if rate > 0:
        rate_outcome = _prove_claim(local, inter, fine, 0.0, rate, "M_rate")

    shear_bound = _shear_norm_bound(local, coarse) if N is not None else 1.0
    margin = None
    if m_outcome.proven:
        margin = m_outcome.lower_bound
        if N is not None:
            margin = float_down(Fraction(margin) / Fraction(shear_bound))
    valid = p_outcome.proven and m_outcome.proven
    proven_rate = rate if rate_outcome is not None and rate_outcome.proven else None
    details = {
        "definition": "P = (I + N)^T W (I + N); M = -(A^T P + P A) - 2 beta I",
        "beta": beta,
        "rate": rate,
        "decay_rate": proven_rate,
        "min_lambda_P": floor,
        "fine_groups": fine.m,
        "coarse_blocks": coarse.m,
        "largest_block": int(coarse.sizes.max()),
        "shear": N is not None,
        "lambda_max_P_upper": local.P_upper,
        "P": p_outcome.to_dict(),
        "M": m_outcome.to_dict(),
        "M_rate": None if rate_outcome is None else rate_outcome.to_dict(),
    }
    return CheckResult(
        valid=valid,
        claim="stable",
        method="block-comparison",
        n=n,
        margin=margin,
        lambda_min_P_lower=local.P_lower if p_outcome.proven else None,
        growth_rate_lower=None,
        reason=_reason(p_outcome, m_outcome, rate_outcome, rate),
        seconds=time.perf_counter() - start,
        details=details,
    )


def _p_outcome(local: _Local, floor: float) -> DefinitenessOutcome:
    if local.P_failed == 0:
        return DefinitenessOutcome("P", "block-rump", True, floor=floor, lower_bound=local.P_lower)
    return DefinitenessOutcome(
        "P",
        "block-rump",
        False,
        floor=floor,
        note=f"{local.P_failed} blocks of P were not proven above the floor",
    )


def _shear_norm_bound(local: _Local, coarse: _Groups) -> float:
    """Upper bound of lambda_max(G) = ||T^-1||_2^2: the largest row sum of |G|."""
    g_mid, g_rad = local.G
    rows = upper_nonneg_matvec(add_up_sparse(abs(g_mid), g_rad), np.ones(g_mid.shape[0]), int(coarse.sizes.max()))
    return float(rows.max())


def _reason(
    p_outcome: DefinitenessOutcome,
    m_outcome: DefinitenessOutcome,
    rate_outcome: DefinitenessOutcome | None,
    rate: float,
) -> str:
    if p_outcome.proven and m_outcome.proven:
        text = (
            f"Proven by block comparison: lambda_min(P) >= {p_outcome.lower_bound:.9g} "
            f"and the sheared form of M = -(A^T P + P A) - 2 beta I has comparison "
            f"bound {m_outcome.lower_bound:.3g} > 0"
        )
        if rate_outcome is not None:
            verdict = "proven" if rate_outcome.proven else "not proven"
            text += f"; decay rate {rate:.6g} 1/s {verdict}"
        return text + "."
    clauses = []
    if not p_outcome.proven:
        clauses.append(f"lambda_min(P) > {p_outcome.floor:.9g} could not be proven ({p_outcome.note})")
    if not m_outcome.proven:
        clauses.append(f"M > 0 could not be proven ({m_outcome.note})")
    return "Rejected: " + ", and ".join(clauses) + "."
