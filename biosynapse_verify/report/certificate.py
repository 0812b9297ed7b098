"""Read and write the certificate file (canonical JSON) and check its core keys.

The certificate is a plain JSON object. Only the core keys are required, so
the pipeline can add sections without a format change:

``format``
    ``{"name": "biosynapse-verify certificate", "version": 1}``.
``network``
    The network's name (non-empty string).
``verdict``
    ``"certified"``, ``"refuted"`` or ``"inconclusive"``.
``hashes``
    ``{"spec": <sha256 hex>, ...}``; every value is a SHA-256 hex digest.
``versions``
    ``{"package": ..., "python": ..., ...}``; every value is a string or null.
    The package version may also be stored under ``"biosynapse-verify"``.

An optional ``arrays`` entry maps an array name to
``{"file": "<name>.npz", "sha256": <hex>, ...}``. File names must be plain
names in the certificate's folder, because readers open them from there.

The writer emits canonical JSON: keys sorted, two-space indent, numpy scalars
and arrays converted to Python numbers and lists, and floats written with
``repr`` so they read back bit for bit. NaN and infinities are rejected
because JSON cannot hold them; :func:`replace_non_finite` turns them into
null and lists where they were, for writers that record them instead.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from biosynapse_verify.report.atomic import atomic_write_text

__all__ = [
    "CERTIFICATE_FORMAT",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "VERDICTS",
    "CertificateFormatError",
    "certificate_to_json",
    "parse_certificate_text",
    "read_certificate_json",
    "replace_non_finite",
    "to_json_value",
    "validate_certificate",
    "write_certificate_json",
]

FORMAT_NAME = "biosynapse-verify certificate"
FORMAT_VERSION = 1
CERTIFICATE_FORMAT: dict[str, Any] = {"name": FORMAT_NAME, "version": FORMAT_VERSION}
VERDICTS = ("certified", "refuted", "inconclusive")
REQUIRED_KEYS = ("format", "network", "verdict", "hashes", "versions")
REQUIRED_HASHES = ("spec",)
REQUIRED_VERSIONS = ("python",)
PACKAGE_VERSION_KEYS = ("package", "biosynapse-verify")

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# Array files live next to the JSON. A name with a folder part or ".." could
# point a reader anywhere on disk.
_ARRAY_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\.npz")


class CertificateFormatError(ValueError):
    """Invalid certificate content or file, reported in a one-line message."""


def to_json_value(value: Any, where: str = "certificate") -> Any:
    """Convert ``value`` to plain JSON types, rejecting what JSON cannot hold.

    Parameters
    ----------
    value : Any
        Nested dicts, lists, tuples, str, bool, int, float, None, numpy
        scalars and numpy arrays. ``pathlib`` paths become POSIX strings.
    where : str
        Dotted path of ``value`` inside the certificate, used in messages.

    Returns
    -------
    Any
        The same structure built from dict, list, str, bool, int, float and
        None only.

    Raises
    ------
    CertificateFormatError
        For a NaN or infinite float, a complex number, a non-string dict key
        or a type that JSON cannot represent; the message names ``where``.
    """
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, (int, float, complex, np.number, np.bool_)):
        return _to_json_number(value, where)
    if isinstance(value, np.ndarray):
        # tolist() turns elements into Python scalars, and a 0-d array into one.
        return to_json_value(value.tolist(), where)
    if isinstance(value, Mapping):
        return _to_json_object(value, where)
    if isinstance(value, (list, tuple)):
        return [to_json_value(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, PurePath):
        return value.as_posix()
    raise CertificateFormatError(
        f"{where}: cannot store a {type(value).__name__} in JSON; "
        "convert it to a number, string, list or dict"
    )


def _to_json_number(value: Any, where: str) -> bool | int | float:
    """Convert a Python or numpy number, rejecting complex and non-finite ones."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (complex, np.complexfloating)):
        raise CertificateFormatError(
            f"{where}: complex value {value!r} has no JSON form; "
            "store it as a [real, imaginary] pair"
        )
    if isinstance(value, (int, np.integer)):
        return int(value)
    number = float(value)
    if not math.isfinite(number):
        raise CertificateFormatError(
            f"{where}: non-finite value {number!r} cannot be written to JSON; "
            "use null for a missing number or fix the computation"
        )
    return number


