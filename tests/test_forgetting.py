"""Forgetting: task schema, per-task specs, the bound, the measure and the command."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from biosynapse_verify.cli import main
from biosynapse_verify.errors import BadInputError
from biosynapse_verify.forgetting import (
    bound_parameters,
    epoch_rates,
    forgetting_bound,
    measure_forgetting,
    task_spec,
)
from biosynapse_verify.forgetting.bound import epoch_for_rate
from biosynapse_verify.forgetting.measure import window_drift
from biosynapse_verify.forgetting.schedule import phase_seeds
from biosynapse_verify.simulate import get_backend
from biosynapse_verify.spec import SpecError, load_spec, parse_spec, spec_hash
from biosynapse_verify.spec.schema import PoissonInput, SpikeTimesInput

NETWORKS = Path(__file__).resolve().parents[1] / "networks"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# A volley: input k of a five-neuron group fires at 0.2 k ms in every period.
VOLLEY = [[f"{0.2 * k:g} ms"] for k in range(5)]


def _tiny(task_b: dict | None = None, **forgetting: object) -> dict:
    """Two groups of five inputs onto one LIF neuron, tasks A and B (as a dict)."""
    plastic = {"rule": "multiplicative", "a_plus": 0.01, "a_minus": 0.02}
    task_a = {
        "name": "A",
        "inputs": [{"input": "group_a", "times": VOLLEY, "period": "50 ms"}],
    }
    if task_b is None:
        task_b = {
            "name": "B",
            "inputs": [
                {"input": "group_a", "rate": "20 Hz"},
                {"input": "group_b", "times": VOLLEY, "period": "50 ms"},
            ],
        }
    schedule = {
        "epoch": "50 ms",
        "epochs": 6,
        "potentiation_threshold": 0.1,
        "training": {"duration": "2 s", "window": "0.5 s", "tolerance": 0.5},
        "tasks": [task_a, task_b],
    }
    schedule.update(forgetting)
    return {
        "name": "tiny_tasks",
        "inputs": [
            {"name": group, "kind": "poisson", "size": 5, "rate": "20 Hz"}
            for group in ("group_a", "group_b")
        ],
        "populations": [
            {
                "name": "post",
                "size": 1,
                "tau_m": "10 ms",
                "v_rest": "-74 mV",
                "v_threshold": "-54 mV",
                "v_reset": "-60 mV",
                "refractory": "2 ms",
            }
        ],
        "projections": [
            {
                "name": f"{group}_to_post",
                "source": group,
                "target": "post",
                "weight": 0.25,
                "w_max": 0.5,
                "plasticity": dict(plastic),
            }
            for group in ("group_a", "group_b")
        ],
        "simulation": {"dt": "0.1 ms", "duration": "1 s", "seeds": [0, 1]},
        "forgetting": schedule,
    }


@pytest.fixture(scope="module")
def backend():
    return get_backend("torch")


@pytest.fixture(scope="module")
def switched(backend):
    """Task B moves the volley to group_b, learning on."""
    return measure_forgetting(parse_spec(_tiny()), backend)


@pytest.fixture(scope="module")
def recall(backend):
    """Task B repeats task A's inputs with learning off."""
    data = _tiny()
    task_b = dict(data["forgetting"]["tasks"][0], name="B", learning=False)
    data["forgetting"]["tasks"][1] = task_b
    return measure_forgetting(parse_spec(data), backend)


# --- the measurement -----------------------------------------------------------


def test_recall_without_learning_forgets_nothing(recall) -> None:
    assert recall.potentiated.any(axis=1).all()
    np.testing.assert_array_equal(recall.rates, 0.0)
    np.testing.assert_array_equal(recall.cumulative, 0.0)
    level = recall.potentiated_level
    np.testing.assert_array_equal(level, np.broadcast_to(level[:, :1], level.shape))
    assert recall.bound_holds


def test_switched_task_erodes_first_task(switched) -> None:
    assert switched.rates.shape == (2, 6)
    assert np.all(switched.rates > 0)
    level = switched.potentiated_level.mean(axis=0)
    assert level[-1] < level[0]
    assert switched.cumulative.mean(axis=0)[-1] > switched.cumulative.mean(axis=0)[0]


def test_first_task_potentiates_patterned_group(switched) -> None:
    # The volley group's synapses are the first five; they must all join W_A.
    assert switched.potentiated[:, :5].all()
    assert switched.training.task == "A"
    assert switched.training.duration == pytest.approx(2.0)


def test_result_bound_matches_formula(switched) -> None:
    expected = 2.0 * math.exp(-0.05 / 0.02)
    assert switched.bound.value == pytest.approx(expected, rel=1e-12)
    above = switched.rates.max(axis=0) > expected
    np.testing.assert_array_equal(switched.above_bound(), above)
    assert switched.bound_holds == (not above.any())


def test_summary_states_bound_verdict(switched) -> None:
    sentence = next(s for s in switched.summary() if s.startswith("The bound"))
    verdict = "holds in all" if switched.bound_holds else "fails in"
    assert verdict in sentence
    assert "16.4%" in sentence


