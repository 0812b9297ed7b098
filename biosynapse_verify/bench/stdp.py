"""An unsupervised spiking classifier with competitive STDP, after Diehl & Cook (2015).

Reference: P. U. Diehl and M. Cook, "Unsupervised learning of digit
recognition using spike-timing-dependent plasticity", Front. Comput.
Neurosci. 9:99 (2015).

The network, in the units used throughout (seconds, hertz, dimensionless
potentials and weights):

- Input: each of the 64 pixels is a Poisson (Bernoulli per step) spike train
  of rate ``intensity * max_rate``.
- Excitatory layer: ``n_neurons`` current-based leaky integrate-and-fire
  neurons. Per step, ``v <- v exp(-dt / tau_membrane) + s_in W - inhibition``;
  a neuron spikes when ``v > threshold + theta`` and is reset to 0 and held
  there for ``refractory_steps``.
- Lateral inhibition: each spike lowers the potential of every other neuron
  in the same image by ``inhibition`` on the next step. This replaces Diehl
  and Cook's separate inhibitory population (one inhibitory cell per
  excitatory cell, inhibiting all others) by its net effect, a soft
  winner-take-all.
- Adaptive threshold: ``theta`` rises by ``theta_plus`` at each spike of its
  neuron and decays with ``tau_theta`` (measured in presented image time), so
  no neuron can win every image.
- Learning: trace STDP with a presynaptic offset, as in Diehl and Cook's
  "pre-and-post" rule. At a postsynaptic spike,
  ``dW = eta_post (x_pre - pre_target) (w_max - W)``; at a presynaptic spike,
  ``dW = -eta_pre x_post W``. Traces add 1 per spike and decay exactly by
  ``exp(-dt / tau)``. Same-step rule: a pre spike in the step of a post spike
  counts as earlier (it has already entered ``x_pre`` when potentiation is
  computed), and the depression of that pre spike uses ``x_post`` from before
  the post spike. Weights are clipped to [0, w_max] after every step and each
  neuron's incoming weights are rescaled to sum to ``weight_sum`` after every
  batch, then clipped again.
- Rate boost: an image that drew fewer than ``min_spikes`` spikes in total
  is presented again with ``boost_rate`` more input rate, up to ``max_boosts``
  times (Diehl and Cook's rule for silent images).
- Readout: after training, each neuron is labelled with the class to which
  it responded most on average (the labelled training images, learning off),
  and an image is classified as the class whose neurons spiked most on average.

The project's spec-driven simulator is not used. It simulates networks
described by a spec (Poisson sources at fixed rates, pairwise STDP) for the
stability analysis. It has no image inputs, adaptive thresholds, label
readout or batched presentation of many images, and this benchmark needs all
four.

Batching: ``batch_size`` images are simulated side by side, each with its own
potentials, traces and inhibition, sharing one weight matrix and one
threshold vector. Weight and threshold changes of all images in the batch are
summed and applied every step. This approximates Diehl and Cook's
one-image-at-a-time presentation, and is exact for ``batch_size = 1``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from biosynapse_verify.bench.data import N_CLASSES

__all__ = ["OperationCounts", "STDPConfig", "STDPNetwork"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class STDPConfig:
    """Parameters of :class:`STDPNetwork`; units in brackets.

    Attributes
    ----------
    n_neurons : int
        Excitatory neurons.
    steps_per_image : int
        Simulation steps per presentation.
    dt : float
        Step [s].
    max_rate : float
        Input rate of a pixel of intensity 1 [Hz].
    tau_membrane : float
        Membrane time constant [s].
    threshold : float
        Resting firing threshold [dimensionless potential].
    refractory_steps : int
        Steps a neuron is held at reset after a spike.
    inhibition : float
        Potential removed from every other neuron per spike [potential].
    theta_plus : float
        Threshold increase per spike [potential].
    tau_theta : float
        Decay time of the threshold increase, in presented image time [s].
    tau_pre, tau_post : float
        Decay times of the pre- and postsynaptic traces [s].
    eta_post, eta_pre : float
        Learning rates of potentiation (at post spikes) and depression (at
        pre spikes) [weight per unit trace].
    pre_target : float
        Offset subtracted from the presynaptic trace at post spikes, so that
        inputs silent before a post spike are depressed.
    w_max : float
        Upper weight bound; the lower bound is 0.
    weight_sum : float
        Sum of each neuron's 64 incoming weights after normalisation.
    initial_weight : float
        Upper end of the uniform initial weights (before normalisation).
    batch_size : int
        Images simulated side by side.
    epochs : int
        Passes over the training images.
    min_spikes : int
        Spikes below which an image is presented again at a higher rate.
    max_boosts : int
        Re-presentations at most.
    boost_rate : float
        Rate added to ``max_rate`` per re-presentation [Hz].
    """

    n_neurons: int = 100
    steps_per_image: int = 50
    dt: float = 1e-3
    max_rate: float = 200.0
    tau_membrane: float = 0.02
    threshold: float = 1.0
    refractory_steps: int = 2
    inhibition: float = 1.0
    theta_plus: float = 0.05
    tau_theta: float = 1000.0
    tau_pre: float = 0.02
    tau_post: float = 0.02
    eta_post: float = 0.01
    eta_pre: float = 0.002
    pre_target: float = 0.4
    w_max: float = 1.0
    weight_sum: float = 6.0
    initial_weight: float = 0.3
    batch_size: int = 32
    epochs: int = 3
    min_spikes: int = 3
    max_boosts: int = 3
    boost_rate: float = 100.0

    def __post_init__(self) -> None:
        positive = (
            "n_neurons",
            "steps_per_image",
            "dt",
            "max_rate",
            "tau_membrane",
            "threshold",
            "tau_theta",
            "tau_pre",
            "tau_post",
            "w_max",
            "weight_sum",
            "batch_size",
        )
        for name in positive:
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(
                    f"STDPConfig.{name} = {value} is invalid; it must be > 0"
                )
        non_negative = (
            "refractory_steps",
            "inhibition",
            "theta_plus",
            "eta_post",
            "eta_pre",
            "pre_target",
            "initial_weight",
            "epochs",
            "min_spikes",
            "max_boosts",
            "boost_rate",
        )
        for name in non_negative:
            value = getattr(self, name)
            if value < 0:
                raise ValueError(
                    f"STDPConfig.{name} = {value} is invalid; it must be >= 0"
                )


@dataclass
class OperationCounts:
    """Event counts of a spiking run, for the energy estimate.

    Attributes
    ----------
    images : int
        Distinct images presented. Re-presentations at a boosted rate are
        not counted here, but their spikes and updates are counted below.
    input_spikes : int
        Spikes of the Poisson input layer.
    output_spikes : int
        Spikes of the excitatory layer.
    synaptic_events : int
        Spike deliveries: ``input_spikes * n_neurons`` through the plastic
        weights plus ``output_spikes * (n_neurons - 1)`` lateral inhibition.
    neuron_updates : int
        Neuron-steps: ``n_neurons * steps`` per presentation.
    synaptic_updates : int
        Weight changes made by learning: 64 per post spike, ``n_neurons``
        per pre spike, and ``64 * n_neurons`` per image for the weight
        normalisation (the per-image cost of sequential presentation).
    """

    images: int = 0
    input_spikes: int = 0
    output_spikes: int = 0
    synaptic_events: int = 0
    neuron_updates: int = 0
    synaptic_updates: int = 0

    def add(self, other: OperationCounts) -> None:
        """Add ``other``'s counts to these, in place."""
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def per_image(self) -> dict[str, float]:
        """Return each count divided by the number of distinct images."""
        images = max(self.images, 1)
        return {name: value / images for name, value in asdict(self).items()}


