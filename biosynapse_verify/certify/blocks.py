"""Batched dense linear algebra on the diagonal blocks of a sparse matrix.

A network Jacobian has thousands of small diagonal blocks (one per post
neuron, 10-30 coordinates each). Looping over them in Python costs more than
the arithmetic, so blocks of equal size are stacked into one (B, k, k) array
and handed to numpy's batched LAPACK calls (``eig``, ``eigvalsh``, ``solve``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from biosynapse_verify.certify.linalg import solve_lyapunov

__all__ = ["BlockLayout", "BatchedLyapunov", "batched_lyapunov"]

logger = logging.getLogger(__name__)

EIG_LYAPUNOV_RESIDUAL_TOL = 1e-9
"""Largest relative residual accepted from the eigenvector formula for the
Lyapunov equation; blocks above it are re-solved by Bartels-Stewart, which is
backward stable where the eigenvector basis is ill-conditioned."""


class BlockLayout:
    """Index bookkeeping for a partition of ``range(n)`` into labelled blocks.

    Parameters
    ----------
    labels : ndarray of int, shape (n,)
        Block of each coordinate, in ``0 .. m - 1``; every label must occur.
    leading : ndarray of bool, shape (n,), optional
        Coordinates placed first within their block (the fast coordinate of
        a two-time-scale block); otherwise blocks keep coordinate order.
    """

    def __init__(self, labels: np.ndarray, leading: np.ndarray | None = None) -> None:
        labels = np.asarray(labels, dtype=np.int64)
        self.labels = labels
        self.n = int(labels.size)
        self.m = int(labels.max()) + 1 if labels.size else 0
        self.sizes = np.bincount(labels, minlength=self.m)
        if np.any(self.sizes == 0):
            raise ValueError("BlockLayout: every label in 0 .. m - 1 must be used.")
        if leading is None:
            self.order = np.argsort(labels, kind="stable")
        else:
            self.order = np.lexsort((~np.asarray(leading, dtype=bool), labels))
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        self.local = np.empty(self.n, dtype=np.int64)
        self.local[self.order] = np.arange(self.n) - np.repeat(self.starts, self.sizes)

    @cached_property
    def size_groups(self) -> dict[int, np.ndarray]:
        """Block ids by block size: {k: ids of the blocks with k coordinates}."""
        groups: dict[int, np.ndarray] = {}
        for size in np.unique(self.sizes):
            groups[int(size)] = np.flatnonzero(self.sizes == size)
        return groups

    @cached_property
    def position(self) -> np.ndarray:
        """Index of each block within its size group, shape (m,)."""
        position = np.empty(self.m, dtype=np.int64)
        for ids in self.size_groups.values():
            position[ids] = np.arange(ids.size)
        return position

    def members(self, ids: np.ndarray) -> np.ndarray:
        """Return the coordinates of equal-size blocks ``ids``, shape (B, k)."""
        k = int(self.sizes[ids[0]])
        return self.order[self.starts[ids][:, None] + np.arange(k)[None, :]]

    def groups(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Yield (k, block ids, members of shape (B, k)) for every block size."""
        for size, ids in self.size_groups.items():
            yield size, ids, self.members(ids)

    def within(self, matrix: sp.coo_array) -> np.ndarray:
        """Return a mask of the entries of ``matrix`` that lie inside a block."""
        return self.labels[matrix.row] == self.labels[matrix.col]

    def diagonal_blocks(self, matrix: sp.sparray) -> dict[int, np.ndarray]:
        """Return the diagonal blocks of ``matrix`` as dense stacks.

        Returns
        -------
        dict of int to ndarray
            {k: array of shape (B, k, k)} in the order of ``size_groups[k]``.
        """
        coo = _canonical_coo(matrix)
        keep = self.within(coo)
        rows, cols, values = coo.row[keep], coo.col[keep], coo.data[keep]
        blocks = self.labels[rows]
        stacks = {
            size: np.zeros((ids.size, size, size)) for size, ids in self.size_groups.items()
        }
        sizes = self.sizes[blocks]
        for size, stack in stacks.items():
            mask = sizes == size
            stack[
                self.position[blocks[mask]], self.local[rows[mask]], self.local[cols[mask]]
            ] = values[mask]
        return stacks

    def assemble(self, stacks: dict[int, np.ndarray]) -> sp.csr_array:
        """Build the block-diagonal sparse matrix with the given dense blocks."""
        rows, cols, values = [], [], []
        for size, ids, members in self.groups():
            stack = stacks[size]
            rows.append(np.broadcast_to(members[:, :, None], stack.shape).ravel())
            cols.append(np.broadcast_to(members[:, None, :], stack.shape).ravel())
            values.append(stack.ravel())
        matrix = sp.coo_array(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
            shape=(self.n, self.n),
        )
        return sp.csr_array(matrix)


def _canonical_coo(matrix: sp.sparray) -> sp.coo_array:
    """Return ``matrix`` in COO form without duplicate entries."""
    if sp.issparse(matrix) and matrix.format == "csr":
        csr = matrix if matrix.has_canonical_format else sp.csr_array(matrix)
        csr.sum_duplicates()
        return sp.coo_array(csr)
    coo = sp.coo_array(matrix)
    coo.sum_duplicates()
    return coo


