"""Evidence of instability: unstable eigenvalues, their modes, a Chetaev candidate.

A refutation has two parts. The floating-point spectrum gives how many
eigenvalues lie to the right of the imaginary axis and which directions
(modes) grow. A Chetaev candidate makes that checkable: P solving
A^T P + P A = I, a rate gamma with A^T P + P A >= 2 gamma I, and a witness x
with x^T P x > 0. Then V(x) = x^T P x grows along every trajectory that
starts where V > 0, so the equilibrium is unstable. By the inertia theorem
(Ostrowski and Schneider), P has as many positive eigenvalues as A has
eigenvalues in the open right half-plane, so the unstable modes themselves
are witnesses.

When some lambda_i + lambda_j is close to 0 (a saddle with eigenvalues
lambda and -lambda), P comes instead from the Schur form ordered unstable
first, block by block.

Nothing here is a proof: :func:`biosynapse_verify.check.check_instability`
verifies the candidate rigorously.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse.linalg as spla
from scipy.spatial import cKDTree

from biosynapse_verify.certify.linalg import (
    JacobianMatrix,
    as_jacobian,
    lyapunov_inequality_matrix,
    solve_lyapunov,
    solve_schur_sylvester,
    symmetric_spectrum,
)
from biosynapse_verify.certify.margins import (
    BETA_RELATIVE_BACKOFF,
    ROUNDING_SAFETY,
    UNIT_ROUNDOFF,
    formation_error_bound,
    rump_shift,
)
from biosynapse_verify.certify.options import SearchOptions

__all__ = ["ChetaevCandidate", "InstabilityEvidence", "Mode", "find_instability"]

logger = logging.getLogger(__name__)

WITNESS_MODES = 8
"""Number of leading unstable modes whose real and imaginary parts are tried
as the Chetaev witness; any one of them works in exact arithmetic."""


@dataclass(frozen=True)
class Mode:
    """One eigenvalue of A and its (right) eigenvector.

    Attributes
    ----------
    eigenvalue : complex
        In the units of A (1/s for a Jacobian in seconds).
    vector : ndarray of complex, shape (n,)
        Unit 2-norm, scaled so its largest-magnitude entry is real positive.
    condition : float or None
        Eigenvalue condition number 1 / |y^H x| (unit left and right
        eigenvectors y, x); None when left eigenvectors were not computed.
    error_bound : float
        Estimated absolute error of the eigenvalue.
    classification : str
        ``"unstable"`` (Re lambda above the threshold), ``"marginal"``
        (|Re lambda| within it) or ``"stable"``.
    """

    eigenvalue: complex
    vector: np.ndarray
    condition: float | None
    error_bound: float
    classification: str

    def top_entries(self, count: int) -> list[tuple[int, float]]:
        """Return the ``count`` largest-magnitude entries as (index, |value|)."""
        magnitude = np.abs(self.vector)
        order = np.argsort(magnitude)[::-1][:count]
        return [(int(i), float(magnitude[i])) for i in order]

    def to_dict(self, n_top_entries: int = 5) -> dict:
        """Return a JSON-ready dictionary (the full vector is left out)."""
        return {
            "eigenvalue": [self.eigenvalue.real, self.eigenvalue.imag],
            "classification": self.classification,
            "condition": self.condition,
            "error_bound": self.error_bound,
            "top_entries": [
                {"index": index, "magnitude": value}
                for index, value in self.top_entries(n_top_entries)
            ],
        }


@dataclass(frozen=True)
class ChetaevCandidate:
    """Data for a Chetaev instability proof, for the rigorous checker.

    Attributes
    ----------
    P : ndarray, shape (n, n)
        Exactly symmetric and indefinite, with A^T P + P A positive definite
        (see ``construction``).
    gamma : float
        Claimed rate: A^T P + P A - 2 gamma I is positive semidefinite.
    gamma_float : float
        lambda_min(A^T P + P A) / 2 as computed, before the back-off.
    rounding_budget : float
        Amount subtracted from gamma_float before the relative back-off.
    witness : ndarray, shape (n,)
        Unit vector with witness^T P witness > 0: the real or imaginary part
        of an unstable mode.
    witness_value : float
        witness^T P witness in floating point.
    witness_source : str
        Which mode part the witness is.
    construction : str
        ``"lyapunov"`` (P solves A^T P + P A = I) or ``"ordered_schur"``
        (block-diagonal P in the Schur basis ordered unstable first, used when
        some lambda_i + lambda_j is close to 0).
    n_positive_P, n_negative_P : int
        Inertia of P from eigvalsh.
    """

    P: np.ndarray
    gamma: float
    gamma_float: float
    rounding_budget: float
    witness: np.ndarray
    witness_value: float
    witness_source: str
    construction: str
    n_positive_P: int
    n_negative_P: int

    def to_dict(self, include_matrix: bool = False) -> dict:
        """Return a JSON-ready dictionary; P only with ``include_matrix``."""
        record = {
            "gamma": self.gamma,
            "gamma_float": self.gamma_float,
            "rounding_budget": self.rounding_budget,
            "witness": self.witness.tolist(),
            "witness_value": self.witness_value,
            "witness_source": self.witness_source,
            "construction": self.construction,
            "n_positive_P": self.n_positive_P,
            "n_negative_P": self.n_negative_P,
        }
        if include_matrix:
            record["P"] = self.P.tolist()
        return record


@dataclass(frozen=True)
class InstabilityEvidence:
    """Spectrum evidence on the instability of A.

    Attributes
    ----------
    n : int
        Dimension of A.
    method : str
        ``"eig"`` (all eigenvalues, dense) or ``"arpack"`` (a few rightmost).
    threshold : float
        marginal_relative_tol * ||A||_2 bound; an eigenvalue counts as off the
        axis only if |Re lambda| exceeds this and its own error bound.
    eigenvalues_near_axis : ndarray of complex
        Every computed eigenvalue with Re lambda >= -threshold, rightmost first.
    n_unstable : int
        Eigenvalues classified unstable.
    n_marginal : int
        Eigenvalues classified marginal (on the axis within tolerance).
    counts_exact : bool
        False for ARPACK, which computes only ``sparse_eig_k`` eigenvalues, so
        the counts are lower bounds.
    spectral_abscissa : float
        Largest computed real part.
    modes : list of Mode
        The leading eigenvalues (largest real part) with their modes.
    chetaev : ChetaevCandidate or None
    chetaev_reason : str
        Why no Chetaev candidate was built; empty when one was.
    """

    n: int
    method: str
    threshold: float
    eigenvalues_near_axis: np.ndarray
    n_unstable: int
    n_marginal: int
    counts_exact: bool
    spectral_abscissa: float
    modes: list[Mode]
    chetaev: ChetaevCandidate | None
    chetaev_reason: str
    n_top_entries: int = 5

    @property
    def is_unstable(self) -> bool:
        """Whether some eigenvalue lies clearly in the right half-plane."""
        return self.n_unstable > 0

    def summary(self) -> str:
        """Return one sentence on what the spectrum shows."""
        count = (
            f"{self.n_unstable}" if self.counts_exact else f"at least {self.n_unstable}"
        )
        if self.n_unstable:
            return (
                f"{count} eigenvalue(s) with real part above {self.threshold:.3g} "
                f"(spectral abscissa {self.spectral_abscissa:.6g})"
            )
        if self.n_marginal:
            return (
                f"marginal: {self.n_marginal} eigenvalue(s) with |Re lambda| within "
                f"{self.threshold:.3g} of the imaginary axis"
            )
        return (
            f"no eigenvalue at or right of -{self.threshold:.3g} "
            f"(spectral abscissa {self.spectral_abscissa:.6g})"
        )

    def to_dict(self) -> dict:
        """Return a JSON-ready dictionary."""
        return {
            "method": self.method,
            "threshold": self.threshold,
            "n_unstable": self.n_unstable,
            "n_marginal": self.n_marginal,
            "counts_exact": self.counts_exact,
            "spectral_abscissa": self.spectral_abscissa,
            "eigenvalues_near_axis": [
                [float(z.real), float(z.imag)] for z in self.eigenvalues_near_axis
            ],
            "modes": [mode.to_dict(self.n_top_entries) for mode in self.modes],
            "chetaev": None if self.chetaev is None else self.chetaev.to_dict(),
            "chetaev_reason": self.chetaev_reason,
            "summary": self.summary(),
        }


def find_instability(
    A: object, options: SearchOptions | None = None
) -> InstabilityEvidence:
    """Collect evidence on the unstable eigenvalues of A and a Chetaev candidate.

    Parameters
    ----------
    A : array_like, sparse or JacobianMatrix, shape (n, n)
    options : SearchOptions, optional
        ``eig_max_n`` chooses all eigenvalues (dense) or ARPACK's
        ``sparse_eig_k`` rightmost; ``lyapunov_max_n`` bounds the Chetaev
        solve; ``n_modes`` and ``n_top_entries`` size the report.

    Returns
    -------
    InstabilityEvidence
    """
    options = options or SearchOptions()
    jacobian = as_jacobian(A)
    threshold = options.marginal_relative_tol * jacobian.norm2_bound

    if jacobian.n <= options.eig_max_n:
        eigenvalues, vectors, conditions = _dense_eigensystem(jacobian)
        errors = (
            ROUNDING_SAFETY
            * jacobian.n
            * UNIT_ROUNDOFF
            * jacobian.norm2_bound
            * conditions
        )
        method, counts_exact = "eig", True
    else:
        eigenvalues, vectors = _rightmost_eigensystem(jacobian, options)
        conditions, errors = None, np.zeros(eigenvalues.size)
        method, counts_exact = "arpack", False

    order = np.argsort(-eigenvalues.real, kind="stable")
    eigenvalues, vectors, errors = eigenvalues[order], vectors[:, order], errors[order]
    if conditions is not None:
        conditions = conditions[order]
    cutoff = np.maximum(threshold, errors)
    unstable = eigenvalues.real > cutoff
    marginal = np.abs(eigenvalues.real) <= cutoff

    classification = np.where(
        unstable, "unstable", np.where(marginal, "marginal", "stable")
    )
    modes = []
    for i in range(min(options.n_modes, eigenvalues.size)):
        condition = None if conditions is None else float(conditions[i])
        modes.append(
            _mode(
                eigenvalues[i],
                vectors[:, i],
                condition,
                float(errors[i]),
                str(classification[i]),
            )
        )

    chetaev, chetaev_reason = (
        None,
        "A has no eigenvalue clearly in the right half-plane",
    )
    if unstable.any():
        chetaev, chetaev_reason = _chetaev_candidate(
            jacobian,
            eigenvalues,
            vectors[:, unstable][:, :WITNESS_MODES],
            threshold,
            int(marginal.sum()),
            options,
        )
    return InstabilityEvidence(
        n=jacobian.n,
        method=method,
        threshold=threshold,
        eigenvalues_near_axis=eigenvalues[eigenvalues.real >= -cutoff],
        n_unstable=int(unstable.sum()),
        n_marginal=int(marginal.sum()),
        counts_exact=counts_exact,
        spectral_abscissa=float(eigenvalues.real.max()),
        modes=modes,
        chetaev=chetaev,
        chetaev_reason=chetaev_reason,
        n_top_entries=options.n_top_entries,
    )


def _dense_eigensystem(
    A: JacobianMatrix,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return all eigenvalues, unit right eigenvectors and condition numbers."""
    eigenvalues, left, right = scipy.linalg.eig(
        A.dense, left=True, right=True, check_finite=False
    )
    # LAPACK returns unit-norm eigenvectors, so |y^H x| is the reciprocal condition.
    overlap = np.abs(np.einsum("ij,ij->j", left.conj(), right))
    conditions = 1.0 / np.maximum(overlap, np.finfo(float).tiny)
    return eigenvalues, right, conditions


