"""Re-checking certificates: valid ones pass, altered ones are rejected with the reason."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from biosynapse_verify.certify import Candidate
from biosynapse_verify.check import check_lyapunov
from biosynapse_verify.cli import main
from biosynapse_verify.dynamics.meanfield import MeanFieldModel
from biosynapse_verify.recheck import (
    A_RECOMPUTE_RTOL,
    UnreadableCertificateError,
    canonical_matrix_sha256,
    recheck_certificate,
)
from biosynapse_verify.report import certificate_to_json
from biosynapse_verify.spec import parse_spec, spec_hash
from biosynapse_verify.testing import (
    REFERENCE_TRANSFER,
    certify_mean_field,
    feedforward_spec,
)

TRANSFERS = {"post": REFERENCE_TRANSFER}


def _write(folder: Path, spec: object) -> Path:
    outcome = certify_mean_field(spec, TRANSFERS, out_dir=folder)
    return outcome.path


@pytest.fixture(scope="module")
def certified(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A certified interior equilibrium with a static inhibitory projection."""
    spec = feedforward_spec(name="certified", n_inhibitory=4, seed=3)
    return _write(tmp_path_factory.mktemp("certified"), spec)


@pytest.fixture(scope="module")
def refuted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Additive-like (power law with mu = 0): the interior equilibrium is unstable."""
    spec = feedforward_spec(name="refuted", rule="power_law", mu=0.0)
    return _write(tmp_path_factory.mktemp("refuted"), spec)


@pytest.fixture(scope="module")
def boundary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Additive STDP judged at its boundary equilibrium (weights at w_max)."""
    spec = feedforward_spec(
        name="boundary", rule="additive", a_minus=4.4e-4, equilibrium="boundary"
    )
    return _write(tmp_path_factory.mktemp("boundary"), spec)


def copy_of(certificate: Path, tmp_path: Path) -> Path:
    folder = tmp_path / certificate.parent.name
    shutil.copytree(certificate.parent, folder)
    return folder / "certificate.json"


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def save(path: Path, record: dict) -> None:
    path.write_text(certificate_to_json(record))


def store_array(path: Path, name: str, array: object) -> None:
    """Write one array file and record its SHA-256, shape, dtype and layout.

    This is what a careful forger would do, so the re-check must catch the
    change by other means.
    """
    buffer = io.BytesIO()
    if sp.issparse(array):
        array = sp.csr_matrix(array)
        sp.save_npz(buffer, array, compressed=True)
        layout = "sparse csr"
    else:
        np.savez_compressed(buffer, **{name: array})
        layout = "dense"
    data = buffer.getvalue()
    (path.parent / f"{name}.npz").write_bytes(data)
    record = load(path)
    record["arrays"][name] = {
        "file": f"{name}.npz",
        "sha256": hashlib.sha256(data).hexdigest(),
        "shape": list(array.shape),
        "dtype": str(array.dtype),
        "layout": layout,
    }
    save(path, record)


def forge_P(path: Path, P: np.ndarray, beta: float | None = None) -> None:
    """Replace P (and beta) everywhere the certificate records them."""
    store_array(path, "P", P)
    record = load(path)
    section = record["certificate"]
    section["P_sha256"] = hashlib.sha256(np.ascontiguousarray(P).tobytes()).hexdigest()
    if "P" in section:
        section["P"] = P.tolist()
    if beta is not None:
        section["beta"] = beta
    save(path, record)


def rejected_at(path: Path) -> tuple[str, str]:
    result = recheck_certificate(path)
    assert not result.valid
    assert result.exit_code == 1
    return result.failed_step.name, result.reason


# --------------------------------------------------------------- valid ones
def test_certified_certificate_rechecks(certified: Path) -> None:
    result = recheck_certificate(certified)
    assert result.valid, result.reason
    assert result.exit_code == 0
    assert result.bit_exact is True
    assert result.margin > 0
    assert result.beta > 0
    assert [step.name for step in result.steps] == [
        "array files",
        "spec",
        "model",
        "equilibrium",
        "Jacobian",
        "rigorous check",
    ]
    assert all(step.passed for step in result.steps)


