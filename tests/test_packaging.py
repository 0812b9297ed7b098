"""Packaging: data files reach the wheel, and the pytest plugin is registered."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = REPO_ROOT / "biosynapse_verify"
PLUGIN = "biosynapse_verify.pytest_plugin"
# Files in the package tree that are not read at run time.
NOT_PACKAGE_DATA = ("*.py", "*.pyc")


def pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def data_files() -> list[str]:
    """Return the package's non-module files, relative to the package folder."""
    found = []
    for path in PACKAGE.rglob("*"):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        if any(fnmatch.fnmatch(path.name, pattern) for pattern in NOT_PACKAGE_DATA):
            continue
        found.append(path.relative_to(PACKAGE).as_posix())
    return sorted(found)


def test_data_files_are_package_data() -> None:
    patterns = pyproject()["tool"]["setuptools"]["package-data"]["biosynapse_verify"]
    files = data_files()
    assert "report/derivations.json" in files
    assert "report/templates/certificate.html.j2" in files
    for name in files:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), (
            f"{name} is not matched by package-data {patterns}, so a wheel "
            "would not contain it"
        )


def test_pytest_entry_point_declared() -> None:
    entry_points = pyproject()["project"]["entry-points"]["pytest11"]
    assert entry_points == {PLUGIN: PLUGIN}


@pytest.mark.slow
def test_wheel_contains_data_and_entry_point(tmp_path: Path) -> None:
    # setuptools builds inside the source folder, so build a copy.
    source = tmp_path / "source"
    shutil.copytree(
        PACKAGE,
        source / PACKAGE.name,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO_ROOT / name, source / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            str(source),
            "-w",
            str(tmp_path),
        ],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("biosynapse_verify-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_file,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_points = archive.read(entry_file).decode()
    for name in data_files():
        assert f"biosynapse_verify/{name}" in names
    assert f"[pytest11]\n{PLUGIN} = {PLUGIN}" in entry_points
