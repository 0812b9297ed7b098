"""STDP in the torch backend against closed forms, the same-step rule and the bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from biosynapse_verify.simulate import get_backend
from biosynapse_verify.spec import parse_spec

DT = 1e-4
ENGINES = ["event", "clock", "reference"]
# Each simulated change is a rounded product of exact trace powers, so the
# accumulated error is a few ulp of the weight; 1e-9 relative leaves margin.
PAIR_SUM_RTOL = 1e-9
A_PLUS, A_MINUS = 0.01, 0.012
TAU_PLUS, TAU_MINUS = 0.02, 0.03
ETA = 0.5
W_START = 0.5


def pairing_spec(
    pre_times: list[float],
    post_times: list[float],
    duration: float,
    period: float | None = None,
) -> object:
    """One plastic synapse pre -> post; a strong static input fires post at post_times.

    The driver's jump of 40 leak conductances (current-based, tau_syn 0.02 ms)
    pushes v over threshold within the step of each driver spike and has
    decayed below threshold drive one step later, so post spikes exactly at
    the driver's steps. The plastic synapse's own input is too weak to fire it.
    """
    timing = {} if period is None else {"period": period}
    return parse_spec(
        {
            "name": "pairing",
            "inputs": [
                {"name": "pre", "kind": "spike_times", "times": [pre_times], **timing},
                {
                    "name": "driver",
                    "kind": "spike_times",
                    "times": [post_times],
                    **timing,
                },
            ],
            "populations": [
                {
                    "name": "post",
                    "size": 1,
                    "tau_m": 0.01,
                    "v_rest": -0.07,
                    "v_threshold": -0.05,
                    "v_reset": -0.06,
                    "v_init": -0.07,
                    "synapse": "current",
                    "tau_syn_exc": 2e-5,
                }
            ],
            "projections": [
                {
                    "name": "plastic",
                    "source": "pre",
                    "target": "post",
                    "weight": W_START,
                    "w_max": 1.0,
                    "plasticity": {
                        "rule": "additive",
                        "a_plus": A_PLUS,
                        "a_minus": A_MINUS,
                        "tau_plus": TAU_PLUS,
                        "tau_minus": TAU_MINUS,
                        "eta": ETA,
                    },
                },
                {
                    "name": "drive",
                    "source": "driver",
                    "target": "post",
                    "weight": 40.0,
                    "w_max": 40.0,
                },
            ],
            "simulation": {"dt": DT, "duration": duration, "record_interval": duration},
        }
    )


def pair_sum(pre_steps: np.ndarray, post_steps: np.ndarray) -> float:
    """Return eta * sum of W(t_post - t_pre) over all pairs, with W(0) = a_plus."""
    total = 0.0
    for pre in pre_steps:
        for post in post_steps:
            lag = (post - pre) * DT
            if lag >= 0:
                total += A_PLUS * math.exp(-lag / TAU_PLUS)
            else:
                total -= A_MINUS * math.exp(lag / TAU_MINUS)
    return ETA * total


def simulate_pairing(
    engine: str, spec: object, device: str = "cpu"
) -> tuple[float, np.ndarray]:
    result = get_backend("torch", engine=engine, device=device).run(spec)
    change = result.final_weights("plastic")[0, 0] - W_START
    post_steps = np.rint(result.spike_times["post"][0][0] / DT).astype(int)
    return float(change), post_steps


def steps_of(times: list[float]) -> np.ndarray:
    return np.rint(np.asarray(times) / DT).astype(int)


PAIRINGS = {
    "pre_then_post": ([0.010], [0.020]),
    "post_then_pre": ([0.020], [0.010]),
    "trains": ([0.005, 0.0123, 0.040, 0.0411], [0.010, 0.0151, 0.038, 0.06005]),
    "burst_pairs": ([0.001, 0.002, 0.003], [0.0025, 0.0035, 0.090]),
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", sorted(PAIRINGS))
def test_pair_sum_closed_form(engine: str, case: str) -> None:
    pre, post = PAIRINGS[case]
    change, post_steps = simulate_pairing(
        engine, pairing_spec(pre, post, duration=0.12)
    )
    np.testing.assert_array_equal(post_steps, steps_of(post))
    expected = pair_sum(steps_of(pre), steps_of(post))
    assert change == pytest.approx(expected, rel=PAIR_SUM_RTOL)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("engine", ENGINES)
def test_pair_sum_on_cuda(engine: str) -> None:
    pre, post = PAIRINGS["trains"]
    spec = pairing_spec(pre, post, duration=0.12)
    change, post_steps = simulate_pairing(engine, spec, device="cuda")
    np.testing.assert_array_equal(post_steps, steps_of(post))
    expected = pair_sum(steps_of(pre), steps_of(post))
    assert change == pytest.approx(expected, rel=PAIR_SUM_RTOL)


@pytest.mark.parametrize("engine", ENGINES)
def test_pair_sum_periodic_pattern(engine: str) -> None:
    period, duration = 0.05, 0.3
    spec = pairing_spec(
        [0.010, 0.031], [0.015, 0.030], duration=duration, period=period
    )
    change, post_steps = simulate_pairing(engine, spec)
    repeats = np.arange(round(duration / period)) * period
    pre = steps_of([t + r for r in repeats for t in (0.010, 0.031)])
    post = steps_of([t + r for r in repeats for t in (0.015, 0.030)])
    np.testing.assert_array_equal(post_steps, np.sort(post))
    assert change == pytest.approx(pair_sum(pre, post), rel=PAIR_SUM_RTOL)


@pytest.mark.parametrize("engine", ENGINES)
def test_same_step_pair_is_causal(engine: str) -> None:
    change, post_steps = simulate_pairing(engine, pairing_spec([0.010], [0.010], 0.05))
    np.testing.assert_array_equal(post_steps, steps_of([0.010]))
    assert change == pytest.approx(ETA * A_PLUS, rel=PAIR_SUM_RTOL)


@pytest.mark.parametrize("engine", ENGINES)
def test_same_step_after_earlier_post(engine: str) -> None:
    # The pre spike at 20 ms pairs with the post spike at 10 ms (depression)
    # and then with the post spike at 20 ms at lag 0 (potentiation by a_plus).
    change, _ = simulate_pairing(engine, pairing_spec([0.020], [0.010, 0.020], 0.05))
    expected = ETA * (A_PLUS - A_MINUS * math.exp(-0.010 / TAU_MINUS))
    assert change == pytest.approx(expected, rel=PAIR_SUM_RTOL)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "pre, post",
    [([], []), ([0.010, 0.020], []), ([], [0.010, 0.030])],
    ids=["no_spikes", "pre_only", "post_only"],
)
def test_no_pairs_no_change(engine: str, pre: list[float], post: list[float]) -> None:
    change, _ = simulate_pairing(engine, pairing_spec(pre, post, 0.05))
    assert change == 0.0


def bounded_network(
    rule: str,
    w_min: float,
    w_max: float,
    a_plus: float,
    a_minus: float,
    mu: float,
    rate: float,
) -> object:
    """Poisson inputs at a high rate onto two neurons, with large STDP steps."""
    plasticity = {
        "rule": rule,
        "a_plus": a_plus,
        "a_minus": a_minus,
        "tau_plus": 0.01,
        "tau_minus": 0.015,
        "eta": 1.0,
    }
    if rule == "power_law":
        plasticity["mu"] = mu
    return parse_spec(
        {
            "name": "bounds",
            "inputs": [{"name": "inputs", "kind": "poisson", "size": 30, "rate": rate}],
            "populations": [
                {
                    "name": "post",
                    "size": 2,
                    "tau_m": 0.01,
                    "v_rest": -0.07,
                    "v_threshold": -0.054,
                    "v_reset": -0.06,
                    "i_bias": 0.012,
                }
            ],
            "projections": [
                {
                    "name": "learned",
                    "source": "inputs",
                    "target": "post",
                    "weight": {"distribution": "uniform", "low": w_min, "high": w_max},
                    "w_min": w_min,
                    "w_max": w_max,
                    "plasticity": plasticity,
                }
            ],
            "simulation": {
                "dt": DT,
                "duration": 0.03,
                "seeds": [1, 2],
                "record_interval": 10 * DT,
            },
        }
    )


@settings(max_examples=15, deadline=None)
@given(
    rule=st.sampled_from(["additive", "multiplicative", "power_law"]),
    w_min=st.floats(0.0, 0.05),
    width=st.floats(0.01, 0.5),
    a_plus_fraction=st.floats(0.01, 2.0),
    a_minus_fraction=st.floats(0.01, 2.0),
    mu=st.floats(0.0, 1.0),
    rate=st.floats(20.0, 400.0),
)
def test_weights_stay_within_bounds(
    rule: str,
    w_min: float,
    width: float,
    a_plus_fraction: float,
    a_minus_fraction: float,
    mu: float,
    rate: float,
) -> None:
    w_max = w_min + width
    spec = bounded_network(
        rule, w_min, w_max, a_plus_fraction * w_max, a_minus_fraction * w_max, mu, rate
    )
    weights = get_backend("torch").run(spec).weights["learned"]
    assert np.all(np.isfinite(weights))
    assert weights.min() >= w_min
    assert weights.max() <= w_max


@pytest.mark.parametrize("engine", ENGINES)
def test_saturating_steps_reach_both_bounds(engine: str) -> None:
    spec = bounded_network("additive", 0.01, 0.05, 0.05, 0.06, 0.0, 300.0)
    weights = get_backend("torch", engine=engine).run(spec).weights["learned"]
    assert weights.min() == 0.01
    assert weights.max() == 0.05
