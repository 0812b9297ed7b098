"""Rigorous check of a Chetaev-type instability certificate for dx/dt = A x.

Claim. Let P be symmetric, gamma >= 0, and Q = A^T P + P A - 2 gamma I with
lambda_min(Q) >= q > 0. Let w satisfy w^T P w > 0, and let
Lambda >= lambda_max(P). Then A has an eigenvalue with real part at least

    rho = (gamma + q / 2) / Lambda.

Proof. Let x(t) = exp(A t) w and V = x^T P x. Then
dV/dt = x^T (Q + 2 gamma I) x >= (q + 2 gamma) ||x||^2 >= 0, so
V(t) >= V(0) = w^T P w > 0 for t >= 0, which also gives lambda_max(P) > 0.
Since V <= lambda_max(P) ||x||^2 <= Lambda ||x||^2, dV/dt >= 2 rho V, hence
V(t) >= V(0) exp(2 rho t) and

    ||exp(A t)||^2 ||w||^2 >= ||x(t)||^2 >= V(t) / Lambda
                            >= (V(0) / Lambda) exp(2 rho t).

If every eigenvalue of A had real part below rho, then
||exp(A t)|| <= C exp((rho - eps) t) for some C and eps > 0, which contradicts
this growth as t -> infinity. So the spectral abscissa of A is at least rho.

The checker proves lambda_min(Q) >= q with the exact, Rump or interval
machinery, evaluates w^T P w with a verified bound (exactly when that bound
is inconclusive and n is small enough), and takes Lambda as the maximum
absolute row sum of P, which bounds every eigenvalue of P.
"""

from __future__ import annotations

import logging
import time
from fractions import Fraction

import numpy as np

from biosynapse_verify.check.dyadic import (
    dyadic_from_array,
    dyadic_matrix,
    dyadic_to_fraction,
)
from biosynapse_verify.check.inputs import (
    CertificateInputs,
    validate_inputs,
    validate_nonnegative_scalar,
    validate_vector,
)
from biosynapse_verify.check.lyapunov import describe_failure, software_versions
from biosynapse_verify.check.methods import (
    EXACT_MAX_N,
    choose_method,
    prove_form_with_fallback,
)
from biosynapse_verify.check.refute import enclose_shifted_value
from biosynapse_verify.check.result import CheckResult, DefinitenessOutcome
from biosynapse_verify.check.rounding import float_down, float_up, upper_abs_row_sums

__all__ = ["WITNESS_EXACT_MAX_N", "check_instability"]

logger = logging.getLogger(__name__)

WITNESS_EXACT_MAX_N = 2000
"""Largest dense n for which w^T P w is computed exactly when the verified
floating-point bound cannot decide its sign. Converting the n**2 entries of P
to integers dominates: 1.2 s of CPU at n = 1000 and 4.6 s at n = 2000."""


Q_DEFINITION = "Q = A^T P + P A - 2 gamma I"


def _exact_witness_value(P: np.ndarray, witness: np.ndarray) -> Fraction:
    """Return w^T P w exactly; P may be given as its diagonal."""
    if P.ndim == 1:
        p_ints, p_exponent = dyadic_from_array(P)
        w_ints, w_exponent = dyadic_from_array(witness)
        total = sum(p * w * w for p, w in zip(p_ints, w_ints, strict=True))
        return dyadic_to_fraction(total, p_exponent + 2 * w_exponent)
    column = dyadic_matrix(witness)
    matrix = dyadic_matrix(P)
    value = (column.ints.transpose() * matrix.ints * column.ints)[0, 0]
    return dyadic_to_fraction(value, matrix.exponent + 2 * column.exponent)


def _witness_value(
    inputs: CertificateInputs, witness: np.ndarray
) -> tuple[Fraction, str]:
    """Return a rigorous lower bound on w^T P w and how it was obtained.

    The value is exact for a diagonal P and for n <= ``EXACT_MAX_N``. Above,
    a verified floating-point enclosure decides the sign, with the exact
    value as fallback up to :data:`WITNESS_EXACT_MAX_N`.
    """
    exact_text = "exact rational arithmetic"
    if inputs.p_is_diagonal or inputs.n <= EXACT_MAX_N:
        return _exact_witness_value(inputs.P, witness), exact_text
    enclosure = enclose_shifted_value(inputs.P, 0.0, witness)
    decided = enclosure.lower > 0 or enclosure.upper <= 0
    if decided or inputs.n > WITNESS_EXACT_MAX_N:
        return enclosure.lower, "floating point with a rounding-error bound"
    return _exact_witness_value(inputs.P, witness), exact_text


