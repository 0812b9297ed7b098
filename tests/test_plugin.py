"""The pytest plugin, its assertions, and the example test file that documents them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from biosynapse_verify.testing import (
    REFERENCE_TRANSFER,
    assert_certified,
    assert_refuted,
    certificate_path,
    certify_mean_field,
    feedforward_spec,
)

pytest_plugins = ["pytester"]

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = REPO_ROOT / "examples" / "test_my_network.py"
PLUGIN = "biosynapse_verify.pytest_plugin"


@pytest.fixture(scope="module")
def certified(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = feedforward_spec(name="plugin_certified")
    folder = tmp_path_factory.mktemp("certified")
    return certify_mean_field(spec, {"post": REFERENCE_TRANSFER}, out_dir=folder).path


@pytest.fixture(scope="module")
def refuted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = feedforward_spec(name="plugin_refuted", rule="power_law")
    folder = tmp_path_factory.mktemp("refuted")
    return certify_mean_field(spec, {"post": REFERENCE_TRANSFER}, out_dir=folder).path


def run_pytest(*args: str) -> subprocess.CompletedProcess:
    """Run pytest in a fresh interpreter, where the entry point loads the plugin."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )


# ---------------------------------------------------------------- assertions
def test_assert_certified_returns_recheck(certified: Path) -> None:
    result = assert_certified(certified, min_beta=0.01)
    assert result.valid
    assert result.verdict == "certified"


def test_assert_certified_names_low_beta(certified: Path) -> None:
    with pytest.raises(AssertionError, match=r"below the required 1e\+06 1/s"):
        assert_certified(certified, min_beta=1e6)


def test_assert_certified_names_low_margin(certified: Path) -> None:
    with pytest.raises(AssertionError, match="below the required margin"):
        assert_certified(certified, min_margin=1e9)


def test_assert_refuted_rejects_certified(certified: Path) -> None:
    with pytest.raises(AssertionError, match="expected a refuted certificate"):
        assert_refuted(certified)


def test_assert_refuted_passes_refutation(refuted: Path) -> None:
    result = assert_refuted(refuted, min_growth_rate=1e-6)
    assert result.growth_rate_lower > 1e-6


def test_assert_refuted_names_low_growth(refuted: Path) -> None:
    with pytest.raises(AssertionError, match="proven growth rate"):
        assert_refuted(refuted, min_growth_rate=1e3)


def test_assertion_fails_on_altered_certificate(
    certified: Path, tmp_path: Path
) -> None:
    import shutil

    folder = tmp_path / "altered"
    shutil.copytree(certified.parent, folder)
    record = json.loads((folder / "certificate.json").read_text())
    record["certificate"]["beta"] *= 4
    (folder / "certificate.json").write_text(json.dumps(record))
    with pytest.raises(AssertionError, match="did not re-check: INVALID"):
        assert_certified(folder)


def test_certificate_path_of_outcomes(certified: Path) -> None:
    pipeline_like = SimpleNamespace(paths={"certificate.json": certified})
    mean_field_like = SimpleNamespace(paths=None, path=certified)
    assert certificate_path(pipeline_like) == certified
    assert certificate_path(mean_field_like) == certified
    assert certificate_path(str(certified)) == certified
    with pytest.raises(TypeError, match="out_dir"):
        certificate_path(SimpleNamespace(path=None))


# -------------------------------------------------------------------- plugin
def test_plugin_import_is_light() -> None:
    code = (
        "import sys, biosynapse_verify.pytest_plugin\n"
        "heavy = [m for m in ('torch', 'biosynapse_verify.pipeline', "
        "'biosynapse_verify.certify', 'hypothesis') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == ""


def test_verify_network_tests_get_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_full(verify_network):
            pass

        def test_quick(mean_field_certificate):
            pass
        """
    )
    selected = pytester.runpytest("--collect-only", "-q", "-m", "biosynapse_simulation")
    selected.stdout.fnmatch_lines(
        ["*test_full*", "*1/2 tests collected (1 deselected)*"]
    )


def test_fixtures_run_in_a_user_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from biosynapse_verify.testing import assert_certified, feedforward_spec_data

        def test_mapping_spec(mean_field_certificate, recheck):
            outcome = mean_field_certificate(feedforward_spec_data(name="user_net"))
            assert_certified(outcome)
            assert recheck(outcome.path).valid
        """
    )
    result = pytester.runpytest("-q")
    result.assert_outcomes(passed=1)


def test_bad_seed_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_full(verify_network):
            verify_network("missing.yaml")
        """
    )
    result = pytester.runpytest("--biosynapse-seeds", "zero,one")
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        ["*--biosynapse-seeds: expected comma-separated integers*"]
    )


def test_help_lists_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        ["*--biosynapse-duration*", "*--biosynapse-seeds*", "*--biosynapse-reports*"]
    )


def test_entry_point_names_plugin() -> None:
    from importlib.metadata import entry_points

    (entry,) = [e for e in entry_points(group="pytest11") if e.value == PLUGIN]
    assert entry.name == PLUGIN
    assert entry.load().__name__ == PLUGIN


@pytest.mark.parametrize(
    "options",
    [(), ("-p", PLUGIN)],
    ids=["entry point", "entry point and -p"],
)
def test_example_collects_through_plugin(options: tuple[str, ...]) -> None:
    # Only the plugin marks the test that uses verify_network. With -p as
    # well, pytest must not fail with "Plugin already registered".
    completed = run_pytest(
        *options, str(EXAMPLE), "--collect-only", "-q", "-m", "biosynapse_simulation"
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-3000:]
    assert "test_network_is_certified" in completed.stdout
    assert "1/4 tests collected (3 deselected)" in completed.stdout


def test_plugin_can_be_disabled() -> None:
    completed = run_pytest(
        "-p", f"no:{PLUGIN}", str(EXAMPLE), "-q", "-k", "mean_field_is_certified"
    )
    assert completed.returncode != 0
    assert "fixture 'mean_field_certificate' not found" in completed.stdout


# ------------------------------------------------------------------- example
# make test runs examples/ itself; this runs the simulation that it leaves out.


@pytest.mark.slow
def test_example_runs_with_simulation(tmp_path: Path) -> None:
    completed = run_pytest(
        str(EXAMPLE),
        "-q",
        "--biosynapse-reports",
        str(tmp_path),
        "-k",
        "network_is_certified",
    )
    assert completed.returncode == 0, (
        completed.stdout[-3000:] + completed.stderr[-2000:]
    )
    (report,) = tmp_path.glob("stdp_feedforward-*/certificate.json")
    assert_certified(report, min_beta=0.05)
