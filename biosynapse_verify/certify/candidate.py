"""Lyapunov candidates: normalisation, back-off and floating-point validation.

Every strategy proposes a matrix P and nothing else. :func:`finalise_candidate`
turns the proposal into a claim in the same way for all of them:

1. symmetrise P exactly and reject non-finite values;
2. divide P by a value below its computed lambda_min, so lambda_min(P) >= 1
   with room for rounding (scaling P scales beta, so beta means nothing
   without this normalisation);
3. form M0 = -(A^T P + P A), take beta_float = lambda_min(M0) / 2, and claim
   beta = (beta_float - budget) * (1 - BETA_RELATIVE_BACKOFF), where the
   budget bounds the rounding error a rigorous checker meets;
4. reject the claim if alpha = beta / lambda_max(P) is marginal;
5. re-validate (P, beta) from scratch with :func:`validate_candidate`.

The candidate is *not* a certificate: only :mod:`biosynapse_verify.check`
decides that.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from biosynapse_verify.certify.linalg import (
    JacobianMatrix,
    SpectrumBounds,
    as_jacobian,
    lyapunov_inequality_matrix,
    symmetric_spectrum,
)
from biosynapse_verify.certify.margins import (
    BETA_RELATIVE_BACKOFF,
    P_RELATIVE_BACKOFF,
    ROUNDING_SAFETY,
    formation_error_bound,
    rump_shift,
)
from biosynapse_verify.certify.options import SearchOptions

__all__ = [
    "Candidate",
    "Failure",
    "Proposal",
    "ValidationReport",
    "finalise_candidate",
    "jsonable",
    "validate_candidate",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Proposal:
    """A matrix P proposed by a strategy, before normalisation.

    Attributes
    ----------
    P : ndarray, shape (n, n) or (n,), or FactoredP
        Symmetric (or nearly so; it is symmetrised); a 1-D array is the
        diagonal of a diagonal P. A
        :class:`~biosynapse_verify.certify.structured.FactoredP` is a
        block-diagonal P, possibly sheared, which is finalised without forming
        a dense matrix.
    details : dict
        Strategy-specific facts for the record (solver status, residuals).
    """

    P: object
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    """The reason a strategy produced no candidate.

    Attributes
    ----------
    reason : str
        One sentence with the numbers that decided it.
    details : dict
        Values behind the reason, for the record.
    """

    reason: str
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Return a JSON-ready dictionary."""
        return {"reason": self.reason, "details": jsonable(self.details)}


