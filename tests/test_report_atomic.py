"""Tests of atomic file writing: complete file or untouched target, never debris."""

from __future__ import annotations

import os
import stat

import pytest

from biosynapse_verify.report import atomic
from biosynapse_verify.report.atomic import (
    atomic_write_bytes,
    atomic_write_text,
    atomic_writer,
)


def _debris(folder) -> list[str]:
    """Return leftover temporary files in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_write_text_creates_file(tmp_path):
    target = tmp_path / "out.txt"
    returned = atomic_write_text(target, "β = 0.5\nline two\n")
    assert returned == target
    assert target.read_text(encoding="utf-8") == "β = 0.5\nline two\n"
    assert _debris(tmp_path) == []


def test_write_bytes_replaces_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old content that is longer")
    atomic_write_bytes(target, b"\x00\x01new")
    assert target.read_bytes() == b"\x00\x01new"
    assert _debris(tmp_path) == []


def test_temporary_file_beside_target(tmp_path):
    target = tmp_path / "report.json"
    with atomic_writer(target) as handle:
        handle.write(b"partial")
        assert not target.exists()
        leftovers = _debris(tmp_path)
        assert len(leftovers) == 1
        assert leftovers[0].startswith(".report.json.")
    assert target.read_bytes() == b"partial"
    assert _debris(tmp_path) == []


def test_error_in_block_keeps_old_file(tmp_path):
    target = tmp_path / "certificate.json"
    target.write_text("old")
    with (
        pytest.raises(RuntimeError, match="simulated failure"),
        atomic_writer(target) as handle,
    ):
        handle.write(b"new but incomplete")
        raise RuntimeError("simulated failure")
    assert target.read_text() == "old"
    assert _debris(tmp_path) == []


def test_error_in_block_creates_nothing(tmp_path):
    target = tmp_path / "new.json"
    with pytest.raises(ValueError), atomic_writer(target) as handle:
        handle.write(b"{")
        raise ValueError("stop")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_keyboard_interrupt_cleans_up(tmp_path):
    target = tmp_path / "new.json"
    with pytest.raises(KeyboardInterrupt), atomic_writer(target) as handle:
        handle.write(b"{")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_failed_replace_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "certificate.json"
    target.write_text("old")

    def failing_replace(source, destination):
        raise OSError("simulated rename failure")

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated rename failure"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert _debris(tmp_path) == []


def test_failed_fsync_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "A.npz"
    target.write_bytes(b"old")

    def failing_fsync(descriptor):
        raise OSError("simulated disk error")

    monkeypatch.setattr(atomic.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="simulated disk error"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert _debris(tmp_path) == []


def test_unencodable_text_writes_nothing(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(target, "lone surrogate \ud800")
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_rejected(tmp_path):
    target = tmp_path / "absent" / "out.txt"
    with pytest.raises(FileNotFoundError, match="create the folder first"):
        atomic_write_text(target, "x")
    assert not (tmp_path / "absent").exists()


def test_wrong_types_rejected(tmp_path):
    with pytest.raises(TypeError, match="use atomic_write_text"):
        atomic_write_bytes(tmp_path / "a", "text")
    with pytest.raises(TypeError, match="use atomic_write_bytes"):
        atomic_write_text(tmp_path / "b", b"bytes")


@pytest.mark.skipif(os.name != "posix", reason="permission bits are POSIX")
def test_existing_mode_is_kept(tmp_path):
    target = tmp_path / "certificate.json"
    target.write_text("old")
    target.chmod(0o640)
    atomic_write_text(target, "new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


@pytest.mark.skipif(os.name != "posix", reason="permission bits are POSIX")
def test_new_file_mode_matches_open(tmp_path):
    reference = tmp_path / "reference.txt"
    reference.write_text("x")
    target = tmp_path / "atomic.txt"
    atomic_write_text(target, "x")
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(reference.stat().st_mode)
