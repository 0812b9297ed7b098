"""Write a complete report folder and read its arrays back with their hashes checked.

A report folder contains ``certificate.json``, ``certificate.html``, optionally
``certificate.pdf``, and one ``<name>.npz`` per stored array (for example
the Jacobian ``A`` and the Lyapunov matrix ``P``). The JSON's ``arrays``
entry records each file's name, SHA-256, shape, dtype and layout, so a
reader can tell whether a matrix was changed after the certificate was made.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from biosynapse_verify.report.atomic import atomic_write_bytes, atomic_write_text
from biosynapse_verify.report.certificate import (
    CertificateFormatError,
    certificate_to_json,
    read_certificate_json,
)
from biosynapse_verify.report.html import render_html, render_pdf

__all__ = [
    "CERTIFICATE_HTML",
    "CERTIFICATE_JSON",
    "CERTIFICATE_PDF",
    "read_certificate_arrays",
    "write_report",
]

logger = logging.getLogger(__name__)

CERTIFICATE_JSON = "certificate.json"
CERTIFICATE_HTML = "certificate.html"
CERTIFICATE_PDF = "certificate.pdf"
# The array name becomes the file name "<name>.npz" and the key inside it.
_ARRAY_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
_DENSE = "dense"
_SPARSE_PREFIX = "sparse "


def write_report(
    out_dir: str | Path,
    certificate: Mapping[str, Any],
    figures: Mapping[str, bytes],
    arrays: Mapping[str, Any],
    *,
    pdf: bool = False,
) -> dict[str, Path]:
    """Write certificate JSON, HTML (and PDF) and arrays into ``out_dir``.

    Everything is built in memory first, so an invalid certificate, figure
    or array raises before any file is written. Each file is then written
    atomically. ``out_dir`` and its parents are created if needed.

    Parameters
    ----------
    out_dir : str or Path
        The report folder. Files of the same names in it are replaced.
    certificate : Mapping
        The certificate (see :mod:`biosynapse_verify.report.certificate`).
        It is not modified. The written copy gets an ``arrays`` entry with
        one ``{"file", "sha256", "shape", "dtype", "layout"}`` object per
        array, merged over any entry the certificate already has.
    figures : Mapping[str, bytes]
        PNG images for the HTML page (see :func:`render_html`).
    arrays : Mapping[str, ndarray or scipy.sparse matrix]
        Arrays to store, by name (letters, digits, ``_`` and ``-``). Dense
        arrays are written with ``numpy.savez_compressed`` under the key
        ``name``; sparse ones with ``scipy.sparse.save_npz``. Object arrays
        are rejected because loading them would need pickle.
    pdf : bool
        Also write ``certificate.pdf`` with WeasyPrint.

    Returns
    -------
    dict[str, Path]
        The written paths by file name, for example ``"certificate.json"``
        and ``"A.npz"``.

    Raises
    ------
    CertificateFormatError
        If the certificate's core keys are invalid, or its ``arrays`` entry
        names an array that is not in ``arrays``.
    ValueError
        For an invalid array name, an object array or a figure that is not PNG.
    """
    out = Path(out_dir)
    array_files, array_entries = _encode_arrays(arrays)
    final = dict(certificate)
    final["arrays"] = _merge_array_entries(certificate.get("arrays"), array_entries)

    json_text = certificate_to_json(final)
    html_text = render_html(final, figures)
    pdf_bytes = render_pdf(html_text) if pdf else None

    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for file_name, data in array_files.items():
        paths[file_name] = atomic_write_bytes(out / file_name, data)
    paths[CERTIFICATE_JSON] = atomic_write_text(out / CERTIFICATE_JSON, json_text)
    paths[CERTIFICATE_HTML] = atomic_write_text(out / CERTIFICATE_HTML, html_text)
    if pdf_bytes is not None:
        paths[CERTIFICATE_PDF] = atomic_write_bytes(out / CERTIFICATE_PDF, pdf_bytes)
    logger.info(
        "wrote report for %s to %s (%d files)", final.get("network"), out, len(paths)
    )
    return paths


def _encode_arrays(
    arrays: Mapping[str, Any],
) -> tuple[dict[str, bytes], dict[str, dict[str, Any]]]:
    """Serialise each array to .npz bytes and describe it for the certificate."""
    files: dict[str, bytes] = {}
    entries: dict[str, dict[str, Any]] = {}
    for name, array in arrays.items():
        if not isinstance(name, str) or not _ARRAY_NAME.fullmatch(name):
            raise ValueError(
                f"arrays: invalid name {name!r}; use letters, digits, '_' and '-' "
                "only, because the name becomes the file name"
            )
        data, entry = _encode_array(name, array)
        file_name = f"{name}.npz"
        files[file_name] = data
        entries[name] = {
            "file": file_name,
            "sha256": hashlib.sha256(data).hexdigest(),
            **entry,
        }
    return files, entries


def _encode_array(name: str, array: Any) -> tuple[bytes, dict[str, Any]]:
    """Return the .npz bytes of one array and its shape, dtype and layout."""
    buffer = io.BytesIO()
    if scipy.sparse.issparse(array):
        _reject_object_dtype(name, array.dtype)
        scipy.sparse.save_npz(buffer, array, compressed=True)
        layout = _SPARSE_PREFIX + array.format
    else:
        array = np.asarray(array)
        _reject_object_dtype(name, array.dtype)
        np.savez_compressed(buffer, **{name: array})
        layout = _DENSE
    entry = {"shape": list(array.shape), "dtype": str(array.dtype), "layout": layout}
    return buffer.getvalue(), entry


def _reject_object_dtype(name: str, dtype: np.dtype) -> None:
    """Reject dtypes that .npz can store only through pickle."""
    if dtype.hasobject:
        raise ValueError(
            f"arrays[{name!r}]: invalid dtype {dtype} (Python objects), which .npz can "
            "store only with pickle; convert it to a numeric dtype"
        )


def _merge_array_entries(
    existing: Any, written: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Merge the new array entries over the certificate's own ``arrays`` entry."""
    if existing is None:
        return written
    if not isinstance(existing, Mapping):
        raise CertificateFormatError(
            f"arrays: expected an object mapping array names to files, got "
            f"{type(existing).__name__}"
        )
    missing = sorted(set(existing) - set(written))
    if missing:
        raise CertificateFormatError(
            f"arrays: the certificate lists {', '.join(missing)} but no such array "
            "was given to write_report; pass the array or remove the entry"
        )
    return {
        name: {**dict(existing.get(name) or {}), **entry}
        for name, entry in written.items()
    }


