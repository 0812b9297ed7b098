"""Which coordinates of the state are fast, and how they group into blocks.

The structured strategies need two facts about the state that a bare matrix
does not carry:

* a *time-scale split*: which coordinates are fast (firing rates, relaxing
  in milliseconds) and which are slow (plastic weights, drifting at a rate
  proportional to the learning rate);
* a *block partition*: for a network, one block per post-synaptic neuron,
  holding its rate and the weights of its plastic input synapses. Per post
  neuron the weight block of the Jacobian is diagonal plus low rank, and
  blocks interact only through the rates.

The pipeline knows both and passes them as a :class:`StateStructure`. For a
matrix given on its own (the ``certify`` command), :func:`infer_structure`
recovers them from A: fast coordinates from a gap in the magnitudes of the
diagonal, and each slow coordinate joins the fast coordinate that its column
of A feeds most strongly (for a network Jacobian, the post-synaptic rate that
the weight drives). The result only guides the search; the rigorous check
does not rely on it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = [
    "TIME_SCALE_GAP",
    "StateStructure",
    "infer_structure",
    "network_structure",
]

logger = logging.getLogger(__name__)

TIME_SCALE_GAP = 10.0
"""Smallest ratio between the fast and slow diagonal magnitudes of A for
:func:`infer_structure` to call them two time scales.

Rates of LIF networks relax at 1 / tau_m (50-100 /s); STDP weights drift at
rates of order eta * A- * tau- * nu * r, below 1 /s for the networks in
``networks/``. A factor of 10 is the smallest separation at which the
singular-perturbation argument still gives a useful bound.
"""


@dataclass(frozen=True)
class StateStructure:
    """Time-scale split and block partition of the state.

    Attributes
    ----------
    fast : ndarray of bool, shape (n,)
        True for fast coordinates (rates).
    blocks : ndarray of int, shape (n,)
        Block label of each coordinate, in ``0 .. n_blocks - 1``. In a
        network, block j holds rate j and the weights of the plastic
        synapses onto neuron j.
    source : str
        ``"given"`` (from the model) or ``"inferred"`` (from A alone).
    """

    fast: np.ndarray
    blocks: np.ndarray
    source: str = "given"

    def __post_init__(self) -> None:
        fast = np.asarray(self.fast, dtype=bool)
        blocks = np.asarray(self.blocks, dtype=np.int64)
        if fast.ndim != 1 or blocks.shape != fast.shape:
            raise ValueError(
                f"StateStructure: fast has shape {fast.shape} and blocks has shape "
                f"{blocks.shape}; both must be 1-D of length n."
            )
        if blocks.size and blocks.min() < 0:
            raise ValueError("StateStructure: block labels must be non-negative.")
        object.__setattr__(self, "fast", fast)
        object.__setattr__(self, "blocks", blocks)

    @property
    def n(self) -> int:
        """State dimension."""
        return int(self.fast.size)

    @property
    def n_blocks(self) -> int:
        """Number of blocks."""
        return int(self.blocks.max()) + 1 if self.blocks.size else 0

    def fast_per_block(self) -> np.ndarray:
        """Return the number of fast coordinates in each block, shape (n_blocks,)."""
        return np.bincount(
            self.blocks, weights=self.fast.astype(np.float64), minlength=self.n_blocks
        ).astype(np.int64)

    def block_sizes(self) -> np.ndarray:
        """Return the size of each block, shape (n_blocks,)."""
        return np.bincount(self.blocks, minlength=self.n_blocks)

    def restricted(self, index: np.ndarray) -> StateStructure:
        """Return the structure of the coordinates ``index`` (labels renumbered)."""
        blocks = self.blocks[index]
        _, relabelled = np.unique(blocks, return_inverse=True)
        return StateStructure(self.fast[index], relabelled, self.source)

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready summary (sizes, not the labels)."""
        sizes = self.block_sizes()
        return {
            "source": self.source,
            "n_fast": int(self.fast.sum()),
            "n_slow": int((~self.fast).sum()),
            "n_blocks": self.n_blocks,
            "largest_block": int(sizes.max()) if sizes.size else 0,
        }


