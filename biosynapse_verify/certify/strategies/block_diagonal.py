"""Block-diagonal P: a Lyapunov matrix per block, joined by a comparison system.

The state is split into blocks: the strongly connected components of the
graph of A when they are small, otherwise the blocks of the state structure
(one post neuron and its input weights). Each block gets the solution of
A_jj^T P_j + P_j A_jj = -I, and the blocks are weighted by the diagonal
certificate of their comparison matrix (see
:mod:`biosynapse_verify.certify.comparison`): S_jj = lambda_min(Q_j) / 2 = 1/2
and S_ji = -||P_j A_ji||_F. With strongly connected components A is block
triangular, so S is triangular and the join always succeeds when every block
is Hurwitz; with neuron blocks it succeeds when the couplings between
neurons are weak against each block's decay in its own metric.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from biosynapse_verify.certify.blocks import BlockLayout, batched_lyapunov
from biosynapse_verify.certify.candidate import Failure, Proposal
from biosynapse_verify.certify.comparison import m_matrix_weights
from biosynapse_verify.certify.linalg import JacobianMatrix, as_jacobian
from biosynapse_verify.certify.options import SearchOptions
from biosynapse_verify.certify.strategy import Strategy
from biosynapse_verify.certify.structured import FactoredP, coupling_bounds

__all__ = ["BlockDiagonalStrategy", "block_partition", "check_blocks_hurwitz"]


def block_partition(
    A: JacobianMatrix, options: SearchOptions
) -> tuple[np.ndarray | None, str, str]:
    """Choose the blocks: strongly connected components, else the state structure.

    Returns
    -------
    labels : ndarray of int, shape (n,), or None
    source : str
        ``"strongly connected components"`` or ``"state structure (...)"``.
    reason : str
        Why no partition with blocks of at most ``options.block_max_n`` exists.
    """
    count, labels = connected_components(A.sparse, directed=True, connection="strong")
    largest = int(np.bincount(labels).max())
    if largest <= options.block_max_n and count > 1:
        return labels, "strongly connected components", ""
    structure, why = A.state_structure()
    if structure is None:
        return None, "", (
            f"the largest strongly connected component has {largest} coordinates "
            f"(block_max_n = {options.block_max_n}) and {why}"
        )
    biggest = int(structure.block_sizes().max())
    if biggest > options.block_max_n:
        return None, "", (
            f"the largest strongly connected component has {largest} coordinates and "
            f"the largest block of the {structure.source} state structure has "
            f"{biggest}, both above block_max_n = {options.block_max_n}"
        )
    return structure.blocks, f"state structure ({structure.source})", ""


def check_blocks_hurwitz(
    abscissa: np.ndarray, separation: np.ndarray, scale: float, options: SearchOptions
) -> str:
    """Return why some block is not clearly Hurwitz (empty if all are).

    A block whose spectral abscissa is not below -tol, or whose Lyapunov
    operator is nearly singular (some lambda_i + conj(lambda_j) within tol of
    0), is rejected; tol = marginal_relative_tol * ``scale``.
    """
    tol = options.marginal_relative_tol * scale
    worst = int(np.argmax(abscissa))
    if not abscissa[worst] < -tol:
        return (
            f"block {worst} is not Hurwitz: its spectral abscissa is "
            f"{float(abscissa[worst])!r} >= -{tol!r} "
            "(marginal_relative_tol * ||A||_2 bound)"
        )
    closest = int(np.argmin(separation))
    if not separation[closest] > tol:
        return (
            f"block {closest} has eigenvalues with lambda_i + conj(lambda_j) within "
            f"{tol!r} of 0, so its Lyapunov equation is singular (marginal)"
        )
    return ""


class BlockDiagonalStrategy(Strategy):
    """Propose P = blkdiag(d_j P_j) with P_j from each block's Lyapunov equation."""

    name = "block_diagonal"

    def applies(
        self, A: object, options: SearchOptions | None = None
    ) -> tuple[bool, str]:
        options = options or SearchOptions()
        jacobian = as_jacobian(A)
        labels, _, reason = block_partition(jacobian, options)
        if labels is None:
            return False, reason
        if int(labels.max()) == 0:
            return False, "A forms a single block; the dense strategies cover it"
        return True, ""

    def propose(self, A: JacobianMatrix, options: SearchOptions) -> Proposal | Failure:
        labels, source, reason = block_partition(A, options)
        if labels is None:
            return Failure(reason)
        layout = BlockLayout(labels)
        stacks = layout.diagonal_blocks(A.sparse)
        solutions, abscissa, separation = {}, np.empty(layout.m), np.empty(layout.m)
        for size, ids in layout.size_groups.items():
            solved = batched_lyapunov(stacks[size])
            solutions[size] = solved.X
            abscissa[ids], separation[ids] = solved.spectral_abscissa, solved.separation
        details = {
            "partition": source,
            "n_blocks": layout.m,
            "largest_block": int(layout.sizes.max()),
        }
        why = check_blocks_hurwitz(abscissa, separation, A.norm2_bound, options)
        if why:
            return Failure(why, details)

        W = layout.assemble(solutions)
        P0 = FactoredP(W=W, fine=labels, coarse=labels, details=details)
        bounds = coupling_bounds(A, P0)
        S = sp.csr_array(sp.diags_array(0.5 * bounds.decay) - bounds.coupling)
        weights = m_matrix_weights(S)
        if isinstance(weights, str):
            details["largest_coupling"] = float(bounds.coupling.max()) if bounds.coupling.nnz else 0.0
            return Failure(f"the block comparison system fails: {weights}", details)
        details["weight_range"] = [float(weights.weights.min()), 1.0]
        P = P0.reweighted(weights.weights)
        return Proposal(P=P.with_bounds(bounds.reweighted(weights.weights, P)), details=details)
