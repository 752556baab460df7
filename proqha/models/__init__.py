"""ProQHA model factory: ``--dataset``/``--arch``/``--num_layers`` -> quantized model (docs/proqha.md section 4).

The quantizer list of every model has ``2 (num_layers - 2)`` entries. ImageNet-style datasets (imagenet,
tinyimagenet) get the ImageNet layouts; the others (cifar10, cifar100, mnist, svhn and the embedded
``digits``) the CIFAR ones. Each layout is also registered in :mod:`common.models` (under ``common_arch``) so
its layer enumeration, bit-config files and costs speak the same layer names; ImageNet ResNet-18 and CIFAR
ResNet-20 reuse ``common``'s ``resnet18`` and ``resnet20`` names, whose layer names they share.

``--arch tiny_resnet --num_layers 10`` (an addition for the cross-method benchmark on ``digits``) is ProQHA's
post-activation ImageNet ResNet-18 block layout shrunk to ``common``'s ``tiny_resnet`` (one block per stage,
16/32/64/128 channels, 3x3/1 stem, no max-pool): 8 quantized convs, 16 quantizers in (W, A) order, and the
``tiny_resnet`` layer names, so the benchmark's float checkpoint loads by name. It is a 32-pixel model, so only
the CIFAR-style datasets (``digits``, cifar10, ...) accept it.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from common.models import ModelSpec, get_spec, register_model
from common.runtime import UsageError
from proqha.models.densenet import DEPTH as DENSENET_DEPTH
from proqha.models.densenet import densenet40
from proqha.models.mobilenetv2 import QuantMobileNetV2
from proqha.models.resnet import cifar_resnet, imagenet_resnet, tiny_resnet
from proqha.models.resnet20 import QuantResNet20
from proqha.models.resnet_bottleneck import DEPTHS as BOTTLENECK_DEPTHS
from proqha.models.resnet_bottleneck import bottleneck_resnet
from proqha.models.vgg import CFGS as VGG_CFGS
from proqha.models.vgg import cifar_vgg
from proqha.quantizers import FLOAT_BITS, PACT, WeightQuantizer

IMAGENET_DATASETS = ("imagenet", "tinyimagenet")
DATASETS = ("cifar10", "imagenet", "mnist", "cifar100", "svhn", "tinyimagenet", "digits")
ARCHS = ("resnet", "resnet20", "vgg", "densenet", "mobilenetv2", "tiny_resnet")
#: depth of ``--arch tiny_resnet``: 4 blocks of 2 convs plus the stem and the fc (2 * (10 - 2) = 16 quantizers)
TINY_RESNET_LAYERS = 10


@dataclass(frozen=True)
class Layout:
    """One buildable model: its family, original name, depth and the registered ``common`` arch name."""

    family: str  # "imagenet" or "cifar"
    arch: str
    num_layers: int
    common_arch: str
    input_size: int


def family_of(dataset: str) -> str:
    return "imagenet" if dataset in IMAGENET_DATASETS else "cifar"


def resolve_layout(dataset: str, arch: str, num_layers: int) -> Layout:
    """Check that the original code has this model and name it; bad combinations are a :class:`UsageError`."""
    fam = family_of(dataset)
    size = 224 if fam == "imagenet" else 32
    if arch == "densenet":
        if fam == "imagenet":
            raise UsageError(
                "--arch densenet is a CIFAR model in the original; use --dataset cifar10 or digits"
            )
        if num_layers != DENSENET_DEPTH:
            raise UsageError(
                f"--arch densenet needs --num_layers {DENSENET_DEPTH} (DenseNet-40), got {num_layers}"
            )
        return Layout(fam, arch, num_layers, "proqha_cifar_densenet40", size)
    if arch == "vgg":
        if fam == "imagenet":
            raise UsageError("--arch vgg is a CIFAR model in the original; use --dataset cifar10 or digits")
        if num_layers not in VGG_CFGS:
            raise UsageError(f"--arch vgg needs --num_layers 11, 13, 16 or 19, got {num_layers}")
        return Layout(fam, arch, num_layers, f"proqha_cifar_vgg{num_layers}_bn", size)
    if arch == "resnet":
        if num_layers not in (18, 34, *BOTTLENECK_DEPTHS):
            raise UsageError(
                f"--arch resnet needs --num_layers 18, 34, 50, 101 or 152 (got {num_layers}; the bit list has "
                "2*(num_layers-2) entries)"
            )
        if num_layers in BOTTLENECK_DEPTHS:
            return Layout(fam, arch, num_layers, bottleneck_name(fam, num_layers), size)
        if fam == "imagenet":
            name = "resnet18" if num_layers == 18 else "proqha_resnet34"
        else:
            name = f"proqha_cifar_resnet{num_layers}"
        return Layout(fam, arch, num_layers, name, size)
    if arch == "resnet20":
        if fam == "imagenet":
            raise UsageError("--arch resnet20 is a CIFAR model; use --dataset cifar10 or digits")
        if num_layers < 8 or (num_layers - 2) % 6:
            raise UsageError(f"--arch resnet20 needs --num_layers 6n+2 (20, 32, 56, 110), got {num_layers}")
        name = "resnet20" if num_layers == 20 else f"proqha_cifar_resnet{num_layers}"
        return Layout(fam, arch, num_layers, name, size)
    if arch == "tiny_resnet":
        if fam == "imagenet":
            raise UsageError("--arch tiny_resnet is a 32-pixel model; use --dataset digits or cifar10")
        if num_layers != TINY_RESNET_LAYERS:
            raise UsageError(f"--arch tiny_resnet needs --num_layers {TINY_RESNET_LAYERS}, got {num_layers}")
        return Layout(fam, arch, num_layers, "tiny_resnet", size)
    if arch == "mobilenetv2":
        if num_layers != 52:
            raise UsageError(f"--arch mobilenetv2 needs --num_layers 52, got {num_layers}")
        return Layout(
            fam, arch, num_layers, f"proqha_{'' if fam == 'imagenet' else 'cifar_'}mobilenetv2", size
        )
    raise UsageError(f"unknown --arch {arch!r}; choose from {', '.join(ARCHS)}")


def bottleneck_name(family: str, num_layers: int) -> str:
    """Registered name of a bottleneck ResNet (the CIFAR ones apart from the 6n+2 ``resnet20`` family's names)."""
    return (
        f"proqha_resnet{num_layers}"
        if family == "imagenet"
        else f"proqha_cifar_bottleneck_resnet{num_layers}"
    )


def _build(layout: Layout, num_classes: int, width_mult: float = 1.0) -> nn.Module:
    if layout.arch == "vgg":
        return cifar_vgg(layout.num_layers, num_classes)
    if layout.arch == "densenet":
        return densenet40(num_classes)
    if layout.arch == "resnet" and layout.num_layers in BOTTLENECK_DEPTHS:
        return bottleneck_resnet(layout.num_layers, num_classes, stem=layout.family)
    if layout.arch == "resnet":
        if layout.family == "imagenet":
            return imagenet_resnet(layout.num_layers, num_classes)
        return cifar_resnet(layout.num_layers, num_classes)
    if layout.arch == "resnet20":
        return QuantResNet20(layout.num_layers, num_classes)
    if layout.arch == "tiny_resnet":
        return tiny_resnet(num_classes)
    return QuantMobileNetV2(num_classes, width_mult, cifar=layout.family == "cifar")


def build_quant_model(
    dataset: str, arch: str, num_layers: int, num_classes: int, width_mult: float = 1.0
) -> tuple[nn.Module, Layout]:
    """The quantized model with every quantizer at 8 bits (the original ``init_k_bits``), and its layout."""
    layout = resolve_layout(dataset, arch, num_layers)
    model = _build(layout, num_classes, width_mult)
    n = sum(isinstance(m, (PACT, WeightQuantizer)) for m in model.modules())
    if n != 2 * (num_layers - 2):
        raise AssertionError(f"{layout} has {n} quantizers, expected {2 * (num_layers - 2)}")
    return model, layout


def to_float(model: nn.Module) -> nn.Module:
    """The ``--archtype origin`` baseline: every PACT becomes a plain ReLU and every weight stays float.

    Layer names are unchanged, so a float checkpoint initialises the quantized model by name (the clips
    ``alpha`` then keep their initial value).
    """
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, PACT):
                setattr(parent, name, nn.ReLU(inplace=False))
            elif isinstance(child, WeightQuantizer):
                child.bits = FLOAT_BITS
    return model