@dataclass(frozen=True)
class Candidate:
    """A Lyapunov candidate V(x) = x^T P x / 2 with dV/dt <= -beta ||x||^2.

    Attributes
    ----------
    strategy : str
        Name of the strategy that proposed P.
    P : ndarray, shape (n, n) or (n,), or csr_array, shape (n, n)
        Exactly symmetric, normalised so lambda_min(P) >= 1. A 1-D array holds
        the diagonal of a diagonal P. A sparse P is block diagonal; when
        ``transform`` is set it is the middle factor W of
        P = (I + N)^T W (I + N), N = ``transform``.
    beta : float
        Claimed decay margin, in the units of A (1/s for a Jacobian in seconds):
        -(A^T P + P A) - 2 beta I is positive definite.
    beta_float : float
        lambda_min(-(A^T P + P A)) / 2 as computed, before the back-off.
    rounding_budget : float
        Amount subtracted from beta_float before the relative back-off, so
        lambda_min(M) keeps at least twice this amount.
    lambda_min_P, lambda_max_P : float
        Extreme eigenvalues of the normalised P (floating point).
    alpha : float
        Decay rate beta / lambda_max_P of V, in the units of A.
    normalisation_divisor : float
        The proposed P was divided by this value.
    details : dict
        Strategy-specific facts.
    transform : csr_array, shape (n, n), or None
        The shear N of a factored P (every row of N is a fast coordinate and
        every column a slow one, so (I + N)^-1 = I - N exactly).
    decay_rate : float or None
        Claimed rate gamma with -(A^T P + P A) - 2 gamma P >= 0, so that
        x^T P x decays at least as exp(-2 gamma t) and
        ||x(t)|| <= sqrt(kappa(P)) exp(-gamma t) ||x(0)||. Set by the
        structured strategies, whose check proves it; None otherwise.
    """

    strategy: str
    P: np.ndarray
    beta: float
    beta_float: float
    rounding_budget: float
    lambda_min_P: float
    lambda_max_P: float
    alpha: float
    normalisation_divisor: float
    details: dict = field(default_factory=dict)
    transform: sp.csr_array | None = None
    decay_rate: float | None = None

    @property
    def p_is_diagonal(self) -> bool:
        """Whether P is stored as the vector of its diagonal."""
        return not sp.issparse(self.P) and self.P.ndim == 1

    @property
    def p_is_sparse(self) -> bool:
        """Whether P (or its middle factor) is a sparse block-diagonal matrix."""
        return sp.issparse(self.P)

    @property
    def condition_number(self) -> float:
        """kappa(P) = lambda_max(P) / lambda_min(P)."""
        return self.lambda_max_P / self.lambda_min_P

    def dense_P(self) -> np.ndarray:
        """Return P as a dense (n, n) array (for a factored P, T^T W T)."""
        if self.p_is_diagonal:
            return np.diag(self.P)
        if not self.p_is_sparse:
            return self.P
        if self.transform is None:
            return self.P.toarray()
        T = np.eye(self.P.shape[0]) + self.transform.toarray()
        return T.T @ self.P.toarray() @ T

    def _storage(self) -> str:
        if self.p_is_diagonal:
            return "diagonal"
        if not self.p_is_sparse:
            return "dense"
        return "block_diagonal" if self.transform is None else "factored"

    def _digest(self) -> str:
        if not self.p_is_sparse:
            return hashlib.sha256(np.ascontiguousarray(self.P).tobytes()).hexdigest()
        digest = hashlib.sha256()
        for matrix in (self.P, self.transform):
            if matrix is None:
                continue
            csr = sp.csr_array(matrix)
            csr.sort_indices()
            for part in (csr.indptr, csr.indices):
                digest.update(part.astype(np.int64).tobytes())
            digest.update(csr.data.astype(np.float64).tobytes())
        return digest.hexdigest()

    def to_dict(self, include_matrix: bool = False) -> dict:
        """Return a JSON-ready dictionary.

        Parameters
        ----------
        include_matrix : bool
            Include a dense P itself (as nested lists of floats, which JSON
            stores exactly). Otherwise only its SHA-256, shape and storage are
            given, except for a diagonal P, whose diagonal is always included.
            A sparse P is never listed; its SHA-256 covers the CSR arrays of P
            and of the transform.
        """
        record = {
            "strategy": self.strategy,
            "beta": self.beta,
            "beta_float": self.beta_float,
            "rounding_budget": self.rounding_budget,
            "lambda_min_P": self.lambda_min_P,
            "lambda_max_P": self.lambda_max_P,
            "alpha": self.alpha,
            "condition_number_P": self.condition_number,
            "transient_factor": float(np.sqrt(self.condition_number)),
            "normalisation_divisor": self.normalisation_divisor,
            "decay_rate": self.decay_rate,
            "P_storage": self._storage(),
            "P_shape": list(self.P.shape),
            "P_sha256": self._digest(),
            "details": jsonable(self.details),
        }
        if self.p_is_sparse:
            record["P_nnz"] = int(self.P.nnz)
        elif include_matrix or self.p_is_diagonal:
            record["P"] = self.P.tolist()
        return record


@dataclass(frozen=True)
class ValidationReport:
    """Floating-point validation of a claim (P, beta); not a proof.

    Attributes
    ----------
    passed : bool
        Whether every condition below holds.
    reasons : list of str
        One entry per failed condition.
    lambda_min_P, lambda_max_P : float
        Extreme eigenvalues of P.
    p_budget : float
        Rounding budget for P - I.
    lambda_min_M : float
        Smallest eigenvalue of M = -(A^T P + P A) - 2 beta I.
    m_budget : float
        Rounding budget for M.
    alpha : float
        beta / lambda_max_P.
    alpha_floor : float
        Smallest accepted alpha (marginal tolerance times ||A||_2 bound).
    """

    passed: bool
    reasons: list[str]
    lambda_min_P: float
    lambda_max_P: float
    p_budget: float
    lambda_min_M: float
    m_budget: float
    alpha: float
    alpha_floor: float


