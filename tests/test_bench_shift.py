"""Shift benchmark parts: EWC penalty, shifts, data, STDP network, energy."""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import pytest
import torch

from biosynapse_verify.bench import add_bench_parser
from biosynapse_verify.bench.cnn import DigitCNN, count_forward_macs
from biosynapse_verify.bench.command import run_shift_command
from biosynapse_verify.bench.data import load_digit_splits
from biosynapse_verify.bench.energy import (
    GPU_MAC_ENERGY_J,
    LOIHI_NEURON_UPDATE_J,
    LOIHI_SPIKE_MESSAGE_J,
    LOIHI_SYNAPTIC_OP_J,
    LOIHI_SYNAPTIC_UPDATE_J,
    cnn_energy,
    loihi_energy,
)
from biosynapse_verify.bench.ewc import EWCPenalty, fisher_diagonal
from biosynapse_verify.bench.shifts import SHIFT_FAMILIES, apply_shift
from biosynapse_verify.bench.stdp import OperationCounts, STDPConfig, STDPNetwork
from biosynapse_verify.errors import BadInputError

# float32 parameters: the penalty is a sum of about 2e4 products, so a
# relative error of 1e-5 leaves room for accumulated rounding.
PENALTY_RTOL = 1e-5


@pytest.fixture(autouse=True)
def one_torch_thread():
    # The benchmark runs its tiny networks on one thread; two threads on a
    # busy machine make each step many times slower.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def splits():
    return load_digit_splits(seed=0)


@pytest.fixture()
def anchored_model() -> tuple[DigitCNN, dict, dict]:
    torch.manual_seed(0)
    model = DigitCNN()
    anchor = {name: p.detach().clone() for name, p in model.named_parameters()}
    fisher = {name: torch.rand_like(p) for name, p in anchor.items()}
    return model, anchor, fisher


def _set_weights(model: DigitCNN, anchor: dict, direction: dict, step: float) -> None:
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.copy_(anchor[name] + step * direction[name])


# --- EWC ------------------------------------------------------------------


def test_ewc_penalty_zero_at_anchor(anchored_model):
    model, anchor, fisher = anchored_model
    penalty = EWCPenalty(anchor, fisher, strength=50.0)
    assert penalty(model).item() == 0.0


def test_ewc_penalty_grows_quadratically(anchored_model):
    model, anchor, fisher = anchored_model
    penalty = EWCPenalty(anchor, fisher, strength=50.0)
    direction = {name: torch.randn_like(t) for name, t in anchor.items()}

    _set_weights(model, anchor, direction, 1.0)
    unit = penalty(model).item()
    assert unit > 0.0
    for step in (0.5, 2.0, 3.0, -2.0):
        _set_weights(model, anchor, direction, step)
        assert penalty(model).item() == pytest.approx(step**2 * unit, rel=PENALTY_RTOL)


def test_ewc_penalty_matches_formula(anchored_model):
    model, anchor, fisher = anchored_model
    strength = 7.0
    direction = {name: torch.randn_like(t) for name, t in anchor.items()}
    _set_weights(model, anchor, direction, 0.1)
    expected = (
        0.5
        * strength
        * sum(float((fisher[n] * (0.1 * direction[n]) ** 2).sum()) for n in anchor)
    )
    penalty = EWCPenalty(anchor, fisher, strength)
    assert penalty(model).item() == pytest.approx(expected, rel=PENALTY_RTOL)


def test_ewc_penalty_rejects_negative_strength(anchored_model):
    _, anchor, fisher = anchored_model
    with pytest.raises(ValueError, match="lambda"):
        EWCPenalty(anchor, fisher, strength=-1.0)


def test_fisher_diagonal_shapes_nonnegative(splits):
    torch.manual_seed(0)
    model = DigitCNN()
    fisher = fisher_diagonal(model, splits.train_images[:40])
    for name, param in model.named_parameters():
        assert fisher[name].shape == param.shape
        assert bool((fisher[name] >= 0).all())
    assert sum(float(f.sum()) for f in fisher.values()) > 0.0