def test_folder_path_is_accepted(certified: Path) -> None:
    assert recheck_certificate(certified.parent).valid


def test_refuted_certificate_rechecks(refuted: Path) -> None:
    result = recheck_certificate(refuted)
    assert result.valid, result.reason
    assert result.verdict == "refuted"
    assert result.growth_rate_lower > 0
    assert result.summary().startswith("VALID refuted: REFUTED (unstable)")


def test_boundary_certificate_rechecks(boundary: Path) -> None:
    result = recheck_certificate(boundary)
    assert result.valid, result.reason
    assert "boundary equilibrium" in result.steps[3].detail


def test_cli_prints_one_valid_line(
    certified: Path, capsys: pytest.CaptureFixture
) -> None:
    code = main(["-q", "check", str(certified)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert len(lines) == 1
    assert lines[0].startswith(
        "VALID certified: CERTIFIED stable, margin lambda_min(M) >= "
    )


def test_cli_json_lists_steps(certified: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["-q", "check", "--json", str(certified)])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["exit_code"] == 0
    assert len(report["steps"]) == 6


# ------------------------------------------------------------ tampered ones
def test_one_ulp_in_P_file_is_rejected(certified: Path, tmp_path: Path) -> None:
    path = copy_of(certified, tmp_path)
    P = np.load(path.parent / "P.npz")["P"]
    P[0, 0] = np.nextafter(P[0, 0], 0.0)
    np.savez_compressed(path.parent / "P.npz", P=P)
    step, reason = rejected_at(path)
    assert step == "array files"
    assert "P.npz" in reason
    assert "changed after the certificate was written" in reason


def _tightest_beta(A: sp.csr_matrix, P: np.ndarray, beta: float) -> float:
    """Bisect the largest float beta that the rigorous check still accepts."""
    low, high = beta, 2.0 * beta + 1.0
    assert not check_lyapunov(A, P, high).valid
    while True:
        middle = 0.5 * (low + high)
        if middle in (low, high):
            return low
        if check_lyapunov(A, P, middle).valid:
            low = middle
        else:
            high = middle


def test_one_ulp_in_tight_P_breaks_definiteness(
    certified: Path, tmp_path: Path
) -> None:
    path = copy_of(certified, tmp_path)
    A = sp.load_npz(path.parent / "A.npz")
    P = np.load(path.parent / "P.npz")["P"]
    tight = _tightest_beta(A, P, load(path)["certificate"]["beta"])
    forge_P(path, P, beta=tight)
    assert recheck_certificate(path).valid

    for index in range(P.shape[0]):
        changed = P.copy()
        changed[index, index] = np.nextafter(P[index, index], 0.0)
        if not check_lyapunov(A, changed, tight).valid:
            break
    else:
        pytest.fail(
            "no one-ulp decrease of a diagonal entry of P broke the certificate"
        )
    forge_P(path, changed)
    step, reason = rejected_at(path)
    assert step == "rigorous check"
    assert "M = -(A^T P + P A) - 2 beta I is false" in reason


def _factored_certificate(certified: Path, tmp_path: Path, shear: float) -> Path:
    """Restate the certified P as a factored one, P' = (I + N)^T P (I + N).

    N has one entry, ``shear``, in the row of the rate (fast) and the column
    of the first weight (slow), as the two-time-scale strategy builds it.
    The search records the hash of P and N, so the record is the search's.
    """
    path = copy_of(certified, tmp_path)
    section = load(path)["certificate"]
    W = sp.csr_array(np.load(path.parent / "P.npz")["P"])
    N = sp.csr_array(([shear], ([0], [1])), shape=W.shape)
    candidate = Candidate(
        strategy="two_time_scale",
        P=W,
        beta=section["beta"],
        beta_float=section["beta_float"],
        rounding_budget=section["rounding_budget"],
        lambda_min_P=section["lambda_min_P"],
        lambda_max_P=section["lambda_max_P"],
        alpha=section["alpha"],
        normalisation_divisor=section["normalisation_divisor"],
        transform=N,
    )
    store_array(path, "P", W)
    store_array(path, "P_transform", N)
    record = load(path)
    record["certificate"] = candidate.to_dict()
    save(path, record)
    return path


def test_factored_certificate_rechecks(certified: Path, tmp_path: Path) -> None:
    path = _factored_certificate(certified, tmp_path, shear=1e-9)
    assert load(path)["certificate"]["P_storage"] == "factored"
    result = recheck_certificate(path)
    assert result.valid, result.reason


def test_one_ulp_in_shear_is_rejected(certified: Path, tmp_path: Path) -> None:
    path = _factored_certificate(certified, tmp_path, shear=1e-9)
    N = sp.csr_matrix(([np.nextafter(1e-9, 1.0)], ([0], [1])), shape=(11, 11))
    store_array(path, "P_transform", N)
    step, reason = rejected_at(path)
    assert step == "stored P"
    assert "certificate.P_sha256" in reason


def test_large_shear_fails_the_check(certified: Path, tmp_path: Path) -> None:
    path = _factored_certificate(certified, tmp_path, shear=1e3)
    step, _ = rejected_at(path)
    assert step == "rigorous check"


def test_changed_spec_parameter_is_rejected(certified: Path, tmp_path: Path) -> None:
    path = copy_of(certified, tmp_path)
    record = load(path)
    record["spec"]["projections"][0]["plasticity"]["a_minus"] = 9e-4
    save(path, record)
    step, reason = rejected_at(path)
    assert step == "spec"
    assert "hashes.spec" in reason


def test_changed_spec_with_new_hash_is_rejected(
    certified: Path, tmp_path: Path
) -> None:
    path = copy_of(certified, tmp_path)
    record = load(path)
    record["spec"]["projections"][0]["plasticity"]["a_minus"] = 9e-4
    record["hashes"]["spec"] = spec_hash(parse_spec(record["spec"]))
    save(path, record)
    step, reason = rejected_at(path)
    assert step == "equilibrium"
    assert "not an equilibrium" in reason


def test_changed_transfer_parameter_is_rejected(
    certified: Path, tmp_path: Path
) -> None:
    path = copy_of(certified, tmp_path)
    record = load(path)
    record["calibration"]["post"]["parameters"]["gain"] *= 1.001
    save(path, record)
    step, _ = rejected_at(path)
    assert step == "equilibrium"


def test_changed_seed_changes_static_weights(certified: Path, tmp_path: Path) -> None:
    path = copy_of(certified, tmp_path)
    record = load(path)
    record["simulation"]["seeds"] = [4]
    save(path, record)
    step, _ = rejected_at(path)
    assert step == "equilibrium"


def test_truncated_json_is_unreadable(certified: Path, tmp_path: Path) -> None:
    path = copy_of(certified, tmp_path)
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(UnreadableCertificateError, match="invalid JSON"):
        recheck_certificate(path)
    assert main(["-q", "check", str(path)]) == 2


def test_missing_array_file_is_unreadable(certified: Path, tmp_path: Path) -> None:
    path = copy_of(certified, tmp_path)
    (path.parent / "x_star.npz").unlink()
    with pytest.raises(UnreadableCertificateError, match="x_star.npz: file not found"):
        recheck_certificate(path)


def test_swapped_A_file_is_rejected(
    certified: Path, boundary: Path, tmp_path: Path
) -> None:
    path = copy_of(certified, tmp_path)
    shutil.copy(boundary.parent / "A.npz", path.parent / "A.npz")
    step, reason = rejected_at(path)
    assert step == "array files"
    assert "A.npz" in reason


def test_swapped_A_with_new_file_hash_is_rejected(
    certified: Path, tmp_path: Path
) -> None:
    path = copy_of(certified, tmp_path)
    A = sp.load_npz(path.parent / "A.npz").tolil()
    A[1, 1] = A[1, 1] * (1 + 1e-9)
    store_array(path, "A", A.tocsr())
    step, reason = rejected_at(path)
    assert step == "Jacobian"
    assert "hashes.A" in reason


def test_doubled_beta_is_rejected(certified: Path, tmp_path: Path) -> None:
    path = copy_of(certified, tmp_path)
    record = load(path)
    record["certificate"]["beta"] *= 2
    save(path, record)
    step, reason = rejected_at(path)
    assert step == "rigorous check"
    assert reason.startswith("Rejected: positive definiteness of M")


def test_P_listed_in_json_must_match_file(boundary: Path, tmp_path: Path) -> None:
    path = copy_of(boundary, tmp_path)
    record = load(path)
    assert "P" in record["certificate"], "a diagonal P is listed in the JSON"
    record["certificate"]["P"][0] = record["certificate"]["P"][0] * 2
    save(path, record)
    step, reason = rejected_at(path)
    assert step == "stored P"
    assert "differs from P.npz" in reason


def test_moved_equilibrium_is_rejected(certified: Path, tmp_path: Path) -> None:
    path = copy_of(certified, tmp_path)
    x = np.load(path.parent / "x_star.npz")["x_star"]
    x[-1] = np.nextafter(x[-1], 2.0) + 1e-6
    store_array(path, "x_star", x)
    step, _ = rejected_at(path)
    assert step == "equilibrium"


def test_changed_verdict_is_rejected(refuted: Path, tmp_path: Path) -> None:
    path = copy_of(refuted, tmp_path)
    record = load(path)
    record["verdict"] = "inconclusive"
    save(path, record)
    step, reason = rejected_at(path)
    assert step == "claim"
    assert "makes no claim" in reason


def test_refutation_without_chetaev_matrix_is_unreadable(
    refuted: Path, tmp_path: Path
) -> None:
    path = copy_of(refuted, tmp_path)
    record = load(path)
    del record["arrays"]["P_chetaev"]
    save(path, record)
    with pytest.raises(UnreadableCertificateError, match="arrays.P_chetaev is missing"):
        recheck_certificate(path)


def chetaev_matrix(path: Path) -> np.ndarray:
    return np.load(path.parent / "P_chetaev.npz")["P_chetaev"]


def test_cli_exit_code_of_unreadable_refutation(
    refuted: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = copy_of(refuted, tmp_path)
    record = load(path)
    del record["arrays"]["P_chetaev"]
    save(path, record)
    assert main(["-q", "check", str(path)]) == 2
    assert "arrays.P_chetaev is missing" in capsys.readouterr().err


def test_cli_exit_codes_of_refutations(
    refuted: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["-q", "check", str(refuted)]) == 0
    assert capsys.readouterr().out.startswith("VALID refuted: REFUTED (unstable)")
    path = copy_of(refuted, tmp_path)
    store_array(path, "P_chetaev", 0.5 * chetaev_matrix(path))
    assert main(["-q", "check", str(path)]) == 1
    assert capsys.readouterr().out.startswith("INVALID refuted (REFUTED): rigorous check")


@pytest.mark.parametrize("factor", [0.5, -1.0])
def test_scaled_chetaev_matrix_is_rejected(
    refuted: Path, tmp_path: Path, factor: float
) -> None:
    # A^T P + P A = I, so the factor scales Q's I part below the claimed 2 gamma.
    path = copy_of(refuted, tmp_path)
    store_array(path, "P_chetaev", factor * chetaev_matrix(path))
    step, reason = rejected_at(path)
    assert step == "rigorous check"
    assert "positive definiteness of Q = A^T P + P A - 2 gamma I is false" in reason


def test_asymmetric_chetaev_matrix_is_rejected(refuted: Path, tmp_path: Path) -> None:
    path = copy_of(refuted, tmp_path)
    P = chetaev_matrix(path)
    P[1, 2] = np.nextafter(P[1, 2], np.inf)
    store_array(path, "P_chetaev", P)
    step, reason = rejected_at(path)
    assert step == "rigorous check"
    assert "P is not symmetric" in reason


def test_changed_chetaev_file_is_rejected(refuted: Path, tmp_path: Path) -> None:
    path = copy_of(refuted, tmp_path)
    np.savez_compressed(
        path.parent / "P_chetaev.npz", P_chetaev=0.5 * chetaev_matrix(path)
    )
    step, reason = rejected_at(path)
    assert step == "array files"
    assert "P_chetaev.npz" in reason


def test_doubled_gamma_is_rejected(refuted: Path, tmp_path: Path) -> None:
    path = copy_of(refuted, tmp_path)
    record = load(path)
    record["refutation"]["chetaev"]["gamma"] *= 2
    save(path, record)
    step, reason = rejected_at(path)
    assert step == "rigorous check"
    assert "Q = A^T P + P A - 2 gamma I is false" in reason


def test_witness_outside_positive_cone_is_rejected(
    refuted: Path, tmp_path: Path
) -> None:
    # The eigenvector of P's most negative eigenvalue has w^T P w < 0.
    path = copy_of(refuted, tmp_path)
    _, vectors = np.linalg.eigh(chetaev_matrix(path))
    record = load(path)
    record["refutation"]["chetaev"]["witness"] = vectors[:, 0].tolist()
    save(path, record)
    step, reason = rejected_at(path)
    assert step == "rigorous check"
    assert "w^T P w > 0 could not be proven" in reason


def test_pickled_array_is_never_loaded(certified: Path, tmp_path: Path) -> None:
    path = copy_of(certified, tmp_path)
    marker = tmp_path / "unpickled"

    class Payload:
        def __reduce__(self) -> tuple:
            return (Path.touch, (marker,))

    store_array(path, "x_star", np.array([Payload()], dtype=object))
    record = load(path)
    record["arrays"]["x_star"]["dtype"] = "object"
    save(path, record)
    with pytest.raises(UnreadableCertificateError, match="not a readable .npz"):
        recheck_certificate(path)
    assert not marker.exists()


# ----------------------------------------------------- Jacobian reproduction
def test_rounding_level_difference_in_A_is_accepted(
    certified: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = MeanFieldModel.jacobian

    def perturbed(self: MeanFieldModel, x: np.ndarray) -> sp.csr_matrix:
        jac = original(self, x).tocsr(copy=True)
        jac.data = jac.data * (1 + 4e-16)
        return jac

    monkeypatch.setattr(MeanFieldModel, "jacobian", perturbed)
    result = recheck_certificate(certified)
    assert result.valid, result.reason
    assert result.bit_exact is False
    assert "not bit-exact" in result.steps[4].detail


def test_large_difference_in_A_is_rejected(
    certified: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = MeanFieldModel.jacobian

    def perturbed(self: MeanFieldModel, x: np.ndarray) -> sp.csr_matrix:
        jac = original(self, x).tocsr(copy=True)
        jac.data = jac.data * (1 + 1e3 * A_RECOMPUTE_RTOL)
        return jac

    monkeypatch.setattr(MeanFieldModel, "jacobian", perturbed)
    step, reason = rejected_at(certified)
    assert step == "Jacobian"
    assert "differs from the stored A" in reason


@pytest.mark.parametrize("seed", range(4))
def test_canonical_hash_matches_pipeline(seed: int) -> None:
    from biosynapse_verify.pipeline import matrix_hash

    rng = np.random.default_rng(seed)
    matrix = sp.random(20, 20, density=0.2, random_state=rng, format="coo")
    assert canonical_matrix_sha256(matrix) == matrix_hash(matrix)
    assert canonical_matrix_sha256(matrix.toarray()) == matrix_hash(matrix.toarray())
