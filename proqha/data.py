"""Datasets and loaders of the ProQHA entrypoints (docs/proqha.md sections 3.3 and 4), through common.data.

* ImageNet-style datasets: preset ``proqha`` (RandomResizedCrop(224, scale 0.08-1.25) + flip; val Resize 256 +
  CenterCrop 224), torchvision loaders in place of DALI; ``--image_size`` (an addition) sets another side.
* CIFAR-style datasets: preset ``cifar_proqha`` (pad-4 random crop + flip, ProQHA's CIFAR mean/std), 32 px.
* ``digits`` (dataset or data argument): the embedded digits at the dataset's size, preset ``digits`` for
  ``--dataset digits``.

The candidate-scoring set is ``{base_data_dir}/train`` with the training transform; its batch is the first
``train_batch_size`` items (quirk 3, ``--score_batch first``) in a fresh random order and augmentation on every
pass, or ``--score_batch random`` items drawn anew for every candidate.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, SubsetRandomSampler

from common.data import build_datasets, build_split, build_transforms
from proqha.models import family_of

SCORE_BATCH_MODES = ("first", "random")


def preset_of(dataset: str, image_size: int | None = None) -> tuple[str, int]:
    """``(transform preset, image size)`` of a ``--dataset`` value; ``image_size`` (``--image_size``, an
    addition) replaces the side (224 for the ImageNet family, else 32)."""
    if dataset == "digits":
        preset, size = "digits", 32
    elif family_of(dataset) == "imagenet":
        preset, size = "proqha", 224
    else:
        preset, size = "cifar_proqha", 32
    return preset, image_size or size


def build_data(
    dataset: str,
    data_dir: str,
    seed: int | None = 0,
    train_fraction: float = 1.0,
    image_size: int | None = None,
) -> tuple[Dataset, Dataset, int]:
    """``(train, val, num_classes)`` of ``data_dir`` with the transforms of ``dataset``."""
    preset, size = preset_of(dataset, image_size)
    return build_datasets(data_dir, preset=preset, image_size=size, seed=seed, train_fraction=train_fraction)


def build_scoring_set(dataset: str, base_data_dir: str, image_size: int | None = None) -> Dataset:
    """The torchvision ``{base_data_dir}/train`` set with the training transform."""
    preset, size = preset_of(dataset, image_size)
    return build_split(base_data_dir, "train", build_transforms(preset, True, size), image_size=size)


class ScoringBatches:
    """One scoring batch per call (the original's one-batch loader, re-iterated for every candidate)."""

    def __init__(self, ds: Dataset, batch_size: int, mode: str = "first", seed: int | None = None) -> None:
        if mode not in SCORE_BATCH_MODES:
            raise ValueError(f"score batch mode must be one of {SCORE_BATCH_MODES}, got {mode!r}")
        self.ds, self.batch_size, self.mode = ds, min(batch_size, len(ds)), mode
        self.gen = torch.Generator()
        self.gen.manual_seed(seed if seed is not None else int(torch.randint(2**31, (1,)).item()))

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.mode == "first":
            indices = list(range(self.batch_size))
        else:
            indices = torch.randperm(len(self.ds), generator=self.gen)[: self.batch_size].tolist()
        loader = DataLoader(
            self.ds, self.batch_size, sampler=SubsetRandomSampler(indices, generator=self.gen), num_workers=0
        )
        return next(iter(loader))
