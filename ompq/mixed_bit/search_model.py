"""The FP models OMPQ searches on (docs/ompq.md §3.1, §4.1, §5) and their checkpoints.

The search models are torchvision's ResNet-18/50 and MobileNetV2 (``common.models``), plus, for ResNet-18 loaded
from OMPQ's own base checkpoint, the 1x1 conv+BN projection shortcut of ``layer1.0`` that OMPQ's search ResNet
has. Random initialisation follows the original's ``he_fout``: conv N(0, sqrt(2/(k·k·C_out))), BN γ=1 β=0, linear
U(±1/sqrt(fan_in)) with zero bias. Checkpoints: ``<path>/checkpoint/model_best.pth.tar`` with an optional
``state_dict`` entry, DDP ``module.`` prefixes, and OMPQ's module names (``conv1.conv``, ``layer1.0.conv1.bn``,
``downsample.conv``...), renamed to torchvision's; other layouts are matched by tensor order and shape.

Reduced widths: the original's ``ResNet_ImageNet(cfg=...)`` and ``MobileNetV2(cfg=...)`` (``--cfg``) take a flat
list of channel counts, one per conv whose width a pruning code base may change. :func:`model_from_cfg` builds
the same networks with torchvision's blocks and module names:

* ResNet-18 (13 numbers): ``cfg[0]`` stem; then per stage ``[w_1, c, w_2, ...]``: ``w_1`` the ``conv1`` width of
  the first block, ``c`` the stage's output width (that block's ``conv2`` and projection), then one ``conv1``
  width per later block (whose ``conv2`` goes back to ``c``).
* ResNet-50 (37 numbers): ``cfg[0]`` stem; per stage ``[w_1, w_2, c]`` for the first block's conv1/conv2/conv3
  (``c`` = stage output = projection width), then ``[w_1, w_2]`` per later block (conv3 back to ``c``).
* MobileNetV2 (8 numbers): the stem width and the output width c of each of the seven (t, c, n, s) groups;
  t, n, s and the final 1280 channels are fixed. No dropout (the original has none).

The fc takes the last stage's output (ResNets) resp. 1280 inputs. At the base lists the networks equal the
registry's (same state-dict keys and shapes; ResNet-18 with the ``layer1.0`` projection when asked for).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torchvision.models.mobilenetv2 import InvertedResidual, MobileNetV2
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet, conv1x1, conv3x3
from torchvision.ops.misc import Conv2dNormActivation

from common.models import build_model
from common.runtime import UsageError, load_checkpoint, strip_module_prefix

#: --model choices of the original (``mobilenet`` has no model there) and the digits models, -> common.models
MODEL_NAMES = {
    "resnet18": "resnet18",
    "resnet50": "resnet50",
    "mobilenetv2": "mobilenet_v2",
    "tiny_resnet": "tiny_resnet",
    "tiny_mobilenet_v2": "tiny_mobilenet_v2",
    "resnet20": "resnet20",  # an addition: the CIFAR ResNet-20 of the cross-method benchmark
}


def resolve_model(model: str) -> str:
    """``common.models`` name of a ``--model`` value; anything else is a :class:`UsageError`."""
    if model == "mobilenet":
        raise UsageError(
            "--model mobilenet has no search model in OMPQ (the original crashes); use mobilenetv2"
        )
    if model not in MODEL_NAMES:
        raise UsageError(f"unknown --model {model!r}; choose one of: {', '.join(MODEL_NAMES)}")
    return MODEL_NAMES[model]


def he_fout_init(model: nn.Module) -> None:
    """The original ``model_init='he_fout'`` initialisation (see the module docstring)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            bound = 1.0 / math.sqrt(m.weight.size(1))
            nn.init.uniform_(m.weight, -bound, bound)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


