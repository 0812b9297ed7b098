"""Tests of the certificate JSON file: canonical form, exact floats, strict reading."""

from __future__ import annotations

import hashlib
import json
import math
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biosynapse_verify.report import (
    CERTIFICATE_FORMAT,
    CertificateFormatError,
    certificate_to_json,
    read_certificate_json,
    replace_non_finite,
    to_json_value,
    write_certificate_json,
)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def minimal_certificate(**extra) -> dict:
    """Return a certificate with only the core keys, plus ``extra``."""
    certificate = {
        "format": dict(CERTIFICATE_FORMAT),
        "network": "song2000",
        "verdict": "certified",
        "hashes": {"spec": _sha("spec"), "A": _sha("A")},
        "versions": {"package": "0.1.0", "python": "3.11.2", "cvxpy": None},
    }
    certificate.update(extra)
    return certificate


def _bits(value: float) -> bytes:
    return struct.pack("<d", value)


def test_round_trip(tmp_path):
    certificate = minimal_certificate(
        certificate={"beta": 0.004108, "lambda_max_P": 10.25, "method": "diagonal"},
        ladder=[{"strategy": "identity", "applied": True, "result": "failed"}],
    )
    path = write_certificate_json(tmp_path / "certificate.json", certificate)
    assert read_certificate_json(path) == certificate


def test_keys_sorted_and_text_canonical():
    first = minimal_certificate(b=1, a=2)
    second = dict(reversed(list(first.items())))
    text = certificate_to_json(first)
    assert text == certificate_to_json(second)
    assert text.endswith("}\n")
    keys = list(json.loads(text))
    assert keys == sorted(keys)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_round_trip_bit_exact(value):
    text = certificate_to_json(minimal_certificate(value=value))
    read = json.loads(text)["value"]
    assert isinstance(read, float)
    assert _bits(read) == _bits(value)


def test_extreme_floats_round_trip(tmp_path):
    values = [
        5e-324,
        2.2250738585072014e-308,
        1.7976931348623157e308,
        -0.0,
        0.1,
        1 / 3,
        2.0**-1074,
        123456789012345678.0,
    ]
    path = write_certificate_json(
        tmp_path / "c.json", minimal_certificate(values=values)
    )
    read = read_certificate_json(path)["values"]
    assert [_bits(v) for v in read] == [_bits(v) for v in values]


def test_numpy_types_converted():
    value = to_json_value(
        {
            "f64": np.float64(0.1),
            "f32": np.float32(0.1),
            "i64": np.int64(7),
            "u8": np.uint8(255),
            "flag": np.bool_(True),
            "vector": np.array([1.5, -2.0]),
            "matrix": np.arange(4).reshape(2, 2),
            "scalar_array": np.array(3.25),
            "path": Path("networks/song2000.yaml"),
            "pair": (1, 2),
        }
    )
    assert value == {
        "f64": 0.1,
        "f32": float(np.float32(0.1)),
        "i64": 7,
        "u8": 255,
        "flag": True,
        "vector": [1.5, -2.0],
        "matrix": [[0, 1], [2, 3]],
        "scalar_array": 3.25,
        "path": "networks/song2000.yaml",
        "pair": [1, 2],
    }
    assert type(value["f64"]) is float
    assert type(value["i64"]) is int
    assert type(value["flag"]) is bool


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        ({"certificate": {"beta": float("nan")}}, "certificate.certificate.beta"),
        (
            {"decay": {"measured": [1.0, float("inf")]}},
            r"certificate.decay.measured\[1\]",
        ),
        ({"rates": np.array([1.0, -np.inf])}, r"certificate.rates\[1\]"),
        ({"x": np.float32("nan")}, "certificate.x"),
    ],
)
def test_non_finite_rejected(tmp_path, bad, where):
    path = tmp_path / "c.json"
    with pytest.raises(CertificateFormatError, match=where) as caught:
        write_certificate_json(path, minimal_certificate(**bad))
    assert "non-finite" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not path.exists()


def test_non_finite_replaced_and_listed():
    certificate = minimal_certificate(
        ladder={"details": {"residual": float("nan"), "n": 3}},
        rates=np.array([1.0, -np.inf]),
        pairs=[(np.float32("inf"), 2.0)],
    )
    finite, replaced = replace_non_finite(certificate)
    assert finite["ladder"]["details"] == {"residual": None, "n": 3}
    assert finite["rates"] == [1.0, None]
    assert finite["pairs"] == [[None, 2.0]]
    assert replaced == [
        "certificate.ladder.details.residual = nan",
        "certificate.rates[1] = -inf",
        "certificate.pairs[0][0] = inf",
    ]
    assert math.isnan(certificate["ladder"]["details"]["residual"])
    json.loads(certificate_to_json(finite))


def test_finite_certificate_unchanged_by_replacement():
    certificate = minimal_certificate(beta=0.25, flags=[True, None, "text", 7])
    finite, replaced = replace_non_finite(certificate)
    assert replaced == []
    assert finite == certificate


def test_complex_rejected_with_fix():
    with pytest.raises(CertificateFormatError, match=r"\[real, imaginary\] pair"):
        certificate_to_json(minimal_certificate(eigenvalue=1 + 2j))
    with pytest.raises(CertificateFormatError, match=r"eigenvalues\[0\]"):
        certificate_to_json(minimal_certificate(eigenvalues=np.array([1j])))


