"""Lava launcher tests that need no Lava: environment errors and the spec mapping."""

from __future__ import annotations

import math

import pytest
import yaml

from biosynapse_verify.cli import main
from biosynapse_verify.simulate.lava_launcher import (
    LavaBackend,
    LavaRangeError,
    LavaUnavailableError,
    _overflow_message,
    current_based_equivalent,
    float_to_literal,
    lava_python,
    map_spec,
)
from biosynapse_verify.spec import load_spec, parse_spec


def pairing_spec(**changes) -> object:
    """One input and one driver onto one current-based LIF neuron."""
    data = {
        "name": "pairing",
        "inputs": [
            {"name": "pre", "kind": "spike_times", "times": [[0.010]]},
            {"name": "driver", "kind": "spike_times", "times": [[0.015]]},
        ],
        "populations": [
            {
                "name": "post",
                "size": 1,
                "tau_m": "10 ms",
                "v_rest": "-74 mV",
                "v_threshold": "-54 mV",
                "v_reset": "-60 mV",
                "synapse": "current",
                "tau_syn_exc": "0.01 ms",
                "v_init": "-74 mV",
            }
        ],
        "projections": [
            {
                "name": "plastic",
                "source": "pre",
                "target": "post",
                "weight": 0.0005,
                "w_max": 0.001,
                "plasticity": {
                    "rule": "additive",
                    "a_plus": 1.0e-4,
                    "a_minus": 1.05e-4,
                },
            },
            {"name": "drive", "source": "driver", "target": "post", "weight": 100.0,
             "w_max": 100.0},
        ],
        "simulation": {"dt": "0.1 ms", "duration": "40 ms", "record_interval": "10 ms"},
    }
    for path, value in changes.items():
        target = data
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target[key]
        target[keys[-1]] = value
    return parse_spec(data)


def parameter(mapping, name):
    return next(p for p in mapping.parameters() if p.name == name)