def _register() -> None:
    entries = [
        ("proqha_resnet34", Layout("imagenet", "resnet", 34, "proqha_resnet34", 224), 1000),
        ("proqha_mobilenetv2", Layout("imagenet", "mobilenetv2", 52, "proqha_mobilenetv2", 224), 1000),
        ("proqha_cifar_mobilenetv2", Layout("cifar", "mobilenetv2", 52, "proqha_cifar_mobilenetv2", 32), 10),
    ]
    entries += [
        (f"proqha_cifar_resnet{d}", Layout("cifar", "resnet", d, f"proqha_cifar_resnet{d}", 32), 10)
        for d in (18, 34)
    ]
    entries.append(
        ("proqha_cifar_densenet40", Layout("cifar", "densenet", 40, "proqha_cifar_densenet40", 32), 10)
    )
    entries += [
        (f"proqha_cifar_vgg{d}_bn", Layout("cifar", "vgg", d, f"proqha_cifar_vgg{d}_bn", 32), 10)
        for d in VGG_CFGS
    ]
    for fam, size, classes in (("imagenet", 224, 1000), ("cifar", 32, 10)):
        entries += [
            (bottleneck_name(fam, d), Layout(fam, "resnet", d, bottleneck_name(fam, d), size), classes)
            for d in BOTTLENECK_DEPTHS
        ]
    entries += [
        (f"proqha_cifar_resnet{d}", Layout("cifar", "resnet20", d, f"proqha_cifar_resnet{d}", 32), 10)
        for d in (8, 14, 26, 32, 44, 56, 110)
    ]
    for name, layout, classes in entries:
        try:
            get_spec(name)
            continue
        except ValueError:
            pass
        register_model(
            ModelSpec(
                name,
                lambda c, _l=layout: _build(_l, c),
                f"ProQHA {layout.family} {layout.arch}{layout.num_layers} (quantized layout, registered by proqha)",
                input_size=layout.input_size,
                default_classes=classes,
            )
        )


_register()

__all__ = [
    "ARCHS",
    "DATASETS",
    "TINY_RESNET_LAYERS",
    "Layout",
    "build_quant_model",
    "family_of",
    "resolve_layout",
    "to_float",
]