def test_to_dict_is_strict_json(switched) -> None:
    record = switched.to_dict()
    text = json.dumps(record, allow_nan=False)
    back = json.loads(text)
    assert back["epochs"] == 6
    assert len(back["per_epoch"]["mean"]) == 6
    assert len(back["per_epoch"]["per_seed"]) == 2
    assert back["bound"]["value"] == pytest.approx(switched.bound.value)
    assert back["bound"]["quoted_value"] == pytest.approx(0.00067)
    assert back["bound_holds"] == switched.bound_holds


def test_figure_is_png(switched) -> None:
    assert switched.figure().startswith(PNG_SIGNATURE)


def test_table_has_one_row_per_epoch(switched) -> None:
    lines = switched.table().splitlines()
    assert len(lines) == 1 + 6
    assert lines[1].split()[0] == "1"


def test_unsettled_training_extends_and_says_so(backend) -> None:
    data = _tiny(epochs=1)
    data["forgetting"]["training"] = {
        "duration": "1 s",
        "max_duration": "2 s",
        "window": "0.5 s",
        "tolerance": 1e-9,
    }
    result = measure_forgetting(parse_spec(data), backend, seeds=[0])
    assert not result.training.settled
    assert result.training.runs == 2
    assert result.training.duration == pytest.approx(2.0)
    assert "did not settle" in result.summary()[0]


def test_nothing_potentiated_is_rejected(backend) -> None:
    spec = parse_spec(_tiny(potentiation_threshold=0.99, epochs=1))
    with pytest.raises(BadInputError, match="potentiated no synapse"):
        measure_forgetting(spec, backend, seeds=[0])


def test_first_task_without_learning_is_rejected(backend) -> None:
    data = _tiny()
    data["forgetting"]["tasks"][0]["learning"] = False
    with pytest.raises(BadInputError, match="learning off"):
        measure_forgetting(parse_spec(data), backend)


def test_spec_without_tasks_is_rejected(backend) -> None:
    data = _tiny()
    del data["forgetting"]
    with pytest.raises(BadInputError, match="no forgetting section"):
        measure_forgetting(parse_spec(data), backend)


# --- measures on hand-made weights ---------------------------------------------


def test_epoch_rates_use_only_potentiated_synapses() -> None:
    series = np.array([[[3.0, 4.0, 0.0], [3.0, 4.0, 5.0], [0.0, 0.0, 5.0]]])
    mask = np.array([[True, True, False]])
    rates = epoch_rates(series, mask)
    # Epoch 1 changes only the synapse outside W_A; epoch 2 moves W_A by 5
    # while ||W|| at its start is sqrt(50).
    np.testing.assert_allclose(rates, [[0.0, 5.0 / math.sqrt(50.0)]])


def test_window_drift_separates_constant_and_trend() -> None:
    constant = np.ones((1, 8, 3))
    assert window_drift(constant, 2)[0] == 0.0
    trend = np.arange(8.0)[None, :, None] * np.ones((1, 8, 2))
    # Window means 4.5 and 6.5 in both coordinates: change 2, norm 6.5.
    assert window_drift(trend, 2)[0] == pytest.approx(2.0 / 6.5)
    with pytest.raises(ValueError, match="two windows"):
        window_drift(constant, 5)


# --- the bound -----------------------------------------------------------------


def test_bound_at_five_tau_is_not_quoted_figure() -> None:
    rate = forgetting_bound(1.0, 1.05, 0.02, 0.1)
    assert rate == pytest.approx(1.05 * math.exp(-5.0), rel=1e-15)
    assert rate == pytest.approx(0.00707, abs=5e-6)
    assert epoch_for_rate(1.05, 0.00067) == pytest.approx(7.36, abs=0.005)


def test_bound_parameters_take_largest_projection() -> None:
    data = _tiny()
    data["projections"][1]["plasticity"]["a_minus"] = 0.03
    bound = bound_parameters(parse_spec(data), 0.05)
    assert bound.projection == "group_b_to_post"
    assert bound.amplitude_ratio == pytest.approx(3.0)
    assert not bound.uniform
    assert bound_parameters(parse_spec(_tiny()), 0.05).uniform


# --- per-task specs and seeds --------------------------------------------------


def test_task_spec_swaps_only_listed_inputs() -> None:
    spec = parse_spec(_tiny())
    first = task_spec(spec, spec.forgetting.tasks[0], 0.05)
    assert isinstance(first.input("group_a"), SpikeTimesInput)
    assert first.input("group_a").period == pytest.approx(0.05)
    assert first.input("group_b") == spec.input("group_b")
    assert first.simulation.record_interval == pytest.approx(0.05)
    assert first.projections == spec.projections
    second = task_spec(spec, spec.forgetting.tasks[1], 0.05)
    assert isinstance(second.input("group_a"), PoissonInput)
    assert second.input("group_a").rate == pytest.approx(20.0)
    assert isinstance(second.input("group_b"), SpikeTimesInput)


def test_phase_seeds_keep_trial_seeds_first() -> None:
    assert phase_seeds([3, 4], 0, 0) == [3, 4]
    later = phase_seeds([3, 4], 1, 0)
    assert later == phase_seeds([3, 4], 1, 0)
    assert len(set(later + [3, 4] + phase_seeds([3, 4], 0, 1))) == 6
    assert all(0 <= seed < 2**63 for seed in later)


