"""Quantized model wrappers and the ``--arch`` table of ``quant_train.py`` (``docs/hawq.md`` §2.1, §4.1).

``quantize_arch_dict`` maps each HAWQ-V3 arch name to the float model it wraps (a ``common.models`` name) and the
wrapper. The original's names come first; the ``tiny_resnet`` of the embedded ``digits`` data is accepted too (it
uses the ResNet-18 wrapper). ``inceptionv3`` wraps ``inceptionv3_cv`` (pytorchcv's layout, 299x299, at least
75x75); a reduced width is given by building that float model with ``width=`` and passing it in.

Reduced widths: :func:`build_float_model` and :func:`build_quantized_model` take pytorchcv's width arguments
(``channels``: per stage, the output width of every unit; ``init_block_channels``: the stem's width;
``final_block_channels``: MobileNetV2's last 1x1 conv), e.g. a half-width ResNet-18::

    fp = build_float_model("resnet18", 10, channels=[[32, 32], [64, 64], [128, 128], [256, 256]],
                           init_block_channels=32)
    qmodel = build_quantized_model("resnet18", fp)

The wrappers follow whatever widths (and unit counts) the float model has; the module names, and so the
``bit_config`` keys of the same depth, stay the original's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from common.layers import enumerate_arch
from common.models import build_model, get_spec
from common.models.pretrained import read_state_dict, weights_dir
from common.models.weight_layouts import SOURCES, WeightSource
from common.runtime import UsageError
from hawq.utils.models.pytorchcv_weights import is_pytorchcv_resnet, pytorchcv_resnet_to_torchvision
from hawq.utils.models.q_inceptionv3 import QInceptionV3, q_inceptionv3
from hawq.utils.models.q_mobilenetv2 import QLinearBottleneck, QMobileNetV2, q_mobilenetv2_w1
from hawq.utils.models.q_resnet import QResidualUnit, QResNet, q_resnet18, q_resnet20, q_resnet50, q_resnet101

__all__ = [
    "QArch",
    "QInceptionV3",
    "QLinearBottleneck",
    "QMobileNetV2",
    "QResNet",
    "QResidualUnit",
    "build_float_model",
    "build_quantized_model",
    "quantize_arch_dict",
    "resolve_arch",
]


@dataclass(frozen=True)
class QArch:
    """A HAWQ-V3 ``--arch``: the float model it wraps and the wrapper."""

    float_name: str
    wrapper: Callable[[nn.Module, int], nn.Module]


quantize_arch_dict: dict[str, QArch] = {
    "resnet18": QArch("resnet18", q_resnet18),
    "resnet50": QArch("resnet50_v1", q_resnet50),
    "resnet50b": QArch("resnet50", q_resnet50),
    "resnet101": QArch("resnet101_v1", q_resnet101),
    "inceptionv3": QArch("inceptionv3_cv", q_inceptionv3),
    "mobilenetv2_w1": QArch("mobilenetv2_w1", q_mobilenetv2_w1),
    "tiny_resnet": QArch("tiny_resnet", q_resnet18),
    "resnet20": QArch("resnet20", q_resnet20),
}


def resolve_arch(arch: str) -> QArch:
    """The :class:`QArch` of ``arch``; an unknown name is a :class:`UsageError`."""
    if arch not in quantize_arch_dict:
        raise UsageError(f"unknown --arch {arch!r}; choose one of: {', '.join(quantize_arch_dict)}")
    return quantize_arch_dict[arch]


def load_float_weights(model: nn.Module, path: str | Path) -> None:
    """Load float weights from ``path``: a torchvision-named state dict, or a pytorchcv ResNet one (renamed)."""
    state = read_state_dict(path)
    if is_pytorchcv_resnet(state):
        state = pytorchcv_resnet_to_torchvision(state)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise UsageError(
            f"weights file {path} does not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )


def build_float_model(
    arch: str,
    num_classes: int | None = None,
    pretrained: bool | str | Path = False,
    *,
    channels: Sequence[Sequence[int]] | None = None,
    init_block_channels: int | None = None,
    final_block_channels: int | None = None,
) -> nn.Module:
    """The float model behind ``arch`` (``pretrained``: False, True for the published weights, or a file).

    ``pretrained=True`` loads pytorchcv's file (:func:`pytorchcv_weights_file`); if it is missing, a one-line
    :class:`UsageError` names it, its URL and its folder. A file may hold torchvision or pytorchcv names.
    ``channels``/``init_block_channels`` (all archs but ``tiny_resnet``) and ``final_block_channels``
    (``mobilenetv2_w1``) set reduced widths in pytorchcv's convention: ``channels[s][u]`` is the output width of
    unit ``u`` of stage ``s`` (a ResNet bottleneck's inner width is a quarter of it). Unset ones keep the standard
    widths; with any of them set, ``pretrained=True`` is a :class:`UsageError` (a file of that shape is fine).
    """
    spec = resolve_arch(arch)
    widths = {
        "channels": channels,
        "init_block_channels": init_block_channels,
        "final_block_channels": final_block_channels,
    }
    widths = {k: v for k, v in widths.items() if v is not None}
    try:
        if pretrained is True and not widths and (source := pytorchcv_source(arch)) is not None:
            if not source.path().is_file():  # never another float network in place of the original's
                raise UsageError(source.missing_message())
            pretrained = source.path()
        if isinstance(pretrained, (str, Path)) and not isinstance(pretrained, bool):
            model = build_model(spec.float_name, num_classes, **widths)
            load_float_weights(model, pretrained)
            return model
        return build_model(spec.float_name, num_classes, pretrained=pretrained, **widths)
    except ValueError as exc:  # bad widths (ModelOptionError, check_channels) become one-line usage errors
        if widths and not isinstance(exc, UsageError):
            raise UsageError(f"--arch {arch}: {exc}") from exc
        raise


def pytorchcv_source(arch: str) -> WeightSource | None:
    """The pytorchcv file ``--pretrained`` loads for ``arch`` (what the original fine-tuned), or ``None`` for
    an arch of ours without one (``tiny_resnet``)."""
    return SOURCES.get(("pytorchcv", arch))


def pytorchcv_weights_file(arch: str) -> Path:
    """Where ``--pretrained`` looks for pytorchcv's weights of ``arch``: ``$MPQ_WEIGHTS_DIR/pytorchcv/<arch>.pth``
    (the naming scheme of :mod:`common.models.weight_layouts`); a missing file is an error giving its URL."""
    source = pytorchcv_source(arch)
    return source.path() if source is not None else weights_dir() / "pytorchcv" / f"{arch}.pth"


def final_feature_size(float_name: str, input_size: int) -> int:
    """Spatial size of the last feature map, the final pool's kernel (7 at 224x224 for the ImageNet models): the
    output of the last conv before the classifier. The classifier itself is left out, since MobileNetV2's is a
    1x1 conv applied after the pool (its output is 1x1)."""
    body = enumerate_arch(float_name, input_size)[:-1]
    convs = [layer for layer in body if layer.kind != "linear"]
    return int(convs[-1].out_hw[0])


def build_quantized_model(
    arch: str,
    float_model: nn.Module | None = None,
    num_classes: int | None = None,
    input_size: int | None = None,
    *,
    channels: Sequence[Sequence[int]] | None = None,
    init_block_channels: int | None = None,
    final_block_channels: int | None = None,
) -> nn.Module:
    """Wrap ``float_model`` (built from ``arch`` when not given, at the widths given as in
    :func:`build_float_model`) in its HAWQ-V3 quantized counterpart. The final pool's kernel is the last feature
    map's size at ``input_size``, which does not depend on the widths."""
    spec = resolve_arch(arch)
    if float_model is None:
        float_model = build_float_model(
            arch,
            num_classes,
            channels=channels,
            init_block_channels=init_block_channels,
            final_block_channels=final_block_channels,
        )
    elif channels is not None or init_block_channels is not None or final_block_channels is not None:
        raise UsageError("give the widths to build_float_model, or pass no float_model here")
    size = input_size or get_spec(spec.float_name).input_size
    return spec.wrapper(float_model, final_feature_size(spec.float_name, size))
