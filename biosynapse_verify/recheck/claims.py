"""Re-run the rigorous check of a certificate's claim on the recomputed Jacobian.

A "certified" certificate claims that the stored (P, beta) is a Lyapunov
certificate; :func:`check_stability_claim` passes them to
:func:`biosynapse_verify.check.check_lyapunov`, with the shear N
(``P_transform.npz``) of a factored P = (I + N)^T W (I + N) and the claimed
decay rate gamma (``certificate.decay_rate``) when the certificate has them. A "refuted" certificate claims
instability; :func:`check_instability_claim` passes the stored Chetaev
matrix, gamma and witness to :func:`biosynapse_verify.check.check_instability`.
P is read from ``P.npz`` and must equal the copy in the JSON, bit for bit,
when the JSON holds one.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import numpy as np
import scipy.sparse as sp

from biosynapse_verify.check import CheckResult, check_instability, check_lyapunov
from biosynapse_verify.recheck.bundle import CertificateBundle, require
from biosynapse_verify.recheck.errors import (
    RecheckRejection,
    UnreadableCertificateError,
)

__all__ = [
    "CHETAEV_ARRAY",
    "check_instability_claim",
    "check_stability_claim",
]

logger = logging.getLogger(__name__)

CHECK_STEP = "rigorous check"
CERTIFICATE_STEP = "stored P"
CHETAEV_ARRAY = "P_chetaev"
"""Array name under which a refutation must store its Chetaev matrix."""
TRANSFORM_ARRAY = "P_transform"
"""Array name of the shear N of a factored P = (I + N)^T W (I + N)."""


def _require_float64(dtype: np.dtype, name: str) -> None:
    if dtype != np.float64:
        raise RecheckRejection(
            CERTIFICATE_STEP, f"{name} has dtype {dtype}; a certificate stores float64"
        )


def _values_sha256(P: np.ndarray | sp.spmatrix, transform: Any = None) -> str:
    """Return the SHA-256 that the certificate records for P (``P_sha256``).

    A dense or diagonal P is hashed as its float64 bytes in C order. A sparse
    P, followed by the shear N of a factored P, is hashed as the int64
    ``indptr`` and ``indices`` and the float64 ``data`` of each CSR form with
    sorted indices.
    """
    if not sp.issparse(P):
        return hashlib.sha256(
            np.ascontiguousarray(P, dtype="<f8").tobytes()
        ).hexdigest()
    digest = hashlib.sha256()
    for matrix in (P, transform):
        if matrix is None:
            continue
        csr = sp.csr_array(matrix, copy=True)
        csr.sort_indices()
        digest.update(csr.indptr.astype("<i8").tobytes())
        digest.update(csr.indices.astype("<i8").tobytes())
        digest.update(csr.data.astype("<f8").tobytes())
    return digest.hexdigest()


def _stored_transform(bundle: CertificateBundle, n: int) -> sp.csr_array | None:
    """Return the shear N of a factored P, or None when P is not factored."""
    factored = bundle.record["certificate"].get("P_storage") == "factored"
    if not factored and TRANSFORM_ARRAY not in bundle.arrays:
        return None
    stored = bundle.array(
        TRANSFORM_ARRAY, "as the shear N of the factored P = (I + N)^T W (I + N)"
    )
    transform = sp.csr_array(stored if sp.issparse(stored) else np.asarray(stored))
    _require_float64(transform.dtype, TRANSFORM_ARRAY)
    if transform.shape != (n, n):
        raise RecheckRejection(
            CERTIFICATE_STEP,
            f"{TRANSFORM_ARRAY} has shape {transform.shape}; expected ({n}, {n})",
        )
    return transform


def _optional_rate(bundle: CertificateBundle) -> float:
    """Return the claimed decay rate gamma (``certificate.decay_rate``), 0 if none."""
    rate = bundle.record["certificate"].get("decay_rate")
    if rate is None:
        return 0.0
    if isinstance(rate, bool) or not isinstance(rate, (int, float)):
        raise UnreadableCertificateError(
            f"{bundle.path}: certificate.decay_rate must be a number or null, "
            f"got {rate!r}"
        )
    return float(rate)


def _stored_P(
    bundle: CertificateBundle, n: int, transform: sp.csr_array | None
) -> np.ndarray | sp.csr_array:
    """Return P from P.npz after matching it with the certificate's record of P.

    For a factored certificate P.npz holds the middle factor W.
    """
    section = bundle.record["certificate"]
    P = bundle.array("P", "as the Lyapunov matrix")
    P = sp.csr_array(P) if sp.issparse(P) else np.asarray(P)
    _require_float64(P.dtype, "P")
    if P.shape not in ((n,), (n, n)):
        raise RecheckRejection(
            CERTIFICATE_STEP,
            f"P has shape {P.shape} but A has {n} free coordinates; expected ({n},) "
            f"for a diagonal P or ({n}, {n})",
        )
    recorded_digest = section.get("P_sha256")
    if recorded_digest is not None:
        digest = _values_sha256(P, transform)
        if digest != recorded_digest:
            raise RecheckRejection(
                CERTIFICATE_STEP,
                f"P.npz has SHA-256 of values {digest[:16]}... but certificate.P_sha256 "
                f"is {recorded_digest[:16]}...; P changed after the certificate was written",
            )
    listed = section.get("P")
    if listed is not None and not sp.issparse(P):
        try:
            listed = np.asarray(listed, dtype=np.float64)
        except (TypeError, ValueError):
            raise RecheckRejection(
                CERTIFICATE_STEP, "certificate.P is not a list of numbers"
            )
        if listed.shape != P.shape or not np.array_equal(listed, P):
            raise RecheckRejection(
                CERTIFICATE_STEP,
                "certificate.P in the JSON differs from P.npz; one of them was changed",
            )
    return P


def _number(bundle: CertificateBundle, dotted: str) -> float:
    value = require(bundle.record, dotted, bundle.path)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UnreadableCertificateError(
            f"{bundle.path}: {dotted} must be a number, got {value!r}"
        )
    return float(value)


def _run(check: Any, *args: Any, **kwargs: Any) -> CheckResult:
    """Run a checker, turning invalid inputs into a rejection."""
    try:
        result = check(*args, **kwargs)
    except (ValueError, NotImplementedError) as err:
        raise RecheckRejection(CHECK_STEP, str(err)) from None
    if not result.valid:
        raise RecheckRejection(CHECK_STEP, result.reason)
    return result


def check_stability_claim(
    bundle: CertificateBundle, A: sp.csr_matrix, method: str = "auto"
) -> CheckResult:
    """Prove that the stored (P, beta) certifies dx/dt = A x.

    Raises
    ------
    RecheckRejection
        If P does not match its record or the rigorous check does not prove
        the claim.
    UnreadableCertificateError
        If beta or P is missing.
    """
    beta = _number(bundle, "certificate.beta")
    transform = _stored_transform(bundle, A.shape[0])
    P = _stored_P(bundle, A.shape[0], transform)
    rate = _optional_rate(bundle)
    logger.info("re-checking the stability claim with beta = %.6g", beta)
    return _run(
        check_lyapunov, A, P, beta, method=method, transform=transform, rate=rate
    )


def check_instability_claim(
    bundle: CertificateBundle, A: sp.csr_matrix, method: str = "auto"
) -> CheckResult:
    """Prove that the stored Chetaev data show dx/dt = A x is unstable.

    The certificate must store the Chetaev matrix as ``arrays.P_chetaev`` and
    ``refutation.chetaev.gamma`` and ``refutation.chetaev.witness``.

    Raises
    ------
    RecheckRejection
        If the rigorous check does not prove instability.
    UnreadableCertificateError
        If the Chetaev matrix, gamma or the witness is missing.
    """
    gamma = _number(bundle, "refutation.chetaev.gamma")
    witness = require(bundle.record, "refutation.chetaev.witness", bundle.path)
    P = bundle.array(
        CHETAEV_ARRAY,
        "to re-check the refutation (the Chetaev matrix P with "
        "A^T P + P A - 2 gamma I > 0); store it when writing refuted certificates",
    )
    P = sp.csr_array(P) if sp.issparse(P) else np.asarray(P)
    _require_float64(P.dtype, CHETAEV_ARRAY)
    try:
        witness = np.asarray(witness, dtype=np.float64)
    except (TypeError, ValueError):
        raise RecheckRejection(CHECK_STEP, "refutation.chetaev.witness is not numeric")
    logger.info("re-checking the instability claim with gamma = %.6g", gamma)
    return _run(check_instability, A, P, gamma, witness, method=method)
