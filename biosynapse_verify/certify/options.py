"""Options of the certificate search, declared and validated in one place."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from biosynapse_verify.certify.margins import MARGINAL_RELATIVE_TOL

__all__ = ["SearchOptions"]

SDP_KAPPA_MAX = 1e3
"""Default upper bound on lambda_max(P) in the SDP, with lambda_min(P) >= 1.

Scaling P scales beta, so the SDP needs a bound to be bounded. With
lambda_min(P) >= 1 the bound is a condition-number cap: the transient factor
sqrt(kappa(P)) of the decay bound stays below about 32.
"""

SDP_MAX_N = 60
"""Largest n given to the SDP by default.

The cvxpy model has n(n+1)/2 unknowns and O(n^3) coefficients, and SCS
factors a KKT matrix that fills in almost completely. Measured on 2 shared
cores with eps 1e-6 (random Hurwitz A): n = 20 in 1.3 s, n = 40 in 9 s,
n = 80 in 470 s (5325 iterations). The SDP is the last rung, reached only
when the dense Lyapunov P fails, so a larger limit is an explicit choice.
"""

DENSE_MAX_N = 5000
"""Largest n for dense eigenvalue routines; eigvalsh takes seconds up to here,
and the n x n float64 copies (200 MB each at n = 5000) still fit in memory."""

EIG_MAX_N = 2000
"""Largest n for the dense non-symmetric eigensolver in find_instability
(all eigenvalues with left and right eigenvectors); ARPACK beyond."""

BLOCK_MAX_N = 256
"""Largest block for the block-diagonal and two-time-scale strategies; each
block costs a few dense k x k eigendecompositions, batched over blocks of
equal size."""

LYAPUNOV_MAX_N = 3000
"""Largest n for the dense Lyapunov equation; the real Schur form costs about
10 s at n = 2000 on 2 cores and grows as n^3."""


@dataclass(frozen=True)
class SearchOptions:
    """Settings of the strategy ladder and the instability search.

    Attributes
    ----------
    kappa_max : float
        Upper bound on lambda_max(P) in the SDP (P >= I is also imposed).
    sdp_max_n : int
        The SDP strategy applies only for n <= sdp_max_n.
    dense_max_n : int
        Dense symmetric eigenvalue routines are used for n <= dense_max_n,
        ARPACK beyond.
    eig_max_n : int
        find_instability computes all eigenvalues densely for
        n <= eig_max_n, and ARPACK's ``sparse_eig_k`` rightmost beyond.
    lyapunov_max_n : int
        The dense Lyapunov strategy applies only for n <= lyapunov_max_n.
    block_max_n : int
        The block strategies apply only to blocks of at most this size.
    marginal_relative_tol : float
        Smallest certified decay rate alpha relative to ||A||_2, and smallest
        |Re lambda| / ||A||_2 counted as off the imaginary axis.
    scs_eps : float
        Absolute and relative tolerance passed to SCS.
    scs_max_iters : int
        Iteration limit passed to SCS.
    stop_at_first : bool
        Stop the ladder at the first strategy that yields a candidate. With
        False every applicable strategy runs (useful for benchmarks).
    prefer_time_scales : bool
        When the state has two time scales, run the time-scale-aware
        strategies right after ``identity`` (see :meth:`Ladder.order`).
    find_instability : bool
        Look for evidence of instability when no candidate is found.
    n_modes : int
        Number of leading eigenvalues and modes reported.
    n_top_entries : int
        Number of largest-magnitude entries listed per mode.
    sparse_eig_k : int
        Number of eigenvalues ARPACK computes when n > dense_max_n.
    """

    kappa_max: float = SDP_KAPPA_MAX
    sdp_max_n: int = SDP_MAX_N
    dense_max_n: int = DENSE_MAX_N
    eig_max_n: int = EIG_MAX_N
    lyapunov_max_n: int = LYAPUNOV_MAX_N
    block_max_n: int = BLOCK_MAX_N
    marginal_relative_tol: float = MARGINAL_RELATIVE_TOL
    scs_eps: float = 1e-6
    scs_max_iters: int = 100_000
    stop_at_first: bool = True
    prefer_time_scales: bool = True
    find_instability: bool = True
    n_modes: int = 6
    n_top_entries: int = 5
    sparse_eig_k: int = 20

    def __post_init__(self) -> None:
        if not self.kappa_max > 1.0:
            raise ValueError(
                f"SearchOptions.kappa_max must be > 1 because P >= I is imposed; "
                f"got {self.kappa_max!r}."
            )
        if not 0.0 < self.scs_eps < 1.0:
            raise ValueError(
                f"SearchOptions.scs_eps must lie in (0, 1); got {self.scs_eps!r}."
            )
        if not 0.0 <= self.marginal_relative_tol < 1.0:
            raise ValueError(
                "SearchOptions.marginal_relative_tol must lie in [0, 1); got "
                f"{self.marginal_relative_tol!r}."
            )
        for name in (
            "sdp_max_n",
            "dense_max_n",
            "eig_max_n",
            "lyapunov_max_n",
            "block_max_n",
            "scs_max_iters",
            "n_modes",
            "n_top_entries",
            "sparse_eig_k",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"SearchOptions.{name} must be a positive integer; got {value!r}."
                )

    def to_dict(self) -> dict[str, float | int | bool]:
        """Return the options as a JSON-ready dictionary."""
        return asdict(self)
