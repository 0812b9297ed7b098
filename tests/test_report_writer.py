"""Tests of write_report and read_certificate_arrays: files, hashes and failures."""

from __future__ import annotations

import copy
import hashlib
import json

import numpy as np
import pytest
import scipy.sparse

from biosynapse_verify.report import (
    CERTIFICATE_FORMAT,
    CertificateFormatError,
    plot_decay_rates,
    read_certificate_arrays,
    read_certificate_json,
    write_report,
)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _certificate() -> dict:
    return {
        "format": dict(CERTIFICATE_FORMAT),
        "network": "song2000",
        "verdict": "certified",
        "claim": "The interior equilibrium of the mean-field dynamics is stable.",
        "certificate": {"beta": np.float64(0.004), "lambda_max_P": 10.0},
        "hashes": {"spec": _sha(b"spec"), "A": _sha(b"A")},
        "versions": {"package": "0.1.0", "python": "3.11.2"},
    }


def _arrays(n: int = 30) -> dict:
    rng = np.random.default_rng(0)
    jacobian = scipy.sparse.random(n, n, density=0.1, random_state=1, format="csr")
    jacobian = jacobian - 2.0 * scipy.sparse.identity(n, format="csr")
    lyapunov = np.diag(rng.uniform(1.0, 10.0, n))
    return {
        "A": jacobian.tocsr(),
        "P": lyapunov,
        "eigenvalues": np.array([-1 + 2j, -1 - 2j]),
    }


@pytest.fixture(scope="module")
def figures() -> dict[str, bytes]:
    return {"decay": plot_decay_rates([1.0, 2.0], [1.1, 1.9], ["a", "b"])}


def test_files_written(tmp_path, figures):
    out = tmp_path / "reports" / "song2000"
    paths = write_report(out, _certificate(), figures, _arrays())
    assert sorted(paths) == [
        "A.npz",
        "P.npz",
        "certificate.html",
        "certificate.json",
        "eigenvalues.npz",
    ]
    assert all(path.parent == out and path.is_file() for path in paths.values())
    assert sorted(p.name for p in out.iterdir()) == sorted(paths)


def test_array_hashes_recorded(tmp_path, figures):
    paths = write_report(tmp_path, _certificate(), figures, _arrays())
    certificate = read_certificate_json(paths["certificate.json"])
    for name in ("A", "P", "eigenvalues"):
        entry = certificate["arrays"][name]
        assert entry["file"] == f"{name}.npz"
        assert entry["sha256"] == _sha(paths[f"{name}.npz"].read_bytes())
    assert certificate["arrays"]["A"]["layout"] == "sparse csr"
    assert certificate["arrays"]["P"]["layout"] == "dense"
    assert certificate["arrays"]["P"]["shape"] == [30, 30]
    assert certificate["arrays"]["eigenvalues"]["dtype"] == "complex128"


def test_html_lists_array_hashes(tmp_path, figures):
    paths = write_report(tmp_path, _certificate(), figures, _arrays())
    page = paths["certificate.html"].read_text(encoding="utf-8")
    assert _sha(paths["P.npz"].read_bytes()) in page
    assert "data:image/png;base64," in page


def test_arrays_round_trip_without_pickle(tmp_path, figures):
    arrays = _arrays()
    paths = write_report(tmp_path, _certificate(), figures, arrays)
    with np.load(paths["P.npz"], allow_pickle=False) as archive:
        np.testing.assert_array_equal(archive["P"], arrays["P"])
    loaded = read_certificate_arrays(paths["certificate.json"])
    assert scipy.sparse.issparse(loaded["A"])
    assert (loaded["A"] != arrays["A"]).nnz == 0
    np.testing.assert_array_equal(loaded["P"], arrays["P"])
    np.testing.assert_array_equal(loaded["eigenvalues"], arrays["eigenvalues"])


def test_caller_certificate_unchanged(tmp_path, figures):
    certificate = _certificate()
    before = copy.deepcopy(certificate)
    write_report(tmp_path, certificate, figures, _arrays())
    assert certificate == before
    assert "arrays" not in certificate


def test_existing_array_entry_merged(tmp_path, figures):
    certificate = _certificate()
    certificate["arrays"] = {"P": {"description": "Lyapunov matrix, lambda_min >= 1"}}
    paths = write_report(tmp_path, certificate, figures, {"P": np.eye(3)})
    entry = read_certificate_json(paths["certificate.json"])["arrays"]["P"]
    assert entry["description"] == "Lyapunov matrix, lambda_min >= 1"
    assert entry["sha256"] == _sha(paths["P.npz"].read_bytes())


def test_listed_array_missing_rejected(tmp_path, figures):
    certificate = _certificate()
    certificate["arrays"] = {"A": {"file": "A.npz", "sha256": _sha(b"x")}}
    with pytest.raises(CertificateFormatError, match="lists A but no such array"):
        write_report(tmp_path / "out", certificate, figures, {"P": np.eye(3)})
    assert not (tmp_path / "out").exists()


def test_tampered_array_detected(tmp_path, figures):
    paths = write_report(tmp_path, _certificate(), figures, _arrays())
    tampered = np.diag(np.ones(30))
    np.savez_compressed(paths["P.npz"], P=tampered)
    with pytest.raises(
        CertificateFormatError, match="P.npz: SHA-256 is .* but the certificate records"
    ):
        read_certificate_arrays(paths["certificate.json"])


def test_shape_mismatch_detected(tmp_path, figures):
    paths = write_report(tmp_path, _certificate(), figures, {"P": np.eye(3)})
    path = paths["certificate.json"]
    data = json.loads(path.read_text())
    data["arrays"]["P"]["shape"] = [4, 4]
    path.write_text(json.dumps(data))
    with pytest.raises(
        CertificateFormatError,
        match=r"shape is \[3, 3\] but the "
        r"certificate records \[4, 4\]",
    ):
        read_certificate_arrays(path)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"../A": np.eye(2)}, "invalid name '../A'"),
        ({"": np.eye(2)}, "invalid name ''"),
        ({"modes": np.array([{"a": 1}], dtype=object)}, "only with pickle"),
    ],
)
def test_bad_arrays_write_nothing(tmp_path, figures, arrays, message):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=message):
        write_report(out, _certificate(), figures, arrays)
    assert not out.exists()


def test_invalid_certificate_writes_nothing(tmp_path, figures):
    certificate = _certificate()
    certificate["certificate"]["beta"] = float("nan")
    out = tmp_path / "out"
    with pytest.raises(CertificateFormatError, match="certificate.certificate.beta"):
        write_report(out, certificate, figures, _arrays())
    assert not out.exists()


def test_rewrite_replaces_files(tmp_path, figures):
    write_report(tmp_path, _certificate(), figures, {"P": np.eye(2)})
    paths = write_report(tmp_path, _certificate(), figures, {"P": 2.0 * np.eye(2)})
    np.testing.assert_array_equal(
        read_certificate_arrays(paths["certificate.json"])["P"], 2.0 * np.eye(2)
    )
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_pdf_written_when_requested(tmp_path, figures):
    pytest.importorskip("weasyprint")
    paths = write_report(tmp_path, _certificate(), figures, {}, pdf=True)
    assert paths["certificate.pdf"].read_bytes().startswith(b"%PDF")