def validate_candidate(
    A: object, P: np.ndarray, beta: float, options: SearchOptions | None = None
) -> ValidationReport:
    """Check a claim (P, beta) in floating point, with rounding budgets.

    Passes only if
    * P is finite and exactly symmetric,
    * lambda_min(P) - budget_P >= 1,
    * lambda_min(-(A^T P + P A) - 2 beta I) >= budget_M > 0,
    * beta > 0 and alpha = beta / lambda_max(P) >= marginal tolerance * ||A||_2.

    Parameters
    ----------
    A : array_like or sparse, shape (n, n)
    P : ndarray, shape (n, n) or (n,) for a diagonal P
    beta : float
    options : SearchOptions, optional

    Returns
    -------
    ValidationReport
    """
    options = options or SearchOptions()
    jacobian = as_jacobian(A)
    P = np.asarray(P, dtype=np.float64)
    reasons = _shape_reasons(P, jacobian.n)
    P = _as_diagonal_if_diagonal(P)
    if reasons:
        nan = float("nan")
        return ValidationReport(False, reasons, nan, nan, nan, nan, nan, nan, nan)

    spectrum_P = symmetric_spectrum(P, dense_max_n=options.dense_max_n)
    p_budget = _p_budget(P, spectrum_P)
    if spectrum_P.lambda_min - p_budget < 1.0:
        reasons.append(
            f"lambda_min(P) = {spectrum_P.lambda_min!r} is not above 1 by the "
            f"rounding budget {p_budget!r}"
        )

    M0 = lyapunov_inequality_matrix(jacobian, P)
    M = _shift_diagonal(M0, -2.0 * beta)
    spectrum_M = symmetric_spectrum(M, dense_max_n=options.dense_max_n)
    m_budget = _m_budget(jacobian, P, M, spectrum_M)
    if not spectrum_M.lambda_min >= m_budget:
        reasons.append(
            f"lambda_min(-(A^T P + P A) - 2 beta I) = {spectrum_M.lambda_min!r} is "
            f"below the rounding budget {m_budget!r}"
        )

    beta = float(beta)
    alpha = beta / spectrum_P.lambda_max
    alpha_floor = options.marginal_relative_tol * jacobian.norm2_bound
    if not (beta > 0 and alpha >= alpha_floor):
        reasons.append(
            f"beta = {beta!r} gives decay rate alpha = {alpha!r}, below the "
            f"marginal floor {alpha_floor!r} (marginal_relative_tol * ||A||_2 bound)"
        )
    return ValidationReport(
        passed=not reasons,
        reasons=reasons,
        lambda_min_P=spectrum_P.lambda_min,
        lambda_max_P=spectrum_P.lambda_max,
        p_budget=p_budget,
        lambda_min_M=spectrum_M.lambda_min,
        m_budget=m_budget,
        alpha=alpha,
        alpha_floor=alpha_floor,
    )


def finalise_candidate(
    A: JacobianMatrix, proposal: Proposal, options: SearchOptions, strategy: str
) -> Candidate | Failure:
    """Normalise a proposed P, back off beta, and validate the claim.

    Parameters
    ----------
    A : JacobianMatrix, shape (n, n)
    proposal : Proposal
    options : SearchOptions
    strategy : str
        Name recorded in the candidate.

    Returns
    -------
    Candidate or Failure
        A failure names the condition and the numbers that decided it.
    """
    P = _symmetrised(proposal.P)
    if not np.all(np.isfinite(P)):
        return Failure("proposed P has non-finite entries", proposal.details)

    # Step 1: normalise so that lambda_min(P) >= 1 with room for rounding.
    spectrum = symmetric_spectrum(P, dense_max_n=options.dense_max_n)
    budget = _p_budget(P, spectrum)
    divisor = float((spectrum.lambda_min - 2.0 * budget) * (1.0 - P_RELATIVE_BACKOFF))
    if not divisor > 0:
        details = {**proposal.details, "lambda_min_P_raw": spectrum.lambda_min}
        if spectrum.lambda_min <= 0:
            return Failure(
                f"P is not positive definite: lambda_min(P) = {spectrum.lambda_min!r}, "
                f"lambda_max(P) = {spectrum.lambda_max!r}",
                details,
            )
        return Failure(
            f"P is not clearly positive definite: lambda_min(P) = "
            f"{spectrum.lambda_min!r} is within twice the rounding budget {budget!r}",
            details,
        )
    P = P / divisor
    # Scaling is exact up to one rounding per entry; validate_candidate below
    # recomputes the spectrum of the scaled P from scratch.
    lambda_max_P = spectrum.lambda_max / divisor

    # Step 2: beta from lambda_min(M0), less the rounding budget and back-off.
    M0 = lyapunov_inequality_matrix(A, P)
    spectrum_M0 = symmetric_spectrum(M0, dense_max_n=options.dense_max_n)
    m_budget = _m_budget(A, P, M0, spectrum_M0)
    beta_float = spectrum_M0.lambda_min / 2.0
    beta = float((beta_float - m_budget) * (1.0 - BETA_RELATIVE_BACKOFF))
    details = {**proposal.details, "lambda_max_M0": spectrum_M0.lambda_max}
    if not beta > 0:
        return Failure(
            f"no decay margin: lambda_min(-(A^T P + P A)) / 2 = {beta_float!r} does "
            f"not exceed the rounding budget {m_budget!r}",
            {**details, "beta_float": beta_float},
        )

    # Step 3: reject marginal claims, then validate from scratch.
    alpha = beta / lambda_max_P
    alpha_floor = options.marginal_relative_tol * A.norm2_bound
    if alpha < alpha_floor:
        return Failure(
            f"marginal: decay rate alpha = {alpha!r} (beta = {beta!r}, "
            f"lambda_max(P) = {lambda_max_P!r}) is below "
            f"marginal_relative_tol * ||A||_2 bound = {alpha_floor!r}",
            {**details, "alpha": alpha, "beta": beta},
        )
    report = validate_candidate(A, P, beta, options)
    if not report.passed:
        return Failure("validation failed: " + "; ".join(report.reasons), details)

    return Candidate(
        strategy=strategy,
        P=P,
        beta=float(beta),
        beta_float=float(beta_float),
        rounding_budget=float(m_budget),
        lambda_min_P=report.lambda_min_P,
        lambda_max_P=report.lambda_max_P,
        alpha=float(beta / report.lambda_max_P),
        normalisation_divisor=float(divisor),
        details=details,
    )


