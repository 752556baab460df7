"""Datasets read from disk: ImageFolder trees and the CIFAR-10 python pickles.

Every problem with the files (a missing or empty folder, a class folder without images, an image
PIL cannot read, a broken CIFAR batch) raises :class:`DataError` with one line naming the path. The CIFAR
pickles are read by a restricted unpickler that resolves only NumPy's array reconstruction and builtin
containers, so a crafted batch cannot run code (it is refused, naming the global it asked for).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image
from torch.utils.data import Dataset
from torchvision.datasets import ImageFolder

from .errors import DataError, show_path

__all__ = [
    "CIFAR10_FOLDER",
    "CIFAR10Pickles",
    "VAL_ALIASES",
    "build_image_folder",
    "has_cifar10_pickles",
    "load_image",
    "split_dir",
]

#: Accepted names of the evaluation folder, in order of preference (HMQ uses ``validation``).
VAL_ALIASES: tuple[str, ...] = ("val", "validation")

#: The folder torchvision's CIFAR10 extracts to.
CIFAR10_FOLDER = "cifar-10-batches-py"
_CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR10_TEST = ("test_batch",)
_CIFAR10_META = "batches.meta"


def load_image(path: str) -> Image.Image:
    """Open ``path`` as an RGB PIL image; a file PIL cannot read raises :class:`DataError`.

    Used as the ``loader`` of every ImageFolder built here (module level so that DataLoader workers
    can pickle it).
    """
    try:
        with open(path, "rb") as f:
            img = Image.open(f)
            return img.convert("RGB")  # convert() forces the decode while the file is open
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(f"cannot read image: {show_path(path)} ({reason})") from exc


def _require_dir(path: str) -> None:
    if not os.path.isdir(path):
        what = "not a folder" if os.path.exists(path) else "data folder not found"
        raise DataError(f"{what}: {show_path(path)}")


def split_dir(root: str | os.PathLike[str], split: str, aliases: Sequence[str] | None = None) -> str:
    """The folder of ``split`` under ``root``: ``root/train``, or ``root/val`` / ``root/validation``.

    ``aliases`` replaces the accepted names of the evaluation folder (default :data:`VAL_ALIASES`).
    Raises :class:`DataError` when ``root`` or the split folder is missing or ``root`` is empty.
    """
    root = os.fspath(root)
    _require_dir(root)
    with os.scandir(root) as entries:
        empty = next(entries, None) is None
    if empty:
        raise DataError(f"data folder is empty: {show_path(root)}")
    if split not in ("train", "val"):
        raise DataError(f"unknown split {split!r} (use 'train' or 'val') for {show_path(root)}")
    names = (split,) if split == "train" else tuple(aliases or VAL_ALIASES)
    for name in names:
        candidate = os.path.join(root, name)
        if os.path.isdir(candidate):
            return candidate
    wanted = " or ".join(f"{name}/" for name in names)
    raise DataError(f"data folder not found: {show_path(os.path.join(root, names[0]))} (expected {wanted})")


class _CheckedImageFolder(ImageFolder):
    """ImageFolder whose failures are one-line :class:`DataError` messages naming the path."""

    def find_classes(self, directory: str | os.PathLike[str]) -> tuple[list[str], dict[str, int]]:
        try:
            return super().find_classes(directory)
        except FileNotFoundError:
            raise DataError(f"no class folders in: {show_path(directory)}") from None


def build_image_folder(
    root: str | os.PathLike[str],
    split: str,
    transform: Callable[[Any], Any] | None = None,
    *,
    aliases: Sequence[str] | None = None,
) -> ImageFolder:
    """An ImageFolder over ``root/<split>`` (see :func:`split_dir`) with :func:`load_image` as loader.

    Every class folder must hold at least one image with an extension torchvision accepts.
    """
    folder = split_dir(root, split, aliases)
    ds = _CheckedImageFolder(folder, transform=transform, loader=load_image, allow_empty=True)
    counts = np.bincount(np.asarray(ds.targets, dtype=np.int64), minlength=len(ds.classes))
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        raise DataError(f"no images in class folder: {show_path(os.path.join(folder, ds.classes[empty[0]]))}")
    return ds


def has_cifar10_pickles(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` holds ``cifar-10-batches-py`` (or is that folder itself)."""
    path = os.fspath(path)
    return os.path.isdir(os.path.join(path, CIFAR10_FOLDER)) or (
        os.path.basename(os.path.normpath(path)) == CIFAR10_FOLDER and os.path.isdir(path)
    )


def _numpy_global(module: str, name: str) -> Any:
    """``module.name`` from NumPy, preferring ``numpy._core`` (NumPy 2) over the deprecated ``numpy.core`` alias."""
    import importlib

    tail = module.split(".", 2)[-1] if module.startswith(("numpy.core.", "numpy._core.")) else None
    if tail is not None:
        for base in ("numpy._core", "numpy.core"):
            try:
                return getattr(importlib.import_module(f"{base}.{tail}"), name)
            except (ImportError, AttributeError):
                continue
    return getattr(np, name)


