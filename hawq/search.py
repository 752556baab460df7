"""Traces -> ILP -> bit config in one command: the search HAWQ-V3 never shipped.

``python -m hawq.search --arch resnet18 --data /data/imagenet --checkpoint float.pth --kind bops --r 0.5
--out bitcfg.json`` runs :mod:`hawq.hessian` (per-layer average Hessian traces on training batches),
then :mod:`hawq.ilp` (the ILP of docs/hawq.md section 3.6, with the perturbations
||W - Q_b(W)||^2 computed from the same weights) and writes the portable bit-config file. The traces
are kept next to it (``--traces-out``) so the ILP can be rerun for other budgets without the
Hessian pass. Under ``torchrun`` the Hessian pass is data-parallel (``--batch-size`` is the global batch,
see :mod:`hawq.hessian`) and rank 0 alone solves the ILP and writes the files.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from common.runtime import add_threads_arg, check_number, check_output_file, init_distributed, run_main
from common.runtime.runlog import add_logging_args
from hawq import hessian, ilp


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hawq.search", description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", required=True, help="registered model name")
    p.add_argument("--data", required=True, help="data folder or an embedded name (digits)")
    p.add_argument(
        "--checkpoint", required=True, help="float weights the traces and perturbations are taken on"
    )
    p.add_argument("--kind", choices=ilp.KINDS, required=True, help="budget kind")
    p.add_argument(
        "--r", type=float, required=True, help="budget fraction: 0 = all 4-bit cost, 1 = all 8-bit"
    )
    p.add_argument("--out", type=Path, required=True, help="bit-config JSON file to write")
    p.add_argument(
        "--traces-out", type=Path, default=None, help="traces JSON (default: OUT with .traces.json)"
    )
    p.add_argument(
        "--batch-size", type=int, default=32, help="Hessian batch (global: split over torchrun's processes)"
    )
    p.add_argument("--batches", type=int, default=1)
    p.add_argument("--probes", type=int, default=100)
    p.add_argument("--tol", type=float, default=1e-3)
    p.add_argument("--mode", choices=hessian.MODES, default=hessian.DEFAULT_MODE, help=hessian.MODE_HELP)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    add_threads_arg(p)
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar of the Hessian pass",
    )
    add_logging_args(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    traces = args.traces_out or args.out.with_suffix(".traces.json")
    check_number("--r", args.r)  # before the traces are computed and written
    check_output_file("--out", args.out)
    check_output_file("--traces-out", traces)
    # joined here, so the rank is known after the Hessian pass has left the group
    is_main = init_distributed(device=None if args.device == "auto" else args.device).is_main
    hessian.main(
        [
            "--arch", args.arch, "--data", args.data, "--checkpoint", args.checkpoint, "--out", str(traces),
            "--batch-size", str(args.batch_size), "--batches", str(args.batches), "--probes", str(args.probes),
            "--tol", str(args.tol), "--mode", args.mode, "--device", args.device, "--seed", str(args.seed),
            "--threads", str(args.threads), "--log-dir", str(hessian.log_dir_for(args.out)),
        ]
        + ([] if args.progress is None else ["--progress" if args.progress else "--no-progress"])
        + (["--wandb"] if args.wandb else [])
        + (["--wandb_project", args.wandb_project] if args.wandb_project else [])
    )  # fmt: skip
    if not is_main:
        return 0
    return ilp.main(
        [
            "--traces", str(traces), "--arch", args.arch, "--checkpoint", args.checkpoint,
            "--kind", args.kind, "--r", str(args.r), "--out", str(args.out),
        ]
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(run_main(main))
