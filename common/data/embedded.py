"""The embedded datasets: ``digits`` (real, from scikit-learn) and ``synthetic`` (random).

Both return ``(transform(PIL RGB image), int label)`` like an ImageFolder, so they go through the
same torchvision transforms and DataLoader as ImageNet.

``digits`` is scikit-learn's ``load_digits()`` (1797 greyscale 8x8 images of the digits 0-9, values
0-16, shipped inside scikit-learn). Each image is scaled to 0-255 (``round(v * 255 / 16)``), upsampled
to ``image_size`` (bilinear by default) and replicated to three channels. The train/val split is fixed:
for each class in turn, the indices of that class are permuted by one ``numpy.random.default_rng(0)``
and the first ``round(0.2 * n_class)`` go to val. This gives 1438 train and 359 val images with
every class at 20 % in val (within one image); both index lists are sorted.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .errors import DataError

__all__ = [
    "DIGITS_CLASSES",
    "DIGITS_SPLIT_SEED",
    "DIGITS_VAL_FRACTION",
    "DigitsDataset",
    "SyntheticDataset",
    "digits_mean_std",
    "digits_split",
    "render_digit",
]

DIGITS_SPLIT_SEED = 0
DIGITS_VAL_FRACTION = 0.2
DIGITS_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))

_INTERPOLATIONS = {"bilinear": Image.Resampling.BILINEAR, "nearest": Image.Resampling.NEAREST}


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(images N x 8 x 8 uint8 in 0..255, labels N int64), read once from scikit-learn."""
    from sklearn.datasets import load_digits  # local: scikit-learn import is slow

    bunch = load_digits()
    images = np.floor(np.asarray(bunch.images, dtype=np.float64) * (255.0 / 16.0) + 0.5)
    images = np.clip(images, 0, 255).astype(np.uint8)
    images.setflags(write=False)
    labels = np.asarray(bunch.target, dtype=np.int64)
    labels.setflags(write=False)
    return images, labels


@functools.lru_cache(maxsize=1)
def digits_split() -> tuple[np.ndarray, np.ndarray]:
    """The fixed stratified (train indices, val indices) into ``load_digits()``; see the module docstring."""
    _, labels = _digits_arrays()
    rng = np.random.default_rng(DIGITS_SPLIT_SEED)
    train: list[np.ndarray] = []
    val: list[np.ndarray] = []
    for c in range(len(DIGITS_CLASSES)):
        members = rng.permutation(np.flatnonzero(labels == c))
        n_val = int(np.floor(len(members) * DIGITS_VAL_FRACTION + 0.5))
        val.append(members[:n_val])
        train.append(members[n_val:])
    train_idx, val_idx = np.sort(np.concatenate(train)), np.sort(np.concatenate(val))
    train_idx.setflags(write=False)
    val_idx.setflags(write=False)
    return train_idx, val_idx


def render_digit(pixels: np.ndarray, image_size: int = 32, interpolation: str = "bilinear") -> Image.Image:
    """An RGB PIL image of side ``image_size`` from an 8 x 8 uint8 (0..255) array."""
    if interpolation not in _INTERPOLATIONS:
        raise DataError(f"unknown digits interpolation {interpolation!r}; choose bilinear or nearest")
    img = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8))
    if img.size != (image_size, image_size):
        img = img.resize((image_size, image_size), _INTERPOLATIONS[interpolation])
    return img.convert("RGB")


class DigitsDataset(Dataset):
    """scikit-learn's handwritten digits as RGB images of side ``image_size``.

    ``split`` is ``"train"``, ``"val"`` (the fixed split of :func:`digits_split`) or ``"all"``. Images
    are rendered on access, so large ``image_size`` values cost no memory.

    ``DigitsDataset.served`` counts the items handed out by every instance in this process (the images a
    run has drawn from the data; loader workers count in their own processes, so read it with
    ``num_workers=0``). The cross-method benchmark reports a search's cost in these images.
    """

    served: ClassVar[int] = 0

    def __init__(
        self,
        split: str = "train",
        image_size: int = 32,
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[Any], Any] | None = None,
        interpolation: str = "bilinear",
    ) -> None:
        if split not in ("train", "val", "all"):
            raise DataError(f"unknown digits split {split!r}; choose train, val or all")
        if image_size < 1:
            raise DataError(f"image size must be positive, got {image_size}")
        if interpolation not in _INTERPOLATIONS:
            raise DataError(f"unknown digits interpolation {interpolation!r}; choose bilinear or nearest")
        images, labels = _digits_arrays()
        if split == "all":
            self.indices = np.arange(len(labels))
        else:
            self.indices = digits_split()[0 if split == "train" else 1]
        self.split = split
        self.image_size = int(image_size)
        self.interpolation = interpolation
        self.transform = transform
        self.target_transform = target_transform
        self.classes = list(DIGITS_CLASSES)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.targets = [int(v) for v in labels[self.indices]]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        images, _ = _digits_arrays()
        DigitsDataset.served += 1
        img: Any = render_digit(images[self.indices[index]], self.image_size, self.interpolation)
        target: Any = self.targets[index]
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target


def digits_mean_std(image_size: int = 32, interpolation: str = "bilinear") -> tuple[float, float]:
    """Mean and std over all pixels of the rendered ``digits`` training split, in ToTensor's 0..1 scale.

    This is how :data:`common.data.transforms.DIGITS_MEAN` / ``DIGITS_STD`` were computed (size 32,
    bilinear); the value is the same for the three channels.
    """
    ds = DigitsDataset("train", image_size=image_size, interpolation=interpolation)
    stack = np.stack([np.asarray(ds[i][0].convert("L"), dtype=np.float64) / 255.0 for i in range(len(ds))])
    return float(stack.mean()), float(stack.std())


class SyntheticDataset(Dataset):
    """Random RGB images with random labels, for shape tests; fully determined by ``seed``.

    ``length`` items of side ``image_size`` and labels in ``range(num_classes)``. Each image is drawn
    on access from a generator seeded with ``(seed, index)``, so any item is reproducible on its own.
    Items are ``(transform(PIL RGB image), int label)`` like the other datasets.
    """

    def __init__(
        self,
        length: int = 256,
        image_size: int = 32,
        num_classes: int = 10,
        seed: int = 0,
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[Any], Any] | None = None,
    ) -> None:
        if length < 1 or image_size < 1 or num_classes < 1:
            raise DataError(
                f"synthetic data needs positive sizes, got length={length}, image_size={image_size}, "
                f"num_classes={num_classes}"
            )
        self.length = int(length)
        self.image_size = int(image_size)
        self.seed = int(seed)
        self.transform = transform
        self.target_transform = target_transform
        self.classes = [str(c) for c in range(num_classes)]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        gen = torch.Generator().manual_seed(self.seed)
        self.targets = torch.randint(0, num_classes, (self.length,), generator=gen).tolist()

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} synthetic images")
        rng = np.random.default_rng((self.seed, index))
        pixels = rng.integers(0, 256, size=(self.image_size, self.image_size, 3), dtype=np.uint8)
        img: Any = Image.fromarray(pixels)
        target: Any = self.targets[index]
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target
