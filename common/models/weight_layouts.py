"""The float weights each original started from, in the original's own file layout.

One naming scheme for every method: a file published by an original lives at

    ``$MPQ_WEIGHTS_DIR/<origin>/<file>``      (``$MPQ_WEIGHTS_DIR`` defaults to ``~/.cache/mpq/weights``)

where ``<origin>`` is the project that published it (``pytorchcv``, ``brecq``, ``hmq``) and ``<file>`` the
file name it publishes (pytorchcv's store adds an error/hash suffix, ``resnet18-0896-77a56f15.pth``; we drop
it: ``pytorchcv/resnet18.pth``). The registry's ``weights_file`` entries follow the same scheme
(``pytorchcv/resnet50.pth`` for ``resnet50_v1``, ``hmq/mobilenet_v1_imagenet.pth`` for ``mobilenet_v1``). Each :class:`WeightSource` knows that path, the URL the file comes from
and the renaming from the original's state-dict keys to our model's keys. A missing file is a
:class:`~common.models.pretrained.PretrainedWeightsError` naming the file, the URL and the folder; nothing
falls back to another float network.

Layouts converted here (our models keep torchvision's module names):

* pytorchcv ResNet (HAWQ-V3, OMPQ QAT) -> torchvision ResNet::

      features.init_block.conv.{conv,bn}.*              conv1.* / bn1.*
      features.stage{s}.unit{u}.body.conv{k}.{conv,bn}.*  layer{s}.{u-1}.conv{k}.* / bn{k}.*
      features.stage{s}.unit{u}.identity_conv.{conv,bn}.* layer{s}.{u-1}.downsample.{0,1}.*
      output.*                                          fc.*

  (pytorchcv's ``mobilenetv2_w1`` keeps its names: our ``mobilenetv2_w1`` is built in its layout.)
* BRECQ MobileNetV2 (OMPQ PTQ; ``features.i.conv`` is a flat Sequential) -> torchvision MobileNetV2: in a
  block without expansion the flat indices 0, 1, 3, 4 become ``0.0, 0.1, 1, 2``; with expansion 0, 1, 3, 4,
  6, 7 become ``0.0, 0.1, 1.0, 1.1, 2, 3``; stem, last 1x1 conv and classifier keep their names. BRECQ's
  ResNet-18 already has torchvision's names.
* HMQ EfficientNet-B0 (``conv_blocks``/``conv_head``/``fc.fc``) -> torchvision EfficientNet-B0: stage ``s``
  block ``j`` is ``features.s.j``; a ConvBN ``conv.i.0.{conv,bn}`` is ``block.i.{0,1}``; the squeeze-excite
  ``conv.i.conv_reduce.0.conv`` / ``conv_expand.0.conv`` are ``block.i.fc1`` / ``fc2``; the stem is
  ``features.0``, the head ``features.8``, ``fc.fc`` is ``classifier.1``. HMQ's network also uses BN
  eps 1e-3 and TensorFlow "SAME" padding on the strided convs; :func:`hmq_efficientnet_numerics` sets both
  on torchvision's model so the loaded network computes the original's function.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

StateDict = dict[str, Tensor]


class LayoutError(ValueError):
    """A key of an original state dict has no place in our model (the message names it)."""

    user_error = True


# ---------------------------------------------------------------------------------------------------- pytorchcv
_PYTORCHCV_RESNET: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^features\.init_block\.conv\.conv\.(.+)$"), "conv1.{0}"),
    (re.compile(r"^features\.init_block\.conv\.bn\.(.+)$"), "bn1.{0}"),
    (
        re.compile(r"^features\.stage(\d+)\.unit(\d+)\.body\.conv(\d)\.conv\.(.+)$"),
        "layer{0}.{1}.conv{2}.{3}",
    ),
    (re.compile(r"^features\.stage(\d+)\.unit(\d+)\.body\.conv(\d)\.bn\.(.+)$"), "layer{0}.{1}.bn{2}.{3}"),
    (
        re.compile(r"^features\.stage(\d+)\.unit(\d+)\.identity_conv\.conv\.(.+)$"),
        "layer{0}.{1}.downsample.0.{2}",
    ),
    (
        re.compile(r"^features\.stage(\d+)\.unit(\d+)\.identity_conv\.bn\.(.+)$"),
        "layer{0}.{1}.downsample.1.{2}",
    ),
    (re.compile(r"^output\.(.+)$"), "fc.{0}"),
)


def is_pytorchcv_resnet(state: Mapping[str, Tensor]) -> bool:
    """True for a pytorchcv ResNet state dict (its stem key ``features.init_block.conv.conv.weight``)."""
    return "features.init_block.conv.conv.weight" in state


def pytorchcv_resnet_to_torchvision(state: Mapping[str, Tensor]) -> StateDict:
    """Rename a pytorchcv ResNet state dict to torchvision's names (module docstring); values are shared."""
    out: StateDict = {}
    for key, value in state.items():
        for pattern, target in _PYTORCHCV_RESNET:
            found = pattern.match(key)
            if found is None:
                continue
            groups = list(found.groups())
            if "unit" in pattern.pattern:
                groups[1] = str(int(groups[1]) - 1)  # pytorchcv counts units from 1
            out[target.format(*groups)] = value
            break
        else:
            raise LayoutError(f"key {key!r} is not part of a pytorchcv ResNet state dict")
    return out


