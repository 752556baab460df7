"""Small data sets on disk for tests: an ImageFolder of random JPEGs and CIFAR-10 pickles of random images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def fake_image_folder(root: Path, classes: int = 2, train: int = 4, val: int = 2, size: int = 64) -> Path:
    """An ImageFolder tree of random JPEGs: ``train/<c>/*.jpg`` and ``val/<c>/*.jpg``."""
    rng = np.random.default_rng(0)
    for split, n in (("train", train), ("val", val)):
        for c in range(classes):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
                    folder / f"{i}.jpg"
                )
    return root


def fake_cifar10(root: Path, per_batch: int = 8) -> Path:
    """torchvision's ``cifar-10-batches-py`` layout with random images: five training batches and a test batch."""
    import pickle

    rng = np.random.default_rng(1)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"labels": [int(v) for v in rng.integers(0, 10, per_batch)],
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    (folder / "batches.meta").write_bytes(
        pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)]})
    )
    return root


def digits_image_folder(root: Path, train: int, val: int = 20, size: int = 16) -> Path:
    """The first ``train`` / ``val`` images of the embedded digits splits as an ImageFolder of PNGs
    (``train/<digit>/*.png``, ``val/<digit>/*.png``): real, learnable images in any count."""
    from common.data import DigitsDataset

    for split, n in (("train", train), ("val", val)):
        data = DigitsDataset(split, image_size=size)
        for i in range(n):
            image, label = data[i]
            folder = root / split / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            image.save(folder / f"{i}.png")
    return root