@dataclass
class _BatchState:
    """Per-image state of one simulated batch; shapes (batch, 64) or (batch, n)."""

    potential: torch.Tensor
    refractory: torch.Tensor
    pre_trace: torch.Tensor
    post_trace: torch.Tensor
    last_spikes: torch.Tensor
    counts: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        self.counts = torch.zeros_like(self.potential)


class STDPNetwork:
    """The spiking network: weights, thresholds, neuron labels and event counts.

    Parameters
    ----------
    config : STDPConfig
        Parameters.
    n_inputs : int
        Input pixels (64 for 8 x 8 digits).
    seed : int
        Seeds the initial weights and all spike trains.

    Attributes
    ----------
    weights : Tensor, shape (n_inputs, n_neurons)
        Plastic input weights, always in [0, w_max].
    theta : Tensor, shape (n_neurons,)
        Adaptive threshold increase, >= 0.
    neuron_labels : ndarray, shape (n_neurons,) or None
        Class of each neuron after :meth:`assign_labels`.
    counts : OperationCounts
        Events since construction or the last :meth:`reset_counts`.
    """

    def __init__(self, config: STDPConfig, n_inputs: int = 64, seed: int = 0) -> None:
        self.config = config
        self.n_inputs = n_inputs
        self.generator = torch.Generator().manual_seed(seed)
        initial = config.initial_weight * torch.rand(
            n_inputs, config.n_neurons, generator=self.generator
        )
        self.weights = initial
        self._normalise()
        self.theta = torch.zeros(config.n_neurons)
        self.neuron_labels: np.ndarray | None = None
        self.counts = OperationCounts()

    # --- public interface -------------------------------------------------

    def train(self, images: np.ndarray, epochs: int, eta_scale: float = 1.0) -> None:
        """Learn without labels from ``images`` (shape (n, 8, 8) or (n, 64)).

        Parameters
        ----------
        images : ndarray
            Intensities in [0, 1].
        epochs : int
            Passes over ``images`` in a fresh random order each.
        eta_scale : float
            Factor on both learning rates (1 for initial training; the
            adaptation rate on a shifted stream is a separate choice).
        """
        rates = self._rates(images)
        size = self.config.batch_size
        for _ in range(epochs):
            order = torch.randperm(rates.shape[0], generator=self.generator)
            for start in range(0, rates.shape[0], size):
                self._present(rates[order[start : start + size]], eta_scale)
                self._normalise()

    def responses(self, images: np.ndarray) -> np.ndarray:
        """Return spike counts, shape (n, n_neurons), with learning off."""
        rates = self._rates(images)
        return self._present(rates, eta_scale=0.0).numpy()

    def assign_labels(self, images: np.ndarray, labels: np.ndarray) -> None:
        """Label each neuron with the class it responds to most on average."""
        counts = self.responses(images)
        mean_response = np.zeros((N_CLASSES, self.config.n_neurons))
        for digit in range(N_CLASSES):
            members = labels == digit
            if members.any():
                mean_response[digit] = counts[members].mean(axis=0)
        self.neuron_labels = mean_response.argmax(axis=0)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Return the predicted class of each image, shape (n,)."""
        if self.neuron_labels is None:
            raise RuntimeError(
                "STDPNetwork.predict called before assign_labels; "
                "label the neurons first"
            )
        counts = self.responses(images)
        scores = np.full((counts.shape[0], N_CLASSES), -np.inf)
        for digit in range(N_CLASSES):
            members = self.neuron_labels == digit
            if members.any():
                scores[:, digit] = counts[:, members].mean(axis=1)
        return scores.argmax(axis=1)

    def accuracy(self, images: np.ndarray, labels: np.ndarray) -> float:
        """Return the fraction of ``images`` classified correctly."""
        return float(np.mean(self.predict(images) == labels))

    def reset_counts(self) -> OperationCounts:
        """Return the event counts so far and start new ones."""
        counts, self.counts = self.counts, OperationCounts()
        return counts

    def copy(self) -> STDPNetwork:
        """Return an independent copy (weights, thresholds, labels, generator state)."""
        clone = STDPNetwork.__new__(STDPNetwork)
        clone.config = self.config
        clone.n_inputs = self.n_inputs
        clone.generator = torch.Generator().set_state(self.generator.get_state())
        clone.weights = self.weights.clone()
        clone.theta = self.theta.clone()
        clone.neuron_labels = (
            None if self.neuron_labels is None else self.neuron_labels.copy()
        )
        clone.counts = OperationCounts()
        return clone

    # --- simulation -------------------------------------------------------

    def _rates(self, images: np.ndarray) -> torch.Tensor:
        flat = np.asarray(images, dtype=np.float32).reshape(len(images), -1)
        if flat.shape[1] != self.n_inputs:
            raise ValueError(
                f"images have {flat.shape[1]} pixels; "
                f"this network has {self.n_inputs} inputs"
            )
        return torch.from_numpy(np.clip(flat, 0.0, 1.0)) * self.config.max_rate

    def _present(self, rates: torch.Tensor, eta_scale: float) -> torch.Tensor:
        """Present a batch of images, re-presenting silent ones; return spike counts."""
        config = self.config
        counts = self._simulate(rates, eta_scale)
        self.counts.images += rates.shape[0]
        self.counts.synaptic_updates += (
            rates.shape[0] * self.n_inputs * config.n_neurons if eta_scale > 0 else 0
        )
        for boost in range(1, config.max_boosts + 1):
            silent = counts.sum(dim=1) < config.min_spikes
            if not silent.any():
                break
            boosted = rates[silent] + boost * config.boost_rate * (rates[silent] > 0)
            counts[silent] = self._simulate(boosted, eta_scale)
        return counts

    def _simulate(self, rates: torch.Tensor, eta_scale: float) -> torch.Tensor:
        config = self.config
        batch = rates.shape[0]
        learn = eta_scale > 0
        spike_probability = (rates * config.dt).clamp(max=1.0)
        decay_membrane = math.exp(-config.dt / config.tau_membrane)
        decay_pre = math.exp(-config.dt / config.tau_pre)
        decay_post = math.exp(-config.dt / config.tau_post)
        # Each step of a batch stands for `batch` steps of sequential presentation.
        decay_theta = math.exp(-batch * config.dt / config.tau_theta)

        zeros_neurons = torch.zeros(batch, config.n_neurons)
        state = _BatchState(
            potential=zeros_neurons.clone(),
            refractory=torch.zeros(batch, config.n_neurons, dtype=torch.int64),
            pre_trace=torch.zeros(batch, self.n_inputs),
            post_trace=zeros_neurons.clone(),
            last_spikes=zeros_neurons.clone(),
        )
        input_spikes = 0.0
        for _ in range(config.steps_per_image):
            spikes_in = (
                torch.rand(rates.shape, generator=self.generator) < spike_probability
            ).float()
            spikes_out = self._step_neurons(state, spikes_in, decay_membrane)
            state.pre_trace.mul_(decay_pre).add_(spikes_in)
            if learn:
                self._learn(state, spikes_in, spikes_out, eta_scale, decay_theta)
            state.post_trace.mul_(decay_post).add_(spikes_out)
            state.counts.add_(spikes_out)
            state.last_spikes = spikes_out
            input_spikes += float(spikes_in.sum())

        self._count_events(batch, input_spikes, float(state.counts.sum()))
        return state.counts

    def _step_neurons(
        self, state: _BatchState, spikes_in: torch.Tensor, decay_membrane: float
    ) -> torch.Tensor:
        config = self.config
        fired_total = state.last_spikes.sum(dim=1, keepdim=True)
        inhibition = config.inhibition * (fired_total - state.last_spikes)
        drive = spikes_in @ self.weights - inhibition
        state.potential.mul_(decay_membrane).add_(drive)

        resting = state.refractory > 0
        state.potential.masked_fill_(resting, 0.0)
        state.potential.clamp_(min=-config.threshold)
        spikes_out = (state.potential > config.threshold + self.theta).float()

        fired = spikes_out > 0
        state.potential.masked_fill_(fired, 0.0)
        state.refractory.sub_(1).clamp_(min=0)
        state.refractory.masked_fill_(fired, config.refractory_steps)
        return spikes_out

    def _learn(
        self,
        state: _BatchState,
        spikes_in: torch.Tensor,
        spikes_out: torch.Tensor,
        eta_scale: float,
        decay_theta: float,
    ) -> None:
        config = self.config
        post_count = spikes_out.sum(dim=0)
        potentiation = state.pre_trace.T @ spikes_out - config.pre_target * post_count
        depression = spikes_in.T @ state.post_trace
        change = config.eta_post * potentiation * (config.w_max - self.weights)
        change -= config.eta_pre * depression * self.weights
        self.weights.add_(eta_scale * change).clamp_(0.0, config.w_max)
        self.theta.mul_(decay_theta).add_(config.theta_plus * post_count)

        pre_count = float(spikes_in.sum())
        self.counts.synaptic_updates += int(
            float(post_count.sum()) * self.n_inputs + pre_count * config.n_neurons
        )

    def _normalise(self) -> None:
        column_sums = self.weights.sum(dim=0).clamp(min=torch.finfo(torch.float32).tiny)
        self.weights.mul_(self.config.weight_sum / column_sums).clamp_(
            0.0, self.config.w_max
        )

    def _count_events(
        self, batch: int, input_spikes: float, output_spikes: float
    ) -> None:
        n = self.config.n_neurons
        self.counts.input_spikes += int(input_spikes)
        self.counts.output_spikes += int(output_spikes)
        self.counts.synaptic_events += int(input_spikes * n + output_spikes * (n - 1))
        self.counts.neuron_updates += batch * n * self.config.steps_per_image
