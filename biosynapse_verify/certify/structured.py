"""Structured Lyapunov matrices: block-diagonal, possibly after a shear.

A structured candidate stores

    P = T^T W T,   T = I + N,

where W is block diagonal over *fine groups* and N is a sparse shear that
adds slow coordinates into fast ones (every row of N is a fast coordinate and
every column a slow one, so N^2 = 0 and T^-1 = I - N exactly). With N = 0
this is a block-diagonal P. The fine groups and N together define *coarse
blocks* (for a network: one post neuron, its rate and its plastic weights),
and P is block diagonal over those.

Nothing here forms an n x n dense matrix. The decay margin comes from a
comparison system over the fine groups, in the sheared coordinates
z = T x, where the Lyapunov form becomes

    X~ = T^-T (M - 2 beta I - 2 gamma P) T^-1
       = -(A~^T W + W A~) - 2 beta G - 2 gamma W,
    A~ = T A T^-1,  G = T^-T T^-1,

and X~ is positive definite exactly when M - 2 beta I - 2 gamma P is
(Sylvester's law of inertia). Per fine group g the comparison matrix has
lambda_min of the diagonal block of X~ on its diagonal and minus the norms
of the blocks that couple g to the other groups off it (see
:mod:`biosynapse_verify.certify.comparison`). The couplings between coarse
blocks are bounded without forming A~: column c of A~ restricted to block j
is (T_j a_c) l_c^T with l_c^T = e_c^T (I - N), so one sparse product
W (I + N) E with the off-block part E of A gives every coupling norm.

The search computes these bounds in floating point; the rigorous checker
recomputes them with outward rounding and does not import this module.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from biosynapse_verify.certify.blocks import BlockLayout
from biosynapse_verify.certify.comparison import symmetric_lower_bound
from biosynapse_verify.certify.linalg import JacobianMatrix

__all__ = [
    "DIAGONAL_COMPARISON_MIN_N",
    "CouplingBounds",
    "FactoredP",
    "as_factored_diagonal",
    "coarse_labels",
    "coupling_bounds",
    "finalise_structured",
]

DIAGONAL_COMPARISON_MIN_N = 5000
"""Above this n a diagonal P is finalised by its comparison bound (a scaled
Gershgorin bound, O(nnz)) instead of extreme eigenvalues of the sparse M.

