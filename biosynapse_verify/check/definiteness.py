"""Dispatch of the definiteness proofs to the exact, Rump and interval methods.

Both certificate checks reduce to two statements about symmetric matrices:

* the Lyapunov form X = sign * (A^T P + P A) - 2 * shift * I is positive
  definite (sign = -1, shift = beta for stability, giving M; sign = +1,
  shift = gamma for instability, giving Q);
* lambda_min(P) > floor (the normalisation of a stability certificate).

The functions here choose the representation each method needs, run it, and,
when the proof fails, add a floating-point estimate of lambda_min and try to
refute the statement with a verified test vector.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import scipy.sparse as sp

from biosynapse_verify.check.estimate import smallest_eigenpair
from biosynapse_verify.check.exact import (
    exact_lyapunov_form,
    exact_shifted,
    prove_definite_exact,
    prove_definite_sylvester,
)
from biosynapse_verify.check.inputs import CertificateInputs
from biosynapse_verify.check.interval import (
    enclose_diagonal_form,
    prove_definite_gershgorin,
)
from biosynapse_verify.check.refute import (
    Enclosure,
    enclose_form_value,
    enclose_shifted_value,
)
from biosynapse_verify.check.result import DefinitenessOutcome
from biosynapse_verify.check.rounding import float_down
from biosynapse_verify.check.rump import enclose_lyapunov_form, prove_definite_rump

__all__ = ["METHODS", "prove_form_definite", "prove_lambda_min_above"]

logger = logging.getLogger(__name__)

METHODS = ("exact", "sylvester", "rump", "interval")
"""Methods a caller can request; ``"auto"`` chooses among them."""

ESTIMATE_MAX_N = 4000
"""Largest n for which a failed proof is explained with a dense eigenvalue estimate.