@dataclass(frozen=True)
class BatchedLyapunov:
    """Solutions X of A^T X + X A = -Q for a stack of small matrices.

    Attributes
    ----------
    X : ndarray, shape (B, k, k)
        Exactly symmetric solutions.
    max_relative_residual : float
        Largest ||A^T X + X A + Q||_F / (2 ||A||_F ||X||_F + ||Q||_F).
    spectral_abscissa : ndarray, shape (B,)
        max Re lambda(A) of each block.
    separation : ndarray, shape (B,)
        min |lambda_i + conj(lambda_j)| of each block: how far the Lyapunov
        operator is from singular.
    """

    X: np.ndarray
    max_relative_residual: float
    spectral_abscissa: np.ndarray
    separation: np.ndarray


def batched_lyapunov(A: np.ndarray, Q: np.ndarray | None = None) -> BatchedLyapunov:
    """Solve A_b^T X_b + X_b A_b = -Q_b for every b.

    With A = V diag(lambda) V^-1, X = V^-H Y V^-1 where
    Y_ij = -(V^H Q V)_ij / (conj(lambda_i) + lambda_j). Blocks whose residual
    exceeds :data:`EIG_LYAPUNOV_RESIDUAL_TOL` (ill-conditioned eigenvectors)
    are solved again one by one with Bartels-Stewart.

    Parameters
    ----------
    A : ndarray, shape (B, k, k)
    Q : ndarray, shape (B, k, k), optional
        Symmetric right-hand sides; the identity by default.

    Returns
    -------
    BatchedLyapunov
    """
    batch, k, _ = A.shape
    if Q is None:
        Q = np.broadcast_to(np.eye(k), A.shape)
    eigenvalues, vectors = np.linalg.eig(A)
    separation = np.abs(eigenvalues.conj()[:, :, None] + eigenvalues[:, None, :]).min(
        axis=(1, 2)
    )
    abscissa = eigenvalues.real.max(axis=1)
    X = np.zeros(A.shape)
    regular = separation > 0
    try:
        inverse = np.linalg.inv(vectors[regular])
        rhs = np.conj(np.swapaxes(vectors[regular], 1, 2)) @ Q[regular] @ vectors[regular]
        lam = eigenvalues[regular]
        Y = -rhs / (lam.conj()[:, :, None] + lam[:, None, :])
        X[regular] = (np.conj(np.swapaxes(inverse, 1, 2)) @ Y @ inverse).real
    except np.linalg.LinAlgError:
        regular[:] = False
    X = 0.5 * (X + np.swapaxes(X, 1, 2))

    residual = _relative_residual(A, X, Q)
    redo = np.flatnonzero(~(residual <= EIG_LYAPUNOV_RESIDUAL_TOL) & (separation > 0))
    for b in redo:
        solution = solve_lyapunov(A[b], np.asarray(Q[b]))
        X[b] = solution.X
        residual[b] = solution.relative_residual
    if redo.size:
        logger.debug("re-solved %d of %d Lyapunov blocks by Bartels-Stewart", redo.size, batch)
    worst = float(residual[separation > 0].max()) if np.any(separation > 0) else np.inf
    return BatchedLyapunov(X, worst, abscissa, separation)


def _relative_residual(A: np.ndarray, X: np.ndarray, Q: np.ndarray) -> np.ndarray:
    residual = np.swapaxes(A, 1, 2) @ X + X @ A + Q
    scale = (
        2.0 * np.linalg.norm(A, axis=(1, 2)) * np.linalg.norm(X, axis=(1, 2))
        + np.linalg.norm(Q, axis=(1, 2))
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.linalg.norm(residual, axis=(1, 2)) / scale


class BlockJacobiSolver:
    """Solve A x = b by GMRES, preconditioned with the inverse diagonal blocks of A.

    For a network Jacobian with one block per post neuron, the blocks hold
    the strong couplings (a rate and its own weights) and what is left is
    the recurrent coupling between neurons, so a few dozen iterations
    suffice where a sparse LU would fill in the recurrent rate block.

    Parameters
    ----------
    A : sparse, shape (n, n)
    labels : ndarray of int, shape (n,)
        Block of each coordinate.
    rtol : float
        Relative residual at which GMRES stops.
    """

    def __init__(self, A: sp.sparray, labels: np.ndarray, rtol: float = 1e-12) -> None:
        self.A = sp.csr_array(A)
        self.layout = BlockLayout(labels)
        self.rtol = rtol
        self.iterations = 0
        self.inverses = {}
        for size, stack in self.layout.diagonal_blocks(self.A).items():
            try:
                self.inverses[size] = np.linalg.inv(stack)
            except np.linalg.LinAlgError:
                self.inverses[size] = np.linalg.pinv(stack)

    def precondition(self, vector: np.ndarray) -> np.ndarray:
        """Apply the inverse of the block diagonal of A."""
        out = np.empty_like(vector)
        for size, ids, members in self.layout.groups():
            out[members] = np.einsum("bij,bj->bi", self.inverses[size], vector[members])
        return out

    def solve(self, rhs: np.ndarray) -> tuple[np.ndarray, int]:
        """Return x with A x ~ rhs and GMRES's info (0 when converged)."""
        import scipy.sparse.linalg as spla

        n = self.A.shape[0]
        operator = spla.LinearOperator((n, n), matvec=self.precondition, dtype=np.float64)
        counter = {"steps": 0}

        def count(_: object) -> None:
            counter["steps"] += 1

        x, info = spla.gmres(
            self.A,
            rhs,
            rtol=self.rtol,
            atol=0.0,
            restart=60,
            maxiter=20,
            M=operator,
            callback=count,
            callback_type="pr_norm",
        )
        self.iterations += counter["steps"]
        return x, info
