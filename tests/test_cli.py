"""Command line: exit codes, one-line errors, and small end-to-end runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from biosynapse_verify.cli import main


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


def test_verify_certifies_multiplicative_network(tmp_path: Path) -> None:
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