ARPACK converges slowly on the ill-conditioned M of a two-time-scale
Jacobian, and confirming its estimate needs a sparse LDL^T of M, which fills
in on a recurrent network: at n = 16000 the eigenvalue route took 120 s on
two cores, the comparison bound under a second.
"""

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FactoredP:
    """P = (I + N)^T W (I + N) with W block diagonal over fine groups.

    Attributes
    ----------
    W : csr_array, shape (n, n)
        Exactly symmetric, block diagonal over ``fine``.
    fine : ndarray of int, shape (n,)
        Fine group of each coordinate.
    coarse : ndarray of int, shape (n,)
        Coarse block of each coordinate (fine groups joined by N).
    N : csr_array, shape (n, n), or None
        Shear; None means T = I.
    details : dict
        Strategy facts for the record.
    """

    W: sp.csr_array
    fine: np.ndarray
    coarse: np.ndarray
    N: sp.csr_array | None = None
    details: dict = field(default_factory=dict)
    bounds: CouplingBounds | None = field(default=None, compare=False, repr=False)

    @property
    def n(self) -> int:
        """State dimension."""
        return int(self.W.shape[0])

    def scaled(self, factor: float) -> FactoredP:
        """Return the same structure with W multiplied by ``factor``."""
        return FactoredP(
            sp.csr_array(self.W * factor), self.fine, self.coarse, self.N, self.details
        )

    def with_bounds(self, bounds: CouplingBounds) -> FactoredP:
        """Return this P with its comparison data attached, to spare recomputing it."""
        return FactoredP(self.W, self.fine, self.coarse, self.N, self.details, bounds)

    def reweighted(self, weights: np.ndarray) -> FactoredP:
        """Return W with fine group g multiplied by ``weights[g]``.

        W is block diagonal over the fine groups, so each stored entry is
        multiplied once by the weight of its group, which keeps W exactly
        symmetric.
        """
        coo = sp.coo_array(self.W)
        scaled = coo.data * weights[self.fine[coo.row]]
        W = sp.csr_array((scaled, (coo.row, coo.col)), shape=self.W.shape)
        return FactoredP(W, self.fine, self.coarse, self.N, self.details)

    def assembled(self) -> sp.csr_array:
        """Return P = T^T W T as a sparse matrix (floating point, for records)."""
        if self.N is None:
            return self.W
        T = sp.identity(self.n, format="csr") + self.N
        P = sp.csr_array(T.T @ self.W @ T)
        return sp.csr_array(0.5 * (P + P.T))

    def dense(self) -> np.ndarray:
        """Return P as a dense array (small n only)."""
        return np.asarray(self.assembled().toarray())


def as_factored_diagonal(diagonal: np.ndarray) -> FactoredP:
    """Return the diagonal P = diag(``diagonal``) as a FactoredP of singletons."""
    n = diagonal.size
    groups = np.arange(n)
    return FactoredP(sp.csr_array(sp.diags_array(np.asarray(diagonal, float))), groups, groups)


def coarse_labels(fine: np.ndarray, N: sp.csr_array | None) -> np.ndarray:
    """Return coarse blocks: fine groups joined whenever N links them."""
    if N is None or N.nnz == 0:
        _, labels = np.unique(fine, return_inverse=True)
        return labels
    m = int(fine.max()) + 1
    coo = sp.coo_array(N)
    links = sp.coo_array(
        (np.ones(coo.nnz), (fine[coo.row], fine[coo.col])), shape=(m, m)
    )
    _, group_label = sp.csgraph.connected_components(links, directed=False)
    return group_label[fine]


@dataclass(frozen=True)
class CouplingBounds:
    """Floating-point comparison data of a structured P, per fine group.

    Attributes
    ----------
    decay : ndarray, shape (m,)
        lambda_min(Q_g), Q_g = -(A~_gg^T W_g + W_g A~_gg).
    coupling : csr_array, shape (m, m)
        ||(W A~)_gh||_F bounds for g != h (one-sided; zero diagonal).
    w_max : ndarray, shape (m,)
        lambda_max(W_g).
    shear_comparison : csr_array, shape (m, m)
        lambda_max(G_gg) on the diagonal and ||G_gh||_F off it, G = T^-T T^-1.
    lambda_min_P, lambda_max_P : float
        Extreme eigenvalues of P over all coarse blocks.
    """

    decay: np.ndarray
    coupling: sp.csr_array
    w_max: np.ndarray
    shear_comparison: sp.csr_array
    lambda_min_P: float
    lambda_max_P: float

    def scaled(self, factor: float) -> CouplingBounds:
        """Return the bounds of the same structure with W multiplied by ``factor``.

        Everything but the shear data is linear in W.
        """
        return CouplingBounds(
            decay=self.decay * factor,
            coupling=sp.csr_array(self.coupling * factor),
            w_max=self.w_max * factor,
            shear_comparison=self.shear_comparison,
            lambda_min_P=self.lambda_min_P * factor,
            lambda_max_P=self.lambda_max_P * factor,
        )

    @classmethod
    def combined(cls, first: CouplingBounds, second: CouplingBounds) -> CouplingBounds:
        """Return the bounds for A = A1 + A2 from those of A1 and A2 (same P).

        Decays add where each group's form is a scalar or comes from one part
        only, as for the fast and slow rows of a two-time-scale split, and the
        couplings add by the triangle inequality.
        """
        return cls(
            decay=first.decay + second.decay,
            coupling=sp.csr_array(first.coupling + second.coupling),
            w_max=first.w_max,
            shear_comparison=first.shear_comparison,
            lambda_min_P=first.lambda_min_P,
            lambda_max_P=first.lambda_max_P,
        )

    def reweighted(self, weights: np.ndarray, P: FactoredP) -> CouplingBounds:
        """Return the bounds after W's group g is scaled by ``weights[g]``.

        ``P`` is the reweighted certificate, whose block eigenvalues are
        recomputed; everything else scales row by row.
        """
        low, high = _p_extremes(P)
        return CouplingBounds(
            decay=self.decay * weights,
            coupling=sp.csr_array(sp.diags_array(weights) @ self.coupling),
            w_max=self.w_max * weights,
            shear_comparison=self.shear_comparison,
            lambda_min_P=low,
            lambda_max_P=high,
        )

    def comparison(self, beta: float = 0.0, rate: float = 0.0) -> sp.csr_array:
        """Return the symmetric comparison matrix of X~ for margins beta and rate."""
        diagonal = self.decay - 2.0 * rate * self.w_max
        off = self.coupling + self.coupling.T
        C = sp.diags_array(diagonal) - off - 2.0 * beta * self.shear_comparison
        return sp.csr_array(C)

    def lower_bound(
        self, beta: float = 0.0, rate: float = 0.0, vector: np.ndarray | None = None
    ) -> tuple[float, np.ndarray]:
        """Return a floating-point lower bound of lambda_min(X~) and its test vector.

        With ``vector`` given, the bound min_g (C v)_g / v_g uses it instead
        of searching for the eigenvector again.
        """
        C = self.comparison(beta, rate)
        if vector is None:
            return symmetric_lower_bound(C)
        return float(np.min((C @ vector) / vector)), vector

    @property
    def shear_norm(self) -> float:
        """Upper bound of lambda_max(G): the largest row sum of its comparison."""
        return float(abs(self.shear_comparison).sum(axis=1).max())

    def rate_bound(self) -> tuple[float, np.ndarray]:
        """Return the largest rate gamma with comparison(0, gamma) shown definite.

        gamma = lambda_min(K^-1/2 C K^-1/2) / 2 with K = diag(w_max); the
        returned vector K^-1/2 y (y the test vector of the scaled matrix)
        nearly spans the null space of C - 2 gamma K, so it also serves as
        the test vector for claims just below gamma.
        """
        scale = 1.0 / np.sqrt(self.w_max)
        scaled = sp.csr_array(sp.diags_array(scale) @ self.comparison() @ sp.diags_array(scale))
        bound, vector = symmetric_lower_bound(scaled)
        return 0.5 * bound, vector * scale


@dataclass(frozen=True)
class BlockSplit:
    """A matrix split into its part inside the coarse blocks and the rest.

    Attributes
    ----------
    inside : csr_array, shape (n, n)
        Entries whose row and column lie in the same coarse block.
    outside : csr_array, shape (n, n)
        Entries that couple two coarse blocks.
    """

    inside: sp.csr_array
    outside: sp.csr_array

    @classmethod
    def of(cls, A: sp.csr_array, coarse: np.ndarray) -> BlockSplit:
        """Split ``A`` by the coarse block labels."""
        coo = sp.coo_array(A)
        same = coarse[coo.row] == coarse[coo.col]
        shape = A.shape
        inside = sp.csr_array((coo.data[same], (coo.row[same], coo.col[same])), shape=shape)
        outside = sp.csr_array(
            (coo.data[~same], (coo.row[~same], coo.col[~same])), shape=shape
        )
        return cls(inside, outside)

    def rows(self, mask: np.ndarray) -> BlockSplit:
        """Return the split of the matrix with only the rows in ``mask`` kept."""
        return BlockSplit(_keep_rows(self.inside, mask), _keep_rows(self.outside, mask))


def _keep_rows(matrix: sp.csr_array, mask: np.ndarray) -> sp.csr_array:
    counts = np.diff(matrix.indptr)
    keep = np.repeat(mask, counts)
    rows = np.repeat(np.arange(matrix.shape[0]), counts)[keep]
    return sp.csr_array(
        (matrix.data[keep], (rows, matrix.indices[keep])), shape=matrix.shape
    )


def coupling_bounds(
    A: JacobianMatrix | BlockSplit, P: FactoredP
) -> CouplingBounds:
    """Compute the comparison data of P for dx/dt = A x (floating point).

    Parameters
    ----------
    A : JacobianMatrix or BlockSplit, shape (n, n)
        A BlockSplit by ``P.coarse`` saves splitting A again.
    P : FactoredP

    Returns
    -------
    CouplingBounds
    """
    split = A if isinstance(A, BlockSplit) else BlockSplit.of(A.sparse, P.coarse)
    N = P.N if P.N is not None else sp.csr_array((P.n, P.n))
    inter = _off_block_coupling(split.outside, P.W, N, P.fine)
    local = _local_bounds_by_stacks(split.inside, P, N)
    if local is None:
        fine, coarse = BlockLayout(P.fine), BlockLayout(P.coarse)
        products = _coarse_products(split.inside, P.W, N, coarse)
        decay, intra, shear, lambdas = _fine_split(products, fine, coarse)
        w_max = _group_extremes(P.W, fine)[1]
    else:
        decay, intra, shear, lambdas, w_max = local
    return CouplingBounds(
        decay=decay,
        coupling=sp.csr_array(intra + inter),
        w_max=w_max,
        shear_comparison=shear,
        lambda_min_P=lambdas[0],
        lambda_max_P=lambdas[1],
    )


def _local_bounds_by_stacks(
    inside: sp.csr_array, P: FactoredP, N: sp.csr_array
) -> tuple | None:
    """Compute the in-block comparison data straight from the coarse stacks.

    Applies when every coarse block is one fine group, or a leading fast
    coordinate (a row of N) plus one group of the rest, which is the layout
    of the block and two-time-scale strategies. Returns None otherwise.
    """
    m = int(P.fine.max()) + 1
    coarse = BlockLayout(P.coarse, leading=np.diff(N.indptr) > 0)
    stacks = {
        name: coarse.diagonal_blocks(matrix)
        for name, matrix in (("A", inside), ("W", P.W), ("N", N))
    }
    decay, w_max, g_max = np.empty(m), np.empty(m), np.empty(m)
    pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    shear_pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    low, high = np.inf, -np.inf
    for size, ids, members in coarse.groups():
        labels = P.fine[members]
        single = np.all(labels == labels[:, :1], axis=1)
        split = ~single & np.all(labels[:, 1:] == labels[:, 1:2], axis=1)
        if size > 1 and not np.all(single | split):
            return None
        identity = np.eye(size)
        shear = identity + stacks["N"][size]
        inverse = identity - stacks["N"][size]
        W = stacks["W"][size]
        WA = W @ (shear @ stacks["A"][size] @ inverse)
        Q = -(WA + np.swapaxes(WA, 1, 2))
        G = np.swapaxes(inverse, 1, 2) @ inverse
        values = np.linalg.eigvalsh(np.swapaxes(shear, 1, 2) @ W @ shear)
        low, high = min(low, float(values[:, 0].min())), max(high, float(values[:, -1].max()))
        if single.any():
            group = labels[single, 0]
            decay[group] = np.linalg.eigvalsh(Q[single])[:, 0]
            w_max[group] = np.linalg.eigvalsh(W[single])[:, -1]
            g_max[group] = np.linalg.eigvalsh(G[single])[:, -1]
        if split.any():
            fast, slow = labels[split, 0], labels[split, 1]
            Qs, Ws, Gs, WAs = Q[split], W[split], G[split], WA[split]
            decay[fast] = Qs[:, 0, 0]
            decay[slow] = np.linalg.eigvalsh(Qs[:, 1:, 1:])[:, 0]
            w_max[fast] = Ws[:, 0, 0]
            w_max[slow] = np.linalg.eigvalsh(Ws[:, 1:, 1:])[:, -1]
            g_max[fast] = Gs[:, 0, 0]
            g_max[slow] = np.linalg.eigvalsh(Gs[:, 1:, 1:])[:, -1]
            pairs.append((fast, slow, np.linalg.norm(WAs[:, 0, 1:], axis=1)))
            pairs.append((slow, fast, np.linalg.norm(WAs[:, 1:, 0], axis=1)))
            cross = np.linalg.norm(Gs[:, 0, 1:], axis=1)
            shear_pairs += [(fast, slow, cross), (slow, fast, cross)]
    intra = _pairs_matrix(pairs, m)
    shear_comparison = sp.csr_array(_pairs_matrix(shear_pairs, m) + sp.diags_array(g_max))
    return decay, intra, shear_comparison, (low, high), w_max


def _pairs_matrix(
    pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray]], m: int
) -> sp.csr_array:
    if not pairs:
        return sp.csr_array((m, m))
    rows, cols, values = (np.concatenate(part) for part in zip(*pairs))
    return sp.csr_array(sp.coo_array((values, (rows, cols)), shape=(m, m)))


def _coarse_products(
    A: sp.csr_array, W: sp.csr_array, N: sp.csr_array, coarse: BlockLayout
) -> dict[str, sp.csr_array]:
    """Form, per coarse block, W A~, G and P, as block-diagonal sparse matrices."""
    a_stacks = coarse.diagonal_blocks(A)
    w_stacks = coarse.diagonal_blocks(W)
    n_stacks = coarse.diagonal_blocks(N)
    products: dict[str, dict[int, np.ndarray]] = {"WA": {}, "G": {}, "P": {}}
    for size, stack in a_stacks.items():
        identity = np.eye(size)
        shear, inverse = identity + n_stacks[size], identity - n_stacks[size]
        sheared = shear @ stack @ inverse
        products["WA"][size] = w_stacks[size] @ sheared
        products["G"][size] = np.swapaxes(inverse, 1, 2) @ inverse
        products["P"][size] = np.swapaxes(shear, 1, 2) @ w_stacks[size] @ shear
    return {name: coarse.assemble(stacks) for name, stacks in products.items()}


def _fine_split(
    local: dict[str, sp.csr_array], fine: BlockLayout, coarse: BlockLayout
) -> tuple[np.ndarray, sp.csr_array, sp.csr_array, tuple[float, float]]:
    """Split the coarse products into fine-group decay, couplings and shear data."""
    WA = local["WA"]
    decay_stacks = fine.diagonal_blocks(sp.csr_array(-(WA + WA.T)))
    decay = np.empty(fine.m)
    for size, ids in fine.size_groups.items():
        decay[ids] = np.linalg.eigvalsh(decay_stacks[size])[:, 0]
    intra = _pair_norms(WA, fine.labels, fine.m)

    G = local["G"]
    shear = _pair_norms(G, fine.labels, fine.m)
    g_max = _group_extremes(G, fine)[1]
    shear = sp.csr_array(shear + sp.diags_array(g_max))

    p_stacks = coarse.diagonal_blocks(local["P"])
    low, high = np.inf, -np.inf
    for stack in p_stacks.values():
        values = np.linalg.eigvalsh(0.5 * (stack + np.swapaxes(stack, 1, 2)))
        low, high = min(low, float(values[:, 0].min())), max(high, float(values[:, -1].max()))
    return decay, intra, shear, (low, high)


def _p_extremes(P: FactoredP) -> tuple[float, float]:
    """Return the extreme eigenvalues of P = T^T W T over its coarse blocks."""
    coarse = BlockLayout(P.coarse)
    N = P.N if P.N is not None else sp.csr_array((P.n, P.n))
    w_stacks, n_stacks = coarse.diagonal_blocks(P.W), coarse.diagonal_blocks(N)
    low, high = np.inf, -np.inf
    for size, stack in w_stacks.items():
        shear = np.eye(size) + n_stacks[size]
        blocks = np.swapaxes(shear, 1, 2) @ stack @ shear
        values = np.linalg.eigvalsh(0.5 * (blocks + np.swapaxes(blocks, 1, 2)))
        low, high = min(low, float(values[:, 0].min())), max(high, float(values[:, -1].max()))
    return low, high


def _group_extremes(matrix: sp.csr_array, fine: BlockLayout) -> tuple[np.ndarray, np.ndarray]:
    """Return lambda_min and lambda_max of every fine diagonal block of ``matrix``."""
    stacks = fine.diagonal_blocks(matrix)
    low, high = np.empty(fine.m), np.empty(fine.m)
    for size, ids in fine.size_groups.items():
        values = np.linalg.eigvalsh(stacks[size])
        low[ids], high[ids] = values[:, 0], values[:, -1]
    return low, high


def _pair_norms(matrix: sp.sparray, labels: np.ndarray, m: int) -> sp.csr_array:
    """Frobenius norms of the blocks (g, h), g != h, of ``matrix`` by group labels."""
    coo = sp.coo_array(matrix)
    g, h = labels[coo.row], labels[coo.col]
    keep = g != h
    squares = sp.coo_array((coo.data[keep] ** 2, (g[keep], h[keep])), shape=(m, m))
    norms = sp.csr_array(squares)
    norms.sum_duplicates()
    norms.data = np.sqrt(norms.data)
    return norms


def _off_block_coupling(
    E: sp.csr_array, W: sp.csr_array, N: sp.csr_array, fine: np.ndarray
) -> sp.csr_array:
    """Bound ||(W A~)_gh||_F for fine groups g, h in different coarse blocks.

    ``E`` is the part of A between coarse blocks. Its column c becomes
    (T a_c) l_c^T in A~, with l_c = e_c - N[c, :]^T. Columns that are not
    rows of N have l_c = e_c, so their contributions to one group pair are
    orthogonal and add in squares; the others add by the triangle inequality.
    """
    n = E.shape[0]
    m = int(fine.max()) + 1
    Z = sp.coo_array(W @ (E + N @ E)) if N.nnz else sp.coo_array(W @ E)
    sheared_columns = np.diff(N.indptr) > 0

    # Columns with l_c = e_c: Frobenius norm over the whole (g, h) block.
    plain = ~sheared_columns[Z.col]
    result = _rooted_sums(Z.data[plain] ** 2, fine[Z.row[plain]], fine[Z.col[plain]], (m, m))
    if not sheared_columns.any():
        return result

    # Sheared columns: ||(W T a_c)_g|| times ||(l_c)_h||, summed over c.
    sheared = ~plain
    column_norms = _rooted_sums(
        Z.data[sheared] ** 2, fine[Z.row[sheared]], Z.col[sheared], (m, n)
    )
    return sp.csr_array(result + column_norms @ _shear_row_norms(N, fine, m))


def _rooted_sums(
    squares: np.ndarray, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]
) -> sp.csr_array:
    """Return sqrt of the summed squares per (row, col) key, as a sparse matrix."""
    matrix = sp.csr_array(sp.coo_array((squares, (rows, cols)), shape=shape))
    matrix.sum_duplicates()
    matrix.data = np.sqrt(matrix.data)
    return matrix


def _shear_row_norms(N: sp.csr_array, fine: np.ndarray, m: int) -> sp.csr_array:
    """Return ||(e_c - N[c, :])_h|| for every row c of N and fine group h, shape (n, m)."""
    n = N.shape[0]
    coo = sp.coo_array(N)
    rows = np.concatenate([np.arange(n), coo.row])
    groups = np.concatenate([fine, fine[coo.col]])
    values = np.concatenate([np.ones(n), coo.data**2])
    norms = sp.csr_array(sp.coo_array((values, (rows, groups)), shape=(n, m)))
    norms.sum_duplicates()
    norms.data = np.sqrt(norms.data)
    return norms


STRUCTURED_BETA_SHARE = 0.9
"""Fraction of the comparison bound claimed as beta (and as the decay rate).

