"""Subsets: a deterministic fraction of a dataset, and the ImageNet-100 folder builder.

ImageNet-100 (HAQ) is the first 100 ImageNet classes in sorted-wnid order (n01440764 ... n01855672),
so the ImageFolder labels 0-99 of the subset coincide with the 1000-class indices of a pretrained
head. HAQ ships that list as a text file; here it is derived from the sorted class folders of the
source tree, which gives the same 100 wnids on a standard ImageNet train folder.
"""

from __future__ import annotations

import os
from collections.abc import Sized

import torch
from torch.utils.data import Dataset, Subset

from .errors import DataError, show_path
from .folders import split_dir

__all__ = [
    "IMAGENET100_FIRST",
    "IMAGENET100_LAST",
    "build_imagenet100",
    "imagenet100_classes",
    "subset_by_fraction",
]

#: First and last wnid of HAQ's ImageNet-100 list, for reference and checks.
IMAGENET100_FIRST = "n01440764"
IMAGENET100_LAST = "n01855672"


def subset_by_fraction(dataset: Dataset, fraction: float, seed: int | None = 0) -> Subset:
    """A random subset of ``max(1, int(len(dataset) * fraction))`` items (HAWQ's ``--data-percentage``).

    The indices are the first items of ``torch.randperm(len)`` drawn from a generator seeded with
    ``seed`` (what ``random_split`` does with such a generator), so the same seed gives the same
    indices in the same order. ``seed=None`` draws from the global torch RNG, like the original's
    unseeded ``random_split``. ``fraction`` must be in (0, 1]; 1 keeps every item (in permuted order).
    """
    if not isinstance(dataset, Sized):
        raise DataError(f"cannot take a fraction of a dataset without a length ({type(dataset).__name__})")
    if not 0.0 < float(fraction) <= 1.0:
        raise DataError(f"data fraction must be in (0, 1], got {fraction}")
    n = len(dataset)
    if n == 0:
        raise DataError("cannot take a fraction of an empty dataset")
    k = max(1, int(n * float(fraction)))
    gen = None if seed is None else torch.Generator().manual_seed(int(seed))
    indices = torch.randperm(n, generator=gen)[:k].tolist()
    return Subset(dataset, indices)


def _class_folders(folder: str) -> list[str]:
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_dir())


def imagenet100_classes(src_root: str | os.PathLike[str], n_classes: int = 100) -> list[str]:
    """The first ``n_classes`` class folder names of ``src_root/train`` in sorted order."""
    if n_classes < 1:
        raise DataError(f"number of classes must be positive, got {n_classes}")
    train = split_dir(src_root, "train")
    classes = _class_folders(train)
    if len(classes) < n_classes:
        raise DataError(f"need {n_classes} class folders, found {len(classes)} in: {show_path(train)}")
    return classes[:n_classes]


def build_imagenet100(
    src_root: str | os.PathLike[str], dst_root: str | os.PathLike[str], n_classes: int = 100
) -> list[str]:
    """Make ``dst_root/{train,val}/<wnid>`` symlinks to the first ``n_classes`` sorted classes of ``src_root``.

    The evaluation folder of the source may be ``val/`` or ``validation/``; the destination always
    uses ``val/``. Links point to absolute paths. Everything is checked before anything is created:
    a class missing from the source evaluation folder, or a destination entry that exists and is not
    already the right link, raises :class:`DataError` and leaves ``dst_root`` untouched. Running it
    again on a finished tree is a no-op. Returns the list of wnids.
    """
    classes = imagenet100_classes(src_root, n_classes)
    plan: list[tuple[str, str]] = []
    for split in ("train", "val"):
        src_split = os.path.abspath(split_dir(src_root, split))
        dst_split = os.path.join(os.fspath(dst_root), split)
        if os.path.exists(dst_split) and not os.path.isdir(dst_split):
            raise DataError(f"destination is not a folder: {show_path(dst_split)}")
        for wnid in classes:
            target = os.path.join(src_split, wnid)
            if not os.path.isdir(target):
                raise DataError(f"class folder missing from {split} split: {show_path(target)}")
            link = os.path.join(dst_split, wnid)
            if os.path.lexists(link):
                if os.path.islink(link) and os.readlink(link) == target:
                    continue
                raise DataError(
                    f"destination already exists and is not a link to the source: {show_path(link)}"
                )
            plan.append((target, link))
    for target, link in plan:
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(target, link, target_is_directory=True)
    return classes
