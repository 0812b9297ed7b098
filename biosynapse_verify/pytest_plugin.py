"""pytest plugin: fixtures for testing your own STDP networks with biosynapse-verify.

An installed biosynapse-verify enables it through its ``pytest11`` entry
point, which has this module's name. In a source checkout that is not
installed, pass ``-p biosynapse_verify.pytest_plugin``. It provides:

``verify_network(spec, *, duration=None, seeds=None, backend="torch")``
    Runs the full pipeline (simulation, calibration, certificate, check)
    once per spec and settings in a test session and returns the
    :class:`~biosynapse_verify.pipeline.VerifyOutcome`. Takes tens of
    seconds; tests that use it are marked ``biosynapse_simulation``, so
    ``-m "not biosynapse_simulation"`` leaves them out.
``mean_field_certificate(spec, transfers=None)``
    Writes a mean-field certificate without simulation, for given transfer
    functions (:func:`biosynapse_verify.testing.certify_mean_field`).
``recheck``
    :func:`biosynapse_verify.recheck.recheck_certificate`.

``spec`` may be a YAML path, a mapping or a
:class:`~biosynapse_verify.spec.NetworkSpec`. Assert on the results with
:func:`biosynapse_verify.testing.assertions.assert_certified` and
:func:`~biosynapse_verify.testing.assertions.assert_refuted`; Hypothesis
strategies for specs are in :mod:`biosynapse_verify.testing.strategies`.

Command-line options: ``--biosynapse-duration`` and ``--biosynapse-seeds``
shorten every ``verify_network`` run (for CI), and ``--biosynapse-reports``
keeps the certificates in a folder instead of pytest's temporary one.

Importing this module imports nothing heavier than pytest; the toolkit is
imported when a fixture is first used.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "SIMULATION_MARKER",
    "mean_field_certificate",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "recheck",
    "verify_network",
]

logger = logging.getLogger(__name__)

SIMULATION_MARKER = "biosynapse_simulation"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the plugin's command-line options."""
    group = parser.getgroup("biosynapse-verify")
    group.addoption(
        "--biosynapse-duration",
        default=None,
        help='simulated time of every verify_network run, e.g. "5 s" (overrides the spec)',
    )
    group.addoption(
        "--biosynapse-seeds",
        default=None,
        help="comma-separated trial seeds of every verify_network run, e.g. 0,1",
    )
    group.addoption(
        "--biosynapse-reports",
        default=None,
        help="folder for the certificates of verify_network (default: a temporary folder)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker that tests using ``verify_network`` get."""
    config.addinivalue_line(
        "markers",
        f"{SIMULATION_MARKER}: runs the spiking simulator through verify_network "
        "(tens of seconds per network)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that requests ``verify_network``, so ``-m`` can select it."""
    for item in items:
        if "verify_network" in getattr(item, "fixturenames", ()):
            item.add_marker(SIMULATION_MARKER)


def _as_spec(spec: Any) -> Any:
    """Return ``spec`` (a YAML path, a mapping or a NetworkSpec) as a NetworkSpec."""
    from biosynapse_verify.spec import NetworkSpec, load_spec, parse_spec

    if isinstance(spec, NetworkSpec):
        return spec
    if isinstance(spec, (str, Path)):
        return load_spec(spec)
    if isinstance(spec, Mapping):
        return parse_spec(dict(spec))
    raise TypeError(
        f"spec must be a YAML path, a mapping or a NetworkSpec, got {type(spec).__name__}"
    )


def _seeds_option(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise pytest.UsageError(
            f"--biosynapse-seeds: expected comma-separated integers, got {text!r}"
        ) from None


def _run_key(
    spec: Any, duration: float | None, seeds: list[int] | None, backend: str
) -> str:
    from biosynapse_verify.spec import spec_hash

    settings = json.dumps([spec_hash(spec), duration, seeds, backend])
    return hashlib.sha256(settings.encode()).hexdigest()[:12]


@pytest.fixture(scope="session")
def verify_network(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Any]:
    """Return ``run(spec, *, duration=None, seeds=None, backend="torch")`` -> VerifyOutcome.

    Each distinct spec and setting runs once per session; later calls
    return the same outcome. ``duration`` (seconds or a string such as
    "5 s") and ``seeds`` override the command-line options, which override
    the spec.
    """
    from biosynapse_verify.commands._common import parse_duration
    from biosynapse_verify.pipeline import VerifyOptions, verify

    config = request.config
    default_duration = parse_duration(config.getoption("--biosynapse-duration"))
    default_seeds = _seeds_option(config.getoption("--biosynapse-seeds"))
    reports = config.getoption("--biosynapse-reports")
    root = Path(reports) if reports else tmp_path_factory.mktemp("biosynapse_reports")
    outcomes: dict[str, Any] = {}

    def run(
        spec: Any,
        *,
        duration: float | str | None = None,
        seeds: list[int] | None = None,
        backend: str = "torch",
    ) -> Any:
        spec = _as_spec(spec)
        seconds = (
            parse_duration(str(duration)) if duration is not None else default_duration
        )
        trial_seeds = seeds if seeds is not None else default_seeds
        key = _run_key(spec, seconds, trial_seeds, backend)
        if key not in outcomes:
            options = VerifyOptions(
                backend=backend,
                out_dir=root / f"{spec.name}-{key}",
                duration=seconds,
                seeds=trial_seeds,
            )
            logger.info("verifying %s into %s", spec.name, options.out_dir)
            outcomes[key] = verify(spec, options)
        return outcomes[key]

    return run


@pytest.fixture
def mean_field_certificate(tmp_path: Path) -> Callable[..., Any]:
    """Return ``run(spec, transfers=None)`` -> MeanFieldOutcome, written under ``tmp_path``.

    ``transfers`` maps population names to
    :class:`~biosynapse_verify.dynamics.SoftplusTransfer`; by default every
    population gets :data:`biosynapse_verify.testing.REFERENCE_TRANSFER`,
    which was fitted to the conductance-based neuron of
    ``networks/vanrossum2000.yaml`` and fits other neurons only roughly.
    """
    from biosynapse_verify.testing import REFERENCE_TRANSFER, certify_mean_field

    count = 0

    def run(spec: Any, transfers: Mapping[str, Any] | None = None) -> Any:
        nonlocal count
        spec = _as_spec(spec)
        if transfers is None:
            transfers = {pop.name: REFERENCE_TRANSFER for pop in spec.populations}
        count += 1
        return certify_mean_field(
            spec, transfers, out_dir=tmp_path / f"{spec.name}-{count}"
        )

    return run


@pytest.fixture
def recheck() -> Callable[..., Any]:
    """Return :func:`biosynapse_verify.recheck.recheck_certificate`."""
    from biosynapse_verify.recheck import recheck_certificate

    return recheck_certificate
