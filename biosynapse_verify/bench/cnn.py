"""A small convolutional network for 8 x 8 digits, its training and its MAC count."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from biosynapse_verify.bench.data import IMAGE_SIDE, N_CLASSES

__all__ = [
    "CNNConfig",
    "DigitCNN",
    "TrainedCNN",
    "cnn_accuracy",
    "count_forward_macs",
    "train_cnn",
]

logger = logging.getLogger(__name__)


class DigitCNN(nn.Module):
    """Two 3x3 convolutions (padding 1), a 2x2 max-pool and two dense layers.

    Shapes: (n, 1, 8, 8) -> conv 8 channels -> conv 16 channels -> pool to
    (n, 16, 4, 4) -> dense 64 -> dense 10 logits.
    """

    def __init__(self, channels: tuple[int, int] = (8, 16), hidden: int = 64) -> None:
        super().__init__()
        first, second = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, first, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(first, second, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        pooled = second * (IMAGE_SIDE // 2) ** 2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(pooled, hidden),
            nn.ReLU(),
            nn.Linear(hidden, N_CLASSES),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Return logits, shape (n, 10), for images of shape (n, 1, 8, 8)."""
        return self.classifier(self.features(images))


@dataclass(frozen=True)
class CNNConfig:
    """Training settings of the CNN (plain SGD with momentum, cross-entropy).

    Attributes
    ----------
    learning_rate : float
        SGD step size.
    momentum : float
        SGD momentum.
    weight_decay : float
        L2 penalty of SGD.
    max_epochs : int
        Passes over the training split at most.
    patience : int
        Stop after this many epochs without a better validation accuracy.
    batch_size : int
        Images per gradient step.
    channels : tuple of int
        Output channels of the two convolutions.
    hidden : int
        Width of the hidden dense layer.
    """

    learning_rate: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-4
    max_epochs: int = 60
    patience: int = 10
    batch_size: int = 64
    channels: tuple[int, int] = (8, 16)
    hidden: int = 64


@dataclass
class TrainedCNN:
    """A trained network and the epoch that validation picked.

    Attributes
    ----------
    model : DigitCNN
        Weights of the epoch with the best validation accuracy, in eval mode.
    best_epoch : int
        That epoch (1-based).
    val_accuracy : float
        Its validation accuracy.
    epochs_run : int
        Epochs run before early stopping.
    """

    model: DigitCNN
    best_epoch: int
    val_accuracy: float
    epochs_run: int


def as_tensor(images: np.ndarray) -> torch.Tensor:
    """Convert images of shape (n, 8, 8) to a float tensor of shape (n, 1, 8, 8)."""
    return torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1)


@torch.no_grad()
def cnn_accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    """Return the fraction of ``images`` (shape (n, 8, 8)) classified correctly."""
    model.eval()
    predicted = model(as_tensor(images)).argmax(dim=1).numpy()
    return float(np.mean(predicted == labels))


def train_cnn(
    config: CNNConfig,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    val_images: np.ndarray,
    val_labels: np.ndarray,
    seed: int,
) -> TrainedCNN:
    """Train a :class:`DigitCNN` by SGD and keep the best epoch on validation.

    Parameters
    ----------
    config : CNNConfig
        Training settings.
    train_images, val_images : ndarray, shape (n, 8, 8)
        Intensities in [0, 1].
    train_labels, val_labels : ndarray, shape (n,)
        Classes 0..9.
    seed : int
        Seeds the initial weights and the batch order.

    Returns
    -------
    TrainedCNN
    """
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = DigitCNN(config.channels, config.hidden)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.learning_rate,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
    )
    inputs, targets = as_tensor(train_images), torch.from_numpy(train_labels)

    best_state, best_accuracy, best_epoch, epoch = None, -1.0, 0, 0
    for epoch in range(1, config.max_epochs + 1):
        _run_epoch(model, optimizer, inputs, targets, config.batch_size, generator)
        accuracy = cnn_accuracy(model, val_images, val_labels)
        if accuracy > best_accuracy:
            best_state = copy.deepcopy(model.state_dict())
            best_accuracy, best_epoch = accuracy, epoch
        elif epoch - best_epoch >= config.patience:
            break

    model.load_state_dict(best_state)
    model.eval()
    logger.debug(
        "CNN lr=%g: best validation accuracy %.3f at epoch %d of %d",
        config.learning_rate,
        best_accuracy,
        best_epoch,
        epoch,
    )
    return TrainedCNN(model, best_epoch, best_accuracy, epoch)


def _run_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
) -> None:
    model.train()
    order = torch.randperm(inputs.shape[0], generator=generator)
    for start in range(0, inputs.shape[0], batch_size):
        batch = order[start : start + batch_size]
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(inputs[batch]), targets[batch])
        loss.backward()
        optimizer.step()


def count_forward_macs(model: DigitCNN) -> int:
    """Count the multiply-accumulates of one forward pass on one 8 x 8 image.

    Convolutions count ``output pixels * out channels * in channels * 9`` and
    dense layers ``in * out``. Bias additions, ReLUs and the max-pool are not
    MACs and are left out, which slightly favours the CNN in an energy
    comparison.
    """
    total = 0
    side = IMAGE_SIDE
    for layer in model.features:
        if isinstance(layer, nn.Conv2d):
            kernel = layer.kernel_size[0] * layer.kernel_size[1]
            total += side * side * layer.out_channels * layer.in_channels * kernel
        elif isinstance(layer, nn.MaxPool2d):
            side //= 2
    for layer in model.classifier:
        if isinstance(layer, nn.Linear):
            total += layer.in_features * layer.out_features
    return total
