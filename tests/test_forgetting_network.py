"""Forgetting on the shipped two-task network (slow: about 25 s of simulated time)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from biosynapse_verify.forgetting import measure_forgetting
from biosynapse_verify.simulate import get_backend
from biosynapse_verify.spec import load_spec

pytestmark = pytest.mark.slow

NETWORK = Path(__file__).resolve().parents[1] / "networks" / "two_tasks.yaml"
GROUP_SIZE = 50


@pytest.fixture(scope="module")
def result():
    spec = load_spec(NETWORK)
    return measure_forgetting(spec, get_backend("torch"), seeds=[0, 1], epochs=10)


def test_task_a_settles_and_potentiates_group_a(result) -> None:
    assert result.training.settled
    assert result.potentiated[:, :GROUP_SIZE].all()
    # Group B fires uncorrelated Poisson spikes during task A, so at most a
    # few of its synapses cross the threshold by fluctuation.
    assert result.potentiated[:, GROUP_SIZE:].sum(axis=1).max() <= 5


def test_task_b_erodes_group_a(result) -> None:
    level = result.potentiated_level.mean(axis=0)
    assert np.all(np.diff(level) < 0)
    # Forgetting on task B must stand clear of the noise floor measured while
    # task A still trained; otherwise the measure would show only fluctuation.
    assert result.rates.mean() > 2 * result.control_rates.mean()


def test_bound_verdict_matches_rates(result) -> None:
    above = result.rates.max(axis=0) > result.bound.value
    assert result.bound_holds == (not above.any())
    assert result.bound.epoch_in_tau == pytest.approx(5.0)
