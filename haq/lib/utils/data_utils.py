"""HAQ's data: dataset names, the search split carved from the training set, and the transforms
(docs/haq.md section 4.3).

Search split: the indices of the training set are permuted by a RandomState seeded with 1 (the permutation
``np.random.seed(1); np.random.shuffle`` gives, without touching numpy's global RNG); the first ``val_size``
form the validation set (evaluation transform) and the next ``train_size`` the training set (training
augmentation). Both loaders reshuffle every pass; the training split's random crops are drawn per item from
``(seed, pass, position)`` (:class:`~common.data.SeededOrder`), so they do not depend on the loader workers
or, under torchrun, on which rank reads the image. ``digits`` (embedded data) replaces any ImageNet folder;
``cifar10`` (an addition) reads CIFAR-10 pickles or a CIFAR-10 ImageFolder with CIFAR transforms at 32 px.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, SubsetRandomSampler

from common.data import BatchShareSampler, SeededOrder, SeededSamples, build_transforms
from common.data.build import build_split
from common.runtime import UsageError, seed_worker

#: classes per ``--dataset`` name; ``cifar10`` is an addition (the original knew the ImageNet names only)
DATASET_CLASSES = {"imagenet": 1000, "imagenet100": 100, "imagenet10": 10, "digits": 10, "cifar10": 10}

_CIFAR_PREFIX = "cifar10:"


def cifar_root(root: str) -> str:
    """``root`` as the ``cifar10:PATH`` data argument of :mod:`common.data` (kept when already prefixed)."""
    root = os.fspath(root)
    return root if root.startswith(_CIFAR_PREFIX) else _CIFAR_PREFIX + root


@dataclass(frozen=True)
class DataSetup:
    """How to read one ``--dataset``: classes, image side, transform preset, and the embedding's input side."""

    name: str
    root: str
    num_classes: int
    image_size: int
    preset: str
    resize_size: int | None
    embed_size: int


def data_setup(
    dataset: str,
    root: str,
    arch_input_size: int,
    is_inception: bool = False,
    image_size: int | None = None,
) -> DataSetup:
    """Resolve ``--dataset``/``--dataset_root``; ``digits`` in either selects the embedded data.

    Sides: the arch's own input side on ``digits``, 32 on ``cifar10`` (CIFAR transforms, the root read as
    ``cifar10:PATH``), 224 (299 for Inception, eval resize 341) on the ImageNet names; ``image_size`` (the
    ``--image_size`` addition) replaces the side, and the state embedding is then computed at that side too.
    """
    if dataset not in DATASET_CLASSES:
        raise UsageError(f"unknown --dataset {dataset!r}; choose from {', '.join(DATASET_CLASSES)}")
    if image_size is not None and image_size < 8:
        raise UsageError(f"--image_size must be >= 8, got {image_size}")
    root = os.fspath(root)
    if dataset == "digits" or root == "digits":
        size = image_size or arch_input_size
        embed = 224 if "imagenet" in dataset and image_size is None else size
        return DataSetup(dataset, "digits", DATASET_CLASSES[dataset], size, "digits", None, embed)
    if root.startswith(_CIFAR_PREFIX) and dataset != "cifar10":
        raise UsageError(f"--dataset_root {root!r} is CIFAR-10 data: pass --dataset cifar10")
    folder = root[len(_CIFAR_PREFIX) :] if root.startswith(_CIFAR_PREFIX) else root
    if not os.path.isdir(folder):
        raise UsageError(f"--dataset_root {root!r} is not a folder (nor the embedded name 'digits')")
    if dataset == "cifar10":
        size = image_size or 32
        return DataSetup(dataset, cifar_root(root), 10, size, "cifar", None, size)
    size = image_size or (299 if is_inception else 224)
    resize = 341 if is_inception and image_size is None else None
    return DataSetup(dataset, root, DATASET_CLASSES[dataset], size, "imagenet", resize, image_size or 224)