# --- the schema ----------------------------------------------------------------


def test_spec_without_tasks_keeps_its_hash() -> None:
    spec = parse_spec({k: v for k, v in _tiny().items() if k != "forgetting"})
    assert "forgetting" not in spec.model_dump()
    assert spec.forgetting is None
    with_tasks = parse_spec(_tiny())
    assert "forgetting" in with_tasks.model_dump()
    assert spec_hash(with_tasks) != spec_hash(spec)


def test_spec_with_tasks_round_trips() -> None:
    spec = parse_spec(_tiny())
    again = parse_spec(spec.model_dump(mode="json"))
    assert again == spec
    assert again.forgetting.epoch == pytest.approx(0.05)
    assert again.forgetting.training.longest == pytest.approx(2.0)


def _set_first_pattern(data: dict, **pattern: object) -> None:
    data["forgetting"]["tasks"][0]["inputs"][0] = {"input": "group_a", **pattern}


@pytest.mark.parametrize(
    "mutate,fragment",
    [
        (
            lambda d: _set_first_pattern(d, rate="5 Hz", times=VOLLEY),
            "either rate",
        ),
        (lambda d: _set_first_pattern(d, rate="5 Hz", period="1 s"), "period applies"),
        (lambda d: _set_first_pattern(d), "either rate"),
        (
            lambda d: d["forgetting"]["tasks"][0]["inputs"][0].update(input="nowhere"),
            "forgetting.tasks.0.inputs.0.input: 'nowhere' is not an input",
        ),
        (
            lambda d: _set_first_pattern(d, times=VOLLEY[:3]),
            "times lists 3 neurons but input 'group_a' has 5",
        ),
        (
            lambda d: _set_first_pattern(d, rate=["5 Hz"] * 4),
            "forgetting.tasks.0.inputs.0: rate lists 4 values",
        ),
        (
            lambda d: _set_first_pattern(d, times=VOLLEY, period="0.5 ms"),
            "forgetting.tasks.0.inputs.0: spike time",
        ),
        (
            lambda d: d["forgetting"]["tasks"][0]["inputs"].append(
                {"input": "group_a", "rate": "5 Hz"}
            ),
            "listed twice",
        ),
        (
            lambda d: d["forgetting"]["tasks"][1].update(name="A"),
            "forgetting.tasks.1.name: 'A' is used twice",
        ),
        (lambda d: d["forgetting"].update(epoch="0.25 ms"), "forgetting.epoch"),
        (
            lambda d: d["forgetting"]["training"].update(window="0.12 s"),
            "forgetting.training.window",
        ),
        (
            lambda d: d["forgetting"]["training"].update(window="1.5 s"),
            "two windows",
        ),
        (
            lambda d: d["forgetting"]["training"].update(max_duration="1 s"),
            "max_duration (1.0 s) is not a whole multiple",
        ),
        (
            lambda d: d["forgetting"]["training"].update(max_duration="3 s"),
            "max_duration (3.0 s) is not a whole multiple",
        ),
        (lambda d: d["forgetting"]["tasks"].pop(), "forgetting.tasks"),
        (
            lambda d: [p.pop("plasticity") for p in d["projections"]],
            "no projection is plastic",
        ),
    ],
)
def test_invalid_tasks_message_names_field(mutate, fragment) -> None:
    data = _tiny()
    mutate(data)
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_two_tasks_network_loads() -> None:
    spec = load_spec(NETWORKS / "two_tasks.yaml")
    assert spec.source
    assert [task.name for task in spec.forgetting.tasks] == ["A", "B"]
    first = task_spec(spec, spec.forgetting.tasks[0], spec.forgetting.epoch)
    assert isinstance(first.input("group_a"), SpikeTimesInput)
    assert first.input("group_a").size == spec.input("group_a").size


# --- the command ---------------------------------------------------------------


def test_command_prints_table_and_writes_files(tmp_path: Path, capsys) -> None:
    import yaml

    spec_path = tmp_path / "tiny.yaml"
    spec_path.write_text(yaml.safe_dump(_tiny()))
    plot, record = tmp_path / "forgetting.png", tmp_path / "forgetting.json"
    code = main(
        [
            "-q", "forgetting", str(spec_path), "--epochs", "2", "--seeds", "0",
            "--plot", str(plot), "--json", str(record),
        ]
    )
    output = capsys.readouterr().out
    result = json.loads(record.read_text())
    assert code == (0 if result["bound_holds"] else 1)
    assert "bound %" in output
    assert result["epochs"] == 2
    assert plot.read_bytes().startswith(PNG_SIGNATURE)


def test_command_rejects_spec_without_tasks(tmp_path: Path, capsys) -> None:
    import yaml

    data = _tiny()
    del data["forgetting"]
    spec_path = tmp_path / "plain.yaml"
    spec_path.write_text(yaml.safe_dump(data))
    assert main(["-q", "forgetting", str(spec_path)]) == 2
    assert "no forgetting section" in capsys.readouterr().err
