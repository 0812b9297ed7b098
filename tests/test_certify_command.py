"""The certify command: matrix formats, verdicts, bad input, --structure, --out and check."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from biosynapse_verify.certify import network_structure
from biosynapse_verify.certify.benchmark import network_jacobian
from biosynapse_verify.cli import main


def stable_matrix(n: int = 12, seed: int = 0) -> np.ndarray:
    """Return G / sqrt(n) - 1.5 I, Hurwitz because G / sqrt(n) has spectral radius near 1."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n)) / np.sqrt(n) - 1.5 * np.eye(n)


def unstable_matrix(n: int = 12) -> np.ndarray:
    """The stable matrix shifted by +2 I, so every eigenvalue has real part > 0."""
    return stable_matrix(n) + 2.0 * np.eye(n)


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(["--quiet", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_matrix(path: Path, A: np.ndarray) -> Path:
    if path.suffix == ".npy":
        np.save(path, A)
    elif path.suffix == ".npz":
        sp.save_npz(path, sp.csr_matrix(A))
    else:
        scipy.io.mmwrite(path, sp.coo_matrix(A))
    return path


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".mtx"])
def test_stable_matrix_certified(tmp_path: Path, capsys, suffix: str) -> None:
    path = write_matrix(tmp_path / f"A{suffix}", stable_matrix())
    code, out, _ = run_cli(capsys, "certify", str(path))
    assert code == 0
    assert out.startswith(f"{path}: CERTIFIED")
    assert "check:" in out


def test_unstable_matrix_refuted(tmp_path: Path, capsys) -> None:
    path = write_matrix(tmp_path / "A.npy", unstable_matrix())
    code, out, _ = run_cli(capsys, "certify", str(path))
    assert code == 1
    assert out.startswith(f"{path}: REFUTED")


def rotation_plus_stable() -> np.ndarray:
    """A rotation block (eigenvalues +-i) beside a stable block."""
    A = np.zeros((6, 6))
    A[0, 1], A[1, 0] = 1.0, -1.0
    A[2:, 2:] = stable_matrix(4, seed=3)
    return A


def skew_symmetric() -> np.ndarray:
    """S - S^T: every eigenvalue is on the imaginary axis."""
    S = np.random.default_rng(5).standard_normal((8, 8))
    return S - S.T


@pytest.mark.parametrize(
    "A",
    [
        rotation_plus_stable(),
        skew_symmetric(),
        np.zeros((5, 5)),
        np.diag([-1.0, 0.0, -2.0]),
    ],
    ids=["rotation", "skew", "zero", "zero-eigenvalue"],
)
@pytest.mark.parametrize("extra", [[], ["--all-strategies"]], ids=["first", "all"])
def test_marginal_matrix_never_certified(
    tmp_path: Path, capsys, A: np.ndarray, extra: list[str]
) -> None:
    path = write_matrix(tmp_path / "A.npy", A)
    code, out, _ = run_cli(capsys, "certify", str(path), *extra)
    assert code == 1
    assert "CERTIFIED" not in out


