"""Rigorous check of a quadratic Lyapunov certificate for dx/dt = A x.

A certificate (P, beta) claims

* lambda_min(P) >= 1 (the normalisation that gives beta a meaning), and
* M = -(A^T P + P A) - 2 beta I is positive semidefinite,

so that V(x) = x^T P x satisfies dV/dt = -x^T (M + 2 beta I) x <= -2 beta ||x||^2.
The checker proves the strict versions: lambda_min(P) > floor with the floor
:data:`LAMBDA_MIN_P_FLOOR` just below 1, and lambda_min(M) > 0, with
rigorous lower bounds on both. The float64 inputs are taken as exact
rationals; nothing is symmetrised or rounded before the proof.
"""

from __future__ import annotations

import logging
import time

import flint
import numpy as np
import scipy
import scipy.sparse

from biosynapse_verify.check.blocks import check_block_lyapunov
from biosynapse_verify.check.definiteness import prove_lambda_min_above
from biosynapse_verify.check.inputs import (
    validate_inputs,
    validate_nonnegative_scalar,
)
from biosynapse_verify.check.methods import choose_method, prove_form_with_fallback
from biosynapse_verify.check.result import CheckResult, DefinitenessOutcome

__all__ = ["LAMBDA_MIN_P_FLOOR", "check_lyapunov"]

logger = logging.getLogger(__name__)

LAMBDA_MIN_P_FLOOR = 1.0 - 2.0**-20
"""Default floor for lambda_min(P): the normalisation lambda_min(P) >= 1 less 2**-20.

A search normalises P with a floating-point eigenvalue, which can land a few
units of roundoff times cond(P) below 1; 2**-20 (about 1e-6) of relative
slack absorbs that, while a real normalisation error is still rejected.
"""

M_DEFINITION = "M = -(A^T P + P A) - 2 beta I"


def software_versions() -> dict[str, str]:
    """Return the versions of the numerical libraries the proof relied on."""
    return {
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python-flint": flint.__version__,
    }


def describe_failure(outcome: DefinitenessOutcome, claim: str) -> str:
    """Return a clause saying which claim failed, why, and by how much."""
    verb = "is false" if outcome.refuted else "could not be proven"
    clause = f"{claim} {verb}"
    if outcome.note:
        clause += f" ({outcome.note})"
    if outcome.estimate is not None:
        clause += f"; lambda_min({outcome.matrix}) is about {outcome.estimate:.3g}"
    return clause


def _reason(
    p_outcome: DefinitenessOutcome, m_outcome: DefinitenessOutcome, method: str
) -> str:
    """Return the one-sentence verdict of a stability check."""
    if p_outcome.proven and m_outcome.proven:
        return (
            f"Proven by {method}: lambda_min(P) >= {p_outcome.lower_bound:.9g} "
            f"(floor {p_outcome.floor:.9g}) and "
            f"lambda_min(M) >= {m_outcome.lower_bound:.3g} "
            f"for {M_DEFINITION}."
        )
    clauses = []
    if not p_outcome.proven:
        clauses.append(
            describe_failure(p_outcome, f"lambda_min(P) > {p_outcome.floor:.9g}")
        )
    if not m_outcome.proven:
        clauses.append(
            describe_failure(m_outcome, f"positive definiteness of {M_DEFINITION}")
        )
    return "Rejected: " + ", and ".join(clauses) + "."


def _is_sparse_block_matrix(P: object) -> bool:
    """Whether P is a sparse matrix with off-diagonal entries (a block certificate)."""
    if not scipy.sparse.issparse(P):
        return False
    coo = scipy.sparse.coo_array(P)
    return bool(np.any((coo.row != coo.col) & (coo.data != 0)))


def check_lyapunov(
    A: object,
    P: object,
    beta: float,
    *,
    method: str = "auto",
    min_lambda_P: float = LAMBDA_MIN_P_FLOOR,
    transform: object = None,
    rate: float = 0.0,
) -> CheckResult:
    """Check a Lyapunov certificate (P, beta) for dx/dt = A x rigorously.

    Parameters
    ----------
    A : array_like or scipy.sparse matrix, shape (n, n)
        System matrix, in 1/s; float64 values are taken as exact.
    P : array_like or scipy.sparse matrix, shape (n, n) or (n,)
        Symmetric certificate, or the diagonal of a diagonal one. Never
        symmetrised: a non-symmetric P raises ValueError.
    beta : float
        Claimed decay constant, >= 0, in 1/s: dV/dt <= -2 beta ||x||^2.
    method : {"auto", "exact", "sylvester", "rump", "interval"}
        "auto" takes "interval" for a diagonal P (falling back to a dense
        method if Gershgorin fails), "exact" for n <= ``EXACT_MAX_N`` and
        "rump" above.
    min_lambda_P : float
        The floor that lambda_min(P) must exceed (default
        :data:`LAMBDA_MIN_P_FLOOR`); pass 0.0 to test P > 0 only.
    transform : scipy.sparse matrix, shape (n, n), optional
        A shear N; the certificate is then (I + N)^T P (I + N).
    rate : float
        A claimed decay rate gamma >= 0 with -(A^T P + P A) - 2 gamma P > 0;
        0 claims none.

    A sparse non-diagonal P, a transform or a rate goes to the block
    comparison check (:func:`biosynapse_verify.check.blocks.check_block_lyapunov`),
    whatever ``method`` says.

    Returns
    -------
    CheckResult
        ``claim == "stable"``; ``margin`` bounds lambda_min(M) from below and
        ``lambda_min_P_lower`` bounds lambda_min(P) from below.

    Raises
    ------
    ValueError
        On invalid shapes, non-finite or non-float64 values, a non-symmetric
        P, beta < 0 or an unknown method.
    NotImplementedError
        If "auto" meets a dense P beyond the dense Rump limit.
    """
    if transform is not None or rate or _is_sparse_block_matrix(P):
        return check_block_lyapunov(
            A, P, beta, transform=transform, rate=rate, min_lambda_P=min_lambda_P
        )
    start = time.perf_counter()
    inputs = validate_inputs(A, P)
    beta = validate_nonnegative_scalar("beta", beta)
    floor = validate_nonnegative_scalar("min_lambda_P", min_lambda_P)
    chosen, why = choose_method(inputs, method)
    logger.info(
        "checking a stability certificate: n = %d, method %s (%s)",
        inputs.n,
        chosen,
        why,
    )

    p_outcome = prove_lambda_min_above(inputs, floor, chosen)
    m_outcome, decided_by, attempts = prove_form_with_fallback(
        inputs, -1, beta, chosen, "M", auto=method == "auto"
    )
    valid = p_outcome.proven and m_outcome.proven
    details = {
        "method_reason": why,
        "definition": M_DEFINITION,
        "beta": beta,
        "min_lambda_P": floor,
        "P": p_outcome.to_dict(),
        "M": m_outcome.to_dict(),
        "failed_attempts": attempts,
        "versions": software_versions(),
    }
    return CheckResult(
        valid=valid,
        claim="stable",
        method=decided_by,
        n=inputs.n,
        margin=m_outcome.lower_bound if m_outcome.proven else None,
        lambda_min_P_lower=p_outcome.lower_bound if p_outcome.proven else None,
        growth_rate_lower=None,
        reason=_reason(p_outcome, m_outcome, decided_by),
        seconds=time.perf_counter() - start,
        details=details,
    )
