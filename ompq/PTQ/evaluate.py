"""Evaluate a saved OMPQ PTQ model: ``python -m ompq.PTQ.evaluate <out>/quantized_model.pth`` (or ``<out>``).

The model is rebuilt from the file (:func:`ompq.PTQ.saved_model.load_quantized`) and its top-1 measured on the
validation split of ``--data_path`` (default: the data the PTQ ran on, as stored in the file) at the stored input
size. It prints the top-1 and, when the file records it, the top-1 at the end of the PTQ; ``--logits FILE``
also saves the logits of the first validation batch (for bit-identity checks).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from common.data import build_datasets, build_loaders
from common.runtime import UsageError, add_threads_arg, check_at_least, choose_device, run_main, set_threads
from ompq.PTQ.main_imagenet import validate
from ompq.PTQ.saved_model import load_quantized, read_quantized_file


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ompq.PTQ.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "model", type=Path, help="quantized_model.pth written by ompq.PTQ.main_imagenet, or its folder"
    )
    p.add_argument("--data_path", default=None, help="ImageNet root or 'digits' (default: the one stored)")
    p.add_argument("--batch_size", default=64, type=int)
    p.add_argument("--workers", default=4, type=int)
    p.add_argument("--device", default="auto")
    p.add_argument("--logits", type=Path, default=None, help="save the first validation batch's logits here")
    add_threads_arg(p)
    return p


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    set_threads(args.threads)
    check_at_least("--batch_size", args.batch_size, 1)
    check_at_least("--workers", args.workers, 0)
    saved = read_quantized_file(args.model)
    build = saved["build"]
    data_path = args.data_path or build.get("data_path")
    if not data_path:
        raise UsageError("--data_path is required (the file does not name the data it was calibrated on)")
    digits = data_path in ("digits", "synthetic")
    device = choose_device(args.device)
    qnn, _ = load_quantized(saved, device)
    _, val_ds, classes = build_datasets(
        data_path, preset="digits" if digits else "imagenet", image_size=int(build["image_size"])
    )
    if classes != int(build["num_classes"]):
        raise UsageError(f"--data_path {data_path} has {classes} classes, the model {build['num_classes']}")
    _, val_loader = build_loaders(val_ds, val_ds, args.batch_size, 0 if digits else args.workers)
    if args.logits is not None:
        images, _ = next(iter(val_loader))
        with torch.no_grad():
            torch.save(qnn(images.to(device)).cpu(), args.logits)
    top1 = validate(qnn, val_loader, device, "evaluate")
    result = {"top1": top1, "saved": dict(saved.get("result", {}))}
    end = result["saved"].get("acc_full_quant", result["saved"].get("acc_weight_quant"))
    print(f"top-1 {top1:.3f}" + ("" if end is None else f" (at the end of the PTQ: {end:.3f})"))
    return result


if __name__ == "__main__":
    run_main(main)