def _rightmost_eigensystem(
    A: JacobianMatrix, options: SearchOptions
) -> tuple[np.ndarray, np.ndarray]:
    """Return ARPACK's ``sparse_eig_k`` eigenvalues of largest real part."""
    k = min(options.sparse_eig_k, A.n - 2)
    try:
        eigenvalues, vectors = spla.eigs(A.sparse, k=k, which="LR")
    except spla.ArpackNoConvergence as error:
        logger.warning(
            "ARPACK converged on %d of %d rightmost eigenvalues of a %d x %d matrix",
            error.eigenvalues.size,
            k,
            A.n,
            A.n,
        )
        eigenvalues, vectors = error.eigenvalues, error.eigenvectors
    return eigenvalues, vectors


def _mode(
    eigenvalue: complex,
    vector: np.ndarray,
    condition: float | None,
    error_bound: float,
    classification: str,
) -> Mode:
    """Normalise an eigenvector (unit norm, largest entry real positive)."""
    vector = np.asarray(vector, dtype=complex)
    pivot = vector[np.argmax(np.abs(vector))]
    vector = vector * (abs(pivot) / pivot)
    vector = vector / np.linalg.norm(vector)
    return Mode(complex(eigenvalue), vector, condition, error_bound, classification)


def _chetaev_candidate(
    A: JacobianMatrix,
    eigenvalues: np.ndarray,
    unstable_vectors: np.ndarray,
    threshold: float,
    n_marginal: int,
    options: SearchOptions,
) -> tuple[ChetaevCandidate | None, str]:
    """Build P with A^T P + P A > 0, back off gamma and pick a witness."""
    if A.n > options.lyapunov_max_n:
        return None, f"n = {A.n} exceeds lyapunov_max_n = {options.lyapunov_max_n}"
    P, construction = _chetaev_matrix(A, eigenvalues, threshold, n_marginal)
    if P is None:
        return None, construction

    # gamma from lambda_min(A^T P + P A), less the rounding budget and back-off.
    M = -lyapunov_inequality_matrix(A, P)
    spectrum = symmetric_spectrum(M, dense_max_n=options.dense_max_n)
    p_abs_norm2 = float(np.abs(P).sum(axis=1).max())
    budget = float(
        ROUNDING_SAFETY
        * (
            rump_shift(M)
            + formation_error_bound(A.norm2_bound, p_abs_norm2, A.max_column_count)
            + spectrum.error
        )
    )
    gamma_float = spectrum.lambda_min / 2.0
    gamma = (gamma_float - budget) * (1.0 - BETA_RELATIVE_BACKOFF)
    if not gamma > 0:
        return None, (
            f"lambda_min(A^T P + P A) / 2 = {gamma_float!r} does not exceed the "
            f"rounding budget {budget!r}"
        )

    witness, value, source = _best_witness(P, unstable_vectors)
    witness_budget = ROUNDING_SAFETY * (A.n + 1) * UNIT_ROUNDOFF * p_abs_norm2
    if not value > witness_budget:
        return None, (
            f"no unstable mode gives x^T P x above the rounding budget "
            f"{witness_budget!r} (best {value!r})"
        )
    inertia = scipy.linalg.eigvalsh(P, check_finite=False)
    candidate = ChetaevCandidate(
        P=P,
        gamma=float(gamma),
        gamma_float=float(gamma_float),
        rounding_budget=float(budget),
        witness=witness,
        witness_value=float(value),
        witness_source=source,
        construction=construction,
        n_positive_P=int(np.sum(inertia > 0)),
        n_negative_P=int(np.sum(inertia < 0)),
    )
    return candidate, ""


