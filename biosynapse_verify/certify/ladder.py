"""The strategy ladder: try strategies cheapest first and record every attempt."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from biosynapse_verify.certify.candidate import Candidate, Failure, jsonable
from biosynapse_verify.certify.instability import InstabilityEvidence, find_instability
from biosynapse_verify.certify.linalg import (
    SPARSE_EIG_RTOL,
    JacobianMatrix,
    as_jacobian,
)
from biosynapse_verify.certify.margins import tolerance_record
from biosynapse_verify.certify.options import SearchOptions
from biosynapse_verify.certify.strategies import (
    BlockDiagonalStrategy,
    DenseLyapunovStrategy,
    DiagonalStrategy,
    IdentityStrategy,
    SdpStrategy,
    TwoTimeScaleStrategy,
)
from biosynapse_verify.certify.strategies.dense_lyapunov import LYAPUNOV_RESIDUAL_TOL
from biosynapse_verify.certify.strategy import Strategy
from biosynapse_verify.certify.structure import StateStructure

__all__ = [
    "Attempt",
    "Ladder",
    "SearchOutcome",
    "certified_rate",
    "default_strategies",
    "preferred_candidate",
    "search_certificate",
    "spectral_screen",
]

logger = logging.getLogger(__name__)


TIME_SCALE_AWARE = ("two_time_scale",)
"""Strategies whose P follows a fast/slow split of the state.

On a two-time-scale Jacobian a P that ignores the split (identity, diagonal,
block-diagonal, dense Lyapunov with right-hand side I) must be very
ill-conditioned, so its certified decay rate is far below the slowest
eigenvalue.
"""


def has_time_scales(A: JacobianMatrix) -> bool:
    """Whether A's state structure (given or inferred) has fast and slow parts."""
    structure, _ = A.state_structure()
    return structure is not None and structure.fast.any() and not structure.fast.all()


def preferred_candidate(attempts: Sequence[Attempt]) -> Candidate | None:
    """Return the candidate with the largest certified decay rate of x^T P x.

    Every candidate certifies the rate alpha = beta / lambda_max(P), because
    M >= 2 beta I >= 2 alpha P; structured candidates may claim a larger one
    (``decay_rate``). Ties go to the earlier, cheaper strategy.
    """
    best, best_rate = None, -np.inf
    for attempt in attempts:
        if not attempt.succeeded:
            continue
        rate = certified_rate(attempt.candidate)
        if rate > best_rate:
            best, best_rate = attempt.candidate, rate
    return best


def certified_rate(candidate: Candidate) -> float:
    """Return the decay rate of x^T P x that a candidate certifies, in 1/s."""
    return max(candidate.alpha, candidate.decay_rate or 0.0)


def default_strategies() -> list[Strategy]:
    """Return the strategies in ladder order, cheapest first.

    The block strategies cost O(nnz(A) * block size); the dense Lyapunov
    solve costs O(n^3) and the SDP far more.
    """
    return [
        IdentityStrategy(),
        DiagonalStrategy(),
        BlockDiagonalStrategy(),
        TwoTimeScaleStrategy(),
        DenseLyapunovStrategy(),
        SdpStrategy(),
    ]


@dataclass(frozen=True)
class Attempt:
    """One rung of the ladder.

    Attributes
    ----------
    strategy : str
    applied : bool
        Whether :meth:`Strategy.applies` accepted A.
    reason : str
        Why it did not apply or did not produce a candidate; empty on success.
    seconds : float
        Wall time of ``applies`` plus ``search``.
    candidate : Candidate or None
    details : dict
        The failure's details (solver status, residuals), if any.
    """

    strategy: str
    applied: bool
    reason: str
    seconds: float
    candidate: Candidate | None = None
    details: dict = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        """Whether this attempt produced a candidate."""
        return self.candidate is not None

    def to_dict(self) -> dict:
        """Return a JSON-ready dictionary."""
        return {
            "strategy": self.strategy,
            "applied": self.applied,
            "succeeded": self.succeeded,
            "reason": self.reason,
            "seconds": self.seconds,
            "candidate": None if self.candidate is None else self.candidate.to_dict(),
            "details": jsonable(self.details),
        }


