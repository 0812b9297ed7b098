"""Simulation evidence: decay-rate fits, distances and weight summaries."""

from __future__ import annotations

import numpy as np
import pytest

from biosynapse_verify.evidence import distance_series, fit_decay_rate, weight_summary


def test_decay_rate_recovers_exponential_above_floor() -> None:
    times = np.linspace(0.0, 20.0, 201)
    distance = np.hypot(3.0 * np.exp(-0.8 * times), 0.05)
    fit = fit_decay_rate(times, distance)
    assert fit["rate"] == pytest.approx(0.8, rel=0.02)
    assert fit["t_stop"] < 10.0


def test_growth_gives_negative_rate() -> None:
    times = np.linspace(0.0, 10.0, 50)
    fit = fit_decay_rate(times, 0.1 * np.exp(0.3 * times))
    assert fit["rate"] == pytest.approx(-0.3, rel=1e-6)


def test_decay_faster_than_record_is_reported() -> None:
    times = np.arange(10.0)
    distance = np.array([5.0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    fit = fit_decay_rate(times, distance)
    assert fit["rate"] is None
    assert "record_interval" in fit["reason"]


def test_distance_uses_selected_coordinates() -> None:
    states = np.zeros((2, 3, 4))
    states[1, 2] = [3.0, 4.0, 100.0, 0.0]
    target = np.zeros(4)
    mask = np.array([True, True, False, True])
    distance = distance_series(states, target, mask)
    assert distance.shape == (2, 3)
    assert distance[1, 2] == pytest.approx(5.0)


def test_weight_summary_bimodal_versus_unimodal() -> None:
    rng = np.random.default_rng(0)
    bimodal = np.concatenate([np.full(500, 0.0), np.full(500, 1.0)])
    unimodal = np.clip(rng.normal(0.5, 0.1, 1000), 0, 1)
    two = weight_summary(bimodal, 0.0, 1.0)
    one = weight_summary(unimodal, 0.0, 1.0)
    assert two["bimodality_coefficient"] > 5 / 9
    assert one["bimodality_coefficient"] < 5 / 9
    assert two["fraction_near_min"] == pytest.approx(0.5)
    assert two["fraction_near_max"] == pytest.approx(0.5)
