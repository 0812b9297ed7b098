"""Read a certificate folder for re-checking: the JSON and its hash-verified arrays.

Only ``json`` and ``numpy.load(..., allow_pickle=False)`` touch the files, so
reading a certificate never imports, unpickles or evaluates anything from
it. Every array file is compared with the SHA-256 recorded in
``certificate.json`` before it is parsed.

Input that cannot be read, or that lacks data the re-check needs, raises
:class:`UnreadableCertificateError`. A file whose SHA-256 differs from the
record raises :class:`RecheckRejection`, because the file was changed after
the certificate was written.
"""

from __future__ import annotations

import hashlib
import io
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from biosynapse_verify.recheck.errors import (
    RecheckRejection,
    UnreadableCertificateError,
)
from biosynapse_verify.report.certificate import (
    CertificateFormatError,
    parse_certificate_text,
)

__all__ = [
    "CERTIFICATE_FILE",
    "CertificateBundle",
    "read_arrays",
    "read_bundle",
    "read_record",
    "require",
    "resolve_certificate_path",
]

logger = logging.getLogger(__name__)

CERTIFICATE_FILE = "certificate.json"
ARRAY_STEP = "array files"
# Sparse layouts that the pipeline writes; both load from data, indices, indptr.
_COMPRESSED_FORMATS = {"csr": sp.csr_matrix, "csc": sp.csc_matrix}


@dataclass(frozen=True)
class CertificateBundle:
    """A parsed certificate and its arrays, each checked against its SHA-256.

    Attributes
    ----------
    path : Path
        The ``certificate.json`` that was read.
    record : dict
        The certificate as plain JSON values.
    arrays : dict of str to ndarray or scipy.sparse matrix
        Every array listed under ``arrays``, by name.
    """

    path: Path
    record: dict[str, Any]
    arrays: dict[str, Any]

    @property
    def network(self) -> str:
        """The network's name as recorded."""
        return str(self.record["network"])

    def array(self, name: str, purpose: str) -> Any:
        """Return array ``name``, or raise UnreadableCertificateError naming ``purpose``."""
        if name not in self.arrays:
            raise UnreadableCertificateError(
                f"{self.path}: arrays.{name} is missing, but the re-check needs it "
                f"{purpose}; the certificate was written without it"
            )
        return self.arrays[name]


def require(record: dict[str, Any], dotted: str, origin: Path | str) -> Any:
    """Return ``record[a][b]...`` for ``dotted = "a.b..."``.

    Raises
    ------
    UnreadableCertificateError
        Naming the first missing key.
    """
    value: Any = record
    walked = []
    for key in dotted.split("."):
        walked.append(key)
        if not isinstance(value, dict) or key not in value or value[key] is None:
            raise UnreadableCertificateError(
                f"{origin}: {'.'.join(walked)} is missing; the re-check needs "
                f"{dotted}, which biosynapse-verify verify records"
            )
        value = value[key]
    return value


def resolve_certificate_path(path: str | Path) -> Path:
    """Return the ``certificate.json`` for ``path`` (the file or its folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / CERTIFICATE_FILE
    if not path.is_file():
        raise UnreadableCertificateError(
            f"{path}: file not found; give the path of a certificate.json or "
            "of the report folder that contains it"
        )
    return path


def read_bundle(path: str | Path) -> CertificateBundle:
    """Read ``certificate.json`` and every array it lists.

    Parameters
    ----------
    path : str or Path
        The certificate file, or the report folder containing
        ``certificate.json``.

    Raises
    ------
    UnreadableCertificateError
        If the JSON is invalid (for example truncated), an array file is
        missing, or an array cannot be parsed.
    RecheckRejection
        If an array file's SHA-256 differs from the recorded one, or its
        shape or dtype differs from the record.
    """
    path = resolve_certificate_path(path)
    record = read_record(path)
    return CertificateBundle(path=path, record=record, arrays=read_arrays(path, record))


def read_arrays(path: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Load every array listed in ``record``, from the folder of ``path``.

    Raises as :func:`read_bundle` does for array files.
    """
    arrays = {
        name: _read_array(path.parent, name, entry)
        for name, entry in record.get("arrays", {}).items()
    }
    logger.info("read %s with arrays %s", path, ", ".join(sorted(arrays)) or "none")
    return arrays


def read_record(path: Path) -> dict[str, Any]:
    """Parse the certificate JSON at ``path`` and check its core keys.

    Raises
    ------
    UnreadableCertificateError
        If the file is not UTF-8 JSON or a core key is missing or invalid.
    """
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UnreadableCertificateError(
            f"{path}: not UTF-8 text (invalid byte at offset {err.start})"
        ) from None
    try:
        return parse_certificate_text(text, origin=str(path))
    except CertificateFormatError as err:
        raise UnreadableCertificateError(str(err)) from None


def _read_array(folder: Path, name: str, entry: dict[str, Any]) -> Any:
    """Load one array file after checking its SHA-256, shape and dtype."""
    file_path = folder / entry["file"]
    try:
        data = file_path.read_bytes()
    except FileNotFoundError:
        raise UnreadableCertificateError(
            f"{file_path}: file not found; arrays.{name} lists it, so copy the "
            "whole report folder, not certificate.json alone"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry["sha256"]:
        raise RecheckRejection(
            ARRAY_STEP,
            f"{entry['file']} has SHA-256 {digest[:16]}... but arrays.{name}.sha256 "
            f"records {entry['sha256'][:16]}...; the file changed after the "
            "certificate was written",
        )
    array = _parse_npz(file_path, name, entry, data)
    for key, actual in (("shape", list(array.shape)), ("dtype", str(array.dtype))):
        if key in entry and entry[key] != actual:
            raise RecheckRejection(
                ARRAY_STEP,
                f"{entry['file']} holds {key} {actual} but arrays.{name}.{key} "
                f"records {entry[key]}",
            )
    return array


def _parse_npz(file_path: Path, name: str, entry: dict[str, Any], data: bytes) -> Any:
    """Parse .npz bytes without pickle: a dense array or a CSR/CSC matrix."""
    layout = str(entry.get("layout", "dense"))
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            if layout.startswith("sparse"):
                return _sparse_from_archive(archive, file_path)
            if name not in archive.files:
                raise UnreadableCertificateError(
                    f"{file_path}: no array named {name!r} inside "
                    f"(found {', '.join(archive.files) or 'nothing'})"
                )
            return archive[name]
    except UnreadableCertificateError:
        raise
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise UnreadableCertificateError(
            f"{file_path}: not a readable .npz file ({err})"
        ) from None


def _sparse_from_archive(archive: Any, file_path: Path) -> sp.spmatrix:
    """Build a CSR or CSC matrix from the arrays that scipy.sparse.save_npz writes."""
    sparse_format = str(archive["format"].item())
    if isinstance(archive["format"].item(), bytes):
        sparse_format = archive["format"].item().decode("ascii")
    if sparse_format not in _COMPRESSED_FORMATS:
        raise UnreadableCertificateError(
            f"{file_path}: sparse format {sparse_format!r} is not supported; "
            f"expected one of {', '.join(_COMPRESSED_FORMATS)}"
        )
    shape = tuple(int(k) for k in archive["shape"])
    matrix = _COMPRESSED_FORMATS[sparse_format](
        (archive["data"], archive["indices"], archive["indptr"]), shape=shape
    )
    return matrix.tocsr()