def test_non_string_key_rejected():
    with pytest.raises(CertificateFormatError, match="key 3 is a int"):
        certificate_to_json(minimal_certificate(modes={3: "x"}))


def test_unknown_type_rejected():
    with pytest.raises(CertificateFormatError, match="cannot store a set"):
        certificate_to_json(minimal_certificate(seeds={1, 2}))


@pytest.mark.parametrize("key", ["format", "network", "verdict", "hashes", "versions"])
def test_missing_core_key_named(tmp_path, key):
    certificate = minimal_certificate()
    del certificate[key]
    path = tmp_path / "c.json"
    path.write_text(json.dumps(certificate))
    with pytest.raises(CertificateFormatError, match=f"missing required key '{key}'"):
        read_certificate_json(path)
    with pytest.raises(CertificateFormatError, match=key):
        write_certificate_json(tmp_path / "w.json", certificate)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"verdict": "stable"},
            "verdict: expected one of certified, refuted, inconclusive",
        ),
        ({"network": ""}, "network: expected the network's name"),
        (
            {"format": {"name": "other", "version": 1}},
            "not a biosynapse-verify certificate",
        ),
        (
            {"format": {"name": "biosynapse-verify certificate", "version": 2}},
            "upgrade biosynapse-verify",
        ),
        (
            {"format": {"name": "biosynapse-verify certificate", "version": "1"}},
            "format.version: expected a positive integer",
        ),
        ({"hashes": {"A": _sha("A")}}, "hashes: missing required key 'spec'"),
        ({"hashes": {"spec": "ABC"}}, "hashes.spec: expected 64 lowercase hex"),
        ({"versions": {"package": "0.1.0"}}, "versions: missing required key 'python'"),
        ({"versions": {"python": "3.11.2"}}, "missing the biosynapse-verify version"),
        ({"versions": {"package": "0.1.0", "python": 3.11}}, "versions.python"),
        (
            {"arrays": {"A": {"file": "../../etc/passwd.npz", "sha256": _sha("A")}}},
            "arrays.A.file: expected a plain '.npz' file name",
        ),
        ({"arrays": {"A": {"file": "A.npz", "sha256": None}}}, "arrays.A.sha256"),
        ({"check": {"valid": False}}, "'certified' contradicts check.valid = false"),
    ],
)
def test_invalid_core_value_named(tmp_path, change, message):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(minimal_certificate(**change)))
    with pytest.raises(
        CertificateFormatError, match=message.replace("(", r"\(")
    ) as caught:
        read_certificate_json(path)
    assert str(caught.value).startswith(str(path))
    assert "\n" not in str(caught.value)


def test_truncated_file_rejected(tmp_path):
    path = write_certificate_json(
        tmp_path / "c.json", minimal_certificate(x=[1.0] * 50)
    )
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(CertificateFormatError, match="may be truncated") as caught:
        read_certificate_json(path)
    assert "invalid JSON at line" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_empty_file_rejected(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("")
    with pytest.raises(CertificateFormatError, match="invalid JSON"):
        read_certificate_json(path)


def test_top_level_list_rejected(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("[1, 2]")
    with pytest.raises(CertificateFormatError, match="must be a JSON object, got list"):
        read_certificate_json(path)


def test_nan_literal_rejected(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps(minimal_certificate()).replace('"song2000"', '"n", "x": NaN')
    )
    with pytest.raises(CertificateFormatError, match="invalid number NaN"):
        read_certificate_json(path)


def test_duplicate_key_rejected(tmp_path):
    path = tmp_path / "c.json"
    text = json.dumps(minimal_certificate())
    path.write_text(
        text.replace(
            '"verdict": "certified"', '"verdict": "refuted", "verdict": "certified"'
        )
    )
    with pytest.raises(CertificateFormatError, match="'verdict' occurs twice"):
        read_certificate_json(path)


class _TouchOnUnpickle:
    """Creates a marker file if anyone unpickles it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_payload_not_executed(tmp_path):
    marker = tmp_path / "unpickled"
    path = tmp_path / "c.json"
    path.write_bytes(pickle.dumps(_TouchOnUnpickle(marker)))
    with pytest.raises(
        CertificateFormatError, match="not a UTF-8 text file|invalid JSON"
    ):
        read_certificate_json(path)
    assert not marker.exists()
    # Control: the payload does run when unpickled, so the check above can fail.
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_TouchOnUnpickle(control)))
    assert control.exists()


def test_missing_file_raises_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_certificate_json(tmp_path / "absent.json")


def test_failed_write_keeps_previous(tmp_path):
    path = write_certificate_json(tmp_path / "c.json", minimal_certificate())
    before = path.read_bytes()
    with pytest.raises(CertificateFormatError):
        write_certificate_json(path, minimal_certificate(beta=math.nan))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]


def test_package_version_alias_accepted(tmp_path):
    versions = {"biosynapse-verify": "0.1.0", "python": "3.11.2"}
    path = write_certificate_json(
        tmp_path / "c.json", minimal_certificate(versions=versions)
    )
    assert read_certificate_json(path)["versions"] == versions


def test_extra_sections_allowed(tmp_path):
    certificate = minimal_certificate(future_section={"anything": [1, "two", None]})
    path = write_certificate_json(tmp_path / "c.json", certificate)
    assert read_certificate_json(path)["future_section"] == {
        "anything": [1, "two", None]
    }
