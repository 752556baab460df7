"""Per-paper image transforms, selected by a preset name.

Each preset maps a PIL image to a float tensor of shape 3 x s x s (s = ``image_size``):

* ``imagenet``: train RandomResizedCrop(s) + HorizontalFlip; eval Resize(int(s/0.875)) + CenterCrop(s).
  HAWQ-V3, HAQ and OMPQ's QAT/PTQ (224 -> Resize 256).
* ``imagenet_bicubic`` (alias ``hmq``): as ``imagenet`` with a bicubic eval Resize (HMQ).
* ``inception``: as ``imagenet`` with s = 299 by default and eval Resize(ceil(s/0.875)) = 342, as
  HAWQ-V3 says; HAQ uses Resize(341) = int(299/0.875): pass ``resize_size=341``.
* ``ompq``: train RandomResizedCrop(s, scale 0.1-1, ratio 0.8-1.25) + flip, the torchvision form of
  OMPQ's DALI search batch; eval as ``imagenet``.
* ``proqha``: train RandomResizedCrop(s, scale 0.08-1.25) + flip (ProQHA's DALI area range, kept);
  eval as ``imagenet``.
* ``cifar``: train RandomCrop(s, padding 4) + HorizontalFlip; eval nothing; CIFAR mean/std.
* ``cifar_proqha``: as ``cifar`` with ProQHA's longer CIFAR constants.
* ``digits``: train RandomCrop(s, padding s//8), no flip (digits are not mirror-symmetric); eval
  nothing; digits mean/std.
* ``none``: ToTensor only, no augmentation and no normalisation, in both modes.

All presets end with ``ToTensor`` and, except ``none``, ``Normalize`` with the preset's mean and std
(ImageNet's for the ImageNet-style ones). Interpolation is bilinear unless stated. ``resize_size``
overrides the eval Resize of the ImageNet-style presets; the other presets never resize and expect
images of side s.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from torchvision import transforms as T
from torchvision.transforms import InterpolationMode

from .errors import DataError

__all__ = [
    "CIFAR_MEAN",
    "CIFAR_STD",
    "DIGITS_MEAN",
    "DIGITS_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PROQHA_CIFAR_MEAN",
    "PROQHA_CIFAR_STD",
    "PRESETS",
    "TransformPreset",
    "build_transforms",
    "preset_names",
]

Triple = tuple[float, float, float]

IMAGENET_MEAN: Triple = (0.485, 0.456, 0.406)
IMAGENET_STD: Triple = (0.229, 0.224, 0.225)

#: CIFAR-10 statistics as used by HMQ and most CIFAR code.
CIFAR_MEAN: Triple = (0.4914, 0.4822, 0.4465)
CIFAR_STD: Triple = (0.2470, 0.2435, 0.2616)

#: The longer CIFAR-10 constants of ProQHA's DALI pipeline (docs/proqha.md, section 4).
PROQHA_CIFAR_MEAN: Triple = (0.49139968, 0.48215827, 0.44653124)
PROQHA_CIFAR_STD: Triple = (0.24703233, 0.24348505, 0.26158768)

#: Per-channel mean and std of the ``digits`` training split (1438 images) rendered at 32x32 with
#: bilinear upsampling, after ToTensor. The three channels are equal because the images are grey.
#: Recompute with ``python -m common.data digits-stats --size 32`` (see ``digits_mean_std``).
DIGITS_MEAN: Triple = (0.3058, 0.3058, 0.3058)
DIGITS_STD: Triple = (0.3236, 0.3236, 0.3236)


@dataclass(frozen=True)
class TransformPreset:
    """What one preset does; see the module docstring for the table."""

    name: str
    kind: str  # "imagenet", "cifar", "digits" or "none"
    mean: Triple | None
    std: Triple | None
    default_size: int
    description: str
    train_scale: tuple[float, float] = (0.08, 1.0)
    train_ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0)
    eval_interpolation: InterpolationMode = InterpolationMode.BILINEAR
    eval_resize_rounding: Callable[[float], int] = int


PRESETS: dict[str, TransformPreset] = {
    p.name: p
    for p in (
        TransformPreset(
            "imagenet",
            "imagenet",
            IMAGENET_MEAN,
            IMAGENET_STD,
            224,
            "RandomResizedCrop+flip / Resize(int(s/0.875))+CenterCrop (HAWQ-V3, HAQ, OMPQ QAT/PTQ)",
        ),
        TransformPreset(
            "imagenet_bicubic",
            "imagenet",
            IMAGENET_MEAN,
            IMAGENET_STD,
            224,
            "as imagenet with a bicubic eval Resize (HMQ)",
            eval_interpolation=InterpolationMode.BICUBIC,
        ),
        TransformPreset(
            "hmq",
            "imagenet",
            IMAGENET_MEAN,
            IMAGENET_STD,
            224,
            "alias of imagenet_bicubic (HMQ ImageNet)",
            eval_interpolation=InterpolationMode.BICUBIC,
        ),
        TransformPreset(
            "inception",
            "imagenet",
            IMAGENET_MEAN,
            IMAGENET_STD,
            299,
            "299 crops, eval Resize(ceil(s/0.875)) = 342 (HAWQ-V3); HAQ uses resize_size=341",
            eval_resize_rounding=math.ceil,
        ),
        TransformPreset(
            "ompq",
            "imagenet",
            IMAGENET_MEAN,
            IMAGENET_STD,
            224,
            "OMPQ search batch: RandomResizedCrop(scale 0.1-1, ratio 0.8-1.25)+flip",
            train_scale=(0.1, 1.0),
            train_ratio=(0.8, 1.25),
        ),
        TransformPreset(
            "proqha",
            "imagenet",
            IMAGENET_MEAN,
            IMAGENET_STD,
            224,
            "ProQHA ImageNet: RandomResizedCrop(scale 0.08-1.25)+flip",
            train_scale=(0.08, 1.25),
        ),
        TransformPreset(
            "cifar", "cifar", CIFAR_MEAN, CIFAR_STD, 32, "RandomCrop(32, padding 4)+flip, CIFAR mean/std"
        ),
        TransformPreset(
            "cifar_proqha",
            "cifar",
            PROQHA_CIFAR_MEAN,
            PROQHA_CIFAR_STD,
            32,
            "as cifar with ProQHA's CIFAR mean/std",
        ),
        TransformPreset(
            "digits", "digits", DIGITS_MEAN, DIGITS_STD, 32, "RandomCrop(s, padding s//8), no flip"
        ),
        TransformPreset("none", "none", None, None, 32, "ToTensor only, no augmentation or normalisation"),
    )
}


def preset_names() -> list[str]:
    """The names accepted by :func:`build_transforms`, sorted."""
    return sorted(PRESETS)


def _get_preset(preset: str) -> TransformPreset:
    try:
        return PRESETS[preset]
    except KeyError:
        raise DataError(
            f"unknown transform preset {preset!r}; choose from {', '.join(preset_names())}"
        ) from None


def build_transforms(
    preset: str,
    train: bool,
    image_size: int | None = None,
    *,
    resize_size: int | None = None,
) -> T.Compose:
    """The torchvision transform of ``preset`` for the training (``train=True``) or evaluation split.

    ``image_size`` is the output side (default: the preset's, 224 / 299 / 32). ``resize_size`` replaces
    the evaluation Resize of the ImageNet-style presets (default ``int(image_size/0.875)``,
    ``ceil`` for ``inception``); the other presets do not resize and expect images of ``image_size``.
    """
    p = _get_preset(preset)
    size = p.default_size if image_size is None else int(image_size)
    if size < 1:
        raise DataError(f"image size must be positive, got {size}")
    steps: list[object] = []
    if p.kind == "imagenet":
        if train:
            steps += [
                T.RandomResizedCrop(size, scale=p.train_scale, ratio=p.train_ratio),
                T.RandomHorizontalFlip(),
            ]
        else:
            resize = p.eval_resize_rounding(size / 0.875) if resize_size is None else int(resize_size)
            steps += [T.Resize(resize, interpolation=p.eval_interpolation), T.CenterCrop(size)]
    elif p.kind == "cifar" and train:
        steps += [T.RandomCrop(size, padding=4), T.RandomHorizontalFlip()]
    elif p.kind == "digits" and train:
        steps += [T.RandomCrop(size, padding=max(1, size // 8))]
    steps.append(T.ToTensor())
    if p.mean is not None and p.std is not None:
        steps.append(T.Normalize(p.mean, p.std))
    return T.Compose(steps)