def corrupt(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def bad_inputs(folder: Path) -> dict[str, tuple[Path, list[str]]]:
    """Bad matrix files by case: the path and words the message must contain."""
    nan = stable_matrix()
    nan[3, 4] = np.nan
    inf_sparse = sp.csr_matrix(stable_matrix())
    inf_sparse[2, 2] = np.inf
    sp.save_npz(folder / "inf.npz", inf_sparse)
    np.save(folder / "text.npy", np.array([["a", "b"], ["c", "d"]]))
    return {
        "missing": (folder / "absent.npy", ["absent.npy", "file not found", "give"]),
        "suffix": (
            write_matrix(folder / "A.npy", stable_matrix()).rename(folder / "A.csv"),
            ["'.csv'", "give a .npy, .npz or .mtx file"],
        ),
        "non-square": (
            write_matrix(folder / "wide.npy", stable_matrix()[:, :5]),
            ["(12, 5)", "square", "n x n"],
        ),
        "nan": (
            write_matrix(folder / "nan.npy", nan),
            ["A[3, 4] = nan", "not finite", "recompute"],
        ),
        "inf-sparse": (folder / "inf.npz", ["A[2, 2] = inf", "not finite"]),
        "text": (folder / "text.npy", ["dtype <U1", "real numbers"]),
        "corrupt-npy": (
            corrupt(folder / "bad.npy", b"not an array"),
            ["not a .npy file", "numpy.save"],
        ),
        "corrupt-npz": (
            corrupt(folder / "bad.npz", b"PK\x03\x04truncated"),
            ["cannot read the matrix", "scipy.sparse.save_npz"],
        ),
        "corrupt-mtx": (
            corrupt(folder / "bad.mtx", b"%%MatrixMarket nonsense\n"),
            ["cannot read the matrix", "scipy.io.mmwrite"],
        ),
        "not-mtx": (
            corrupt(folder / "plain.mtx", b"1 2 3\n"),
            ["not a .mtx file", "scipy.io.mmwrite"],
        ),
    }


CASES = [
    "missing",
    "suffix",
    "non-square",
    "nan",
    "inf-sparse",
    "text",
    "corrupt-npy",
    "corrupt-npz",
    "corrupt-mtx",
    "not-mtx",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_matrix_exits_2(tmp_path: Path, capsys, case: str) -> None:
    path, words = bad_inputs(tmp_path)[case]
    code, out, err = run_cli(capsys, "certify", str(path))
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0]


def network_files(folder: Path) -> tuple[Path, Path, object]:
    """A small network Jacobian as .npz and its structure file."""
    net = network_jacobian(12, 4, 5, np.random.default_rng(0))
    matrix = folder / "net.npz"
    sp.save_npz(matrix, net.A)
    structure = network_structure(net.n_rates, net.weight_post)
    structure_path = folder / "structure.npz"
    np.savez(structure_path, fast=structure.fast, blocks=structure.blocks)
    return matrix, structure_path, net


def test_structure_file_is_used(tmp_path: Path, capsys) -> None:
    matrix, structure, _ = network_files(tmp_path)
    code, out, _ = run_cli(
        capsys, "certify", str(matrix), "--structure", str(structure), "--json"
    )
    record = json.loads(out)
    assert code == 0
    assert record["certificate"]["strategy"] == "two_time_scale"
    assert record["certificate"]["details"]["structure"]["source"] == "given"
    code, out, _ = run_cli(capsys, "certify", str(matrix), "--json")
    assert (
        json.loads(out)["certificate"]["details"]["structure"]["source"] == "inferred"
    )


def test_structure_file_wrong_shape(tmp_path: Path, capsys) -> None:
    matrix, _, _ = network_files(tmp_path)
    bad = tmp_path / "short.npz"
    np.savez(bad, fast=np.ones(3, bool), blocks=np.zeros(3, int))
    code, _, err = run_cli(capsys, "certify", str(matrix), "--structure", str(bad))
    assert code == 2
    assert "must have shape (60,)" in err


def listed_files(out: Path) -> dict:
    record = json.loads((out / "certificate.json").read_text())
    return record, {name: entry["file"] for name, entry in record["arrays"].items()}


def test_out_writes_certificate_and_arrays(tmp_path: Path, capsys) -> None:
    matrix = write_matrix(tmp_path / "A.npy", stable_matrix())
    out = tmp_path / "report"
    code, _, _ = run_cli(capsys, "certify", str(matrix), "--out", str(out))
    record, files = listed_files(out)
    assert code == 0
    assert record["verdict"] == "certified"
    assert set(files) == {"A", "P"}
    assert sorted(path.name for path in out.iterdir()) == [
        "A.npz",
        "P.npz",
        "certificate.json",
    ]
    assert record["matrix"]["file"] == str(matrix)
    assert record["recheck"]["command"].startswith("biosynapse-verify check ")


def test_out_keeps_old_certificate_when_write_fails(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    matrix = write_matrix(tmp_path / "A.npy", stable_matrix())
    out = tmp_path / "report"
    out.mkdir()
    (out / "certificate.json").write_text("previous\n")
    real_replace = os.replace

    def failing_replace(source: object, target: object) -> None:
        if Path(target).name == "certificate.json":
            raise OSError("disk full")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        main(["--quiet", "certify", str(matrix), "--out", str(out)])
    assert (out / "certificate.json").read_text() == "previous\n"
    assert not [path for path in out.iterdir() if path.name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("A", "verdict"),
    [(stable_matrix(), "CERTIFIED"), (unstable_matrix(), "REFUTED")],
    ids=["certified", "refuted"],
)
def test_check_accepts_matrix_certificate(
    tmp_path: Path, capsys, A: np.ndarray, verdict: str
) -> None:
    matrix = write_matrix(tmp_path / "A.mtx", A)
    out = tmp_path / "report"
    run_cli(capsys, "certify", str(matrix), "--out", str(out))
    code, line, _ = run_cli(capsys, "check", str(out))
    assert code == 0
    assert line.startswith(f"VALID A.mtx: {verdict}")
    assert "A.npz matches hashes.A" in line


def test_check_accepts_factored_certificate(tmp_path: Path, capsys) -> None:
    matrix, structure, _ = network_files(tmp_path)
    out = tmp_path / "report"
    run_cli(
        capsys, "certify", str(matrix), "--structure", str(structure), "--out", str(out)
    )
    _, files = listed_files(out)
    assert set(files) == {"A", "P", "P_transform"}
    code, line, _ = run_cli(capsys, "check", str(out / "certificate.json"))
    assert code == 0
    assert line.startswith("VALID net.npz: CERTIFIED")


def test_check_rejects_inconclusive(tmp_path: Path, capsys) -> None:
    matrix = write_matrix(tmp_path / "A.npy", skew_symmetric())
    out = tmp_path / "report"
    run_cli(capsys, "certify", str(matrix), "--out", str(out))
    code, line, _ = run_cli(capsys, "check", str(out))
    assert code == 1
    assert "makes no claim" in line


def rewrite_json(out: Path, change) -> None:
    path = out / "certificate.json"
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


def certified_report(tmp_path: Path, capsys) -> Path:
    matrix = write_matrix(tmp_path / "A.npy", stable_matrix())
    out = tmp_path / "report"
    run_cli(capsys, "certify", str(matrix), "--out", str(out))
    return out


def test_check_rejects_changed_matrix_file(tmp_path: Path, capsys) -> None:
    out = certified_report(tmp_path, capsys)
    sp.save_npz(out / "A.npz", sp.csr_matrix(unstable_matrix()))
    code, line, _ = run_cli(capsys, "check", str(out))
    assert code == 1
    assert "array files" in line


def test_check_rejects_matrix_hash_mismatch(tmp_path: Path, capsys) -> None:
    out = certified_report(tmp_path, capsys)
    rewrite_json(out, lambda record: record["hashes"].update(A="0" * 64))
    code, line, _ = run_cli(capsys, "check", str(out))
    assert code == 1
    assert "matrix: A.npz has canonical SHA-256" in line


def test_check_rejects_inflated_beta(tmp_path: Path, capsys) -> None:
    out = certified_report(tmp_path, capsys)
    rewrite_json(out, lambda record: record["certificate"].update(beta=10.0))
    code, line, _ = run_cli(capsys, "check", str(out))
    assert code == 1
    assert line.startswith("INVALID A.npy (CERTIFIED): rigorous check:")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda record: record["format"].update(version=2), "format.version is 2"),
        (lambda record: record["hashes"].pop("A"), "hashes.A is None"),
        (lambda record: record["arrays"]["A"].update(file="../A.npz"), "plain .npz"),
        (lambda record: record["arrays"].pop("A"), "arrays.A is missing"),
    ],
    ids=["version", "no-hash", "path", "no-matrix"],
)
def test_check_unreadable_matrix_certificate(
    tmp_path: Path, capsys, change, words: str
) -> None:
    out = certified_report(tmp_path, capsys)
    rewrite_json(out, change)
    code, _, err = run_cli(capsys, "check", str(out))
    assert code == 2
    assert words in err


def test_writer_and_reader_share_format() -> None:
    from biosynapse_verify.commands.certify import MATRIX_FORMAT, matrix_sha256
    from biosynapse_verify.recheck.matrix import MATRIX_FORMAT as READ_FORMAT
    from biosynapse_verify.recheck.model import canonical_matrix_sha256

    assert MATRIX_FORMAT == READ_FORMAT
    with_zeros = stable_matrix()
    with_zeros[0, 1] = 0.0
    duplicates = sp.coo_matrix(([1.0, 2.0, -3.0], ([0, 0, 1], [1, 1, 0])), shape=(2, 2))
    explicit_zero = sp.csr_matrix(([0.0, -1.0], ([0, 1], [1, 1])), shape=(2, 2))
    for A in (with_zeros, duplicates, explicit_zero):
        assert matrix_sha256(A) == canonical_matrix_sha256(A)