A dense symmetric eigensolve costs a few times a Cholesky, so beyond this size
a failure is reported without an estimate.
"""


def _dense(matrix: np.ndarray | sp.csr_array) -> np.ndarray:
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)


def _float_form(
    A: np.ndarray | sp.csr_array, P: np.ndarray, sign: int, shift: float
) -> np.ndarray:
    """Approximate the Lyapunov form in floating point (for estimates only)."""
    with np.errstate(over="ignore", invalid="ignore"):
        product = np.asarray(P @ A)
        form = sign * (product + product.T)
        form[np.diag_indices_from(form)] -= 2.0 * shift
    return form


def _explain_failure(
    outcome: DefinitenessOutcome,
    approximation: np.ndarray | None,
    value_enclosure: Callable[[np.ndarray], Enclosure],
    form_text: str,
) -> DefinitenessOutcome:
    """Add an eigenvalue estimate and a refutation attempt to a failed outcome.

    ``value_enclosure(x)`` encloses ``form_text`` (a quadratic form in x);
    an upper bound <= 0 refutes the statement.
    """
    if outcome.proven or outcome.refuted or approximation is None:
        return outcome
    if approximation.shape[0] > ESTIMATE_MAX_N:
        return outcome
    if not np.all(np.isfinite(approximation)):
        return outcome
    estimate, vector = smallest_eigenpair(approximation)
    enclosure: Enclosure = value_enclosure(vector)
    details = {**outcome.details, "test_vector_value_upper": float(enclosure.upper)}
    refuted = enclosure.upper <= 0
    note = outcome.note
    if refuted:
        bound = float(enclosure.upper)
        note = f"{note}, and a verified test vector x gives {form_text} <= {bound:.3g}"
    return dataclasses.replace(
        outcome,
        estimate=estimate if outcome.estimate is None else outcome.estimate,
        refuted=refuted,
        note=note,
        details=details,
    )


def prove_form_definite(
    inputs: CertificateInputs, sign: int, shift: float, method: str, symbol: str
) -> DefinitenessOutcome:
    """Prove X = sign * (A^T P + P A) - 2 * shift * I positive definite.

    Parameters
    ----------
    inputs : CertificateInputs
    sign : {-1, +1}
    shift : float
        beta or gamma, >= 0.
    method : {"exact", "sylvester", "rump", "interval"}
    symbol : str
        Name of X in messages ("M" or "Q").

    Returns
    -------
    DefinitenessOutcome
    """
    A, P = inputs.A, inputs.P
    if method == "interval":
        if not inputs.p_is_diagonal:
            raise ValueError(
                "method='interval' needs a diagonal P; use 'rump' or 'exact'."
            )
        outcome = prove_definite_gershgorin(
            enclose_diagonal_form(A, P, sign, shift), symbol
        )
        approximation = None
        if inputs.n <= ESTIMATE_MAX_N and not outcome.proven:
            approximation = _float_form(_dense(A), inputs.dense_P(), sign, shift)
        return _explain_failure(
            outcome,
            approximation,
            lambda x: enclose_form_value(A, P, sign, shift, x),
            f"x^T {symbol} x",
        )

    P_dense = inputs.dense_P()
    if method in ("exact", "sylvester"):
        exact = exact_lyapunov_form(_dense(A), P_dense, sign, shift)
        if method == "sylvester":
            return prove_definite_sylvester(exact, symbol)
        return prove_definite_exact(exact, _float_form(A, P_dense, sign, shift), symbol)

    if method == "rump":
        enclosure = enclose_lyapunov_form(A, P_dense, sign, shift)
        outcome = prove_definite_rump(enclosure.matrix, enclosure.radius, symbol)
        return _explain_failure(
            outcome,
            enclosure.matrix,
            lambda x: enclose_form_value(A, P, sign, shift, x),
            f"x^T {symbol} x",
        )
    raise ValueError(f"unknown method {method!r}; expected one of {METHODS}.")


def _shift_outcome(outcome: DefinitenessOutcome, floor: float) -> DefinitenessOutcome:
    """Turn an outcome about P - floor I into one about P with that floor."""
    lower = outcome.lower_bound
    estimate = outcome.estimate
    return dataclasses.replace(
        outcome,
        matrix="P",
        floor=floor,
        lower_bound=None
        if lower is None
        else float_down(Fraction(floor) + Fraction(lower)),
        estimate=None if estimate is None else estimate + floor,
    )


def prove_lambda_min_above(
    inputs: CertificateInputs, floor: float, method: str
) -> DefinitenessOutcome:
    """Prove lambda_min(P) > floor.

    Parameters
    ----------
    inputs : CertificateInputs
    floor : float
    method : {"exact", "sylvester", "rump", "interval"}

    Returns
    -------
    DefinitenessOutcome
        About P, with ``lower_bound`` a bound on lambda_min(P) itself.
    """
    P = inputs.P
    if inputs.p_is_diagonal:
        smallest = float(np.min(P))
        proven = smallest > floor
        return DefinitenessOutcome(
            matrix="P",
            method="diagonal",
            proven=proven,
            floor=floor,
            lower_bound=smallest if proven else None,
            estimate=smallest,
            refuted=not proven,
            note="" if proven else f"its smallest diagonal entry is {smallest:.17g}",
        )

    if method in ("exact", "sylvester"):
        exact = exact_shifted(P, floor)
        if method == "sylvester":
            outcome = prove_definite_sylvester(exact, "P")
        else:
            approximation = P - floor * np.eye(inputs.n)
            outcome = prove_definite_exact(exact, approximation, "P")
        return _shift_outcome(outcome, floor)

    if method in ("rump", "interval"):
        outcome = prove_definite_rump(P, 0.0, "P", floor=floor)
        outcome = dataclasses.replace(outcome, floor=floor)
        return _explain_failure(
            outcome,
            P,
            lambda x: enclose_shifted_value(P, floor, x),
            f"x^T (P - {floor:.17g} I) x",
        )
    raise ValueError(f"unknown method {method!r}; expected one of {METHODS}.")
