"""Run the ORIGINAL OMPQ search and ``ompq.mixed_bit.search`` on the same weights and images and compare them.

``python ompq/scripts/compare_with_original.py --original /path/to/MAC-AutoML/OMPQ [r18 mb r50] [--threads 1]``

Needs a checkout of the original repository (not shipped here). Its ``mixed_bit`` folder is copied to a temporary
folder where the two package ``__init__`` files are replaced by ones that import only the model and utility
modules (the real ones pull in apex, DALI and torchprofile). For each case:

1. the original network (``ResNet_ImageNet`` / ``MobileNetV2``, optionally with a reduced ``cfg``) is built with
   its ``he_fout`` init and random BN affine parameters, and saved as an OMPQ base checkpoint
   (``{"state_dict": {"module." + key: tensor}}``);
2. our search model loads that file through ``build_search_model`` (the same path as ``--path``);
3. one random batch (N x 3 x 224 x 224) goes through the original's ``feature_extract`` (train mode) and through
   our hooks; the original's search tail -- the lines of its ``feature_extract.py`` from the ORM matrix to the
   printed BOPs, executed as they are -- runs on the original's features;
4. ``ompq.mixed_bit.search`` runs on our model and the same batch.

One JSON line per case: feature and ORM differences, whether per-entry params / FLOPs / first-last counts are
equal, the SLSQP x difference, and both bit lists.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import shutil
import sys
import tempfile
import textwrap
import types
from pathlib import Path

import numpy as np
import torch
from scipy import optimize

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ompq.mixed_bit import search  # noqa: E402
from ompq.mixed_bit.features import extract_features  # noqa: E402
from ompq.mixed_bit.orm import orm_matrix  # noqa: E402
from ompq.mixed_bit.search_model import build_search_model  # noqa: E402
from ompq.mixed_bit.searchable import searchable_entries  # noqa: E402

R18_REDUCED = [32, 24, 48, 40, 96, 112, 64, 160, 176, 128, 256, 384, 200]
R50_REDUCED = (
    [32] + [16, 24, 128, 20, 18, 12, 22] + [40, 36, 256, 30, 30, 28, 26, 24, 34]
    + [60, 70, 384, 50, 52, 54, 56, 58, 60, 62, 64, 66, 68] + [100, 110, 640, 90, 96, 120, 136]
)  # fmt: skip
MBV2_REDUCED = [48, 48, 16, 24, 40, 72, 120, 240]  # stem = block-1 width: the t=1 block has a residual

#: group -> cases (our model name, the original's --model, cfg, quant type, budget MiB, beta, images)
CASES = {
    "r18": [
        ("resnet18", "resnet18", None, "QAT", 6.7, 10.0, 16),
        ("resnet18", "resnet18", None, "QAT", 6.7, 1.0, 16),
        ("resnet18", "resnet18", None, "PTQ", 4.5, 100.0, 16),
        ("resnet18", "resnet18", None, "PTQ", 4.5, 1.0, 16),
        ("resnet18", "resnet18", R18_REDUCED, "QAT", 3.1, 1.0, 16),
        ("resnet18", "resnet18", R18_REDUCED, "PTQ", 1.5, 1.0, 16),
    ],
    "mb": [
        ("mobilenet_v2", "mobilenetv2", None, "PTQ", 1.5, 1e-9, 16),
        ("mobilenet_v2", "mobilenetv2", None, "PTQ", 1.1, 1.0, 16),
        ("mobilenet_v2", "mobilenetv2", MBV2_REDUCED, "PTQ", 0.9, 1.0, 16),
    ],
    "r50": [
        ("resnet50", "resnet50", None, "QAT", 16.0, 3.3, 8),
        ("resnet50", "resnet50", R50_REDUCED, "QAT", 1.8, 1.0, 8),
    ],
}


def load_original(root: Path, work: Path) -> types.SimpleNamespace:
    """Import the original's models, ORM and DFS_bit from a copy of ``root/mixed_bit`` with light __init__ files."""
    src = root / "mixed_bit"
    if not (src / "feature_extract.py").is_file():
        raise SystemExit(
            f"error: {root} is not a checkout of MAC-AutoML/OMPQ (no mixed_bit/feature_extract.py)"
        )
    dst = work / "mixed_bit"
    shutil.copytree(src, dst)
    (dst / "utils" / "__init__.py").write_text("from .pytorch_utils import *\n")
    (dst / "models" / "__init__.py").write_text(
        "from .base_models import *\nfrom .resnet_imagenet import *\nfrom .mobilenet_imagenet import *\n"
    )
    sys.path.insert(0, str(dst))
    import models
    import ORM
    from utils import DFS_bit

    lines = (dst / "feature_extract.py").read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if "orthogonal_matrix = np.zeros" in line)
    last = next(i for i, line in enumerate(lines) if "Quantization model BOPs is" in line) + 1
    tail = textwrap.dedent("\n".join(lines[first : last + 1]))
    return types.SimpleNamespace(models=models, ORM=ORM, DFS_bit=DFS_bit, tail=tail)


