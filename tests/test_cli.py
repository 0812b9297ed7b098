"""Command line: exit codes, one-line errors, and small end-to-end runs."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from biosynapse_verify.cli import main
from biosynapse_verify.testing import feedforward_spec_data


def _tiny_network(rule: str, path: Path) -> Path:
    """A 20-input, one-neuron network that simulates in a few seconds."""
    plasticity = {"rule": rule, "a_plus": 4e-4, "a_minus": 8e-4, "eta": 5.0}
    if rule == "additive":
        plasticity.update(a_minus=4.4e-4)
    spec = {
        "name": f"tiny_{rule}",
        "inputs": [{"name": "inp", "kind": "poisson", "size": 20, "rate": "20 Hz"}],
        "populations": [
            {
                "name": "post",
                "size": 1,
                "tau_m": "10 ms",
                "v_rest": "-74 mV",
                "v_threshold": "-54 mV",
                "v_reset": "-60 mV",
                "refractory": "2 ms",
            }
        ],
        "projections": [
            {
                "name": "ff",
                "source": "inp",
                "target": "post",
                "weight": {"distribution": "uniform", "low": 0.0, "high": 0.3},
                "w_max": 0.3,
                "plasticity": plasticity,
            }
        ],
        "simulation": {"dt": "0.1 ms", "duration": "8 s", "seeds": [0, 1], "record_interval": "0.2 s"},
        "analysis": {"calibration": {"duration": "2 s", "points": 8}},
    }
    path.write_text(yaml.safe_dump(spec))
    return path


def test_missing_spec_exits_2(tmp_path: Path, capsys) -> None:
    code = main(["verify", str(tmp_path / "absent.yaml")])
    err = capsys.readouterr().err
    assert code == 2
    assert "file not found" in err
    assert err.count("\n") == 1


def test_invalid_spec_exits_2_with_field_path(tmp_path: Path, capsys) -> None:
    path = _tiny_network("multiplicative", tmp_path / "n.yaml")
    data = yaml.safe_load(path.read_text())
    data["populations"][0]["tau_m"] = "-1 ms"
    path.write_text(yaml.safe_dump(data))
    code = main(["verify", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "populations.0.tau_m" in err
    assert "Traceback" not in err


def test_invalid_duration_exits_2(tmp_path: Path, capsys) -> None:
    path = _tiny_network("multiplicative", tmp_path / "n.yaml")
    assert main(["verify", str(path), "--duration", "ten seconds"]) == 2
    assert "--duration" in capsys.readouterr().err


def test_unknown_option_exits_2() -> None:
    with pytest.raises(SystemExit) as info:
        main(["verify", "x.yaml", "--frobnicate"])
    assert info.value.code == 2


def test_console_script_reports_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "biosynapse_verify.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "biosynapse-verify" in out.stdout


def test_verify_certifies_multiplicative_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without WeasyPrint, verify still writes its report and records why the
    # PDF is missing. A NaN in the record is written as null and listed.
    from biosynapse_verify import pipeline

    monkeypatch.setitem(sys.modules, "weasyprint", None)
    decay_record = pipeline._decay_record
    monkeypatch.setattr(
        pipeline,
        "_decay_record",
        lambda *args: {
            **decay_record(*args),
            "measured_weight_decay_rate_per_s": float("nan"),
        },
    )
    path = _tiny_network("multiplicative", tmp_path / "n.yaml")
    out = tmp_path / "report"
    code = main(["-q", "verify", str(path), "--out", str(out)])
    cert = json.loads((out / "certificate.json").read_text())
    assert cert["verdict"] == "certified"
    assert code == 0
    assert cert["check"]["valid"] is True
    assert cert["certificate"]["beta"] > 0
    assert (out / "certificate.html").stat().st_size > 10_000
    assert not list(out.glob(".*tmp*"))
    assert not (out / "certificate.pdf").exists()
    assert cert["pdf"]["written"] is False
    assert cert["pdf"]["install"] == "pip install 'biosynapse-verify[pdf]'"
    assert cert["decay"]["measured_weight_decay_rate_per_s"] is None
    assert cert["non_finite_values"]["replaced_by_null"] == [
        "certificate.decay.measured_weight_decay_rate_per_s = nan"
    ]
    assert main(["-q", "check", str(out)]) == 0


def test_verify_refutes_additive_network(tmp_path: Path) -> None:
    path = _tiny_network("additive", tmp_path / "n.yaml")
    out = tmp_path / "report"
    code = main(["-q", "verify", str(path), "--out", str(out)])
    cert = json.loads((out / "certificate.json").read_text())
    assert code == 1
    assert cert["verdict"] != "certified"
    # Additive STDP at an interior equilibrium: n - 1 of the 20 weight
    # directions are unstable, whatever the final verdict.
    interior = cert["equilibria"]["interior"]
    assert interior["spectrum"]["n_positive_real_part"] >= 19


@pytest.fixture(scope="module")
def refuted_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """verify on additive STDP whose interior equilibrium lies inside the bounds."""
    folder = tmp_path_factory.mktemp("additive")
    data = feedforward_spec_data(name="cli_additive", rule="additive")
    data["analysis"]["calibration"] = {"duration": 2.0, "points": 8}
    spec = folder / "n.yaml"
    spec.write_text(yaml.safe_dump(data))
    code = main(["-q", "verify", str(spec), "--out", str(folder / "report")])
    assert code == 1
    return folder / "report" / "certificate.json"


def test_verify_stores_checkable_refutation(refuted_report: Path, capsys) -> None:
    cert = json.loads(refuted_report.read_text())
    assert cert["verdict"] == "refuted"
    assert "P_chetaev" in cert["arrays"]
    assert cert["recheck"]["command"] == f"biosynapse-verify check {refuted_report}"
    assert sorted(cert["recheck"]["exit_codes"]) == ["0", "1", "2"]
    capsys.readouterr()
    assert main(["-q", "check", str(refuted_report)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("VALID cli_additive: REFUTED (unstable)"), line


def test_verify_refutation_tampered_exits_1(
    refuted_report: Path, tmp_path: Path, capsys
) -> None:
    # The file and its recorded SHA-256 both change, so only the rigorous
    # check can catch the halved matrix.
    folder = tmp_path / "tampered"
    shutil.copytree(refuted_report.parent, folder)
    matrix_file = folder / "P_chetaev.npz"
    P = np.load(matrix_file)["P_chetaev"]
    np.savez_compressed(matrix_file, P_chetaev=0.5 * P)
    cert = json.loads((folder / "certificate.json").read_text())
    digest = hashlib.sha256(matrix_file.read_bytes()).hexdigest()
    cert["arrays"]["P_chetaev"]["sha256"] = digest
    (folder / "certificate.json").write_text(json.dumps(cert))
    assert main(["-q", "check", str(folder)]) == 1
    assert "INVALID cli_additive (REFUTED): rigorous check" in capsys.readouterr().out


def test_verify_writes_pdf(refuted_report: Path) -> None:
    pytest.importorskip("weasyprint")
    cert = json.loads(refuted_report.read_text())
    assert cert["pdf"] == {"file": "certificate.pdf", "written": True}
    pdf = refuted_report.with_name("certificate.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")


def test_verify_no_pdf_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from biosynapse_verify import pipeline

    captured = []

    class Outcome:
        exit_code = 0

    def record_options(spec: object, options: object, progress: object) -> Outcome:
        captured.append(options)
        return Outcome()

    monkeypatch.setattr(pipeline, "verify", record_options)
    monkeypatch.setattr(
        "biosynapse_verify.commands.verify._print_verdict", lambda outcome, seconds: None
    )
    path = _tiny_network("multiplicative", tmp_path / "n.yaml")
    main(["-q", "verify", str(path), "--no-pdf"])
    main(["-q", "verify", str(path)])
    assert [options.pdf for options in captured] == [False, True]
    assert pipeline._pdf_record(pipeline.PDF_NOT_REQUESTED) == {
        "written": False,
        "reason": "not requested (--no-pdf)",
    }