def get_split_train_dataset(
    setup: DataSetup, batch_size: int, n_worker: int, val_size: int, train_size: int, seed: int = 0,
    *, num_replicas: int = 1, rank: int = 0,
) -> tuple[DataLoader, DataLoader]:  # fmt: skip
    """``(train_loader, val_loader)`` of the search split (module docstring).

    Under torchrun (``num_replicas`` W > 1) ``batch_size`` is the global batch: rank ``r`` reads its contiguous
    share of every batch the one-process loaders would give (:class:`~common.data.BatchShareSampler`, per-rank
    batch ``batch_size / W``), from the same generator draws. The global batch must split evenly over the
    ranks, and the training split's last batch must leave every rank at least one image (every step of the
    in-search fine-tune is a collective).
    """
    train_tf = build_transforms(setup.preset, True, setup.image_size, resize_size=setup.resize_size)
    test_tf = build_transforms(setup.preset, False, setup.image_size, resize_size=setup.resize_size)
    aug = build_split(setup.root, "train", train_tf, image_size=setup.image_size)
    plain = build_split(setup.root, "train", test_tf, image_size=setup.image_size)
    order = np.arange(len(aug))
    np.random.RandomState(1).shuffle(order)
    val_idx, train_idx = order[:val_size].tolist(), order[val_size : val_size + train_size].tolist()
    if not train_idx or not val_idx:
        raise UsageError(
            f"the training set has {len(aug)} images: --val_size {val_size} leaves "
            f"{max(len(aug) - val_size, 0)} for --train_size {train_size}; lower them"
        )
    if num_replicas > 1:
        if batch_size % num_replicas:
            raise UsageError(
                f"--data_bsize {batch_size} (the global batch) does not split evenly over {num_replicas} processes"
            )
        last = len(train_idx) % batch_size
        if 0 < last < num_replicas:
            raise UsageError(
                f"the search's training split ({len(train_idx)} images) ends in a batch of {last}, fewer than the "
                f"{num_replicas} processes; change --train_size or --data_bsize"
            )
    gen = torch.Generator().manual_seed(seed)

    def loader(ds, idx, seeded):
        sampler = SubsetRandomSampler(idx, generator=gen)
        if seeded:  # augmentation drawn per item: the same images whatever the workers or ranks
            sampler, ds = SeededOrder(sampler, seed), SeededSamples(ds)
        if num_replicas > 1:
            sampler = BatchShareSampler(sampler, batch_size, num_replicas, rank)
        # the training split is read twice per episode (calibration batch, fine-tune): its workers stay alive
        return DataLoader(
            ds, batch_size=batch_size // num_replicas, sampler=sampler, num_workers=n_worker,
            pin_memory=torch.cuda.is_available(), worker_init_fn=seed_worker,
            persistent_workers=seeded and n_worker > 0,
        )  # fmt: skip

    return loader(aug, train_idx, True), loader(plain, val_idx, False)


def _sampler_chain(loader: DataLoader) -> list:
    found, sampler = [], loader.sampler
    while sampler is not None:
        found.append(sampler)
        sampler = getattr(sampler, "base", None)
    return found


def split_sampler_state(loader: DataLoader) -> dict:
    """Where ``loader`` (one of :func:`get_split_train_dataset`'s) takes its next pass: generator state and pass count."""
    chain = _sampler_chain(loader)
    seeded = [s for s in chain if isinstance(s, SeededOrder)]
    state = {"generator": chain[-1].generator.get_state()}
    if seeded:
        state["passes"] = seeded[0].passes
    return state


def load_split_sampler_state(loader: DataLoader, state: dict) -> None:
    """Restore :func:`split_sampler_state`."""
    chain = _sampler_chain(loader)
    chain[-1].generator.set_state(state["generator"])
    for s in chain:
        if isinstance(s, SeededOrder):
            s.passes = int(state.get("passes", 0))