def _symmetrised(P: np.ndarray) -> np.ndarray:
    """Return P as float64, exactly symmetric; a 1-D P is a diagonal."""
    P = np.asarray(P, dtype=np.float64)
    if P.ndim == 1:
        return P.copy()
    return _as_diagonal_if_diagonal(0.5 * (P + P.T))


def _as_diagonal_if_diagonal(P: np.ndarray) -> np.ndarray:
    """Return the diagonal of a 2-D P with no off-diagonal entry, else P.

    A diagonal P is compared with 1 entry by entry, exactly, so it needs no
    rounding budget; the checker stores it the same way.
    """
    if P.ndim == 2 and np.count_nonzero(P) == np.count_nonzero(np.diagonal(P)):
        return np.diagonal(P).copy()
    return P


def _shape_reasons(P: np.ndarray, n: int) -> list[str]:
    """Return why P cannot be validated at all (shape, symmetry, finiteness)."""
    if P.shape not in ((n, n), (n,)):
        return [f"P has shape {P.shape}; expected ({n}, {n}) or ({n},) for a diagonal"]
    if not np.all(np.isfinite(P)):
        return ["P has non-finite entries"]
    if P.ndim == 2 and not np.array_equal(P, P.T):
        return ["P is not exactly symmetric; symmetrise it before claiming"]
    return []


def _p_budget(P: np.ndarray, spectrum: SpectrumBounds) -> float:
    """Rounding budget for proving P - I >= 0; zero for a diagonal P (exact)."""
    if P.ndim == 1:
        return 0.0
    return float(ROUNDING_SAFETY * (rump_shift(P) + spectrum.error))


def _m_budget(
    A: JacobianMatrix,
    P: np.ndarray,
    M: np.ndarray | sp.sparray,
    spectrum: SpectrumBounds,
) -> float:
    """Rounding budget for proving M > 0 where M is formed from A and P."""
    if P.ndim == 1:
        p_abs_norm2, inner_length = float(np.abs(P).max()), 1
    else:
        p_abs_norm2, inner_length = (
            float(np.abs(P).sum(axis=1).max()),
            A.max_column_count,
        )
    formation = formation_error_bound(A.norm2_bound, p_abs_norm2, inner_length)
    shift = rump_shift(M)
    if not np.isfinite(shift):
        # M has a non-positive diagonal entry, so it is not definite anyway;
        # the eigenvalue test reports it, and the budget uses the other terms.
        shift = 0.0
    return float(ROUNDING_SAFETY * (shift + formation + spectrum.error))


def _shift_diagonal(
    M: np.ndarray | sp.sparray, delta: float
) -> np.ndarray | sp.sparray:
    """Return M + delta I without modifying M."""
    if sp.issparse(M):
        return sp.csr_array(M + delta * sp.identity(M.shape[0], format="csr"))
    shifted = M.copy()
    shifted[np.diag_indices_from(shifted)] += delta
    return shifted


def jsonable(value: object) -> object:
    """Convert numpy scalars and arrays inside ``value`` to JSON types."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, complex):
        return [value.real, value.imag]
    return value