# -------------------------------------------------------------------------------------------------------- BRECQ
_BRECQ_NO_EXPAND = {"0": "0.0", "1": "0.1", "3": "1", "4": "2"}
_BRECQ_EXPAND = {"0": "0.0", "1": "0.1", "3": "1.0", "4": "1.1", "6": "2", "7": "3"}
_BRECQ_BLOCK = re.compile(r"^features\.(\d+)\.conv\.(\d+)\.(.+)$")


def brecq_mobilenetv2_to_torchvision(state: Mapping[str, Tensor]) -> StateDict:
    """Rename BRECQ's MobileNetV2 state dict to torchvision's ``mobilenet_v2`` names (module docstring).

    A state dict already in torchvision's names (no flat ``features.1.conv.3``) is returned as it is.
    """
    if "features.1.conv.3.weight" not in state:
        return dict(state)
    expands = {m.group(1) for k in state if (m := _BRECQ_BLOCK.match(k)) and m.group(2) == "6"}
    out: StateDict = {}
    for key, value in state.items():
        found = _BRECQ_BLOCK.match(key)
        if found is None:
            out[key] = value  # stem features.0.{0,1}, last conv features.18.{0,1}, classifier.1
            continue
        block, index, rest = found.groups()
        table = _BRECQ_EXPAND if block in expands else _BRECQ_NO_EXPAND
        if index not in table:
            raise LayoutError(f"key {key!r} is not part of BRECQ's MobileNetV2 layout")
        out[f"features.{block}.conv.{table[index]}.{rest}"] = value
    return out


# ---------------------------------------------------------------------------------------------------------- HMQ
_HMQ_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^conv_blocks\.0\.0\.conv\.(.+)$"), "features.0.0.{0}"),
    (re.compile(r"^conv_blocks\.0\.0\.bn\.(.+)$"), "features.0.1.{0}"),
    (
        re.compile(r"^conv_blocks\.(\d+)\.blocks\.(\d+)\.conv\.(\d+)\.0\.conv\.(.+)$"),
        "features.{0}.{1}.block.{2}.0.{3}",
    ),
    (
        re.compile(r"^conv_blocks\.(\d+)\.blocks\.(\d+)\.conv\.(\d+)\.0\.bn\.(.+)$"),
        "features.{0}.{1}.block.{2}.1.{3}",
    ),
    (
        re.compile(r"^conv_blocks\.(\d+)\.blocks\.(\d+)\.conv\.(\d+)\.conv_reduce\.0\.conv\.(.+)$"),
        "features.{0}.{1}.block.{2}.fc1.{3}",
    ),
    (
        re.compile(r"^conv_blocks\.(\d+)\.blocks\.(\d+)\.conv\.(\d+)\.conv_expand\.0\.conv\.(.+)$"),
        "features.{0}.{1}.block.{2}.fc2.{3}",
    ),
    (re.compile(r"^conv_head\.0\.conv\.(.+)$"), "features.8.0.{0}"),
    (re.compile(r"^conv_head\.0\.bn\.(.+)$"), "features.8.1.{0}"),
    (re.compile(r"^fc\.fc\.(.+)$"), "classifier.1.{0}"),
)