The comparison bound mu of X~ = -(A~^T W + W A~) allows any beta below
mu / (2 lambda_max(G)); claiming 90 per cent of it leaves the rigorous check
a tenth of mu for its rounding radii and its own choice of test vector.
"""


def finalise_structured(
    A: JacobianMatrix, proposal: object, options: object, strategy: str
) -> object:
    """Normalise a structured P, claim beta and a decay rate, and validate both.

    Parameters
    ----------
    A : JacobianMatrix, shape (n, n)
    proposal : Proposal
        With ``proposal.P`` a :class:`FactoredP`.
    options : SearchOptions
    strategy : str

    Returns
    -------
    Candidate or Failure
    """
    from biosynapse_verify.certify.candidate import Candidate, Failure
    from biosynapse_verify.certify.margins import P_RELATIVE_BACKOFF

    factored: FactoredP = proposal.P
    details = dict(proposal.details)
    bounds = factored.bounds if factored.bounds is not None else coupling_bounds(A, factored)
    if not bounds.lambda_min_P > 0:
        return Failure(
            f"P is not positive definite: lambda_min(P) = {bounds.lambda_min_P!r} "
            "in some block",
            details,
        )

    # Step 1: lambda_min(P) >= 1. Every bound scales linearly with P.
    divisor = bounds.lambda_min_P * (1.0 - P_RELATIVE_BACKOFF)
    factored = factored.scaled(1.0 / divisor)
    bounds = bounds.scaled(1.0 / divisor)

    # Step 2: beta and the decay rate from the comparison system of X~.
    margin, _ = bounds.lower_bound()
    details.update({"comparison_bound": margin, "shear_norm": bounds.shear_norm})
    if not margin > 0:
        return Failure(
            f"the comparison bound of -(A^T P + P A) is {margin!r}, not positive",
            details,
        )
    beta = STRUCTURED_BETA_SHARE * margin / (2.0 * bounds.shear_norm)
    rate_limit, rate_vector = bounds.rate_bound()
    rate = STRUCTURED_BETA_SHARE * rate_limit
    alpha = beta / bounds.lambda_max_P
    alpha_floor = options.marginal_relative_tol * A.norm2_bound
    details.update({"decay_rate_float": rate_limit})
    if not alpha >= alpha_floor:
        return Failure(
            f"marginal: decay rate alpha = {alpha!r} (beta = {beta!r}, "
            f"lambda_max(P) = {bounds.lambda_max_P!r}) is below "
            f"marginal_relative_tol * ||A||_2 bound = {alpha_floor!r}",
            details,
        )

    # Step 3: validate both claims on the comparison system afresh.
    at_beta, _ = bounds.lower_bound(beta=beta)
    at_rate = bounds.lower_bound(rate=rate, vector=rate_vector)[0] if rate > 0 else -np.inf
    details.update({"bound_at_beta": at_beta, "bound_at_rate": at_rate})
    if not at_beta > 0:
        return Failure(
            f"validation failed: the comparison bound at beta = {beta!r} is "
            f"{at_beta!r}, not positive",
            details,
        )
    singletons = factored.N is None and np.unique(factored.fine).size == factored.n
    return Candidate(
        strategy=strategy,
        P=factored.W.diagonal().copy() if singletons else factored.W,
        beta=float(beta),
        beta_float=float(margin / (2.0 * bounds.shear_norm)),
        rounding_budget=0.0,
        lambda_min_P=bounds.lambda_min_P,
        lambda_max_P=bounds.lambda_max_P,
        alpha=float(alpha),
        normalisation_divisor=float(divisor),
        details=details,
        transform=factored.N,
        decay_rate=float(rate) if at_rate > 0 else None,
    )
