"""Validation of the matrices and scalars handed to the checkers.

The checkers prove statements about the exact values they are given, so the
inputs are never repaired: a non-symmetric P, a NaN or a value that float64
cannot hold exactly is rejected with a message that names the argument.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = [
    "CertificateInputs",
    "validate_certificate_matrix",
    "validate_inputs",
    "validate_nonnegative_scalar",
    "validate_system_matrix",
    "validate_vector",
]

SystemMatrix = np.ndarray | sp.csr_array
"""A as validated: a dense float64 array or a CSR array with float64 data."""


@dataclass(frozen=True)
class CertificateInputs:
    """Validated data of a Lyapunov or Chetaev certificate.

    Attributes
    ----------
    A : ndarray or csr_array, shape (n, n)
        System matrix of dx/dt = A x, float64.
    P : ndarray, shape (n, n) or (n,)
        Symmetric certificate matrix, or its diagonal when ``P`` is diagonal.
    n : int
        State dimension.
    """

    A: SystemMatrix
    P: np.ndarray
    n: int

    @property
    def p_is_diagonal(self) -> bool:
        """Whether P is stored as the vector of its diagonal."""
        return self.P.ndim == 1

    def dense_P(self) -> np.ndarray:
        """Return P as a dense (n, n) array."""
        return np.diag(self.P) if self.p_is_diagonal else self.P


def _exact_float64(name: str, values: np.ndarray) -> np.ndarray:
    """Return ``values`` as float64, rejecting anything that would change value."""
    if values.dtype.kind == "c":
        raise ValueError(
            f"{name} is complex (dtype {values.dtype}); pass its real part if the "
            "imaginary part is zero."
        )
    if values.dtype == np.float64:
        converted = values
    else:
        try:
            converted = values.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"{name} has dtype {values.dtype}, which cannot be converted "
                f"to float64: {error}"
            ) from error
        if not np.all(converted.astype(values.dtype) == values):
            raise ValueError(
                f"{name} (dtype {values.dtype}) has entries that float64 cannot "
                "represent exactly; round them to float64 yourself so that the "
                "checked values are the ones you intend."
            )
    if not np.all(np.isfinite(converted)):
        bad = np.argwhere(~np.isfinite(converted))[0]
        raise ValueError(
            f"{name} contains a non-finite value ({converted[tuple(bad)]!r} at index "
            f"{tuple(int(i) for i in bad)}); a certificate must be finite."
        )
    return converted


def validate_system_matrix(A: object) -> SystemMatrix:
    """Validate the system matrix A.

    Parameters
    ----------
    A : array_like or scipy.sparse matrix, shape (n, n)
        Real, finite, exactly representable in float64.

    Returns
    -------
    ndarray or csr_array, shape (n, n), float64
    """
    if sp.issparse(A):
        matrix = sp.csr_array(A)
        if (
            matrix.ndim != 2
            or matrix.shape[0] != matrix.shape[1]
            or matrix.shape[0] == 0
        ):
            raise ValueError(
                f"A must be a non-empty square matrix; got shape {matrix.shape}."
            )
        matrix.sum_duplicates()
        data = _exact_float64("A", np.asarray(matrix.data))
        return sp.csr_array((data, matrix.indices, matrix.indptr), shape=matrix.shape)

    array = np.asarray(A)
    if array.ndim != 2 or array.shape[0] != array.shape[1] or array.shape[0] == 0:
        raise ValueError(
            f"A must be a non-empty square matrix; got shape {array.shape}."
        )
    return _exact_float64("A", array)


def _diagonal_of_sparse(P: sp.sparray | sp.spmatrix) -> np.ndarray | None:
    """Return the diagonal of a sparse P without off-diagonal entries, else None."""
    coo = sp.coo_array(P)
    off_diagonal = (coo.row != coo.col) & (coo.data != 0)
    return None if off_diagonal.any() else np.asarray(P.diagonal())


def validate_certificate_matrix(P: object, n: int, name: str = "P") -> np.ndarray:
    """Validate the certificate matrix P for a system of dimension ``n``.

    Parameters
    ----------
    P : array_like or scipy.sparse matrix, shape (n, n) or (n,)
        Symmetric matrix, or a vector holding the diagonal of a diagonal P.
        Symmetry is checked exactly (``P == P.T``) and never imposed.
    n : int
    name : str
        Argument name used in messages.

    Returns
    -------
    ndarray, shape (n, n) or (n,)
        Float64; a 1-D array when P was given as a vector or is a sparse
        diagonal matrix.
    """
    if sp.issparse(P):
        diagonal = _diagonal_of_sparse(P)
        # NOTE: a sparse non-diagonal P is densified; the checkers do not yet
        # exploit sparse or block structure beyond the diagonal case.
        P = diagonal if diagonal is not None else P.toarray()
    array = np.asarray(P)
    if array.ndim == 1:
        if array.shape != (n,):
            raise ValueError(
                f"{name} given as a diagonal must have length {n}; got {array.shape}."
            )
        return _exact_float64(name, array)
    if array.shape != (n, n):
        raise ValueError(
            f"{name} must have shape ({n}, {n}) to match A; got {array.shape}."
        )
    array = _exact_float64(name, array)
    asymmetric = array != array.T
    if asymmetric.any():
        i, j = (int(k) for k in np.argwhere(asymmetric)[0])
        raise ValueError(
            f"{name} is not symmetric: {name}[{i}, {j}] = {float(array[i, j])!r} but "
            f"{name}[{j}, {i}] = {float(array[j, i])!r}. A definiteness claim about a "
            "non-symmetric matrix is meaningless; symmetrise it before the search "
            "produces the certificate, not in the checker."
        )
    return array


def validate_nonnegative_scalar(name: str, value: object) -> float:
    """Validate a finite, non-negative real scalar exactly representable in float64."""
    array = np.asarray(value)
    if array.shape != ():
        raise ValueError(f"{name} must be a scalar; got shape {array.shape}.")
    converted = float(_exact_float64(name, array))
    if converted < 0:
        raise ValueError(f"{name} must be >= 0; got {converted!r}.")
    return converted


def validate_vector(name: str, value: object, n: int) -> np.ndarray:
    """Validate a finite, non-zero real vector of length ``n``."""
    array = np.asarray(value)
    if array.shape != (n,):
        raise ValueError(
            f"{name} must have shape ({n},) to match A; got {array.shape}."
        )
    array = _exact_float64(name, array)
    if not array.any():
        raise ValueError(f"{name} is the zero vector; it must be non-zero.")
    return array


def validate_inputs(A: object, P: object) -> CertificateInputs:
    """Validate A and P together and return them in the checkers' formats."""
    system = validate_system_matrix(A)
    n = system.shape[0]
    certificate = validate_certificate_matrix(P, n)
    if certificate.ndim == 2 and _is_diagonal(certificate):
        certificate = certificate.diagonal().copy()
    return CertificateInputs(A=system, P=certificate, n=n)


def _is_diagonal(matrix: np.ndarray) -> bool:
    """Whether a square dense matrix has no non-zero off-diagonal entry."""
    return np.count_nonzero(matrix) == np.count_nonzero(np.diagonal(matrix))
