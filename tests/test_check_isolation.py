"""The checker must not depend on the certificate search."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import biosynapse_verify.check

CHECK_DIR = Path(biosynapse_verify.check.__file__).parent


def _imported_modules(path: Path) -> list[str]:
    """Return every module name imported by a source file, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = "biosynapse_verify.check"
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = (
                    package.rsplit(".", node.level - 1)[0]
                    if node.level > 1
                    else package
                )
                names.append(f"{base}.{node.module}" if node.module else base)
            else:
                names.append(node.module or "")
    return names


def test_check_import_loads_no_certify_module():
    code = (
        "import sys, biosynapse_verify.check\n"
        "prefix = 'biosynapse_verify.certify'\n"
        "loaded = [m for m in sys.modules if m.startswith(prefix)]\n"
        "print(','.join(loaded))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == ""


def test_check_sources_never_import_certify():
    sources = sorted(CHECK_DIR.glob("*.py"))
    assert len(sources) > 5
    for path in sources:
        for name in _imported_modules(path):
            assert "certify" not in name.split("."), f"{path.name} imports {name}"


def test_import_scanner_sees_relative_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from ..certify import ladder\nimport biosynapse_verify.certify.sdp\n"
    )
    names = _imported_modules(probe)
    assert "biosynapse_verify.certify" in names
    assert "biosynapse_verify.certify.sdp" in names