def _lambda_max_upper(P: np.ndarray) -> float:
    """Bound lambda_max(P) from above.

    The bound is max p_i for a diagonal P and the maximum absolute row sum
    otherwise.
    """
    if P.ndim == 1:
        return float(np.max(P))
    return float(np.max(upper_abs_row_sums(P)))


def _reason(
    q_outcome: DefinitenessOutcome,
    witness_lower: Fraction,
    growth: float | None,
    lambda_upper: float,
    method: str,
) -> str:
    """Return the one-sentence verdict of an instability check."""
    if growth is not None:
        return (
            f"Proven by {method}: lambda_min(Q) >= {q_outcome.lower_bound:.3g} for "
            f"{Q_DEFINITION}, w^T P w >= {float_down(witness_lower):.3g} > 0 and "
            f"lambda_max(P) <= {lambda_upper:.6g}, so A has an eigenvalue with real "
            f"part >= {growth:.3g}."
        )
    clauses = []
    if not q_outcome.proven:
        clauses.append(
            describe_failure(q_outcome, f"positive definiteness of {Q_DEFINITION}")
        )
    if not witness_lower > 0:
        clauses.append(
            "w^T P w > 0 could not be proven "
            f"(its lower bound is {float(witness_lower):.3g})"
        )
    return "Rejected: " + ", and ".join(clauses) + "."


def check_instability(
    A: object, P: object, gamma: float, witness: object, *, method: str = "auto"
) -> CheckResult:
    """Check a Chetaev-type certificate that dx/dt = A x is unstable.

    Parameters
    ----------
    A : array_like or scipy.sparse matrix, shape (n, n)
        System matrix, in 1/s; float64 values are taken as exact.
    P : array_like or scipy.sparse matrix, shape (n, n) or (n,)
        Symmetric, typically indefinite; a vector stands for a diagonal P.
    gamma : float
        >= 0, in 1/s; the certificate claims A^T P + P A - 2 gamma I > 0.
    witness : array_like, shape (n,)
        A state w with w^T P w > 0.
    method : {"auto", "exact", "sylvester", "rump", "interval"}
        As in :func:`~biosynapse_verify.check.lyapunov.check_lyapunov`.

    Returns
    -------
    CheckResult
        ``claim == "unstable"``; ``margin`` bounds lambda_min(Q) from below
        and ``growth_rate_lower`` bounds the spectral abscissa of A from
        below (in the units of A).

    Raises
    ------
    ValueError
        On invalid shapes or values, a non-symmetric P, gamma < 0, a zero
        witness or an unknown method.
    """
    start = time.perf_counter()
    inputs = validate_inputs(A, P)
    gamma = validate_nonnegative_scalar("gamma", gamma)
    witness = validate_vector("witness", witness, inputs.n)
    chosen, why = choose_method(inputs, method)
    logger.info(
        "checking an instability certificate: n = %d, method %s (%s)",
        inputs.n,
        chosen,
        why,
    )

    q_outcome, decided_by, attempts = prove_form_with_fallback(
        inputs, +1, gamma, chosen, "Q", auto=method == "auto"
    )
    witness_lower, witness_method = _witness_value(inputs, witness)
    lambda_upper = _lambda_max_upper(inputs.P)

    growth = None
    if q_outcome.proven and witness_lower > 0:
        rate = (Fraction(gamma) + Fraction(q_outcome.lower_bound) / 2) / Fraction(
            lambda_upper
        )
        growth = float_down(rate)
    details = {
        "method_reason": why,
        "definition": Q_DEFINITION,
        "gamma": gamma,
        "Q": q_outcome.to_dict(),
        "witness_value_lower": float_down(witness_lower),
        "witness_value_method": witness_method,
        "lambda_max_P_upper": float_up(Fraction(lambda_upper)),
        "failed_attempts": attempts,
        "versions": software_versions(),
    }
    return CheckResult(
        valid=growth is not None,
        claim="unstable",
        method=decided_by,
        n=inputs.n,
        margin=q_outcome.lower_bound if q_outcome.proven else None,
        lambda_min_P_lower=None,
        growth_rate_lower=growth,
        reason=_reason(q_outcome, witness_lower, growth, lambda_upper, decided_by),
        seconds=time.perf_counter() - start,
        details=details,
    )