# --- shifts ----------------------------------------------------------------


@pytest.mark.parametrize("family", sorted(SHIFT_FAMILIES))
def test_shift_level_zero_is_identity(family, splits):
    images = splits.test_images
    original = images.copy()
    shifted = apply_shift(images, family, 0.0, np.random.default_rng(1))
    assert np.array_equal(shifted, original)
    assert shifted is not images
    assert np.array_equal(images, original)


@pytest.mark.parametrize("family", sorted(SHIFT_FAMILIES))
def test_shift_severity_grows_with_level(family, splits):
    images = splits.test_images[:100]
    distances = [
        float(
            np.abs(
                apply_shift(images, family, level, np.random.default_rng(2)) - images
            ).mean()
        )
        for level in (0.0, 0.1, 0.2, 0.4, 1.0)
    ]
    assert distances[0] == 0.0
    assert all(a < b for a, b in itertools.pairwise(distances))


@pytest.mark.parametrize("family", sorted(SHIFT_FAMILIES))
def test_shift_continuous_near_zero(family, splits):
    # A tiny level must change the images only a little: no edge row may
    # drop out because of boundary handling in the interpolation.
    images = splits.test_images[:50]
    shifted = apply_shift(images, family, 1e-6, np.random.default_rng(3))
    assert float(np.abs(shifted - images).max()) < 1e-4


@pytest.mark.parametrize("family", sorted(SHIFT_FAMILIES))
def test_shift_stays_in_unit_range(family, splits):
    shifted = apply_shift(splits.test_images, family, 1.0, np.random.default_rng(4))
    assert float(shifted.min()) >= 0.0
    assert float(shifted.max()) <= 1.0
    assert shifted.dtype == splits.test_images.dtype


def test_shift_rejects_bad_input(splits):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown"):
        apply_shift(splits.test_images, "blur", 0.1, rng)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        apply_shift(splits.test_images, "rotation_noise", 1.5, rng)
    with pytest.raises(ValueError, match="shape"):
        apply_shift(splits.test_images.reshape(-1, 64), "rotation_noise", 0.1, rng)


# --- data ------------------------------------------------------------------


def test_splits_stratified_and_disjoint(splits):
    sizes = splits.sizes()
    assert sum(sizes.values()) == 1797
    for labels in (splits.train_labels, splits.val_labels, splits.test_labels):
        assert set(np.unique(labels)) == set(range(10))
    again = load_digit_splits(seed=0)
    assert np.array_equal(again.test_images, splits.test_images)
    other = load_digit_splits(seed=1)
    assert not np.array_equal(other.test_images, splits.test_images)


# --- STDP network -------------------------------------------------------------


@pytest.mark.parametrize("eta", [0.001, 0.05, 1.0])
def test_stdp_weights_stay_within_bounds(eta, splits):
    config = STDPConfig(
        n_neurons=20,
        steps_per_image=20,
        eta_post=eta,
        eta_pre=eta / 5,
        w_max=0.2,
        weight_sum=2.0,
        batch_size=16,
        max_boosts=1,
    )
    network = STDPNetwork(config, seed=0)
    network.train(splits.train_images[:64], epochs=1)
    assert float(network.weights.min()) >= 0.0
    # The bound is w_max rounded to float32, the dtype of the weights.
    assert bool(
        (network.weights <= torch.tensor(config.w_max, dtype=torch.float32)).all()
    )
    assert bool(torch.isfinite(network.weights).all())
    assert float(network.theta.min()) >= 0.0


