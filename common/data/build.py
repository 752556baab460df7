"""The entry points every method calls: :func:`build_datasets` and :func:`build_loaders`.

A data argument is one of

* ``digits`` - the embedded handwritten digits (10 classes, fixed train/val split);
* ``synthetic`` - random images and labels (``num_classes`` classes, default 10);
* ``cifar10:<path>`` - CIFAR-10 from ``<path>``: the python pickles (``cifar-10-batches-py`` in or at
  ``<path>``) or an ImageFolder tree with ``train/`` and ``val/``, ``validation/`` or ``test/``;
* a folder: the CIFAR-10 pickles when it holds ``cifar-10-batches-py``, else an ImageFolder tree with
  ``train/`` and ``val/`` (or HMQ's ``validation/``).

The embedded names win over folders of the same name (write ``./digits`` for a folder). Nothing is
ever downloaded.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from .embedded import DigitsDataset, SyntheticDataset
from .errors import DataError, show_path
from .folders import VAL_ALIASES, CIFAR10Pickles, build_image_folder, has_cifar10_pickles
from .sampler import BatchShareSampler, EpochSampler, SeededSamples, ShardSampler
from .subsets import subset_by_fraction
from .transforms import build_transforms

__all__ = ["EMBEDDED", "build_datasets", "build_loaders", "build_split", "set_loader_epoch"]

log = logging.getLogger(__name__)

#: The embedded data names.
EMBEDDED: tuple[str, ...] = ("digits", "synthetic")

_CIFAR_PREFIX = "cifar10:"
_CIFAR_VAL_ALIASES = (*VAL_ALIASES, "test")


def _classes_of(ds: Dataset) -> list[str]:
    return list(getattr(ds, "classes", []))


def build_split(
    data: str | os.PathLike[str],
    split: str,
    transform: Callable[[Any], Any] | None,
    *,
    image_size: int = 32,
    num_classes: int | None = None,
    seed: int = 0,
    synthetic_length: int | None = None,
) -> Dataset:
    """One split (``"train"`` or ``"val"``) of ``data`` with the given transform.

    For methods that need a split with another transform than :func:`build_datasets` gives (HAQ's
    search draws both its sets from ``train/``). ``image_size`` is the side at which ``digits`` and
    ``synthetic`` images are made; ``num_classes`` and ``seed`` only matter for ``synthetic``
    (val uses ``seed + 1``), ``synthetic_length`` defaults to 256 (train) / 64 (val).
    """
    if split not in ("train", "val"):
        raise DataError(f"unknown split {split!r}; use train or val")
    name = os.fspath(data)
    if name == "digits":
        return DigitsDataset(split, image_size=image_size, transform=transform)
    if name == "synthetic":
        length = synthetic_length if synthetic_length is not None else (256 if split == "train" else 64)
        return SyntheticDataset(
            length,
            image_size=image_size,
            num_classes=10 if num_classes is None else num_classes,
            seed=seed if split == "train" else seed + 1,
            transform=transform,
        )
    if name.startswith(_CIFAR_PREFIX):
        path = name[len(_CIFAR_PREFIX) :]
        if not path:
            raise DataError("cifar10: needs a folder, e.g. cifar10:/data/cifar10")
        if has_cifar10_pickles(path):
            return CIFAR10Pickles(path, train=split == "train", transform=transform)
        return build_image_folder(path, split, transform, aliases=_CIFAR_VAL_ALIASES)
    if has_cifar10_pickles(name):
        return CIFAR10Pickles(name, train=split == "train", transform=transform)
    return build_image_folder(name, split, transform)


def build_datasets(
    data: str | os.PathLike[str],
    *,
    preset: str,
    image_size: int,
    num_classes: int | None = None,
    resize_size: int | None = None,
    train_fraction: float = 1.0,
    seed: int | None = 0,
    synthetic_sizes: tuple[int, int] = (256, 64),
) -> tuple[Dataset, Dataset, int]:
    """``(train_ds, val_ds, num_classes)`` for a data argument (see the module docstring).

    ``preset`` and ``image_size`` (and ``resize_size``) choose the transforms, see
    :func:`common.data.build_transforms`; ``digits`` and ``synthetic`` images are made at
    ``image_size``. ``num_classes`` is the class count of ``synthetic`` (default 10); for other data
    it may be given to check the data: it must be at least the number of classes found (a larger
    value, e.g. a 1000-way head on ImageNet-100, is allowed) and is then returned instead of the
    count found. ``train_fraction`` < 1 keeps a random subset of the training set
    (:func:`subset_by_fraction` with ``seed``; ``seed=None`` is unseeded, like HAWQ without
    ``--seed``). Train and val must have the same class folders.
    """
    train_tf = build_transforms(preset, True, image_size, resize_size=resize_size)
    val_tf = build_transforms(preset, False, image_size, resize_size=resize_size)
    base_seed = 0 if seed is None else int(seed)
    train_ds = build_split(
        data,
        "train",
        train_tf,
        image_size=image_size,
        num_classes=num_classes,
        seed=base_seed,
        synthetic_length=synthetic_sizes[0],
    )
    val_ds = build_split(
        data,
        "val",
        val_tf,
        image_size=image_size,
        num_classes=num_classes,
        seed=base_seed,
        synthetic_length=synthetic_sizes[1],
    )
    train_classes, val_classes = _classes_of(train_ds), _classes_of(val_ds)
    if train_classes != val_classes:
        missing = sorted(set(train_classes) - set(val_classes))
        extra = sorted(set(val_classes) - set(train_classes))
        where = getattr(val_ds, "root", os.fspath(data))
        detail = (
            f"missing {missing[:3]}" if missing else f"extra {extra[:3]}" if extra else "in another order"
        )
        raise DataError(f"val classes differ from train classes ({detail}): {show_path(where)}")
    found = len(train_classes)
    if num_classes is not None and num_classes < found:
        raise DataError(f"data has {found} classes but num_classes={num_classes}: {os.fspath(data)}")
    if train_fraction != 1.0:
        train_ds = subset_by_fraction(train_ds, train_fraction, seed)
    return train_ds, val_ds, found if num_classes is None else int(num_classes)


def _loader(
    ds: Dataset,
    batch_size: int,
    workers: int,
    *,
    shuffle: bool,
    sampler: Sampler | None,
    drop_last: bool,
    pin_memory: bool,
    generator: torch.Generator | None,
) -> DataLoader:
    return DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=shuffle if sampler is None else False,
        sampler=sampler,
        num_workers=workers,
        pin_memory=pin_memory,
        drop_last=drop_last,
        persistent_workers=workers > 0,
        generator=generator,
    )


def build_loaders(
    train_ds: Dataset,
    val_ds: Dataset | None,
    batch_size: int,
    workers: int,
    distributed: bool = False,
    seed: int = 0,
    *,
    val_batch_size: int | None = None,
    num_replicas: int | None = None,
    rank: int | None = None,
    distributed_val: bool = False,
    drop_last: bool = False,
    pin_memory: bool | None = None,
) -> tuple[DataLoader, DataLoader | None]:
    """DataLoaders ``(train, val)``; ``val`` is None when ``val_ds`` is None.

    Train goes through an :class:`~common.data.sampler.EpochSampler`: its order and every item's
    augmentation are functions of ``(seed, epoch)`` (call :func:`set_loader_epoch` every epoch; a pass
    without it takes the next epoch number). When ``distributed``, rank ``r`` of ``W`` gets its share of
    that same global order, so ``W`` ranks with batch ``b`` step through the batches one process with
    batch ``W*b`` takes. ``num_replicas`` and ``rank`` default to the initialised process group; pass
    both to build the loaders without one. ``train_loader.dataset`` is the dataset wrapped in
    :class:`~common.data.sampler.SeededSamples` (its attributes are forwarded). Val is never shuffled;
    every rank sees the whole val set unless ``distributed_val`` (then rank ``r`` of ``W`` reads items
    ``r, r + W, ...``, each item once: :class:`~common.data.sampler.ShardSampler`; its loop must not step
    collectively, as the shares may differ by a batch). ``persistent_workers`` is on only when
    ``workers > 0``; ``pin_memory`` defaults to whether CUDA is available.
    """
    if batch_size < 1 or workers < 0:
        raise DataError(f"batch size must be >= 1 and workers >= 0, got {batch_size} and {workers}")
    pin = torch.cuda.is_available() if pin_memory is None else bool(pin_memory)
    if (
        distributed
        and (num_replicas is None or rank is None)
        and not (dist.is_available() and dist.is_initialized())
    ):
        raise RuntimeError(
            "distributed loaders need an initialised process group or both num_replicas and rank"
        )
    if distributed:
        replicas = dist.get_world_size() if num_replicas is None else int(num_replicas)
        my_rank = dist.get_rank() if rank is None else int(rank)
    else:
        replicas, my_rank = 1, 0
    train_sampler = EpochSampler(
        len(train_ds),  # type: ignore[arg-type]
        int(seed),
        shuffle=True,
        num_replicas=replicas,
        rank=my_rank,
        drop_last=drop_last,
        batch_size=batch_size,
    )
    if train_sampler.padded and my_rank == 0:
        log.warning(
            "%d training images do not split evenly over %d processes, and the last global batch (%d images) "
            "has fewer images than processes: every epoch repeats the first %d of its order (as torch's "
            "DistributedSampler pads), so its last step differs from one process's",
            len(train_ds),  # type: ignore[arg-type]
            replicas,
            train_sampler.last_global_batch(),
            train_sampler.padded,
        )
    train_loader = _loader(
        SeededSamples(train_ds),
        batch_size,
        workers,
        shuffle=False,
        sampler=train_sampler,
        drop_last=drop_last,
        pin_memory=pin,
        # worker base seeds come from here, not from torch's global generator
        generator=torch.Generator().manual_seed(int(seed)),
    )
    if val_ds is None:
        return train_loader, None
    val_sampler = (
        ShardSampler(len(val_ds), replicas, my_rank)  # type: ignore[arg-type]
        if distributed and distributed_val
        else None
    )
    val_loader = _loader(
        val_ds,
        val_batch_size or batch_size,
        workers,
        shuffle=False,
        sampler=val_sampler,
        drop_last=False,
        pin_memory=pin,
        generator=None,
    )
    return train_loader, val_loader


def share_weight(loader: Any, step: int) -> float:
    """The factor of this rank's mean loss at batch ``step`` of a pass of ``loader`` that makes DDP's gradient
    average the one-process gradient: ``W·n_r/n``, which differs from 1.0 only on the last step of a training set
    that does not split evenly over the ranks (:meth:`~common.data.sampler.EpochSampler.share_weight`,
    :meth:`~common.data.sampler.BatchShareSampler.share_weight`); 1.0 for a loader with another sampler."""
    sampler = getattr(loader, "sampler", None)
    return sampler.share_weight(step) if isinstance(sampler, (EpochSampler, BatchShareSampler)) else 1.0


def share_weighted(loss: torch.Tensor, loader: Any, step: int) -> torch.Tensor:
    """``loss`` times :func:`share_weight` ``(loader, step)``: the tensor to call ``backward()`` on (``loss``
    itself wherever the weight is 1.0, i.e. everywhere but the last step of an uneven DDP split)."""
    weight = share_weight(loader, step)
    return loss if weight == 1.0 else loss * weight


def global_batch_size(loader: Any, step: int) -> int | None:
    """How many images all ranks hold together at batch ``step`` of ``loader``, where that is not ``W`` times
    this rank's batch (the last step of an uneven DDP split); None otherwise and for other loaders."""
    sampler = getattr(loader, "sampler", None)
    return sampler.global_batch(step) if isinstance(sampler, EpochSampler) else None


def set_loader_epoch(loader: DataLoader, epoch: int, skip_batches: int = 0) -> None:
    """Make the loader's next pass the one of ``epoch``, starting after its first ``skip_batches`` batches.

    Works with an :class:`~common.data.sampler.EpochSampler` (the train loaders of :func:`build_loaders`),
    a DistributedSampler (``skip_batches`` must then be 0) and a loader with its own ``set_epoch(epoch,
    skip_batches)`` (:class:`common.data.dali.DaliLoader`); a no-op for other samplers.
    """
    if callable(getattr(loader, "set_epoch", None)):
        loader.set_epoch(epoch, skip_batches)
        return
    sampler = getattr(loader, "sampler", None)
    if isinstance(sampler, EpochSampler):
        sampler.set_epoch(epoch, skip=int(skip_batches) * int(loader.batch_size or 1))
    elif isinstance(sampler, DistributedSampler):
        if skip_batches:
            raise ValueError("a DistributedSampler cannot skip batches; build the loader with build_loaders")
        sampler.set_epoch(epoch)
