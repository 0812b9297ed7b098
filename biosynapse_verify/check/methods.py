"""Choice of the checking method by size and structure."""

from __future__ import annotations

import logging

from biosynapse_verify.check.definiteness import METHODS, prove_form_definite
from biosynapse_verify.check.exact import SYLVESTER_MAX_N
from biosynapse_verify.check.inputs import CertificateInputs
from biosynapse_verify.check.result import DefinitenessOutcome

__all__ = [
    "EXACT_MAX_N",
    "RUMP_MAX_N",
    "choose_method",
    "dense_method_for",
    "prove_form_with_fallback",
]

logger = logging.getLogger(__name__)

EXACT_MAX_N = 400
"""Largest n that "auto" checks in exact integer arithmetic.

benchmarks/check_cost.py measured the CPU time of a full stability check
(P and M, one BLAS thread): 0.07 s at n = 100, 0.8 s at n = 300 and 13 s at
n = 1000 in exact arithmetic, against 0.004 s, 0.02 s and 0.3 s for Rump.
"""

RUMP_MAX_N = 20_000
"""Largest n for the dense Rump test: it holds about five dense n x n float64
arrays at once (16 GB at this size)."""


def dense_method_for(n: int) -> str:
    """Return the dense method "auto" uses for dimension ``n``.

    Raises
    ------
    NotImplementedError
        If n exceeds :data:`RUMP_MAX_N`.
    """
    if n <= EXACT_MAX_N:
        return "exact"
    if n <= RUMP_MAX_N:
        return "rump"
    raise NotImplementedError(
        f"n = {n} exceeds {RUMP_MAX_N}, the largest size the dense Rump test "
        "handles in memory; checking a sparse or block-diagonal P is not "
        "implemented yet, because it needs a sparse Cholesky with an envelope "
        "bound. Pass a diagonal P, which the O(nnz) interval test handles."
    )


def choose_method(inputs: CertificateInputs, requested: str) -> tuple[str, str]:
    """Resolve ``requested`` (a method name or "auto") to a method and a reason.

    Parameters
    ----------
    inputs : CertificateInputs
    requested : str
        ``"auto"`` or one of :data:`METHODS`.

    Returns
    -------
    method : str
    reason : str
        One sentence saying why this method was chosen.
    """
    n = inputs.n
    if requested == "auto":
        if inputs.p_is_diagonal:
            return (
                "interval",
                "P is diagonal, so the O(nnz) interval Gershgorin test applies",
            )
        method = dense_method_for(n)
        if method == "exact":
            return (
                "exact",
                f"n = {n} <= {EXACT_MAX_N}, small enough for exact integer arithmetic",
            )
        return (
            "rump",
            f"n = {n} > {EXACT_MAX_N}, so verified floating point (Rump) is used",
        )

    if requested not in METHODS:
        raise ValueError(
            f"method must be 'auto' or one of {METHODS}; got {requested!r}."
        )
    if requested == "interval" and not inputs.p_is_diagonal:
        raise ValueError(
            "method='interval' needs a diagonal P (a vector or a diagonal matrix); "
            "use 'exact' or 'rump' for a full P."
        )
    if requested == "sylvester" and n > SYLVESTER_MAX_N:
        raise ValueError(
            f"method='sylvester' is limited to n <= {SYLVESTER_MAX_N} because the "
            f"fraction-free LU grows too expensive; got n = {n}. Use 'exact'."
        )
    if requested == "exact" and n > EXACT_MAX_N:
        logger.warning(
            "exact check requested for n = %d > %d; expect minutes "
            "(13 s of CPU at n = 1000, growing faster than n**2)",
            n,
            EXACT_MAX_N,
        )
    return requested, "requested by the caller"


def prove_form_with_fallback(
    inputs: CertificateInputs,
    sign: int,
    shift: float,
    method: str,
    symbol: str,
    auto: bool,
) -> tuple[DefinitenessOutcome, str, list[dict]]:
    """Prove the Lyapunov form positive definite, retrying a failed interval test.

    Gershgorin can fail where a Cholesky-based test succeeds, so when "auto"
    chose "interval" and it failed, the dense method for this n is tried.

    Returns
    -------
    outcome : DefinitenessOutcome
        The outcome of the last method tried.
    method : str
        That method.
    failed : list of dict
        Outcomes of the methods tried before it.
    """
    outcome = prove_form_definite(inputs, sign, shift, method, symbol)
    if outcome.proven or outcome.refuted or method != "interval" or not auto:
        return outcome, method, []
    if inputs.n > RUMP_MAX_N:
        return outcome, method, []
    fallback = dense_method_for(inputs.n)
    logger.info(
        "interval test failed for %s (n = %d); retrying with %s",
        symbol,
        inputs.n,
        fallback,
    )
    retried = prove_form_definite(inputs, sign, shift, fallback, symbol)
    return retried, fallback, [outcome.to_dict()]
