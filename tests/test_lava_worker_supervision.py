"""Tests of how the Lava launcher supervises its worker process.

A stand-in worker script replaces lava_worker/worker.py, so these tests need
no Lava environment: they run the launcher's process handling against
scripts that exit, hang after a traceback, or outlive the timeout.
"""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pytest

from biosynapse_verify.simulate import lava_launcher
from biosynapse_verify.simulate.lava_launcher import LavaWorkerError, _run_worker


def use_worker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, body: str) -> Path:
    """Install a stand-in worker script and return the job folder."""
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(body))
    monkeypatch.setattr(lava_launcher, "WORKER_SCRIPT", script)
    monkeypatch.setattr(lava_launcher, "WORKER_POLL_INTERVAL", 0.05)
    folder = tmp_path / "job"
    folder.mkdir()
    return folder


def test_progress_forwarded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder = use_worker(
        monkeypatch,
        tmp_path,
        """
        for fraction in (0.5, 1.0):
            print(f"progress {fraction}", flush=True)
        """,
    )
    seen: list[float] = []
    _run_worker(Path(sys.executable), folder, seen.append, timeout=None)
    assert seen == [0.5, 1.0]


def test_failed_worker_raises_stderr(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = use_worker(monkeypatch, tmp_path, "raise SystemExit('model failed')")
    with pytest.raises(LavaWorkerError, match="exited with status 1") as info:
        _run_worker(Path(sys.executable), folder, None, timeout=None)
    assert "model failed" in str(info.value)


def test_hung_after_traceback_killed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = use_worker(
        monkeypatch,
        tmp_path,
        """
        import sys, time, traceback
        try:
            raise RuntimeError("inside a process model")
        except RuntimeError:
            traceback.print_exc()
            sys.stderr.flush()
        time.sleep(600)
        """,
    )
    monkeypatch.setattr(lava_launcher, "WORKER_ERROR_GRACE", 0.5)
    started = time.monotonic()
    with pytest.raises(LavaWorkerError, match="raised an exception") as info:
        _run_worker(Path(sys.executable), folder, None, timeout=None)
    assert time.monotonic() - started < 30.0
    assert "inside a process model" in str(info.value)


def test_timeout_kills_whole_session(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The worker starts a child, as Lava's runtime does, and both sleep.
    pid_file = tmp_path / "child.pid"
    folder = use_worker(
        monkeypatch,
        tmp_path,
        f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        time.sleep(600)
        """,
    )
    with pytest.raises(LavaWorkerError, match="timed out after 2 s"):
        _run_worker(Path(sys.executable), folder, None, timeout=2.0)
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.1)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    """Whether pid is a running process (zombies count as gone)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return status != "Z"
