"""The handwritten-digits data set and its stratified train/validation/test splits.

The data are scikit-learn's copy of the UCI optical-recognition digits
(:func:`sklearn.datasets.load_digits`): 1797 grey-scale images of 8 x 8
pixels with integer intensities 0..16 and labels 0..9. They ship with
scikit-learn, so nothing is downloaded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

__all__ = ["IMAGE_SIDE", "N_CLASSES", "DigitSplits", "load_digit_splits"]

logger = logging.getLogger(__name__)

IMAGE_SIDE = 8
N_CLASSES = 10
_MAX_INTENSITY = 16.0


@dataclass(frozen=True)
class DigitSplits:
    """Stratified splits of the digits, with intensities scaled to [0, 1].

    Attributes
    ----------
    train_images, val_images, test_images : ndarray, shape (n, 8, 8), float32
        Pixel intensities divided by 16, so each lies in [0, 1].
    train_labels, val_labels, test_labels : ndarray, shape (n,), int64
        Digit classes 0..9.
    seed : int
        The seed of the shuffle that made these splits.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    seed: int

    def sizes(self) -> dict[str, int]:
        """Return the number of images in each split."""
        return {
            "train": int(self.train_labels.size),
            "val": int(self.val_labels.size),
            "test": int(self.test_labels.size),
        }


def load_digit_splits(
    seed: int, val_fraction: float = 0.2, test_fraction: float = 0.2
) -> DigitSplits:
    """Load the digits and split them, stratified by class, with a fixed seed.

    Parameters
    ----------
    seed : int
        Seed of the shuffle; the same seed always gives the same splits.
    val_fraction, test_fraction : float
        Fractions of all 1797 images that go to validation and to test. The
        rest is the training split.

    Returns
    -------
    DigitSplits
        With the default fractions: 1077 training, 360 validation and 360
        test images.

    Raises
    ------
    ValueError
        If a fraction is not in (0, 1) or the two leave no training images.
    """
    for name, value in (
        ("val_fraction", val_fraction),
        ("test_fraction", test_fraction),
    ):
        if not 0.0 < value < 1.0:
            raise ValueError(f"{name} = {value} is invalid; choose a value in (0, 1)")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"val_fraction + test_fraction = {val_fraction + test_fraction} leaves no "
            "training images; make their sum smaller than 1"
        )

    digits = load_digits()
    images = (digits.images / _MAX_INTENSITY).astype(np.float32)
    labels = digits.target.astype(np.int64)

    rest_images, test_images, rest_labels, test_labels = train_test_split(
        images, labels, test_size=test_fraction, stratify=labels, random_state=seed
    )
    val_share_of_rest = val_fraction / (1.0 - test_fraction)
    train_images, val_images, train_labels, val_labels = train_test_split(
        rest_images,
        rest_labels,
        test_size=val_share_of_rest,
        stratify=rest_labels,
        random_state=seed,
    )
    splits = DigitSplits(
        train_images=train_images,
        train_labels=train_labels,
        val_images=val_images,
        val_labels=val_labels,
        test_images=test_images,
        test_labels=test_labels,
        seed=seed,
    )
    logger.debug("digit splits for seed %d: %s", seed, splits.sizes())
    return splits
