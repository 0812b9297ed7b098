"""Re-verify a certificate that ``biosynapse-verify certify`` wrote for a matrix file.

Such a certificate has no spec: its claim is about the matrix A itself,
which is stored beside the JSON as ``A.npz``. The steps, each of which can
reject the certificate:

1. array files: every ``.npz`` listed matches its recorded SHA-256;
2. matrix: ``A.npz`` contains a square float64 matrix whose canonical SHA-256
   equals ``hashes.A``;
3. rigorous check: the stored (P, beta), or the Chetaev data of a
   refutation, are proven for that A, as for a ``verify`` certificate.

Like the rest of this package, nothing here imports
:mod:`biosynapse_verify.certify`.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import scipy.sparse as sp

from biosynapse_verify.check import CheckResult
from biosynapse_verify.recheck.bundle import ARRAY_STEP, CertificateBundle, read_arrays
from biosynapse_verify.recheck.claims import (
    CHECK_STEP,
    check_instability_claim,
    check_stability_claim,
)
from biosynapse_verify.recheck.errors import (
    RecheckRejection,
    UnreadableCertificateError,
)
from biosynapse_verify.recheck.model import canonical_matrix_sha256
from biosynapse_verify.recheck.result import RecheckResult, RecheckStep

__all__ = [
    "MATRIX_FORMAT",
    "MATRIX_FORMAT_NAME",
    "MatrixRecheckResult",
    "read_matrix_record",
    "recheck_matrix_certificate",
]

logger = logging.getLogger(__name__)

MATRIX_FORMAT_NAME = "biosynapse-verify matrix certificate"
MATRIX_FORMAT_VERSION = 1
MATRIX_FORMAT: dict[str, Any] = {
    "name": MATRIX_FORMAT_NAME,
    "version": MATRIX_FORMAT_VERSION,
}
MATRIX_STEP = "matrix"
CLAIM_STEP = "claim"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# Array files are opened from the certificate's folder, so a name with a
# folder part or ".." is rejected.
_ARRAY_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\.npz")


@dataclass(frozen=True)
class MatrixRecheckResult(RecheckResult):
    """A :class:`RecheckResult` whose A was read from the certificate, not rebuilt."""

    def summary(self) -> str:
        """Return the one-line verdict printed by ``biosynapse-verify check``."""
        if not self.valid or self.verdict not in ("certified", "refuted"):
            return super().summary()
        tail = (
            f"({self.method}, n = {self.n}); A.npz matches hashes.A; "
            f"{self.seconds:.2g} s"
        )
        if self.verdict == "certified":
            return (
                f"VALID {self.network}: CERTIFIED stable, margin lambda_min(M) >= "
                f"{self.margin:.6g} with beta = {self.beta:.6g} {tail}"
            )
        return (
            f"VALID {self.network}: REFUTED (unstable), max Re lambda(A) >= "
            f"{self.growth_rate_lower:.6g}, margin lambda_min(Q) >= "
            f"{self.margin:.6g} {tail}"
        )


def read_matrix_record(path: Path) -> dict[str, Any] | None:
    """Return the record at ``path`` if it is a matrix certificate, else None.

    A file that is not JSON, or is in another format, returns None, so the
    caller's reader reports it.

    Raises
    ------
    UnreadableCertificateError
        If the file is a matrix certificate with a repeated key, NaN or
        Infinity, or a missing or invalid core key.
    """
    try:
        text = path.read_bytes().decode("utf-8")
        loose = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        return None
    format_entry = loose.get("format") if isinstance(loose, dict) else None
    if (
        not isinstance(format_entry, dict)
        or format_entry.get("name") != MATRIX_FORMAT_NAME
    ):
        return None
    record = json.loads(
        text,
        object_pairs_hook=lambda pairs: _unique_keys(pairs, path),
        parse_constant=lambda name: _reject_constant(name, path),
    )
    _validate(record, path)
    return record


def _unique_keys(pairs: list[tuple[str, Any]], path: Path) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise UnreadableCertificateError(
                f"{path}: key {key!r} occurs twice in one object; a certificate "
                "must not be edited by hand"
            )
        result[key] = value
    return result


def _reject_constant(name: str, path: Path) -> Any:
    raise UnreadableCertificateError(
        f"{path}: invalid number {name}; a certificate contains only finite numbers"
    )


def _validate(record: dict[str, Any], path: Path) -> None:
    """Check the keys that the re-check reads before it opens any array."""
    version = record["format"].get("version")
    if version != MATRIX_FORMAT_VERSION:
        raise UnreadableCertificateError(
            f"{path}: format.version is {version!r}; this biosynapse-verify reads "
            f"version {MATRIX_FORMAT_VERSION} of the matrix certificate"
        )
    verdict = record.get("verdict")
    if verdict not in ("certified", "refuted", "inconclusive"):
        raise UnreadableCertificateError(
            f"{path}: verdict is {verdict!r}; expected certified, refuted or inconclusive"
        )
    digest = (record.get("hashes") or {}).get("A")
    if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
        raise UnreadableCertificateError(
            f"{path}: hashes.A is {digest!r}; expected the 64-digit SHA-256 of A"
        )
    arrays = record.get("arrays")
    if not isinstance(arrays, dict):
        raise UnreadableCertificateError(
            f"{path}: arrays is missing; re-run biosynapse-verify certify with --out"
        )
    for name, entry in arrays.items():
        _validate_array_entry(name, entry, path)


def _validate_array_entry(name: str, entry: Any, path: Path) -> None:
    if not isinstance(entry, dict):
        raise UnreadableCertificateError(f"{path}: arrays.{name} must be an object")
    file_name = entry.get("file")
    if not isinstance(file_name, str) or not _ARRAY_FILE_NAME.fullmatch(file_name):
        raise UnreadableCertificateError(
            f"{path}: arrays.{name}.file is {file_name!r}; expected a plain .npz "
            "file name in the certificate's folder"
        )
    digest = entry.get("sha256")
    if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
        raise UnreadableCertificateError(
            f"{path}: arrays.{name}.sha256 is {digest!r}; expected a 64-digit SHA-256"
        )


def recheck_matrix_certificate(
    path: Path, record: dict[str, Any], method: str = "auto"
) -> MatrixRecheckResult:
    """Re-verify a matrix certificate: its arrays, A's hash and the rigorous check.

    Parameters
    ----------
    path : Path
        The ``certificate.json``, with its ``.npz`` files beside it.
    record : dict
        The record returned by :func:`read_matrix_record`.
    method : {"auto", "exact", "sylvester", "rump", "interval"}
        Method of the rigorous check.

    Returns
    -------
    MatrixRecheckResult
        ``valid`` only when every step passed.

    Raises
    ------
    UnreadableCertificateError
        If an array file is missing or data the re-check needs is absent.
    """
    start = time.perf_counter()
    steps: list[RecheckStep] = []
    check: CheckResult | None = None
    try:
        check = _recheck_steps(path, record, method, steps)
    except RecheckRejection as rejection:
        steps.append(RecheckStep(rejection.step, False, rejection.reason))
        logger.info(
            "certificate %s rejected at %s: %s", path, rejection.step, rejection.reason
        )
        reason = rejection.reason
    else:
        reason = check.reason
    certificate = (
        record.get("certificate") if isinstance(record.get("certificate"), dict) else {}
    )
    return MatrixRecheckResult(
        path=str(path),
        network=_matrix_name(record),
        verdict=str(record["verdict"]),
        valid=check is not None,
        reason=reason,
        margin=None if check is None else check.margin,
        beta=certificate.get("beta") if record["verdict"] == "certified" else None,
        growth_rate_lower=None if check is None else check.growth_rate_lower,
        method=None if check is None else check.method,
        n=None if check is None else check.n,
        steps=steps,
        seconds=time.perf_counter() - start,
    )


def _recheck_steps(
    path: Path, record: dict[str, Any], method: str, steps: list[RecheckStep]
) -> CheckResult:
    """Run steps 1-3 in order, appending each passed step; the first failure raises."""
    verdict = record["verdict"]
    if verdict not in ("certified", "refuted"):
        raise RecheckRejection(
            CLAIM_STEP,
            f"the verdict is {verdict!r}, so the certificate makes no claim to re-check",
        )
    arrays = read_arrays(path, record)
    steps.append(
        RecheckStep(ARRAY_STEP, True, f"{len(arrays)} array files match their SHA-256")
    )
    bundle = CertificateBundle(path=path, record=record, arrays=arrays)
    A = _stored_matrix(bundle)
    steps.append(
        RecheckStep(
            MATRIX_STEP,
            True,
            f"A.npz (n = {A.shape[0]}, nnz = {A.nnz}) matches hashes.A",
        )
    )
    checker = (
        check_stability_claim if verdict == "certified" else check_instability_claim
    )
    result = checker(bundle, A, method)
    steps.append(RecheckStep(CHECK_STEP, True, result.reason))
    return result


def _stored_matrix(bundle: CertificateBundle) -> sp.csr_matrix:
    """Return A from A.npz after matching its canonical SHA-256 with hashes.A."""
    stored = bundle.array("A", "as the matrix the certificate is about")
    A = sp.csr_matrix(stored)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.dtype != "float64":
        raise RecheckRejection(
            MATRIX_STEP,
            f"A.npz contains shape {A.shape} and dtype {A.dtype}; expected a square "
            "float64 matrix",
        )
    digest = canonical_matrix_sha256(A)
    recorded = bundle.record["hashes"]["A"]
    if digest != recorded:
        raise RecheckRejection(
            MATRIX_STEP,
            f"A.npz has canonical SHA-256 {digest[:16]}... but hashes.A records "
            f"{recorded[:16]}...; the matrix changed after the certificate was written",
        )
    return A


def _matrix_name(record: dict[str, Any]) -> str:
    """Return the name of the matrix file the certificate was made from."""
    matrix = record.get("matrix")
    name = matrix.get("file") if isinstance(matrix, dict) else None
    return Path(name).name if isinstance(name, str) and name else "matrix"
