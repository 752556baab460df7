"""Top-1/top-5 of a paper's float starting point: the FP32 baseline rows of the published tables.

``python -m reproduce.eval_float --paper PAPER -a ARCH --data DATA [--weights FILE]`` builds the float network the
paper's own entrypoint starts from (the same builder, so the same weight files and the same errors when one is
missing) and evaluates it on the ``val/`` split of ``DATA`` (an ImageFolder root, or the embedded ``digits``).

* ``hawq``: ``--arch`` as ``hawq.quant_train`` (resnet18, resnet50 = the v1 layout, resnet50b, resnet101,
  mobilenetv2_w1); the weights are HAWQ's ``--pretrained`` ones (pytorchcv's files). README Table I/II FP32 rows:
  ResNet18 71.47, ResNet50 77.72.
* ``haq``: ``--arch`` as ``haq.finetune`` (mobilenetv2 = HAQ's layout with ``mobilenetv2-150.pth.tar``, resnet50,
  mobilenet, any torchvision name).
* ``hmq``, ``ompq``, ``proqha``: a name of :mod:`common.models` (``mobilenet_v1``, ``resnet18``, ``resnet50``,
  ``mobilenet_v2``, ``efficientnet_b0``, ...) with its published weights.

``--weights FILE`` evaluates that file instead of the published weights; ``--weights none`` a random
initialisation (only for smoke runs). The eval transform is the paper's (ImageNet: resize to ``size / 0.875``,
centre crop; HMQ's bicubic; 299 for Inception). With ``--out DIR`` the figures go to ``DIR/final.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from common.data import build_datasets, build_loaders
from common.models import build_model, get_spec
from common.runtime import UsageError, run_main
from common.runtime.device import choose_device
from common.runtime.files import write_json_atomic
from common.runtime.meters import accuracy

PAPERS = ("hawq", "haq", "hmq", "ompq", "proqha")
#: the eval transform preset of each paper on ImageNet
PRESETS = {"hawq": "imagenet", "haq": "imagenet", "hmq": "hmq", "ompq": "imagenet", "proqha": "imagenet"}
EMBEDDED = ("digits", "synthetic")


def _weights(value: str | None) -> bool | Path:
    """``None`` -> the published weights, ``none`` -> random init, else a file."""
    if value is None:
        return True
    if value.lower() == "none":
        return False
    path = Path(value)
    if not path.is_file():
        raise UsageError(f"--weights file not found: {path}")
    return path


def build_float(paper: str, arch: str, num_classes: int, weights: bool | Path) -> tuple[nn.Module, int]:
    """The paper's float model of ``arch`` and its input size."""
    if paper == "hawq":
        from hawq.utils.models import build_float_model, resolve_arch

        name = resolve_arch(arch).float_name
        return build_float_model(arch, num_classes, pretrained=weights), get_spec(name).input_size
    if paper == "haq":
        from haq.models import build_haq_model, input_size_of, is_quantized_arch

        if is_quantized_arch(arch):
            raise UsageError(f"--arch {arch} is a quantized HAQ model; name its float twin ({arch[1:]})")
        return build_haq_model(arch, num_classes, pretrained=weights), input_size_of(arch)
    spec = get_spec(arch)
    return build_model(spec.name, num_classes, pretrained=weights), spec.input_size


@torch.no_grad()
def evaluate(model: nn.Module, loader: Any, device: torch.device) -> dict[str, float]:
    """Top-1/top-5 (%) over every image of ``loader`` (top-5 is top-k with k = min(5, classes))."""
    model.eval().to(device)
    correct1 = correct5 = torch.zeros((), device=device)
    n = 0
    for images, target in loader:
        images, target = images.to(device), target.to(device)
        out = model(images)
        a1, a5 = accuracy(out, target, topk=(1, 5))  # k is clipped to the class count
        correct1 = correct1 + a1 * target.numel() / 100
        correct5 = correct5 + a5 * target.numel() / 100
        n += target.numel()
    if n == 0:
        raise UsageError("the validation split is empty")
    return {"top1": float(correct1) * 100 / n, "top5": float(correct5) * 100 / n, "images": n}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m reproduce.eval_float", description="evaluate a paper's float baseline (FP32 rows)"
    )
    p.add_argument("--paper", required=True, choices=PAPERS)
    p.add_argument(
        "-a", "--arch", required=True, help="the paper's --arch / --network_name (see the module doc)"
    )
    p.add_argument("--data", required=True, help="ImageFolder root with val/ (ImageNet), or digits")
    p.add_argument(
        "--weights", default=None, help="float weights file (default: the published ones); none = random"
    )
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--out", type=Path, default=None, help="write DIR/final.json")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    if args.batch_size < 1 or args.workers < 0:
        raise UsageError("--batch-size must be >= 1 and --workers >= 0")
    weights = _weights(args.weights)
    embedded = str(args.data) in EMBEDDED
    if not embedded and not (Path(args.data) / "val").is_dir():
        raise UsageError(f"--data {args.data}: no val/ folder (give the ImageNet root, or digits)")
    # the class count comes from the data; published weights need ImageNet's 1000
    probe_classes = 10 if embedded else 1000
    _, size = build_float(args.paper, args.arch, probe_classes, False)
    if args.paper == "hawq" and size == 299:
        preset = "inception"
    else:
        preset = "digits" if embedded else PRESETS[args.paper]
    _, val_ds, classes = build_datasets(args.data, preset=preset, image_size=size)
    if weights is True and classes != 1000:
        raise UsageError(
            f"the published weights have 1000 classes but {args.data} has {classes}; pass --weights"
        )
    model, _ = build_float(args.paper, args.arch, classes, weights)
    _, val_loader = build_loaders(val_ds, val_ds, args.batch_size, args.workers)
    start = time.time()
    result = evaluate(model, val_loader, choose_device(args.device))
    result.update(paper=args.paper, arch=args.arch, data=str(args.data), weights=str(args.weights or "published"),
                  input_size=size, preset=preset, wall_s=time.time() - start)  # fmt: skip
    print(f"{args.paper} {args.arch}: top-1 {result['top1']:.2f} %  top-5 {result['top5']:.2f} %  "
          f"({result['images']} images)")  # fmt: skip
    if args.out is not None:
        write_json_atomic(args.out / "final.json", result)
    return result


if __name__ == "__main__":
    run_main(main)