def read_certificate_arrays(certificate_path: str | Path) -> dict[str, Any]:
    """Load the arrays listed in a certificate, checking each file's SHA-256.

    Files are read with ``allow_pickle=False``, so loading runs no code from
    them.

    Parameters
    ----------
    certificate_path : str or Path
        The ``certificate.json``. Array files are looked up in its folder.

    Returns
    -------
    dict[str, ndarray or scipy.sparse matrix]
        The arrays by name; sparse ones in the format they were saved in.

    Raises
    ------
    CertificateFormatError
        If the certificate is invalid, a file's SHA-256 differs from the
        recorded one, or the loaded shape or dtype differs from the record.
    FileNotFoundError
        If an array file is missing.
    """
    certificate_path = Path(certificate_path)
    certificate = read_certificate_json(certificate_path)
    arrays: dict[str, Any] = {}
    for name, entry in certificate.get("arrays", {}).items():
        path = certificate_path.parent / entry["file"]
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != entry["sha256"]:
            raise CertificateFormatError(
                f"{path}: SHA-256 is {digest} but the certificate records "
                f"{entry['sha256']}; the file changed after the certificate was written"
            )
        arrays[name] = _decode_array(path, name, entry, data)
    return arrays


def _decode_array(path: Path, name: str, entry: dict[str, Any], data: bytes) -> Any:
    """Load one verified .npz file and compare it with its certificate entry."""
    layout = entry.get("layout", _DENSE)
    if isinstance(layout, str) and layout.startswith(_SPARSE_PREFIX):
        array = scipy.sparse.load_npz(io.BytesIO(data))
    else:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            if name not in archive.files:
                raise CertificateFormatError(
                    f"{path}: no array named {name!r} inside (found {archive.files})"
                )
            array = archive[name]
    for key, actual in (("shape", list(array.shape)), ("dtype", str(array.dtype))):
        if key in entry and entry[key] != actual:
            raise CertificateFormatError(
                f"{path}: {key} is {actual} but the certificate records {entry[key]}"
            )
    return array