def run_tail(
    orig: types.SimpleNamespace, feature: list, net, model: str, budget: float, beta: float, qt: str
):
    """Execute the original's search tail on ``feature``; returns its namespace (bits in ``optimize_cfg``)."""
    args = types.SimpleNamespace(model=model, model_size=budget, beta=beta, quant_type=qt)
    scope = {
        "np": np, "math": math, "torch": torch, "optimize": optimize, "ORM": orig.ORM, "DFS_bit": orig.DFS_bit,
        "feature": feature, "net": net, "args": args,
    }  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):  # it prints the list, the sizes and the BOPs
        exec(orig.tail, scope)  # noqa: S102 - the original's own code, run on purpose
    return scope


def compare(
    orig, work: Path, name: str, model: str, cfg, qt: str, budget: float, beta: float, n: int
) -> dict:
    torch.manual_seed(0)
    if model == "mobilenetv2":
        net = orig.models.MobileNetV2(cfg=cfg, num_classes=1000)
    else:
        net = orig.models.ResNet_ImageNet(cfg=cfg, depth=50 if model == "resnet50" else 18, num_classes=1000)
    net.init_model("he_fout")
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    ckpt = Path(tempfile.mkdtemp(dir=work)) / "checkpoint" / "model_best.pth.tar"
    ckpt.parent.mkdir(parents=True)
    torch.save({"state_dict": {"module." + k: v for k, v in net.state_dict().items()}}, ckpt)
    ours = build_search_model(name, 1000, ckpt, cfg=cfg)
    x = torch.randn(n, 3, 224, 224, generator=torch.Generator().manual_seed(1))

    net.train()
    with torch.no_grad():
        feats_orig = [f.reshape(n, -1).numpy() for f in net.feature_extract(x.clone(), qt)]
    feats_ours = extract_features(ours, searchable_entries(ours, qt), x.clone())
    scope = run_tail(orig, [f.copy() for f in feats_orig], net, model, budget, beta, qt)
    record: dict = {}
    result = search(ours, x.clone(), budget, beta, quant_type=qt, arch=name, record=record)

    bits_orig = [int(b) for b in scope["optimize_cfg"]]
    bits_ours = result.extra["search"]["bits"]
    rel = [
        float(np.abs(a - b).max() / (np.abs(a).max() + 1e-30))
        for a, b in zip(feats_orig, feats_ours, strict=False)
    ]
    return {
        "case": f"{name} {qt} cfg={'base' if cfg is None else 'reduced'} budget={budget} beta={beta} N={n}",
        "entries": len(feats_ours),
        "entries_equal": len(feats_orig) == len(feats_ours),
        "feature_max_rel_diff": max(rel),
        "orm_max_abs_diff": float(np.abs(record["orm"] - scope["orthogonal_matrix"]).max()),
        "orm_max_abs_diff_same_features": float(
            np.abs(orm_matrix(feats_orig) - scope["orthogonal_matrix"]).max()
        ),
        "params_equal": [round(p * 2**20) for p in scope["params"]] == record["params"],
        "flops_equal": [round(f) for f in scope["FLOPs"]] == record["flops"],
        "first_last_equal": round(scope["first_last_size"] * 2**20) == record["fl_params"]
        and round(scope["first_last_flops"]) == record["fl_flops"],
        "slsqp_x_max_abs_diff": float(np.abs(np.asarray(scope["result"].x) - record["allocation"].x).max()),
        "bits_equal": bits_orig == bits_ours,
        "bits_original": bits_orig,
        "bits_ours": bits_ours,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--original", type=Path, required=True, help="checkout of MAC-AutoML/OMPQ")
    p.add_argument("groups", nargs="*", default=list(CASES), help=f"any of {', '.join(CASES)} (default: all)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    unknown = [g for g in args.groups if g not in CASES]
    if unknown:
        p.error(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        orig = load_original(args.original.resolve(), Path(tmp))
        for group in args.groups:
            for case in CASES[group]:
                print(json.dumps(compare(orig, Path(tmp), *case)), flush=True)


if __name__ == "__main__":
    main()
