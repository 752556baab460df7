"""NVIDIA DALI loaders for an ImageFolder root (``train/`` and ``val/`` class folders), the optional fast path.

The originals of OMPQ and ProQHA read ImageNet through DALI; this project's default loaders are torchvision's
(:func:`common.data.build_loaders`), whose order and augmentation are functions of ``(seed, epoch)`` and which
split a global batch exactly over DDP ranks. DALI decodes (on the GPU with ``device="cuda"``: nvJPEG, "mixed"
decoding) and augments in its own threads, for when the host cannot feed the GPUs. It trades those guarantees
for speed, and the differences are these:

* the training order and the crops come from DALI's own generators (seeded with ``seed`` and the rank), so a
  DALI run does not see the images of a torchvision run, and a resumed run restarts DALI's streams;
* rank ``r`` of ``W`` reads shard ``r`` of the training files (DALI's ``shard_id``/``num_shards``) and every
  rank takes the same number of full batches (a collective each): DALI pads each shard's last batch by repeating
  its last image, so under DDP a few images count twice per epoch (one process reads each image once, with a
  shorter last batch, as the torchvision path does);
* a run resumed in the middle of an epoch skips that many batches of DALI's next pass (:meth:`DaliLoader.set_epoch`),
  not the batches the interrupted run had read;
* the augmentation is the preset's (:data:`common.data.transforms.PRESETS`): train ``random_resized_crop``
  with the preset's area and aspect ranges plus a horizontal flip, eval a resize of the shorter side to
  ``preset.eval_resize_rounding(s / 0.875)`` and a centre crop, both normalised with the preset's mean and std.
  DALI's resampling is not PIL's, so pixel values differ slightly from the torchvision path (bilinear both).

Every rank reads the whole validation set, as the torchvision path does. Labels are the indices of the sorted
class folder names, as :class:`torchvision.datasets.ImageFolder` assigns them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import torch

from common.runtime import UsageError

from .transforms import PRESETS

__all__ = ["DaliLoader", "build_dali_loaders", "check_dali_data", "dali_available", "require_dali"]


def dali_available() -> bool:
    """Whether ``nvidia.dali`` (and its PyTorch plugin) can be imported."""
    try:
        import nvidia.dali  # noqa: F401
        import nvidia.dali.plugin.pytorch  # noqa: F401
    except ImportError:
        return False
    return True


def require_dali() -> None:
    """A one-line :class:`UsageError` unless DALI is installed."""
    if not dali_available():
        raise UsageError("--dali needs NVIDIA DALI: pip install -e '.[dali]' (nvidia-dali-cuda120)")


def check_dali_data(data: str) -> None:
    """A one-line :class:`UsageError` when ``--data`` names no ImageFolder root (the embedded sets, CIFAR-10
    pickles): DALI reads image files only."""
    if str(data) in ("digits", "synthetic") or str(data).startswith("cifar10:"):
        raise UsageError(f"--dali reads an ImageFolder root, not --data {data}")


class _Sized:
    """``len()`` and ``classes`` of a DALI split (what the training loops read from ``loader.dataset``)."""

    def __init__(self, count: int, classes: list[str]) -> None:
        self.count, self.classes = count, classes

    def __len__(self) -> int:
        return self.count


def _image_files(folder: Path) -> tuple[list[str], int]:
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
    if not classes:
        raise UsageError(f"--dali: no class folders in {folder}")
    count = sum(1 for c in classes for f in (folder / c).iterdir() if f.is_file())
    return classes, count


class DaliLoader:
    """One split as an iterable of ``(images, labels)`` batches: float ``N x 3 x s x s`` on ``device`` and int64
    labels. ``len()`` is the steps of one pass (this rank's shard); every pass reads the split once."""

    def __init__(
        self,
        folder: Path,
        *,
        train: bool,
        preset: str,
        image_size: int,
        batch_size: int,
        threads: int,
        device: torch.device,
        seed: int,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        from nvidia.dali import fn, pipeline_def, types
        from nvidia.dali.plugin.pytorch import DALIGenericIterator, LastBatchPolicy

        spec = PRESETS[preset]
        if spec.kind != "imagenet":
            raise UsageError(f"--dali takes the ImageNet-style presets, not {preset!r}")
        self.classes, count = _image_files(folder)
        shards = world if train else 1
        shard = rank if train else 0
        self.dataset = _Sized(count, self.classes)
        self._steps = math.ceil(math.ceil(count / shards) / batch_size)
        gpu = device.type == "cuda"
        mean = [255 * m for m in spec.mean]
        std = [255 * s for s in spec.std]
        resize = spec.eval_resize_rounding(image_size / 0.875)

        @pipeline_def
        def pipeline() -> tuple:
            files, labels = fn.readers.file(
                file_root=str(folder), random_shuffle=train, shard_id=shard, num_shards=shards,
                pad_last_batch=True, name="reader", seed=seed + 7919 * rank,
            )  # fmt: skip
            images = fn.decoders.image(files, device="mixed" if gpu else "cpu", output_type=types.RGB)
            if train:
                images = fn.random_resized_crop(
                    images, size=(image_size, image_size), random_area=spec.train_scale,
                    random_aspect_ratio=spec.train_ratio, interp_type=types.INTERP_LINEAR,
                )  # fmt: skip
                mirror = fn.random.coin_flip()
            else:
                images = fn.resize(images, resize_shorter=resize, interp_type=types.INTERP_LINEAR)
                mirror = 0
            images = fn.crop_mirror_normalize(
                images, dtype=types.FLOAT, output_layout="CHW", crop=(image_size, image_size),
                mean=mean, std=std, mirror=mirror,
            )  # fmt: skip
            return images, labels.gpu() if gpu else labels

        pipe = pipeline(
            batch_size=batch_size,
            num_threads=max(1, threads),
            device_id=(device.index or 0) if gpu else None,
            seed=seed + 7919 * rank,
        )
        pipe.build()
        # PARTIAL drops the padding, which can leave a shard an empty last batch: under DDP keep it (FILL)
        policy = LastBatchPolicy.FILL if shards > 1 else LastBatchPolicy.PARTIAL
        self._iterator = DALIGenericIterator(
            [pipe], ["images", "labels"], reader_name="reader", last_batch_policy=policy, auto_reset=True
        )
        self._skip = 0

    def __len__(self) -> int:
        return self._steps

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        """The next pass reads ``len(self) - skip_batches`` batches (it discards its first ``skip_batches``).
        ``epoch`` is not used: DALI's order and crops continue their own streams."""
        if not 0 <= skip_batches <= self._steps:
            raise ValueError(f"cannot skip {skip_batches} of {self._steps} batches")
        self._skip = int(skip_batches)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        skip, self._skip = self._skip, 0
        for step, batch in enumerate(self._iterator):
            if step >= skip:
                yield batch[0]["images"], batch[0]["labels"].reshape(-1).long()


def build_dali_loaders(
    root: str | Path,
    *,
    preset: str,
    image_size: int,
    batch_size: int,
    threads: int,
    device: torch.device,
    seed: int = 0,
    rank: int = 0,
    world: int = 1,
    val_batch_size: int | None = None,
) -> tuple[DaliLoader, DaliLoader]:
    """``(train, val)`` DALI loaders of ``root/train`` and ``root/val``; ``batch_size`` is per rank.

    :class:`UsageError` (one line) when DALI is not installed or ``root`` has no such folders.
    """
    require_dali()
    root = Path(root)
    for split in ("train", "val"):
        if not (root / split).is_dir():
            raise UsageError(
                f"--dali reads an ImageFolder root with train/ and val/; {root / split} is missing"
            )
    common = dict(preset=preset, image_size=image_size, threads=threads, device=device, seed=seed)
    train = DaliLoader(root / "train", train=True, batch_size=batch_size, rank=rank, world=world, **common)
    val = DaliLoader(root / "val", train=False, batch_size=val_batch_size or batch_size, **common)
    if val.classes != train.classes:
        raise UsageError(f"--dali: train/ and val/ of {root} have different class folders")
    return train, val
