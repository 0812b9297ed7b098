"""Timing of each strategy and of the full search on random stable matrices.

Each strategy gets a matrix family it applies to, so the time measured is a
search, not a quick rejection:

* identity: G / sqrt(n) - 2.5 I, whose symmetric part is negative definite
  with high probability (the spectrum of (G + G^T) / (2 sqrt(n)) approaches
  [-sqrt(2), sqrt(2)]);
* diagonal: a sparse Metzler matrix, up to five off-diagonal entries per row
  in [0, 1], diagonal = -(row sum + 0.5), so it is strictly diagonally
  dominant;
* dense_lyapunov and sdp: G / sqrt(n) - 1.5 I, Hurwitz with high probability;
* ladder (``search_certificate``): G / sqrt(n) - 1.2 I, where identity and
  diagonal fail first;
* instability (``find_instability``): G / sqrt(n) - 0.5 I, which has unstable
  eigenvalues.

G has independent standard normal entries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from biosynapse_verify.certify.candidate import Candidate
from biosynapse_verify.certify.instability import find_instability
from biosynapse_verify.certify.ladder import search_certificate
from biosynapse_verify.certify.options import SearchOptions
from biosynapse_verify.certify.strategies import (
    DenseLyapunovStrategy,
    DiagonalStrategy,
    IdentityStrategy,
    SdpStrategy,
)
from biosynapse_verify.certify.strategy import Strategy

__all__ = [
    "NetworkJacobian",
    "benchmark_search",
    "gaussian_shifted",
    "network_jacobian",
    "sparse_metzler",
]

logger = logging.getLogger(__name__)

METZLER_ROW_COUNT = 5
"""Off-diagonal non-zeros per row of the sparse Metzler benchmark matrix."""


def gaussian_shifted(n: int, shift: float, rng: np.random.Generator) -> np.ndarray:
    """Return G / sqrt(n) - shift I, shape (n, n); the spectrum of G / sqrt(n)
    fills the unit disc as n grows."""
    return rng.standard_normal((n, n)) / np.sqrt(n) - shift * np.eye(n)


def sparse_metzler(n: int, rng: np.random.Generator) -> sp.csr_array:
    """Return a strictly diagonally dominant sparse Metzler matrix, shape (n, n)."""
    rows = np.repeat(np.arange(n), METZLER_ROW_COUNT)
    offsets = rng.integers(1, n, size=rows.size)
    columns = (rows + offsets) % n
    values = rng.uniform(0.0, 1.0, size=rows.size)
    off_diagonal = sp.csr_array((values, (rows, columns)), shape=(n, n))
    row_sums = np.asarray(off_diagonal.sum(axis=1)).ravel()
    return sp.csr_array(off_diagonal - sp.diags_array(row_sums + 0.5))


@dataclass(frozen=True)
class NetworkJacobian:
    """A generated network Jacobian and its state structure.

    Attributes
    ----------
    A : csr_array, shape (n, n)
        Rates first, then the weights grouped by post neuron, in 1/s.
    weight_post : ndarray of int, shape (n_weights,)
        Post neuron of each weight.
    n_rates : int
    """

    A: sp.csr_array
    weight_post: np.ndarray
    n_rates: int


def network_jacobian(
    n_neurons: int,
    synapses: int,
    in_degree: int,
    rng: np.random.Generator,
    *,
    loop_gain: float = 0.6,
    learning_factor: float = 1.0,
) -> NetworkJacobian:
    """Generate a Jacobian with the structure of a plastic recurrent network.

    The blocks follow :mod:`biosynapse_verify.dynamics.meanfield`, with
    magnitudes taken from the mean-field Jacobian of ``networks/ei_10k.yaml``
    at 1000 neurons (tau_r = 20 ms):

    * rates: J_rr = (-I + G) / tau_r, G with ``in_degree`` random inputs per
      neuron, 80 per cent excitatory and inhibitory ones 4 times stronger,
      scaled so each row of |G| sums to ``loop_gain`` times U(0.8, 1.2);
    * rate by own weight: J_rw = U(70, 85) Hz per unit weight per second;
    * weight by own rate: U(-1.8e-3, -3e-4); by presynaptic rates (the
      phi'' term): 1e-7 G[j, i] per weight;
    * weights: diagonal U(-0.3, -0.05) plus a rank-one block per neuron of
      size 1e-7.

    The slow rows (weights) are multiplied by ``learning_factor``, as a
    change of every learning rate would.

    Parameters
    ----------
    n_neurons : int
    synapses : int
        Plastic synapses per neuron; n = n_neurons (1 + synapses).
    in_degree : int
        Recurrent inputs per neuron (at most n_neurons - 1).
    rng : numpy.random.Generator
    loop_gain : float
        Absolute recurrent loop gain; below 1 the rate block is an H-matrix.
    learning_factor : float

    Returns
    -------
    NetworkJacobian
    """
    tau = 0.02
    N, K = n_neurons, synapses
    C = min(in_degree, N - 1)
    post = np.repeat(np.arange(N), K)
    n_weights = N * K

    rows = np.repeat(np.arange(N), C)
    offsets = rng.integers(1, N, size=rows.size) if C else np.zeros(0, dtype=np.int64)
    cols = (rows + offsets) % N
    signs = np.where(rng.random(rows.size) < 0.8, 1.0, -4.0)
    G = sp.csr_array((signs * rng.uniform(0.5, 1.5, rows.size), (rows, cols)), shape=(N, N))
    G.sum_duplicates()
    row_sums = np.asarray(abs(G).sum(axis=1)).ravel()
    scale = loop_gain * rng.uniform(0.8, 1.2, N) / np.where(row_sums > 0, row_sums, 1.0)
    G = sp.csr_array(sp.diags_array(scale) @ G)

    J_rr = (G - sp.identity(N, format="csr")) / tau
    synapse = np.arange(n_weights)
    J_rw = sp.csr_array((rng.uniform(70.0, 85.0, n_weights), (post, synapse)), shape=(N, n_weights))
    own = sp.csr_array((rng.uniform(-1.8e-3, -3e-4, n_weights), (synapse, post)), shape=(n_weights, N))
    select = sp.csr_array((np.full(n_weights, 1e-7), (synapse, post)), shape=(n_weights, N))
    J_wr = sp.csr_array(own + select @ G)
    left, right = rng.random(n_weights), rng.random(n_weights)
    within = sp.csr_array(
        (np.ones(n_weights), (synapse, post)), shape=(n_weights, N)
    )
    rank_one = sp.diags_array(1e-7 * left) @ within @ within.T @ sp.diags_array(right)
    J_ww = sp.csr_array(sp.diags_array(rng.uniform(-0.3, -0.05, n_weights)) + rank_one)
    A = sp.bmat(
        [[J_rr, J_rw], [learning_factor * J_wr, learning_factor * J_ww]], format="csr"
    )
    return NetworkJacobian(sp.csr_array(A), post, N)


def benchmark_search(
    sizes: Sequence[int],
    *,
    seed: int = 0,
    options: SearchOptions | None = None,
) -> list[dict]:
    """Time each strategy, the ladder and find_instability at each size.

    Parameters
    ----------
    sizes : sequence of int
        Matrix dimensions n.
    seed : int
        Seed of the random matrices.
    options : SearchOptions, optional
        Size limits apply: a strategy whose ``applies`` rejects n is recorded
        as not applicable, with its reason, and takes no time.

    Returns
    -------
    list of dict
        One record per (n, task): ``n``, ``task``, ``seconds`` (wall time),
        ``outcome`` and, for candidates, ``beta``, ``alpha`` and ``kappa_P``.
    """
    options = options or SearchOptions()
    records = []
    for n in sizes:
        rng = np.random.default_rng([seed, n])
        cases: list[tuple[str, object, Callable[[object], dict]]] = [
            (
                "identity",
                gaussian_shifted(n, 2.5, rng),
                _strategy_task(IdentityStrategy(), options),
            ),
            (
                "diagonal",
                sparse_metzler(n, rng),
                _strategy_task(DiagonalStrategy(), options),
            ),
            (
                "dense_lyapunov",
                gaussian_shifted(n, 1.5, rng),
                _strategy_task(DenseLyapunovStrategy(), options),
            ),
            (
                "sdp",
                gaussian_shifted(n, 1.5, rng),
                _strategy_task(SdpStrategy(), options),
            ),
            (
                "ladder",
                gaussian_shifted(n, 1.2, rng),
                lambda A: _ladder_task(A, options),
            ),
            (
                "instability",
                gaussian_shifted(n, 0.5, rng),
                lambda A: _instability_task(A, options),
            ),
        ]
        for task, matrix, run in cases:
            start = time.perf_counter()
            record = run(matrix)
            record.update(
                {"n": n, "task": task, "seconds": time.perf_counter() - start}
            )
            logger.info("benchmark n = %d %s: %s", n, task, record)
            records.append(record)
    return records


def _strategy_task(
    strategy: Strategy, options: SearchOptions
) -> Callable[[object], dict]:
    def run(A: object) -> dict:
        applicable, reason = strategy.applies(A, options)
        if not applicable:
            return {"outcome": "not applicable", "reason": reason}
        return _describe(strategy.search(A, options))

    return run


def _ladder_task(A: object, options: SearchOptions) -> dict:
    outcome = search_certificate(A, options=options)
    record = (
        _describe(outcome.candidate)
        if outcome.candidate
        else {"outcome": outcome.status}
    )
    record["rungs"] = [attempt.strategy for attempt in outcome.attempts]
    return record


def _instability_task(A: object, options: SearchOptions) -> dict:
    evidence = find_instability(A, options)
    return {
        "outcome": "refuted" if evidence.is_unstable else "no unstable eigenvalue",
        "n_unstable": evidence.n_unstable,
        "chetaev": evidence.chetaev is not None,
    }


def _describe(result: object) -> dict:
    if isinstance(result, Candidate):
        return {
            "outcome": f"candidate ({result.strategy})",
            "beta": result.beta,
            "alpha": result.alpha,
            "kappa_P": result.condition_number,
        }
    return {"outcome": "failure", "reason": result.reason}