#: blocks per stage of the original's ResNet depths
RESNET_BLOCKS: dict[int, tuple[int, int, int, int]] = {18: (2, 2, 2, 2), 50: (3, 4, 6, 3)}
#: stage widths of the standard ResNets (BasicBlock output / Bottleneck inner width)
_STAGE_WIDTHS = (64, 128, 256, 512)
#: (t, n, s) of MobileNetV2's seven inverted-residual groups; their c comes from cfg[1:]
MBV2_GROUPS: tuple[tuple[int, int, int], ...] = (
    (1, 1, 1),
    (6, 2, 2),
    (6, 3, 2),
    (6, 4, 2),
    (6, 3, 1),
    (6, 3, 2),
    (6, 1, 1),
)
MBV2_LAST_CHANNEL = 1280


def _base_resnet_cfg(depth: int) -> tuple[int, ...]:
    out = [64]
    for w, n in zip(_STAGE_WIDTHS, RESNET_BLOCKS[depth], strict=True):
        if depth == 50:
            out += [w, w, 4 * w] + [w, w] * (n - 1)
        else:
            out += [w, w] + [w] * (n - 1)
    return tuple(out)


#: the original's default width lists (what ``--cfg None`` means), keyed by ``common.models`` name
BASE_CFG: dict[str, tuple[int, ...]] = {
    "resnet18": _base_resnet_cfg(18),
    "resnet50": _base_resnet_cfg(50),
    "mobilenet_v2": (32, 16, 24, 32, 64, 96, 160, 320),
}
_DEPTH = {"resnet18": 18, "resnet50": 50}


def check_cfg(name: str, cfg: Sequence[int]) -> list[int]:
    """``cfg`` as a list after checking it fits model ``name`` (length, positive ints); else a UsageError."""
    if name not in BASE_CFG:
        raise UsageError(
            f"--cfg: no width list for {name} (OMPQ has one for resnet18, resnet50, mobilenetv2)"
        )
    want = len(BASE_CFG[name])
    if isinstance(cfg, (str, bytes)) or not isinstance(cfg, Sequence) or len(cfg) != want:
        raise UsageError(f"--cfg for {name} must be a list of {want} channel counts, got {cfg!r}")
    bad = [c for c in cfg if isinstance(c, bool) or not isinstance(c, int) or c < 1]
    if bad:
        raise UsageError(f"--cfg channel counts must be positive ints, got {bad[0]!r}")
    return list(cfg)


def parse_cfg(text: str | None) -> list[int] | None:
    """The ``--cfg`` literal: ``None``/``"None"``/``""`` → None, else a list of ints (``ast.literal_eval``)."""
    if text in (None, "", "None"):
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError) as exc:
        raise UsageError(f"--cfg must be a Python list of channel counts, got {text!r}") from exc
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise UsageError(f"--cfg must be a list of channel counts, got {text!r}")
    return list(value)


def _basic_block(c_in: int, width: int, c_out: int, stride: int, project: bool) -> BasicBlock:
    down = nn.Sequential(conv1x1(c_in, c_out, stride), nn.BatchNorm2d(c_out)) if project else None
    block = BasicBlock(c_in, width, stride, down)
    block.conv2, block.bn2 = conv3x3(width, c_out), nn.BatchNorm2d(c_out)
    return block


def _bottleneck(c_in: int, w1: int, w2: int, c_out: int, stride: int, project: bool) -> Bottleneck:
    down = nn.Sequential(conv1x1(c_in, c_out, stride), nn.BatchNorm2d(c_out)) if project else None
    block = Bottleneck(c_in, w1, stride, down)
    block.conv2, block.bn2 = conv3x3(w1, w2, stride), nn.BatchNorm2d(w2)
    block.conv3, block.bn3 = conv1x1(w2, c_out), nn.BatchNorm2d(c_out)
    return block