def network_structure(n_rates: int, weight_post: np.ndarray) -> StateStructure:
    """Return the structure of a network state (rates, then plastic weights).

    Parameters
    ----------
    n_rates : int
        Number of rate coordinates; they come first and are fast.
    weight_post : ndarray of int, shape (n_weights,)
        Index (among the rates) of the post-synaptic neuron of each weight.

    Returns
    -------
    StateStructure
        Block j holds rate j and the weights onto neuron j.
    """
    weight_post = np.asarray(weight_post, dtype=np.int64)
    if weight_post.size and (weight_post.min() < 0 or weight_post.max() >= n_rates):
        raise ValueError(
            f"weight_post must index the {n_rates} rates; got values in "
            f"[{weight_post.min()}, {weight_post.max()}]."
        )
    fast = np.concatenate([np.ones(n_rates, bool), np.zeros(weight_post.size, bool)])
    blocks = np.concatenate([np.arange(n_rates), weight_post])
    return StateStructure(fast, blocks, "given")


def infer_structure(A: sp.csr_array) -> tuple[StateStructure | None, str]:
    """Infer a time-scale split and a block partition from A alone.

    Fast coordinates are those whose |a_ii| lies above the largest gap (by
    ratio) in the sorted diagonal magnitudes, if that gap is at least
    :data:`TIME_SCALE_GAP`. Every slow coordinate s joins the block of the
    fast coordinate f with the largest |A[f, s]|; a slow coordinate that no
    fast coordinate reads forms a block of its own.

    Parameters
    ----------
    A : csr_array, shape (n, n)

    Returns
    -------
    structure : StateStructure or None
        None when the diagonal shows no time-scale gap.
    reason : str
        Why no structure was found (empty on success).
    """
    n = A.shape[0]
    magnitude = np.abs(np.asarray(A.diagonal(), dtype=np.float64))
    if n < 2 or not np.all(magnitude > 0):
        return None, "A has a zero diagonal entry, so no time-scale split is defined"
    order = np.sort(magnitude)
    ratios = order[1:] / order[:-1]
    cut = int(np.argmax(ratios))
    if ratios[cut] < TIME_SCALE_GAP:
        return None, (
            f"the diagonal magnitudes of A show no gap of {TIME_SCALE_GAP:g} or more "
            f"(largest ratio between neighbours {ratios[cut]:.3g})"
        )
    threshold = order[cut + 1]
    fast = magnitude >= threshold

    fast_index = np.flatnonzero(fast)
    labels = np.full(n, -1, dtype=np.int64)
    labels[fast_index] = np.arange(fast_index.size)
    strongest = _strongest_fast_reader(A, fast)
    slow_index = np.flatnonzero(~fast)
    labels[slow_index] = strongest[slow_index]
    orphans = slow_index[strongest[slow_index] < 0]
    labels[orphans] = fast_index.size + np.arange(orphans.size)
    logger.debug(
        "inferred %d fast and %d slow coordinates (gap ratio %.3g), %d orphans",
        fast_index.size,
        slow_index.size,
        ratios[cut],
        orphans.size,
    )
    return StateStructure(fast, labels, "inferred"), ""


def _strongest_fast_reader(A: sp.csr_array, fast: np.ndarray) -> np.ndarray:
    """For each column s, the block label of the fast row f with the largest |A[f, s]|.

    Returns -1 for columns that no fast row reads.
    """
    n = A.shape[0]
    coo = sp.coo_array(A)
    keep = fast[coo.row] & (coo.row != coo.col) & (coo.data != 0)
    rows, cols, values = coo.row[keep], coo.col[keep], np.abs(coo.data[keep])
    fast_label = np.cumsum(fast) - 1
    best = np.full(n, -1, dtype=np.int64)
    if rows.size == 0:
        return best
    # Sort by column, then by magnitude, and keep the last entry of each column.
    order = np.lexsort((values, cols))
    cols_sorted = cols[order]
    last = np.flatnonzero(np.append(cols_sorted[1:] != cols_sorted[:-1], True))
    best[cols_sorted[last]] = fast_label[rows[order][last]]
    return best
