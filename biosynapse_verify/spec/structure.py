"""Turn a spec into concrete arrays: synapse indices and initial weights.

The simulator and the mean-field analysis both build on this one function, so
they agree on which synapses exist and in which order. Synapses of a
projection are ordered source-major: all targets of source 0, then source 1.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from biosynapse_verify.spec.schema import NetworkSpec, Projection

__all__ = [
    "NetworkStructure",
    "ProjectionStructure",
    "bernoulli_indices",
    "build_structure",
    "initial_weights",
]


@dataclass(frozen=True)
class ProjectionStructure:
    """The synapses of one projection.

    Attributes
    ----------
    spec : Projection
        The projection as written in the spec.
    pre : ndarray of int, shape (n_syn,)
        Index of each synapse's source neuron within its population.
    post : ndarray of int, shape (n_syn,)
        Index of each synapse's target neuron within its population.
    n_source, n_target : int
        Sizes of the source and target populations.
    source_is_input : bool
        Whether the source is an input population (else a LIF population).
    """

    spec: Projection
    pre: np.ndarray
    post: np.ndarray
    n_source: int
    n_target: int
    source_is_input: bool

    @property
    def size(self) -> int:
        return int(self.pre.size)

    @property
    def plastic(self) -> bool:
        return self.spec.plasticity is not None


@dataclass(frozen=True)
class NetworkStructure:
    """All projections of a network, keyed by projection name, in spec order."""

    spec: NetworkSpec
    projections: dict[str, ProjectionStructure]

    def plastic_projections(self) -> list[ProjectionStructure]:
        return [p for p in self.projections.values() if p.plastic]


def build_structure(spec: NetworkSpec) -> NetworkStructure:
    """Draw every projection's connectivity from ``simulation.connectivity_seed``.

    A sparse projection keeps each (source, target) pair independently with
    its ``probability``; see :func:`bernoulli_indices`.
    """
    rng = np.random.default_rng(spec.simulation.connectivity_seed)
    projections = {}
    for proj in spec.projections:
        source_is_input = spec.is_input(proj.source)
        n_source = (
            spec.input(proj.source).size
            if source_is_input
            else spec.population(proj.source).size
        )
        n_target = spec.population(proj.target).size
        if proj.connectivity == "all_to_all":
            pre, post = np.divmod(np.arange(n_source * n_target), n_target)
        else:
            flat = bernoulli_indices(rng, n_source * n_target, proj.probability)
            pre, post = np.divmod(flat, n_target)
        projections[proj.name] = ProjectionStructure(
            spec=proj,
            pre=pre.astype(np.int64),
            post=post.astype(np.int64),
            n_source=n_source,
            n_target=n_target,
            source_is_input=source_is_input,
        )
    return NetworkStructure(spec=spec, projections=projections)


def bernoulli_indices(
    rng: np.random.Generator, total: int, probability: float
) -> np.ndarray:
    """Draw the indices in ``range(total)`` kept by independent Bernoulli trials.

    Each index is kept with ``probability``, independently of the others,
    which is the distribution of ``np.nonzero(rng.random(total) < probability)``.
    The gaps between kept indices are drawn instead: they are independent
    and geometric on {1, 2, ...}, so time and memory grow with the number
    kept, not with ``total``.

    Parameters
    ----------
    rng : numpy.random.Generator
    total : int
        Number of trials (``n_source * n_target`` for a projection).
    probability : float
        Probability of keeping each index, in (0, 1].

    Returns
    -------
    ndarray of int64, shape (k,)
        Kept indices in increasing order.
    """
    if probability >= 1.0:
        return np.arange(total, dtype=np.int64)
    expected = total * probability
    chunk = int(expected + 6.0 * np.sqrt(expected) + 16)
    pieces, last = [], -1
    while last < total:
        positions = last + np.cumsum(rng.geometric(probability, size=chunk))
        pieces.append(positions[positions < total])
        last = int(positions[-1])
    return np.concatenate(pieces).astype(np.int64, copy=False)


def initial_weights(structure: ProjectionStructure, seed: int) -> np.ndarray:
    """Draw the initial weights of one projection for one trial seed.

    The generator is seeded with the trial seed and the CRC-32 of the
    projection's name, so each projection's draw does not depend on the others.
    """
    init = structure.spec.weight
    if init.distribution == "constant":
        return np.full(structure.size, init.value, dtype=np.float64)
    rng = np.random.default_rng([seed, zlib.crc32(structure.spec.name.encode())])
    return rng.uniform(init.low, init.high, size=structure.size)