class CfgResNet(ResNet):
    """torchvision's ResNet (module names, forward) with the per-conv widths of an OMPQ ``cfg`` list.

    Every stage's first block has a 1x1 conv+BN projection (stride 1 in ``layer1``, 2 elsewhere), as in the
    original, except the BasicBlock ``layer1.0`` one when ``layer1_projection`` is false (allowed only when
    that block keeps its channel count, ``cfg[0] == cfg[2]``). Stride sits on ``conv1`` of a BasicBlock and on
    ``conv2`` of a Bottleneck (v1.5).
    """

    def __init__(
        self, cfg: Sequence[int], depth: int = 18, num_classes: int = 1000, layer1_projection: bool = True
    ) -> None:
        if depth not in _DEPTH.values():
            raise UsageError(f"OMPQ's cfg ResNet has depth 18 or 50, got {depth}")
        name = "resnet18" if depth == 18 else "resnet50"
        cfg = check_cfg(name, cfg)
        nn.Module.__init__(self)
        self.cfg = cfg
        self.conv1 = nn.Conv2d(3, cfg[0], kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(cfg[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        c_in, pos = cfg[0], 1
        for stage, n in enumerate(RESNET_BLOCKS[depth]):
            stride = 1 if stage == 0 else 2
            blocks: list[nn.Module] = []
            if depth == 50:
                w1, w2, c_out = cfg[pos : pos + 3]
                pos += 3
                blocks.append(_bottleneck(c_in, w1, w2, c_out, stride, True))
                for _ in range(n - 1):
                    w1, w2 = cfg[pos : pos + 2]
                    pos += 2
                    blocks.append(_bottleneck(c_out, w1, w2, c_out, 1, False))
            else:
                w1, c_out = cfg[pos : pos + 2]
                pos += 2
                project = stage > 0 or layer1_projection
                if not project and c_in != c_out:
                    raise UsageError(
                        f"cfg {cfg}: layer1.0 changes the width {c_in} -> {c_out}, so it needs its projection"
                    )
                blocks.append(_basic_block(c_in, w1, c_out, stride, project))
                for _ in range(n - 1):
                    blocks.append(_basic_block(c_out, cfg[pos], c_out, 1, False))
                    pos += 1
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
            c_in = c_out
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c_in, num_classes)
        he_fout_init(self)


def mobilenet_v2_from_cfg(cfg: Sequence[int], num_classes: int = 1000) -> MobileNetV2:
    """torchvision's MobileNetV2 at the widths of an OMPQ ``cfg`` (stem, seven group widths), no dropout.

    Group g has t, n, s from :data:`MBV2_GROUPS` and c = cfg[g + 1]; a block's hidden width is
    round(C_in·t); the stem is a 3x3/2 conv+BN+ReLU6 to cfg[0]; the last conv is 1x1 to 1280; he_fout init.
    """
    cfg = check_cfg("mobilenet_v2", cfg)
    setting = [[t, c, n, s] for (t, n, s), c in zip(MBV2_GROUPS, cfg[1:], strict=True)]
    model = MobileNetV2(num_classes, inverted_residual_setting=setting, round_nearest=1, dropout=0.0)
    if (
        cfg[0] != model.features[0].out_channels
    ):  # torchvision's stem is fixed at 32: rebuild stem and block 1
        model.features[0] = Conv2dNormActivation(
            3, cfg[0], stride=2, norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU6
        )
        t, _, s = MBV2_GROUPS[0]
        model.features[1] = InvertedResidual(cfg[0], cfg[1], s, t, norm_layer=nn.BatchNorm2d)
    he_fout_init(model)
    return model


def model_from_cfg(
    name: str, cfg: Sequence[int], num_classes: int = 1000, layer1_projection: bool = True
) -> nn.Module:
    """The search model ``name`` (resnet18, resnet50, mobilenet_v2) at the widths ``cfg`` (module docstring)."""
    if name == "mobilenet_v2":
        return mobilenet_v2_from_cfg(cfg, num_classes)
    if name not in _DEPTH:
        raise UsageError(
            f"--cfg: no width list for {name} (OMPQ has one for resnet18, resnet50, mobilenetv2)"
        )
    return CfgResNet(cfg, _DEPTH[name], num_classes, layer1_projection)


def add_layer1_projection(model: nn.Module) -> None:
    """Give ``layer1.0`` a 1x1 conv+BN projection shortcut (OMPQ's search ResNet-18)."""
    block = model.layer1[0]
    c_in, c_out = block.conv1.in_channels, block.conv2.out_channels
    block.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, 1, bias=False), nn.BatchNorm2d(c_out))