def _chetaev_matrix(
    A: JacobianMatrix, eigenvalues: np.ndarray, threshold: float, n_marginal: int
) -> tuple[np.ndarray | None, str]:
    """Return (P, construction name), or (None, reason) if no P can be built."""
    separation = _lyapunov_separation(eigenvalues)
    if separation > threshold:
        solution = solve_lyapunov(A.dense, -np.eye(A.n))
        if not solution.singular:
            return solution.X, "lyapunov"
    if n_marginal == 0:
        return _ordered_schur_chetaev(A.dense), "ordered_schur"
    # NOTE: with eigenvalues on the imaginary axis and lambda_i + lambda_j near
    # 0, no Chetaev candidate is built, so a refutation rests on the spectrum.
    return None, (
        f"eigenvalues with lambda_i + lambda_j within {separation:.3g} of 0 make "
        "A^T P + P A = I singular, and the ordered Schur construction needs "
        f"no eigenvalue on the imaginary axis ({n_marginal} marginal)"
    )


def _ordered_schur_chetaev(A: np.ndarray) -> np.ndarray:
    """Return P with A^T P + P A > 0 from the Schur form ordered unstable first.

    With A = U T U^T and T = [[T11, T12], [0, T22]], T11 holding the
    eigenvalues with Re > 0 and T22 the others (all Re < 0), take
    P' = diag(X, -c Y) where T11^T X + X T11 = I and T22^T Y + Y T22 = -I.
    Then T^T P' + P' T = [[I, B], [B^T, c I]] with B = X T12, which is
    positive definite with smallest eigenvalue >= 1/2 for c = 2 ||B||^2 + 1.
    Only pairs inside T11 or inside T22 enter, so lambda_i + lambda_j = 0
    across the two groups (a saddle) does no harm.
    """
    T, U, n_unstable = scipy.linalg.schur(A, output="real", sort="rhp")
    T11 = T[:n_unstable, :n_unstable]
    T12 = T[:n_unstable, n_unstable:]
    T22 = T[n_unstable:, n_unstable:]
    flags: list[int] = []
    block = np.zeros_like(T)
    X = solve_schur_sylvester(T11, T11, np.eye(n_unstable), flags)
    block[:n_unstable, :n_unstable] = 0.5 * (X + X.T)
    if n_unstable < A.shape[0]:
        Y = solve_schur_sylvester(T22, T22, -np.eye(T22.shape[0]), flags)
        coupling = float(np.linalg.norm(X @ T12, 2))
        scale = 2.0 * coupling**2 + 1.0
        block[n_unstable:, n_unstable:] = -scale * 0.5 * (Y + Y.T)
    P = U @ block @ U.T
    return 0.5 * (P + P.T)


def _lyapunov_separation(eigenvalues: np.ndarray) -> float:
    """Return min over i, j of |lambda_i + lambda_j| (nearest-neighbour search)."""
    points = np.column_stack([eigenvalues.real, eigenvalues.imag])
    distances, _ = cKDTree(points).query(-points, k=1)
    return float(distances.min())


def _best_witness(P: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, float, str]:
    """Return the unit real or imaginary mode part with the largest x^T P x."""
    best, best_value, best_source = np.zeros(P.shape[0]), -np.inf, ""
    for column in range(vectors.shape[1]):
        for part, values in (
            ("real", vectors[:, column].real),
            ("imag", vectors[:, column].imag),
        ):
            norm = np.linalg.norm(values)
            if norm == 0:
                continue
            candidate = values / norm
            value = float(candidate @ P @ candidate)
            if value > best_value:
                best, best_value = candidate, value
                best_source = f"{part} part of unstable mode {column}"
    return best, best_value, best_source
