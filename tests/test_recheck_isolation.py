"""The re-check path must not depend on the certificate search."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import biosynapse_verify.commands.check
import biosynapse_verify.recheck
from biosynapse_verify.testing import (
    REFERENCE_TRANSFER,
    certify_mean_field,
    feedforward_spec,
)

RECHECK_SOURCES = sorted(
    Path(biosynapse_verify.recheck.__file__).parent.glob("*.py")
) + [Path(biosynapse_verify.commands.check.__file__)]


def imported_modules(path: Path, package: str) -> list[str]:
    """Return every module imported by a source file, relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.rsplit(".", node.level - 1)[0]
                module = f"{base}.{module}" if module else base
            names.append(module)
            # "from biosynapse_verify import certify" imports a submodule too.
            names.extend(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_recheck_sources_never_import_certify_or_pipeline() -> None:
    assert len(RECHECK_SOURCES) >= 6
    for path in RECHECK_SOURCES:
        for name in imported_modules(path, "biosynapse_verify.recheck"):
            parts = name.split(".")
            assert "certify" not in parts, f"{path.name} imports {name}"
            assert "pipeline" not in parts, f"{path.name} imports {name}"


def test_scanner_sees_relative_imports(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from ..certify import ladder\nfrom . import model\n"
        "from biosynapse_verify import certify\n"
    )
    names = imported_modules(probe, "biosynapse_verify.recheck")
    assert "biosynapse_verify.certify" in names
    assert "biosynapse_verify.recheck.model" in names
    assert names.count("biosynapse_verify.certify") == 2


def test_running_a_recheck_loads_no_certify_module(tmp_path: Path) -> None:
    spec = feedforward_spec(name="isolated")
    path = certify_mean_field(spec, {"post": REFERENCE_TRANSFER}, out_dir=tmp_path).path
    code = (
        "import sys\n"
        "from biosynapse_verify.cli import main\n"
        f"code = main(['-q', 'check', {str(path)!r}])\n"
        "loaded = [m for m in sys.modules if m.startswith('biosynapse_verify.certify')]\n"
        "print('LOADED=' + ','.join(loaded), 'CODE=' + str(code))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    last = completed.stdout.strip().splitlines()[-1]
    assert last == "LOADED= CODE=0", completed.stdout + completed.stderr