def hmq_efficientnet_to_torchvision(state: Mapping[str, Tensor]) -> StateDict:
    """Rename HMQ's EfficientNet-B0 state dict to torchvision's ``efficientnet_b0`` names (module docstring)."""
    out: StateDict = {}
    for key, value in state.items():
        for pattern, target in _HMQ_RULES:
            found = pattern.match(key)
            if found is not None:
                out[target.format(*found.groups())] = value
                break
        else:
            raise LayoutError(f"key {key!r} is not part of HMQ's EfficientNet-B0 layout")
    return out


def _same_pad_hook(
    pad: tuple[int, int, int, int],
) -> Callable[[nn.Module, tuple[Tensor, ...]], tuple[Tensor]]:
    def hook(_module: nn.Module, inputs: tuple[Tensor, ...]) -> tuple[Tensor]:
        return (F.pad(inputs[0], pad),)

    return hook


def hmq_efficientnet_numerics(model: nn.Module) -> nn.Module:
    """Make torchvision's EfficientNet-B0 compute HMQ's function: every BN eps 1e-3, and each strided conv
    padded TensorFlow-style (total ``k - s``, the smaller half before: (0, 1) for 3x3, (1, 2) for 5x5) by a
    forward pre-hook instead of its symmetric padding. Module names and parameters are unchanged."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eps = 1e-3
        elif isinstance(module, nn.Conv2d) and module.stride[0] > 1:
            total = module.kernel_size[0] - module.stride[0]
            module.padding = (0, 0)
            module.register_forward_pre_hook(_same_pad_hook((total // 2, total - total // 2) * 2))
    return model


# ------------------------------------------------------------------------------------------------------ sources
@dataclass(frozen=True)
class WeightSource:
    """One original float-weights file: where it goes, where it comes from, how its keys become ours.

    ``unwrap`` is the checkpoint key holding the state dict (BRECQ's MobileNetV2 keeps it under ``model``);
    ``prepare`` adapts our freshly built model to the original's numerics before loading, if needed.
    """

    origin: str
    file: str
    url: str
    arch: str
    convert: Callable[[Mapping[str, Tensor]], StateDict] | None = None
    unwrap: str | None = None
    prepare: Callable[[nn.Module], nn.Module] | None = None

    def path(self) -> Path:
        """``$MPQ_WEIGHTS_DIR/<origin>/<file>``."""
        from common.models.pretrained import weights_dir

        return weights_dir() / self.origin / self.file

    def missing_message(self) -> str:
        """The one-line error for a missing file: the file, its source URL and where to put it."""
        return (
            f"the original float weights of {self.arch} ({self.origin}) are missing: download {self.file} from "
            f"{self.url} and place it at {self.path()} (set MPQ_WEIGHTS_DIR to use another folder)"
        )


_PYTORCHCV_STORE = (
    "https://github.com/osmr/imgclsmob/releases (pytorchcv model store; file {0}-<error>-<hash>.pth)"
)
_BRECQ = "https://github.com/yhhhli/BRECQ/releases/download/v1.0/{0}"
_HMQ = "https://github.com/sony-si/ai-research/raw/master/HMQ/models/{0}"

SOURCES: dict[tuple[str, str], WeightSource] = {
    ("pytorchcv", arch): WeightSource(
        "pytorchcv",
        f"{arch}.pth",
        _PYTORCHCV_STORE.format(arch),
        arch,
        convert=None if arch in ("mobilenetv2_w1", "inceptionv3") else pytorchcv_resnet_to_torchvision,
    )
    for arch in (
        "resnet18",
        "resnet50",
        "resnet50b",
        "resnet101",
        "resnet101b",
        "mobilenetv2_w1",
        "inceptionv3",
    )
}
SOURCES[("brecq", "resnet18")] = WeightSource(
    "brecq", "resnet18_imagenet.pth.tar", _BRECQ.format("resnet18_imagenet.pth.tar"), "resnet18"
)
SOURCES[("brecq", "mobilenet_v2")] = WeightSource(
    "brecq",
    "mobilenetv2.pth.tar",
    _BRECQ.format("mobilenetv2.pth.tar"),
    "mobilenet_v2",
    convert=brecq_mobilenetv2_to_torchvision,
    unwrap="model",
)
SOURCES[("hmq", "efficientnet_b0")] = WeightSource(
    "hmq",
    "EfficientNet_B0_IMAGENET.pt",
    _HMQ.format("EfficientNet_B0_IMAGENET.pt"),
    "efficientnet_b0",
    convert=hmq_efficientnet_to_torchvision,
    prepare=hmq_efficientnet_numerics,
)

# source of each file a registry entry's ``weights_file`` names (same ``<origin>/<file>`` scheme)
FILE_URLS: dict[str, str] = {
    "pytorchcv/resnet50.pth": _PYTORCHCV_STORE.format("resnet50"),
    "pytorchcv/resnet101.pth": _PYTORCHCV_STORE.format("resnet101"),
    "pytorchcv/mobilenetv2_w1.pth": _PYTORCHCV_STORE.format("mobilenetv2_w1"),
    "pytorchcv/inceptionv3.pth": _PYTORCHCV_STORE.format("inceptionv3"),
    "resnet20_cifar10.pth": _PYTORCHCV_STORE.format("resnet20_cifar10"),
    "hmq/mobilenet_v1_imagenet.pth": _HMQ.format("mobilenet_v1_imagenet.pth"),
}


def weight_source(origin: str, arch: str) -> WeightSource:
    """The :class:`WeightSource` of ``arch`` as published by ``origin`` (KeyError lists the known ones)."""
    try:
        return SOURCES[(origin, arch)]
    except KeyError:
        known = ", ".join(f"{o}/{a}" for o, a in SOURCES)
        raise KeyError(f"no original weights known for {origin}/{arch}; known: {known}") from None


def read_original(source: WeightSource, path: str | Path | None = None) -> StateDict:
    """Read ``path`` (default :meth:`WeightSource.path`) and rename its keys to our model's names.

    A missing default file raises :class:`PretrainedWeightsError` with :meth:`WeightSource.missing_message`.
    """
    from common.models.pretrained import PretrainedWeightsError, read_state_dict

    file = Path(path) if path is not None else source.path()
    if path is None and not file.is_file():
        raise PretrainedWeightsError(source.missing_message())
    state = read_state_dict(file)  # unwraps "state_dict"/"model" and strips "module."
    if source.unwrap and isinstance(state.get(source.unwrap), dict):
        state = state[source.unwrap]
    state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    return source.convert(state) if source.convert is not None else dict(state)


def load_original(model: nn.Module, source: WeightSource, path: str | Path | None = None) -> nn.Module:
    """Load the original's weights into ``model`` (built as ``source.arch``): every tensor of the file must
    land on a tensor of the same shape, and every tensor of the model must be covered (BN counters aside);
    otherwise a :class:`PretrainedWeightsError` names the first offending keys."""
    from common.models.pretrained import load_state_dict_strict

    if source.prepare is not None:
        source.prepare(model)
    load_state_dict_strict(model, read_original(source, path), f"{source.origin} {source.arch}")
    return model
