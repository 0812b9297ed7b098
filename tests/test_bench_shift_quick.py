"""End-to-end quick run of ``bench shift``: every method and level is reported."""

from __future__ import annotations

import argparse
import json

import pytest

from biosynapse_verify.bench import add_bench_parser, run_shift_benchmark
from biosynapse_verify.bench.output import CLAIMED_ACCURACY
from biosynapse_verify.bench.shift import METHODS, quick_settings

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# The quick run needs about 30 s of CPU time, but took 84 s of wall time on a
# loaded 2-core machine, so it is kept out of the default test run.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-shift")
    parser = argparse.ArgumentParser()
    add_bench_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "shift", "--quick", "--out", str(out)])
    assert args.handler is run_shift_benchmark
    exit_code = args.handler(args)
    return exit_code, out


def test_quick_run_exit_code(quick_run):
    exit_code, _ = quick_run
    assert exit_code == 0


def test_quick_run_json_has_all_cells(quick_run):
    _, out = quick_run
    record = json.loads((out / "results.json").read_text())
    settings = quick_settings()
    assert record["mode"] == "quick"
    assert len(record["per_seed"]) == len(settings.seeds)
    for family in settings.families:
        table = record["measured_accuracy"][family]
        assert set(table) == set(METHODS)
        for method in METHODS:
            for level in settings.levels:
                cell = table[method][f"{level:g}"]
                assert cell["n"] == len(settings.seeds)
                assert 0.0 <= cell["mean"] <= 1.0
                assert cell["std"] >= 0.0


def test_quick_run_records_selection(quick_run):
    _, out = quick_run
    record = json.loads((out / "results.json").read_text())
    for seed_record in record["per_seed"]:
        selected = seed_record["selected_hyperparameters"]
        assert set(selected) == {"cnn", "ewc", "stdp", "stdp_adaptation"}
    ratios = record["energy"]["ratio_cnn_over_stdp"]
    assert all(value > 0.0 for value in ratios.values())


def test_quick_run_markdown_table(quick_run, capsys):
    _, out = quick_run
    text = (out / "results.md").read_text()
    assert "Claimed accuracy" in text
    assert "ESTIMATE" in text
    for family in quick_settings().families:
        assert f"shift family `{family}`" in text
    for heading in ("STDP online", "Frozen SGD CNN", "EWC", "STDP no adapt."):
        assert f"| {heading} |" in text or f"| {heading} " in text
    for level in CLAIMED_ACCURACY["stdp_online"]:
        assert f"| {100 * float(level):g}% (" in text


def test_quick_run_plot_is_png(quick_run):
    _, out = quick_run
    data = (out / "accuracy_vs_shift.png").read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert not list(out.glob(".*.tmp"))
