"""Elastic weight consolidation (EWC) for the digit CNN.

EWC (Kirkpatrick et al. 2017, "Overcoming catastrophic forgetting in neural
networks", PNAS 114(13):3521-3526) keeps a network close to the weights
theta* that solved an earlier task, in proportion to how much each weight
mattered there:

    L(theta) = CE_new(theta) + (lambda / 2) * sum_i F_i (theta_i - theta*_i)^2,

with F the diagonal of the Fisher information at theta*. Here F is the exact
expectation over the model's own predictive distribution,
F_i = mean_x sum_y p(y | x, theta*) (d log p(y | x, theta*) / d theta_i)^2,
over the clean training images (no labels are needed for F). Adapting with
``CE_new`` uses the labels of the shifted stream, so EWC in this benchmark
is supervised during adaptation.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from biosynapse_verify.bench.cnn import as_tensor

__all__ = ["EWCConfig", "EWCPenalty", "adapt_with_ewc", "fisher_diagonal"]

logger = logging.getLogger(__name__)

# Images per vmap chunk in the Fisher computation. A chunk holds
# chunk * 10 classes * n_parameters gradients, about 23 MB for the default CNN.
_FISHER_CHUNK = 32


def fisher_diagonal(model: nn.Module, images: np.ndarray) -> dict[str, torch.Tensor]:
    """Compute the diagonal Fisher information of ``model`` at its current weights.

    Parameters
    ----------
    model : nn.Module
        A classifier returning logits of shape (n, classes).
    images : ndarray, shape (n, 8, 8)
        Inputs x over which the expectation is taken.

    Returns
    -------
    dict of str to Tensor
        One tensor per named parameter, same shape, entries >= 0.
    """
    model.eval()
    params = {name: p.detach() for name, p in model.named_parameters()}
    inputs = as_tensor(images)

    def log_prob(
        weights: dict[str, torch.Tensor], image: torch.Tensor, one_hot: torch.Tensor
    ) -> torch.Tensor:
        # A one-hot dot product instead of indexing, because vmap cannot
        # index with a batched tensor.
        logits = functional_call(model, weights, (image.unsqueeze(0),))
        return (torch.log_softmax(logits, dim=1)[0] * one_hot).sum()

    per_class_grad = vmap(grad(log_prob), in_dims=(None, None, 0))
    per_sample = vmap(per_class_grad, in_dims=(None, 0, None))

    fisher = {name: torch.zeros_like(p) for name, p in params.items()}
    with torch.no_grad():
        probabilities = torch.softmax(model(inputs), dim=1)
    classes = torch.eye(probabilities.shape[1])
    for start in range(0, inputs.shape[0], _FISHER_CHUNK):
        chunk = inputs[start : start + _FISHER_CHUNK]
        weights = probabilities[start : start + _FISHER_CHUNK]
        grads = per_sample(params, chunk, classes)
        for name, g in grads.items():
            weight = weights.reshape(weights.shape + (1,) * (g.dim() - 2))
            fisher[name] += (weight * g.pow(2)).sum(dim=(0, 1))
    return {name: f / inputs.shape[0] for name, f in fisher.items()}


class EWCPenalty:
    """The quadratic EWC penalty (lambda / 2) sum_i F_i (theta_i - theta*_i)^2.

    Parameters
    ----------
    anchor : dict of str to Tensor
        theta*, the weights the penalty pulls towards.
    fisher : dict of str to Tensor
        F, the diagonal Fisher information at theta*, same keys and shapes.
    strength : float
        lambda >= 0.
    """

    def __init__(
        self,
        anchor: dict[str, torch.Tensor],
        fisher: dict[str, torch.Tensor],
        strength: float,
    ) -> None:
        if strength < 0:
            raise ValueError(
                f"EWC strength lambda = {strength} is invalid; use lambda >= 0"
            )
        if anchor.keys() != fisher.keys():
            raise ValueError(
                f"anchor and Fisher name different parameters: {sorted(anchor)} vs "
                f"{sorted(fisher)}; compute both from the same model"
            )
        self.anchor = {name: t.detach().clone() for name, t in anchor.items()}
        self.fisher = {name: t.detach().clone() for name, t in fisher.items()}
        self.strength = float(strength)

    def __call__(self, model: nn.Module) -> torch.Tensor:
        """Return the penalty of ``model``'s current weights (a scalar tensor)."""
        total = torch.zeros(())
        for name, param in model.named_parameters():
            total = (
                total + (self.fisher[name] * (param - self.anchor[name]).pow(2)).sum()
            )
        return 0.5 * self.strength * total


@dataclass(frozen=True)
class EWCConfig:
    """Settings of EWC adaptation on the shifted stream.

    Attributes
    ----------
    strength : float
        lambda of the penalty.
    learning_rate : float
        SGD step size during adaptation.
    momentum : float
        SGD momentum.
    epochs : int
        Passes over the shifted stream.
    batch_size : int
        Images per step.
    """

    strength: float = 100.0
    learning_rate: float = 0.01
    momentum: float = 0.9
    epochs: int = 2
    batch_size: int = 64


@dataclass
class EWCAdaptation:
    """An adapted copy of the CNN and the work it took.

    Attributes
    ----------
    model : nn.Module
        The adapted network, in eval mode.
    images_seen : int
        Labelled stream images processed (counting repeats over epochs).
    parameter_count : int
        Number of trainable weights (the penalty touches each once per step).
    steps : int
        SGD steps taken.
    """

    model: nn.Module
    images_seen: int
    parameter_count: int
    steps: int


def adapt_with_ewc(
    anchor_model: nn.Module,
    fisher: dict[str, torch.Tensor],
    config: EWCConfig,
    stream_images: np.ndarray,
    stream_labels: np.ndarray,
    seed: int,
) -> EWCAdaptation:
    """Fine-tune a copy of ``anchor_model`` on a labelled stream with the EWC penalty.

    Parameters
    ----------
    anchor_model : nn.Module
        The network trained on the clean task; it is not modified.
    fisher : dict of str to Tensor
        Diagonal Fisher of ``anchor_model`` (see :func:`fisher_diagonal`).
    config : EWCConfig
        Adaptation settings.
    stream_images : ndarray, shape (n, 8, 8)
        The shifted stream.
    stream_labels : ndarray, shape (n,)
        Its labels (EWC is supervised during adaptation).
    seed : int
        Seeds the order of the stream.

    Returns
    -------
    EWCAdaptation
    """
    model = copy.deepcopy(anchor_model)
    anchor = {name: p.detach() for name, p in anchor_model.named_parameters()}
    penalty = EWCPenalty(anchor, fisher, config.strength)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.learning_rate, momentum=config.momentum
    )
    inputs, targets = as_tensor(stream_images), torch.from_numpy(stream_labels)
    generator = torch.Generator().manual_seed(seed)

    steps = 0
    model.train()
    for _ in range(config.epochs):
        order = torch.randperm(inputs.shape[0], generator=generator)
        for start in range(0, inputs.shape[0], config.batch_size):
            batch = order[start : start + config.batch_size]
            optimizer.zero_grad()
            task_loss = nn.functional.cross_entropy(
                model(inputs[batch]), targets[batch]
            )
            (task_loss + penalty(model)).backward()
            optimizer.step()
            steps += 1
    model.eval()
    parameter_count = sum(p.numel() for p in model.parameters())
    return EWCAdaptation(model, config.epochs * inputs.shape[0], parameter_count, steps)