class Ladder:
    """Run strategies in order until one yields a validated candidate.

    Parameters
    ----------
    strategies : sequence of Strategy, optional
        In the order to try them; :func:`default_strategies` by default.
    options : SearchOptions, optional
    """

    def __init__(
        self,
        strategies: Sequence[Strategy] | None = None,
        options: SearchOptions | None = None,
    ) -> None:
        self.strategies = list(
            default_strategies() if strategies is None else strategies
        )
        if not self.strategies:
            raise ValueError("Ladder needs at least one strategy; got an empty list.")
        self.options = options or SearchOptions()

    def run(self, A: object) -> list[Attempt]:
        """Try the strategies on A and return one Attempt per strategy tried.

        With ``options.stop_at_first`` the ladder stops at the first
        candidate; otherwise every strategy runs. The order is
        :meth:`order`.
        """
        jacobian = as_jacobian(A)
        attempts: list[Attempt] = []
        for strategy in self.order(jacobian):
            attempt = self._attempt(strategy, jacobian)
            attempts.append(attempt)
            logger.info(
                "strategy %s on n = %d: %s in %.3f s%s",
                strategy.name,
                jacobian.n,
                "candidate" if attempt.succeeded else "no candidate",
                attempt.seconds,
                f" ({attempt.reason})" if attempt.reason else "",
            )
            if attempt.succeeded and self.options.stop_at_first:
                break
        return attempts

    def order(self, A: JacobianMatrix) -> list[Strategy]:
        """Return the strategies in the order they run on A.

        The given order, except that on a state with two time scales (and
        ``options.prefer_time_scales``) the time-scale-aware strategies move
        up to just after ``identity``: a P that ignores the split must be
        ill-conditioned by about the ratio of the time scales, so its
        certified decay rate is far below the slowest eigenvalue, and on
        large networks the two-time-scale search is also the cheaper one.
        """
        if not self.options.prefer_time_scales or not has_time_scales(A):
            return list(self.strategies)
        aware = [s for s in self.strategies if s.name in TIME_SCALE_AWARE]
        others = [s for s in self.strategies if s.name not in TIME_SCALE_AWARE]
        head = [s for s in others if s.name == "identity"]
        tail = [s for s in others if s.name != "identity"]
        return head + aware + tail

    def _attempt(self, strategy: Strategy, A: JacobianMatrix) -> Attempt:
        start = time.perf_counter()
        applicable, reason = strategy.applies(A, self.options)
        if not applicable:
            return Attempt(strategy.name, False, reason, time.perf_counter() - start)
        try:
            result = strategy.search(A, self.options)
        except (np.linalg.LinAlgError, MemoryError) as error:
            logger.warning("strategy %s raised %r", strategy.name, error)
            result = Failure(f"{type(error).__name__}: {error}")
        seconds = time.perf_counter() - start
        if isinstance(result, Failure):
            return Attempt(
                strategy.name, True, result.reason, seconds, None, result.details
            )
        return Attempt(strategy.name, True, "", seconds, result, result.details)


