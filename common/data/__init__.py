"""Datasets by path or embedded name, each paper's transforms, subsets and loaders (contract 4).

Public API::

    build_datasets(data, *, preset, image_size, num_classes=None, ...) -> (train_ds, val_ds, num_classes)
    build_loaders(train_ds, val_ds, batch_size, workers, distributed=False, seed=0, ...) -> (train, val)
    build_transforms(preset, train, image_size=None, *, resize_size=None) -> Compose
    build_split(data, split, transform, ...) -> Dataset
    build_image_folder(root, split, transform=None) -> ImageFolder
    subset_by_fraction(dataset, fraction, seed=0) -> Subset
    EpochSampler, SeededSamples: the train order and augmentation as functions of (seed, epoch)
    share_weight(train_loader, step) -> W·n_r/n, the loss factor of an uneven DDP split's last step
    share_weighted(loss, train_loader, step) -> loss times that factor, to call backward() on
    imagenet100_classes(src_root, n_classes=100) -> list[str]
    build_imagenet100(src_root, dst_root, n_classes=100) -> list[str]
    DigitsDataset, SyntheticDataset, CIFAR10Pickles, DataError

Command line: ``python -m common.data imagenet100 SRC DST`` and ``python -m common.data digits-stats``.
"""

from .build import (
    EMBEDDED,
    build_datasets,
    build_loaders,
    build_split,
    global_batch_size,
    set_loader_epoch,
    share_weight,
    share_weighted,
)
from .embedded import (
    DIGITS_CLASSES,
    DIGITS_SPLIT_SEED,
    DIGITS_VAL_FRACTION,
    DigitsDataset,
    SyntheticDataset,
    digits_mean_std,
    digits_split,
    render_digit,
)
from .errors import DataError
from .folders import (
    CIFAR10_FOLDER,
    VAL_ALIASES,
    CIFAR10Pickles,
    build_image_folder,
    has_cifar10_pickles,
    load_image,
    split_dir,
)
from .sampler import BatchShareSampler, EpochSampler, SeededOrder, SeededSamples, epoch_generator
from .subsets import (
    IMAGENET100_FIRST,
    IMAGENET100_LAST,
    build_imagenet100,
    imagenet100_classes,
    subset_by_fraction,
)
from .transforms import (
    CIFAR_MEAN,
    CIFAR_STD,
    DIGITS_MEAN,
    DIGITS_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    PRESETS,
    PROQHA_CIFAR_MEAN,
    PROQHA_CIFAR_STD,
    TransformPreset,
    build_transforms,
    preset_names,
)

__all__ = [
    "CIFAR10_FOLDER",
    "CIFAR10Pickles",
    "CIFAR_MEAN",
    "CIFAR_STD",
    "DIGITS_CLASSES",
    "DIGITS_MEAN",
    "DIGITS_SPLIT_SEED",
    "DIGITS_STD",
    "DIGITS_VAL_FRACTION",
    "DataError",
    "DigitsDataset",
    "EMBEDDED",
    "BatchShareSampler",
    "EpochSampler",
    "IMAGENET100_FIRST",
    "IMAGENET100_LAST",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PRESETS",
    "PROQHA_CIFAR_MEAN",
    "PROQHA_CIFAR_STD",
    "SeededOrder",
    "SeededSamples",
    "SyntheticDataset",
    "TransformPreset",
    "VAL_ALIASES",
    "build_datasets",
    "build_image_folder",
    "build_imagenet100",
    "build_loaders",
    "build_split",
    "build_transforms",
    "digits_mean_std",
    "digits_split",
    "epoch_generator",
    "global_batch_size",
    "has_cifar10_pickles",
    "imagenet100_classes",
    "load_image",
    "preset_names",
    "render_digit",
    "set_loader_epoch",
    "share_weight",
    "share_weighted",
    "split_dir",
    "subset_by_fraction",
]