_RENAMES = (
    (re.compile(r"^conv1\.conv\."), "conv1."),
    (re.compile(r"^conv1\.bn\."), "bn1."),
    (re.compile(r"^(layer\d+\.\d+)\.conv(\d)\.conv\."), r"\1.conv\2."),
    (re.compile(r"^(layer\d+\.\d+)\.conv(\d)\.bn\."), r"\1.bn\2."),
    (re.compile(r"^(layer\d+\.\d+)\.downsample\.conv\."), r"\1.downsample.0."),
    (re.compile(r"^(layer\d+\.\d+)\.downsample\.bn\."), r"\1.downsample.1."),
)


def ompq_to_torchvision(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename OMPQ search-ResNet keys to torchvision's; keys that match no rule are kept."""
    out = {}
    for key, value in state.items():
        for pattern, repl in _RENAMES:
            new = pattern.sub(repl, key)
            if new != key:
                key = new
                break
        out[key] = value
    return out


def _by_order(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Pair the model's state entries with ``state``'s in order when every shape agrees."""
    mine = [(k, v) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")]
    theirs = [v for k, v in state.items() if not k.endswith("num_batches_tracked")]
    if len(mine) != len(theirs) or any(a.shape != b.shape for (_, a), b in zip(mine, theirs, strict=True)):
        raise UsageError("checkpoint does not fit the search model (names and tensor order/shapes differ)")
    return {k: v for (k, _), v in zip(mine, theirs, strict=True)}


def load_search_checkpoint(model: nn.Module, path: str | Path) -> None:
    """Load OMPQ's base checkpoint (or a torchvision-named state dict) strictly into ``model``."""
    ckpt = load_checkpoint(path)
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else ckpt
    state = ompq_to_torchvision(strip_module_prefix(dict(state)))
    expected = set(model.state_dict())
    if set(state) - {k for k in state if k.endswith("num_batches_tracked")} <= expected and all(
        k in state for k in expected if not k.endswith("num_batches_tracked")
    ):
        model.load_state_dict(state, strict=False)
        return
    model.load_state_dict(_by_order(model, state), strict=False)


def checkpoint_has_layer1_projection(path: str | Path) -> bool:
    """Whether a checkpoint carries weights for a ``layer1.0`` projection shortcut."""
    ckpt = load_checkpoint(path)
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else ckpt
    return any(re.search(r"layer1\.0\.downsample\.", k) for k in state)


def build_search_model(
    name: str,
    num_classes: int,
    checkpoint: str | Path | None = None,
    pretrained: bool = False,
    projection: str = "auto",
    cfg: Sequence[int] | None = None,
) -> nn.Module:
    """Search model ``name`` (a ``common.models`` name): he_fout init, optional projection, weights.

    ``projection``: ``on``/``off`` forces the ResNet-18 ``layer1.0`` shortcut; ``auto`` adds it when the
    checkpoint has one (or, with ``cfg``, when that block changes its width). ``cfg``: the original's width list
    (:func:`model_from_cfg`); the base list is the same as ``None``.
    """
    if cfg is not None:
        cfg = check_cfg(name, cfg)
        if cfg == list(BASE_CFG[name]):
            cfg = None
        elif pretrained:
            raise UsageError("--cfg with --pretrained: the published weights have the standard widths only")
    want = name in ("resnet18", "tiny_resnet") and (
        projection == "on"
        or (projection == "auto" and checkpoint is not None and checkpoint_has_layer1_projection(checkpoint))
    )
    if cfg is not None:
        required = name == "resnet18" and cfg[0] != cfg[2]
        if required and projection == "off":
            raise UsageError(
                f"--cfg {cfg}: layer1.0 changes its width, so --layer1_projection off is impossible"
            )
        model = model_from_cfg(name, cfg, num_classes, layer1_projection=want or required)
    else:
        model = build_model(name, num_classes, pretrained=pretrained)
        if not pretrained:
            he_fout_init(model)
        if want:
            add_layer1_projection(model)
            if not pretrained:
                he_fout_init(model.layer1[0].downsample)
    if checkpoint is not None:
        load_search_checkpoint(model, checkpoint)
    return model