def replace_non_finite(value: Any, where: str = "certificate") -> tuple[Any, list[str]]:
    """Replace every NaN or infinite float in ``value`` by None.

    Parameters
    ----------
    value : Any
        Nested dicts, lists, tuples, numpy arrays and scalars, as for
        :func:`to_json_value`. It is not modified.
    where : str
        Dotted path of ``value``, the prefix of the reported locations.

    Returns
    -------
    tuple
        The converted copy (numpy arrays become lists), and one
        ``"<dotted path> = <value>"`` entry per replaced float, for example
        ``"certificate.ladder.attempts[4].details.residual = nan"``.
    """
    replaced: list[str] = []
    return _replace_non_finite(value, where, replaced), replaced


def _replace_non_finite(value: Any, where: str, replaced: list[str]) -> Any:
    if isinstance(value, (float, np.floating)):
        if math.isfinite(value):
            return value
        replaced.append(f"{where} = {float(value)!r}")
        return None
    if isinstance(value, np.ndarray):
        return _replace_non_finite(value.tolist(), where, replaced)
    if isinstance(value, Mapping):
        return {
            key: _replace_non_finite(item, f"{where}.{key}", replaced)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [
            _replace_non_finite(item, f"{where}[{i}]", replaced)
            for i, item in enumerate(value)
        ]
    return value


def _to_json_object(value: Mapping[Any, Any], where: str) -> dict[str, Any]:
    """Convert a mapping whose keys must already be strings."""
    result: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise CertificateFormatError(
                f"{where}: key {key!r} is a {type(key).__name__}; JSON keys must "
                "be strings, so convert it with str() before writing"
            )
        result[key] = to_json_value(item, f"{where}.{key}")
    return result


def certificate_to_json(certificate: Mapping[str, Any]) -> str:
    """Validate ``certificate`` and return its canonical JSON text.

    The text has sorted keys, a two-space indent, non-ASCII characters kept
    as UTF-8 and a final newline. Equal certificates give identical text.
    """
    plain = to_json_value(certificate)
    validate_certificate(plain)
    text = json.dumps(
        plain, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False
    )
    return text + "\n"


def write_certificate_json(path: str | Path, certificate: Mapping[str, Any]) -> Path:
    """Write ``certificate`` to ``path`` as canonical JSON, atomically.

    Raises
    ------
    CertificateFormatError
        If a core key is missing or invalid, or a value cannot be stored
        exactly in JSON (see :func:`to_json_value`). Nothing is written then.
    """
    return atomic_write_text(path, certificate_to_json(certificate))


def read_certificate_json(path: str | Path) -> dict[str, Any]:
    """Read a certificate file and check its core keys.

    Only the JSON parser touches the file's content: nothing in it is
    imported, unpickled or evaluated.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CertificateFormatError
        If the file is not UTF-8 JSON (for example truncated), repeats a key,
        contains NaN or Infinity, or misses or has an invalid core key. The
        message is one line and names the file and the key.
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CertificateFormatError(
            f"{path}: not a UTF-8 text file (invalid byte at offset {err.start}); "
            "a certificate is JSON written by write_certificate_json"
        ) from None
    return parse_certificate_text(text, origin=str(path))


def parse_certificate_text(text: str, origin: str = "<certificate>") -> dict[str, Any]:
    """Parse certificate JSON ``text`` and check its core keys.

    See :func:`read_certificate_json`; ``origin`` names the source in errors.
    """
    try:
        data = json.loads(
            text,
            object_pairs_hook=_reject_duplicate_keys,
            parse_constant=_reject_constant,
        )
    except json.JSONDecodeError as err:
        hint = "; the file may be truncated" if err.pos >= len(text.rstrip()) else ""
        raise CertificateFormatError(
            f"{origin}: invalid JSON at line {err.lineno}, column {err.colno}: "
            f"{err.msg}{hint}"
        ) from None
    except CertificateFormatError as err:
        raise CertificateFormatError(f"{origin}: {err}") from None
    try:
        validate_certificate(data)
    except CertificateFormatError as err:
        raise CertificateFormatError(f"{origin}: {err}") from None
    return data


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build a JSON object, rejecting a key that occurs twice."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise CertificateFormatError(
                f"key {key!r} occurs twice in one object; a certificate file must "
                "not be edited by hand"
            )
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    """Reject the NaN and Infinity literals that Python's json accepts."""
    raise CertificateFormatError(
        f"invalid number {name}: JSON and the certificate format allow only "
        "finite numbers"
    )


def validate_certificate(certificate: Any) -> None:
    """Check the core keys of a plain-JSON certificate.

    Raises
    ------
    CertificateFormatError
        Naming the first missing or invalid key, the value found and what is
        allowed.
    """
    if not isinstance(certificate, dict):
        raise CertificateFormatError(
            f"certificate must be a JSON object, got {type(certificate).__name__}"
        )
    for key in REQUIRED_KEYS:
        if key not in certificate:
            raise CertificateFormatError(
                f"missing required key {key!r}; the core keys are "
                f"{', '.join(REQUIRED_KEYS)}"
            )
    _validate_format(certificate["format"])
    _validate_network(certificate["network"])
    _validate_verdict(certificate["verdict"])
    _validate_hashes(certificate["hashes"])
    _validate_versions(certificate["versions"])
    if "arrays" in certificate:
        _validate_arrays(certificate["arrays"])
    _validate_check_agrees(certificate)


def _validate_format(value: Any) -> None:
    expected = f"{{'name': {FORMAT_NAME!r}, 'version': {FORMAT_VERSION}}}"
    if not isinstance(value, dict) or value.get("name") != FORMAT_NAME:
        raise CertificateFormatError(
            f"format: expected {expected}, got {_short(value)}; "
            "this is not a biosynapse-verify certificate"
        )
    version = value.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CertificateFormatError(
            f"format.version: expected a positive integer, got {_short(version)}"
        )
    if version > FORMAT_VERSION:
        raise CertificateFormatError(
            f"format.version: version {version} is newer than the supported "
            f"version {FORMAT_VERSION}; upgrade biosynapse-verify to read it"
        )


def _validate_network(value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise CertificateFormatError(
            f"network: expected the network's name as a non-empty string, "
            f"got {_short(value)}"
        )


def _validate_verdict(value: Any) -> None:
    if value not in VERDICTS:
        raise CertificateFormatError(
            f"verdict: expected one of {', '.join(VERDICTS)}, got {_short(value)}"
        )


def _validate_hashes(value: Any) -> None:
    if not isinstance(value, dict):
        raise CertificateFormatError(
            f"hashes: expected an object of SHA-256 hex digests, got {_short(value)}"
        )
    for key in REQUIRED_HASHES:
        if key not in value:
            raise CertificateFormatError(f"hashes: missing required key {key!r}")
    for key, digest in value.items():
        if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
            raise CertificateFormatError(
                f"hashes.{key}: expected 64 lowercase hex digits (SHA-256), "
                f"got {_short(digest)}"
            )


def _validate_versions(value: Any) -> None:
    if not isinstance(value, dict):
        raise CertificateFormatError(
            f"versions: expected an object of version strings, got {_short(value)}"
        )
    for key in REQUIRED_VERSIONS:
        if key not in value:
            raise CertificateFormatError(f"versions: missing required key {key!r}")
    if not any(key in value for key in PACKAGE_VERSION_KEYS):
        raise CertificateFormatError(
            "versions: missing the biosynapse-verify version; store it under "
            "'package' or 'biosynapse-verify'"
        )
    for key, version in value.items():
        if version is not None and not isinstance(version, str):
            raise CertificateFormatError(
                f"versions.{key}: expected a string or null (not installed), "
                f"got {_short(version)}"
            )


def _validate_arrays(value: Any) -> None:
    if not isinstance(value, dict):
        raise CertificateFormatError(
            f"arrays: expected an object mapping array names to files, "
            f"got {_short(value)}"
        )
    for name, entry in value.items():
        if not isinstance(entry, dict):
            raise CertificateFormatError(
                f"arrays.{name}: expected an object with 'file' and 'sha256', "
                f"got {_short(entry)}"
            )
        file_name = entry.get("file")
        if not isinstance(file_name, str) or not _ARRAY_FILE_NAME.fullmatch(file_name):
            raise CertificateFormatError(
                f"arrays.{name}.file: expected a plain '.npz' file name in the "
                f"certificate's folder, got {_short(file_name)}"
            )
        digest = entry.get("sha256")
        if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
            raise CertificateFormatError(
                f"arrays.{name}.sha256: expected 64 lowercase hex digits, "
                f"got {_short(digest)}"
            )


def _validate_check_agrees(certificate: dict[str, Any]) -> None:
    """Reject a "certified" verdict whose recorded rigorous check failed."""
    check = certificate.get("check")
    if certificate["verdict"] != "certified" or not isinstance(check, dict):
        return
    if check.get("valid") is False:
        raise CertificateFormatError(
            "verdict: 'certified' contradicts check.valid = false; a certificate "
            "is accepted only when the rigorous check passes"
        )


def _short(value: Any, limit: int = 60) -> str:
    """Return ``repr(value)`` cut to ``limit`` characters for one-line messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