#: The only globals a CIFAR-10 batch may name: NumPy's array reconstruction (pickle protocols 2-4 and, for
#: protocol 5, ``_frombuffer``), ``ndarray`` and ``dtype``, the codec Python 3 uses for bytes under
#: protocol 2, and plain builtin containers/strings (``__builtin__`` is Python 2's spelling).
_CIFAR_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {(m, "_reconstruct") for m in ("numpy.core.multiarray", "numpy._core.multiarray")}
    | {(m, "_frombuffer") for m in ("numpy.core.numeric", "numpy._core.numeric")}
    | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}
    | {
        (m, n)
        for m in ("builtins", "__builtin__")
        for n in ("dict", "list", "tuple", "set", "frozenset", "bytes", "bytearray", "str", "unicode")
    }
)


class _RefusedGlobal(pickle.UnpicklingError):
    """A pickle asked for a global outside :data:`_CIFAR_GLOBALS`."""


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler that resolves only :data:`_CIFAR_GLOBALS`; anything else (``os.system``...) is refused unrun."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _CIFAR_GLOBALS:
            raise _RefusedGlobal(f"{module}.{name}")
        if module.startswith("numpy"):
            return _numpy_global(module, name)
        if module == "_codecs":
            import codecs

            return codecs.encode
        import builtins

        return getattr(builtins, {"unicode": "str"}.get(name, name))


def _unpickle(path: str) -> dict[str, Any]:
    """A CIFAR-10 batch through :class:`_CifarUnpickler`; ``bytes`` keys (Python 3 pickles) become ``str``."""
    if not os.path.isfile(path):
        raise DataError(f"CIFAR-10 file not found: {show_path(path)}")
    try:
        with open(path, "rb") as f:
            obj = _CifarUnpickler(f, encoding="latin1").load()
    except _RefusedGlobal as exc:
        raise DataError(
            f"refused CIFAR-10 file: {show_path(path)} (the pickle asks for {exc}, which a CIFAR-10 batch "
            "never holds; not loaded)"
        ) from None
    except Exception as exc:  # any unpickling failure means the file is broken
        raise DataError(f"cannot read CIFAR-10 file: {show_path(path)} ({type(exc).__name__})") from exc
    if not isinstance(obj, dict):
        raise DataError(f"cannot read CIFAR-10 file: {show_path(path)} (not a dict)")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


class CIFAR10Pickles(Dataset):
    """CIFAR-10 from the python pickle layout that ``torchvision.datasets.CIFAR10`` reads, never downloaded.

    Same samples, order and attributes (``data`` N x 32 x 32 x 3 uint8, ``targets``, ``classes``,
    ``class_to_idx``) as torchvision's class with ``download=False``; items are ``(transform(PIL RGB
    image), int label)``. Unlike torchvision it does not check the archive's MD5 sums (so a partial or
    re-packed copy loads) and reports problems as :class:`DataError`. ``root`` may be the folder
    holding ``cifar-10-batches-py`` or that folder itself.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        train: bool = True,
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[Any], Any] | None = None,
    ) -> None:
        root = os.fspath(root)
        _require_dir(root)
        base = (
            root
            if os.path.basename(os.path.normpath(root)) == CIFAR10_FOLDER
            else os.path.join(root, CIFAR10_FOLDER)
        )
        _require_dir(base)
        self.root = root
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        chunks: list[np.ndarray] = []
        targets: list[int] = []
        for name in _CIFAR10_TRAIN if train else _CIFAR10_TEST:
            path = os.path.join(base, name)
            entry = _unpickle(path)
            try:
                data = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
                labels = [int(v) for v in entry.get("labels", entry.get("fine_labels"))]
            except (KeyError, TypeError, ValueError) as exc:
                raise DataError(f"cannot read CIFAR-10 file: {show_path(path)} (bad layout: {exc})") from exc
            if len(labels) != len(data):
                raise DataError(
                    f"cannot read CIFAR-10 file: {show_path(path)} ({len(data)} images, {len(labels)} labels)"
                )
            chunks.append(data)
            targets += labels
        self.data = np.ascontiguousarray(np.concatenate(chunks).transpose(0, 2, 3, 1))
        self.targets = targets
        meta_path = os.path.join(base, _CIFAR10_META)
        meta = _unpickle(meta_path)
        if "label_names" not in meta:
            raise DataError(f"cannot read CIFAR-10 file: {show_path(meta_path)} (no label_names)")
        self.classes = [c.decode("latin1") if isinstance(c, bytes) else str(c) for c in meta["label_names"]]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        if targets and not 0 <= min(targets) <= max(targets) < len(self.classes):
            raise DataError(f"CIFAR-10 labels out of range 0..{len(self.classes) - 1} in: {show_path(base)}")

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        img: Any = Image.fromarray(self.data[index])
        target: Any = self.targets[index]
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target
