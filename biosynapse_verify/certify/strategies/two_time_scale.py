"""Two-time-scale composite certificate: fast rates, slow weights.

Per block j (one post neuron: fast coordinate f, its rate, and slow
coordinates S, the weights onto it) write

    A_jj = [[a, b^T], [c, F]]   (fast row first),

and follow the singular-perturbation construction of Khalil (*Nonlinear
Systems*, 3rd ed., section 11.5; Saberi and Khalil, IEEE TAC 29(6), 1984):
L = b^T / a puts the slow manifold of the block at r = -L u, the shear
y = r + L u measures the distance from it, the reduced slow matrix is
A0 = F - c L, and

    W_j = blkdiag(p_f, P_s),  p_f = -1 / (2 a),  A0^T P_s + P_s A0 = -I.

P = T^T W T with T = I + N, N[f, s] = L[s], is block diagonal per neuron.
The weights of the 2 x (number of neurons) groups (y_j and u_j) come from
the comparison system in the sheared coordinates (see
:mod:`biosynapse_verify.certify.structured`), which plays the part of the
2 x 2 matrix Lambda of the composite theorem.

Largest learning rate. The weight rows of a network Jacobian are linear in
the learning rate eta (and the equilibrium does not depend on it), so
scaling every plastic projection's eta by s gives A(s) = D_s A with
D_s = diag(1 on fast, s on slow). For the construction above, re-solved at
each s, the comparison matrix has entries affine in s; bounding them by
norms that grow with s (and the fast diagonal by its smaller end value)
gives a Z-matrix that only loses diagonal dominance as s grows. So if it is
a nonsingular M-matrix at s*, it is one at every s in (0, s*], and
eta* = s* eta is a learning rate up to which this construction certifies
the linearisation. For a single block this condition is exactly
eps < 1 / (gamma + beta1 beta2) of the composite theorem with
beta1 = 2 ||P_s c||, beta2 = 2 ||p_f L A0||, gamma = 2 p_f L c (see
proofs/two_time_scales.py). eta* is computed in floating point; only the
certificate at the spec's eta is checked rigorously.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from biosynapse_verify.certify.blocks import BlockLayout, batched_lyapunov
from biosynapse_verify.certify.candidate import Failure, Proposal
from biosynapse_verify.certify.comparison import is_m_matrix, m_matrix_weights
from biosynapse_verify.certify.linalg import JacobianMatrix, as_jacobian
from biosynapse_verify.certify.options import SearchOptions
from biosynapse_verify.certify.strategies.block_diagonal import check_blocks_hurwitz
from biosynapse_verify.certify.strategy import Strategy
from biosynapse_verify.certify.structure import StateStructure
from biosynapse_verify.certify.structured import (
    BlockSplit,
    CouplingBounds,
    FactoredP,
    coupling_bounds,
)

__all__ = ["TwoTimeScaleStrategy", "learning_rate_margin"]

logger = logging.getLogger(__name__)

BISECTION_STEPS = 12
"""Bisection steps on log(s) for the largest learning-rate factor, after the
bracket is cut at s = 1: 12 halvings of a factor 1e6 leave a relative error
of 0.4 per cent, enough for a bound that is itself conservative."""

ETA_FACTOR_MIN = 1e-6
"""Smallest learning-rate factor searched; below it eta* is reported as 0."""

ETA_FACTOR_MAX = 1e6
"""Largest learning-rate factor searched; above it eta* is reported as a lower bound."""


@dataclass(frozen=True)
class _Pieces:
    """The unweighted composite certificate and its index bookkeeping."""

    P: FactoredP
    fast_group: np.ndarray  # (m,) bool: the fine group is a fast coordinate
    details: dict


class TwoTimeScaleStrategy(Strategy):
    """Propose the composite P = T^T blkdiag(w_g W_g) T of fast and slow blocks."""

    name = "two_time_scale"

    def applies(
        self, A: object, options: SearchOptions | None = None
    ) -> tuple[bool, str]:
        options = options or SearchOptions()
        structure, reason = as_jacobian(A).state_structure()
        if structure is None:
            return False, f"no time-scale split: {reason}"
        return _structure_reason(structure, options)

    def propose(self, A: JacobianMatrix, options: SearchOptions) -> Proposal | Failure:
        structure, reason = A.state_structure()
        if structure is None:
            return Failure(f"no time-scale split: {reason}")
        applicable, reason = _structure_reason(structure, options)
        if not applicable:
            return Failure(reason)
        pieces = _composite_pieces(A, structure, options)
        if isinstance(pieces, Failure):
            return pieces
        split = _split_bounds(A, pieces)
        weights = m_matrix_weights(_scaled_comparison(split, pieces.fast_group, 1.0))
        details = dict(pieces.details)
        if isinstance(weights, str):
            return Failure(f"the fast/slow comparison system fails: {weights}", details)

        factor, factor_note = learning_rate_margin(split, pieces.fast_group)
        details.update(
            {
                "weight_range": [float(weights.weights.min()), 1.0],
                "eta_factor_max": factor,
                "eta_factor_note": factor_note,
            }
        )
        P = pieces.P.reweighted(weights.weights)
        P = FactoredP(P.W, P.fine, P.coarse, P.N, details)
        bounds = CouplingBounds.combined(*split).reweighted(weights.weights, P)
        return Proposal(P=P.with_bounds(bounds), details=details)


def _structure_reason(
    structure: StateStructure, options: SearchOptions
) -> tuple[bool, str]:
    """Whether every block has at most one fast coordinate and fits block_max_n."""
    if structure.fast.all() or not structure.fast.any():
        return False, "the state has only one time scale"
    fast_counts = structure.fast_per_block()
    if fast_counts.max() > 1:
        block = int(np.argmax(fast_counts))
        return False, (
            f"block {block} of the {structure.source} state structure has "
            f"{int(fast_counts[block])} fast coordinates; the composite needs at most one"
        )
    biggest = int(structure.block_sizes().max())
    if biggest > options.block_max_n:
        return False, (
            f"the largest block has {biggest} coordinates, above block_max_n = "
            f"{options.block_max_n}"
        )
    return True, ""


def _composite_pieces(
    A: JacobianMatrix, structure: StateStructure, options: SearchOptions
) -> _Pieces | Failure:
    """Build W (unweighted), the shear N and the fine groups, block by block."""
    layout = BlockLayout(structure.blocks, leading=structure.fast)
    stacks = layout.diagonal_blocks(A.sparse)
    has_fast = structure.fast_per_block() == 1
    w_blocks, shear_blocks = {}, {}
    abscissa = np.full(layout.m, -np.inf)
    separation = np.full(layout.m, np.inf)
    fast_rates = np.full(layout.m, -np.inf)
    for size, ids in layout.size_groups.items():
        stack = stacks[size]
        w_stack = np.zeros_like(stack)
        n_stack = np.zeros_like(stack)
        fast = has_fast[ids]
        _slow_only_blocks(stack[~fast], w_stack, ~fast, abscissa, separation, ids)
        if fast.any():
            rates = _fast_blocks(stack[fast], w_stack, n_stack, fast, abscissa, separation, ids)
            fast_rates[ids[fast]] = rates
        w_blocks[size], shear_blocks[size] = w_stack, n_stack

    details = {
        "n_blocks": layout.m,
        "largest_block": int(layout.sizes.max()),
        "structure": structure.to_dict(),
        "slowest_fast_rate": float(-fast_rates.max()) if has_fast.any() else None,
    }
    if has_fast.any() and not fast_rates.max() < 0:
        block = int(np.argmax(fast_rates))
        return Failure(
            f"the fast coordinate of block {block} does not decay on its own "
            f"(a_ff = {float(fast_rates[block])!r}); the boundary layer is not stable",
            details,
        )
    why = check_blocks_hurwitz(abscissa, separation, A.norm2_bound, options)
    if why:
        return Failure(f"reduced slow system: {why}", details)

    fine = structure.blocks * 2 + structure.fast.astype(np.int64)
    _, fine = np.unique(fine, return_inverse=True)
    P = FactoredP(
        W=layout.assemble(w_blocks),
        fine=fine,
        coarse=structure.blocks,
        N=_drop_zeros(layout.assemble(shear_blocks)),
    )
    fast_group = np.zeros(int(fine.max()) + 1, dtype=bool)
    fast_group[fine[structure.fast]] = True
    return _Pieces(P=P, fast_group=fast_group, details=details)


def _slow_only_blocks(
    stack: np.ndarray,
    w_stack: np.ndarray,
    mask: np.ndarray,
    abscissa: np.ndarray,
    separation: np.ndarray,
    ids: np.ndarray,
) -> None:
    """Blocks without a fast coordinate get their own Lyapunov solution."""
    if not mask.any():
        return
    solved = batched_lyapunov(stack)
    w_stack[mask] = solved.X
    abscissa[ids[mask]] = solved.spectral_abscissa
    separation[ids[mask]] = solved.separation


def _fast_blocks(
    stack: np.ndarray,
    w_stack: np.ndarray,
    n_stack: np.ndarray,
    mask: np.ndarray,
    abscissa: np.ndarray,
    separation: np.ndarray,
    ids: np.ndarray,
) -> np.ndarray:
    """Fill W and N of the blocks whose first coordinate is fast.

    Returns the fast diagonal entries a of these blocks.
    """
    a = stack[:, 0, 0]
    b, c, F = stack[:, 0, 1:], stack[:, 1:, 0], stack[:, 1:, 1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = b / a[:, None]
        p_fast = -0.5 / a
    w_fast = np.zeros((a.size,) + stack.shape[1:])
    w_fast[:, 0, 0] = p_fast
    n_fast = np.zeros_like(w_fast)
    n_fast[:, 0, 1:] = gain
    if stack.shape[1] > 1:
        reduced = F - c[:, :, None] * gain[:, None, :]
        solved = batched_lyapunov(reduced)
        w_fast[:, 1:, 1:] = solved.X
        abscissa[ids[mask]] = solved.spectral_abscissa
        separation[ids[mask]] = solved.separation
    w_stack[mask], n_stack[mask] = w_fast, n_fast
    return a


def _drop_zeros(matrix: sp.csr_array) -> sp.csr_array:
    matrix.eliminate_zeros()
    return matrix


def _split_bounds(
    A: JacobianMatrix, pieces: _Pieces
) -> tuple[CouplingBounds, CouplingBounds]:
    """Return the comparison data of the fast rows and of the slow rows of A."""
    fast = pieces.fast_group[pieces.P.fine]
    split = BlockSplit.of(A.sparse, pieces.P.coarse)
    from_fast = coupling_bounds(split.rows(fast), pieces.P)
    from_slow = coupling_bounds(split.rows(~fast), pieces.P)
    return from_fast, from_slow


def learning_rate_margin(
    split: tuple[CouplingBounds, CouplingBounds], fast_group: np.ndarray
) -> tuple[float, str]:
    """Return the largest learning-rate factor s* and a note on how it was bounded.

    See the module docstring: per fine group, the decay and coupling norms
    of the fast rows and of the slow rows of A are kept apart, so that
    fast-row entries stay fixed and slow-row entries of fast groups grow
    linearly in s. The search bisects log(s) over
    [ETA_FACTOR_MIN, ETA_FACTOR_MAX].
    """

    start = {"vector": None}

    def holds(s: float) -> bool:
        shown, vector = is_m_matrix(_scaled_comparison(split, fast_group, s), start["vector"])
        start["vector"] = vector
        return shown

    if not holds(ETA_FACTOR_MIN):
        return 0.0, f"the comparison system fails even at s = {ETA_FACTOR_MIN:g}"
    if holds(ETA_FACTOR_MAX):
        return ETA_FACTOR_MAX, (
            f"the comparison system holds up to s = {ETA_FACTOR_MAX:g} (searched no further)"
        )
    low, high = np.log(ETA_FACTOR_MIN), np.log(ETA_FACTOR_MAX)
    if holds(1.0):
        low = 0.0
    else:
        high = 0.0
    for _ in range(BISECTION_STEPS):
        middle = 0.5 * (low + high)
        if holds(float(np.exp(middle))):
            low = middle
        else:
            high = middle
    return float(np.exp(low)), "largest s at which the monotone comparison bound is an M-matrix"


def _scaled_comparison(
    split: tuple[CouplingBounds, CouplingBounds], fast_group: np.ndarray, s: float
) -> sp.csr_array:
    """Return the monotone comparison matrix S(s) of the learning-rate factor s.

    The coupling of each group is bounded by the sum of its fast-row and
    slow-row parts (triangle inequality), which at s = 1 also serves as the
    comparison matrix that sets the weights.
    """
    from_fast, from_slow = split
    row_scale = np.where(fast_group, s, 1.0)
    decay_now = from_fast.decay + row_scale * from_slow.decay
    decay = np.where(fast_group, np.minimum(from_fast.decay, decay_now), decay_now)
    coupling = from_fast.coupling + sp.diags_array(row_scale) @ from_slow.coupling
    return sp.csr_array(sp.diags_array(0.5 * decay) - coupling)
