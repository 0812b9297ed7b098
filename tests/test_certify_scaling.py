"""The certificate scaling benchmark runs end to end on its two smallest sizes.

No test here asserts a timing; the benchmark itself reports those.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import certify_scaling

# The dense Lyapunov peer took 20 to 28 s at n = 1000 and 0.02 to 0.06 s at
# n = 100 on the 2-core development machine, so this cap stops the first run
# and usually not the second.
TINY_CAP_SECONDS = 0.2


def test_scaling_main_smallest_sizes(tmp_path: Path, capsys) -> None:
    out = tmp_path / "scaling.json"
    argv = ["--sizes", "100", "1000", "--cap", str(TINY_CAP_SECONDS)]
    argv += ["--repeats", "1", "--peers", "lyapunov", "--crosscheck-max-n", "100"]
    argv += ["--json", str(out)]
    results = certify_scaling.main(argv)
    printed = capsys.readouterr().out

    cases = {case["n"]: case for case in results["cases"]}
    assert sorted(cases) == [100, 1000]
    for case in cases.values():
        ours = case["ours"]
        assert ours["status"] == "ok", ours
        assert ours["verdict"] == "certified"
        assert ours["seconds"] > 0
        assert ours["peak_MiB"] >= ours["baseline_MiB"]
    assert cases[100]["ours"]["crosscheck"]["confirmed"], cases[100]["ours"]
    assert "crosscheck" not in cases[1000]["ours"]
    assert cases[1000]["lyapunov"]["status"] == "dnf"
    small = cases[100]["lyapunov"]
    assert small["status"] in ("ok", "dnf")
    if small["status"] == "ok":
        assert cases[100]["agreement"]["lyapunov_verdict_agrees"] is True

    assert json.loads(out.read_text()) == json.loads(json.dumps(results))
    assert "| n | nnz | runs | search s |" in printed
    assert "did not finish" in printed
    assert "growth exponent of our wall time against nnz" in printed


def test_peer_memory_estimate_skips() -> None:
    assert certify_scaling.peer_estimate_bytes("sdp", 1000) == 130e9
    reason = certify_scaling.skip_reason("lyapunov", 10**6)
    assert reason is not None
    assert "GiB" in reason
    assert certify_scaling.skip_reason("lyapunov", 10) is None