@dataclass(frozen=True)
class SearchOutcome:
    """Result of :func:`search_certificate`.

    Attributes
    ----------
    n : int
        Dimension of A.
    candidate : Candidate or None
        The first validated candidate (not yet checked rigorously).
    attempts : list of Attempt
        Every strategy tried, in order, with its reason and time.
    instability : InstabilityEvidence or None
        Spectrum evidence, collected when no candidate was found.
    options : SearchOptions
    tolerances : dict
        The named tolerances of the search, for the certificate's record.
    order : list of str
        The ladder order used on this A (see :meth:`Ladder.order`).
    """

    n: int
    candidate: Candidate | None
    attempts: list[Attempt]
    instability: InstabilityEvidence | None
    options: SearchOptions
    tolerances: dict
    order: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``"candidate"``, ``"refuted"`` or ``"inconclusive"``.

        None of these is a verdict: a candidate becomes "certified" and a
        refutation is confirmed only by the rigorous check.
        """
        if self.candidate is not None:
            return "candidate"
        if self.instability is not None and self.instability.is_unstable:
            return "refuted"
        return "inconclusive"

    def reason(self) -> str:
        """Return one sentence explaining the status."""
        if self.candidate is not None:
            c = self.candidate
            text = (
                f"strategy {c.strategy} found a candidate with beta = {c.beta:.6g} "
                f"and decay rate alpha = {c.alpha:.6g}"
            )
            if c.decay_rate is not None:
                text += f" (x^T P x decays at rate >= {2 * c.decay_rate:.6g} 1/s)"
            others = [
                f"{a.strategy} (rate {certified_rate(a.candidate):.3g} 1/s)"
                for a in self.attempts
                if a.succeeded and a.candidate is not c
            ]
            if others:
                text += "; preferred over " + ", ".join(others)
            return text + "; the rigorous check decides"
        failures = "; ".join(f"{a.strategy}: {a.reason}" for a in self.attempts)
        if self.instability is None:
            return f"no strategy produced a candidate ({failures})"
        return (
            f"no strategy produced a candidate ({failures}); spectrum: "
            f"{self.instability.summary()}"
        )

    def to_dict(self) -> dict:
        """Return a JSON-ready dictionary (matrices are left out)."""
        return {
            "n": self.n,
            "status": self.status,
            "reason": self.reason(),
            "candidate": None if self.candidate is None else self.candidate.to_dict(),
            "attempts": [attempt.to_dict() for attempt in self.attempts],
            "instability": None
            if self.instability is None
            else self.instability.to_dict(),
            "options": self.options.to_dict(),
            "tolerances": self.tolerances,
            "order": list(self.order),
            "not_run": [
                name
                for name in self.order
                if name not in {attempt.strategy for attempt in self.attempts}
            ],
        }


def spectral_screen(
    A: JacobianMatrix, eigenvalues: np.ndarray | None, options: SearchOptions
) -> str | None:
    """Return why no Lyapunov candidate can exist, or None to run the ladder.

    The screen fires when ``eigenvalues`` contains all n eigenvalues of A and
    the rightmost real part exceeds ``marginal_relative_tol * ||A||_2``,
    the threshold above which :func:`find_instability` counts an
    eigenvalue as unstable. It never fires when ``options.find_instability``
    is false, because the skipped ladder would then leave no evidence.
    """
    if eigenvalues is None or not options.find_instability:
        return None
    eigenvalues = np.asarray(eigenvalues)
    if eigenvalues.size != A.n or not np.all(np.isfinite(eigenvalues)):
        return None
    threshold = options.marginal_relative_tol * A.norm2_bound
    rightmost = float(eigenvalues.real.max())
    if rightmost <= threshold:
        return None
    count = int((eigenvalues.real > threshold).sum())
    return (
        f"not run: {count} eigenvalue(s) have real part above {threshold:.3g} 1/s "
        f"(largest {rightmost:.6g} 1/s), so no P > 0 satisfies A^T P + P A < 0"
    )


def search_certificate(
    A: object,
    *,
    strategies: Sequence[Strategy] | None = None,
    options: SearchOptions | None = None,
    structure: StateStructure | None = None,
    eigenvalues: np.ndarray | None = None,
) -> SearchOutcome:
    """Search a Lyapunov candidate for dx/dt = A x, or evidence of instability.

    Parameters
    ----------
    A : array_like or scipy.sparse matrix, shape (n, n)
        Real Jacobian at the equilibrium, in 1/s.
    strategies : sequence of Strategy, optional
        Ladder order; :func:`default_strategies` by default.
    options : SearchOptions, optional
    structure : StateStructure, optional
        Fast/slow split and block partition of the state, for the block
        strategies and the ladder order; inferred from A when not given.
    eigenvalues : ndarray of complex, optional
        All n eigenvalues of A, when the caller has computed them already.
        If one lies clearly in the right half-plane (see
        :func:`spectral_screen`), no P > 0 can satisfy the Lyapunov
        inequality, so the ladder is skipped and the search goes straight
        to the instability evidence. The screen only saves time: a
        refutation is still confirmed by the rigorous check of its Chetaev
        certificate, so an inaccurate eigenvalue cannot produce a verdict.

    Returns
    -------
    SearchOutcome
        ``candidate`` is set when a strategy succeeded. Otherwise
        ``instability`` contains the spectrum evidence, if
        ``options.find_instability`` is true.
    """
    options = options or SearchOptions()
    jacobian = as_jacobian(A)
    if structure is not None:
        if structure.n != jacobian.n:
            raise ValueError(
                f"structure describes {structure.n} coordinates but A has {jacobian.n}; "
                "restrict it to the free coordinates first."
            )
        jacobian.structure = structure
    ladder = Ladder(strategies, options)
    screen = spectral_screen(jacobian, eigenvalues, options)
    if screen is None:
        attempts = ladder.run(jacobian)
    else:
        logger.info("ladder skipped on n = %d: %s", jacobian.n, screen)
        attempts = [Attempt("spectral_screen", True, screen, 0.0)]
    candidate = preferred_candidate(attempts)

    instability = None
    if candidate is None and options.find_instability:
        instability = find_instability(jacobian, options)
    return SearchOutcome(
        n=jacobian.n,
        candidate=candidate,
        attempts=attempts,
        instability=instability,
        options=options,
        tolerances={
            **tolerance_record(),
            "lyapunov_residual_tol": LYAPUNOV_RESIDUAL_TOL,
            "sparse_eig_rtol": SPARSE_EIG_RTOL,
        },
        order=[strategy.name for strategy in ladder.order(jacobian)],
    )