def test_stdp_same_step_pre_post_potentiates():
    # One input that spikes every step (rate * dt = 1) onto one neuron whose
    # weight alone exceeds the threshold: pre and post spike in step 1. The
    # pre spike counts as earlier, so the weight rises by
    # eta_post (1 - pre_target)(w_max - w), and depression uses x_post = 0.
    config = STDPConfig(
        n_neurons=1,
        steps_per_image=1,
        max_rate=1000.0,
        dt=1e-3,
        threshold=0.01,
        eta_post=0.1,
        eta_pre=0.1,
        pre_target=0.4,
        w_max=1.0,
        weight_sum=0.5,
        max_boosts=0,
    )
    network = STDPNetwork(config, n_inputs=1, seed=0)
    before = float(network.weights[0, 0])
    counts = network._simulate(torch.tensor([[1000.0]]), eta_scale=1.0)
    assert float(counts[0, 0]) == 1.0
    expected = before + 0.1 * (1.0 - 0.4) * (1.0 - before)
    assert float(network.weights[0, 0]) == pytest.approx(expected, rel=1e-6)


def test_stdp_learning_off_keeps_weights(splits):
    network = STDPNetwork(STDPConfig(n_neurons=10, steps_per_image=10), seed=0)
    before = network.weights.clone()
    network.responses(splits.val_images[:20])
    assert torch.equal(network.weights, before)


def test_stdp_learns_above_chance(splits):
    config = STDPConfig(
        n_neurons=50,
        steps_per_image=30,
        inhibition=3.0,
        theta_plus=0.01,
        tau_theta=100.0,
        eta_post=0.001,
        eta_pre=0.0002,
        weight_sum=2.0,
    )
    network = STDPNetwork(config, seed=0)
    network.train(splits.train_images, epochs=1)
    network.assign_labels(splits.train_images, splits.train_labels)
    # Chance is 0.1; one unsupervised epoch reaches about 0.6 on seed 0.
    assert network.accuracy(splits.val_images, splits.val_labels) > 0.4


def test_stdp_config_rejects_bad_values():
    with pytest.raises(ValueError, match="n_neurons"):
        STDPConfig(n_neurons=0)
    with pytest.raises(ValueError, match="eta_post"):
        STDPConfig(eta_post=-1.0)


def test_stdp_predict_requires_labels(splits):
    network = STDPNetwork(STDPConfig(n_neurons=5, steps_per_image=5), seed=0)
    with pytest.raises(RuntimeError, match="assign_labels"):
        network.predict(splits.val_images[:3])


# --- energy and MAC counts -------------------------------------------------


def test_cnn_mac_count_by_hand():
    # conv 1->8: 64*8*1*9; conv 8->16: 64*16*8*9; dense 256->64; dense 64->10.
    expected = 64 * 8 * 9 + 64 * 16 * 8 * 9 + 256 * 64 + 64 * 10
    assert count_forward_macs(DigitCNN()) == expected


def test_loihi_energy_sums_parts():
    counts = OperationCounts(
        images=1,
        input_spikes=10,
        output_spikes=2,
        synaptic_events=1000,
        neuron_updates=500,
        synaptic_updates=300,
    )
    inference = loihi_energy(counts, include_learning=False)
    expected = (
        1000 * LOIHI_SYNAPTIC_OP_J
        + 500 * LOIHI_NEURON_UPDATE_J
        + 12 * LOIHI_SPIKE_MESSAGE_J
    )
    assert inference.total == pytest.approx(expected)
    learning = loihi_energy(counts, include_learning=True)
    assert learning.total == pytest.approx(expected + 300 * LOIHI_SYNAPTIC_UPDATE_J)


def test_cnn_energy_counts_training_passes():
    inference = cnn_energy(1000, images=2)
    assert inference.total == pytest.approx(2000 * GPU_MAC_ENERGY_J)
    training = cnn_energy(1000, images=2, training=True, parameter_count=10, steps=1)
    assert training.total == pytest.approx((6000 + 40) * GPU_MAC_ENERGY_J)


def test_bench_rejects_unwritable_out(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(BadInputError, match="--out"):
        run_shift_command(quick=True, seeds=1, out_dir=blocker / "sub")


def test_bench_parser_rejects_zero_seeds():
    parser = argparse.ArgumentParser()
    add_bench_parser(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit) as error:
        parser.parse_args(["bench", "shift", "--seeds", "0"])
    assert error.value.code == 2