def test_missing_environment_names_setup_command(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOSYNAPSE_LAVA_VENV", str(tmp_path / "absent"))
    with pytest.raises(LavaUnavailableError, match="scripts/setup_lava.sh"):
        lava_python()
    with pytest.raises(LavaUnavailableError, match="make setup"):
        LavaBackend().run(pairing_spec())


def test_float_to_literal_rounds_like_stdploihi():
    assert float_to_literal(1.0e-4) == float_to_literal(1.05e-4) == (1, -13)
    assert float_to_literal(-0.159) == (-1, -3)
    assert float_to_literal(3.0) == (3, 0)
    assert float_to_literal(2.9) == (2, 1)
    assert float_to_literal(0.0) == (0, 0)


def test_stdploihi_scaling_turns_song_ratio_into_one():
    spec = load_spec("networks/song2000.yaml")
    mapping = map_spec(spec, "floating_pt", "stdploihi")
    rule = mapping.projections["feedforward"].rule
    plus, minus = rule["dw"].split("*t-", 1)
    assert plus.split("*")[:2] == minus.split("*")[:2]  # same literal for A+ and A-
    assert rule["x1_impulse"] == rule["y1_impulse"] == 16
    ratio = parameter(mapping, "feedforward.a_minus/a_plus")
    assert ratio.requested == pytest.approx(1.05)
    # Only the one-step alignment factor exp(2 dt / tau) remains of 1.05.
    assert ratio.realised == pytest.approx(math.exp(2 * 1e-4 / 20e-3))
    assert any("scaling='preserve' realises 1.05" in w for w in mapping.warnings)


def test_preserve_scaling_is_exact_in_floating_point():
    spec = load_spec("networks/song2000.yaml")
    mapping = map_spec(spec, "floating_pt", "preserve")
    for name in ("a_plus", "a_minus", "a_minus/a_plus"):
        assert abs(parameter(mapping, f"feedforward.{name}").relative_change) < 1e-12
    assert mapping.warnings == []


def test_fixed_point_amplitudes_within_two_percent():
    spec = load_spec("networks/song2000.yaml")
    mapping = map_spec(spec, "fixed_pt", "preserve")
    for name in ("a_plus", "a_minus", "a_minus/a_plus"):
        assert abs(parameter(mapping, f"feedforward.{name}").relative_change) < 0.015
    rule = mapping.projections["feedforward"].rule
    assert rule["x1_impulse"] == int(rule["x1_impulse"]) <= 32


def test_depression_has_negative_sign_in_rule():
    mapping = map_spec(pairing_spec(), "floating_pt")
    dw = mapping.projections["plastic"].rule["dw"]
    assert dw.startswith("1*2^0*y0*x1")  # post spike with pre trace: potentiation
    assert "-1*2^0*x0*y1" in dw  # pre spike with post trace: depression


def test_bounds_mapped_to_lava_units():
    spec = pairing_spec(**{"projections.0.w_min": 0.0004})
    for config in ("floating_pt", "fixed_pt"):
        mapping = map_spec(spec, config)
        proj = mapping.projections["plastic"]
        assert proj.low / proj.weight_scale == pytest.approx(0.0004, rel=2e-3)
        assert proj.high == pytest.approx(255)


def test_power_law_fractional_mu_is_rejected():
    spec = pairing_spec(
        **{"projections.0.plasticity": {"rule": "power_law", "mu": 0.5, "a_plus": 1e-4,
                                        "a_minus": 1e-4}}
    )
    with pytest.raises(NotImplementedError, match="power_law with mu = 0.5"):
        map_spec(spec)


def test_power_law_mu_one_uses_soft_bound_factor():
    spec = pairing_spec(
        **{"projections.0.plasticity": {"rule": "power_law", "mu": 1.0, "a_plus": 1e-4,
                                        "a_minus": 1e-4}}
    )
    dw = map_spec(spec).projections["plastic"].rule["dw"]
    assert "(w-255)" in dw
    assert "*w*t" in dw


def test_refractory_rejected_in_fixed_point():
    spec = load_spec("networks/vanrossum2000.yaml")
    with pytest.raises(NotImplementedError, match="refractory"):
        map_spec(spec, "fixed_pt")


def test_plastic_inhibitory_projection_rejected():
    spec = pairing_spec(
        **{"projections.0.receptor": "inhibitory", "populations.0.tau_syn_inh": "0.01 ms"}
    )
    with pytest.raises(NotImplementedError, match="inhibitory"):
        map_spec(spec)


def test_large_threshold_overflow_is_an_error():
    spec = pairing_spec(**{"populations.0.v_threshold": "20 V"})
    with pytest.raises(LavaRangeError, match="v_threshold"):
        map_spec(spec, "fixed_pt")
    map_spec(spec, "floating_pt")  # floating point has no such limit


def test_large_bias_overflow_is_an_error():
    spec = pairing_spec(**{"populations.0.i_bias": "-30 V"})
    with pytest.raises(LavaRangeError, match="i_bias"):
        map_spec(spec, "fixed_pt")


def test_fixed_point_values_fit_bit_widths():
    spec = load_spec("networks/song2000.yaml")
    pop = map_spec(spec, "fixed_pt").populations["post"]
    assert 0 <= pop.vth <= 2**17 - 1
    assert abs(pop.bias_mant) <= 4095 and 0 <= pop.bias_exp <= 7
    assert 0 <= pop.du <= 4095 and 1 <= pop.dv <= 4095


def test_conductance_runs_as_current_based_equivalent():
    spec = load_spec("networks/vanrossum2000.yaml")
    mapping = map_spec(spec)
    assert any("frozen" in note for note in mapping.approximations)
    equivalent = current_based_equivalent(spec)
    pop, original = equivalent.populations[0], spec.populations[0]
    assert pop.synapse == "current"
    frozen = 0.5 * (original.v_reset + original.v_threshold)
    assert pop.e_exc - pop.v_rest == pytest.approx(original.e_exc - frozen)


def test_fixed_point_overflow_exits_2_naming_parameter(tmp_path, capsys, monkeypatch):
    # The mapping runs before the Lava environment is looked up, so this
    # needs no Lava.
    monkeypatch.setenv("BIOSYNAPSE_LAVA_VENV", str(tmp_path / "absent"))
    path = tmp_path / "big.yaml"
    spec = pairing_spec(**{"populations.0.v_threshold": "20 V"})
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json")))
    code = main(["simulate", str(path), "--backend", "lava", "--lava-config", "fixed_pt"])
    err = capsys.readouterr().err
    assert code == 2
    assert "v_threshold" in err
    assert "floating_pt" in err


def test_worker_overflow_message_is_extracted():
    stderr = (
        "Traceback (most recent call last):\n"
        '  File "worker.py", line 3, in run\n'
        "FixedPointOverflow: fixed-point overflow: the synaptic current u of "
        "population 'post' left the signed 24-bit range\n"
    )
    message = _overflow_message(stderr)
    assert message.startswith("fixed-point overflow: the synaptic current u")
    assert "'post'" in message
    assert _overflow_message("ValueError: something else\n") is None
