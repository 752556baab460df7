"""HAWQ-V3 in the benchmark: Hutchinson traces -> ILP over {4, 8} bits -> the common QAT path.

The search is ``python -m hawq.hessian`` on the float checkpoint (under torchrun with the training steps: each
process reads its share of the Hessian batch), then :func:`hawq.ilp.solve_ilp_limits` with
both benchmark limits as ILP constraints (HAWQ-V3's ILP takes any linear budget; its CLI takes one kind at a
time): the weight bits sum_i n_i b_i and the BOPs sum_i MACs_i b_i^2 of the searched layers (every conv but the
first; a searched layer's input activation has its weight bits, as in HAWQ-V3) must fit what the budget leaves
once the first conv and the FC are paid at W8A8. HAWQ-V3's own fine-tuning *is* the common QAT path.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from common.bitconfig import write_bitconfig
from reproduce.compare.budget import PINNED_BITS
from reproduce.compare.common_qat import finetune_common
from reproduce.compare.launch import loader_workers, per_process_batch, run_step
from reproduce.compare.method import Context, FinetuneOutcome, Method, SearchOutcome


def add_perturbations(traces: Path, checkpoint: Path) -> None:
    """Write each layer's ``delta8``/``delta4`` (HAWQ-V3's ||Q_b(W) - W||^2) from the float checkpoint into ``traces``.

    ``hawq.ilp`` would otherwise rebuild the model with the registry's default head (1000 classes for the
    torchvision ResNets), which a checkpoint trained on other data does not fit.
    """
    from common.runtime import load_checkpoint, state_dict_from, write_json_atomic
    from hawq import ilp

    data = json.loads(traces.read_text(encoding="utf-8"))
    state = state_dict_from(load_checkpoint(checkpoint), checkpoint, "float checkpoint")
    for name, entry in data["layers"].items():
        weight = state.get(f"{name}.weight")
        if weight is not None and ("delta8" not in entry or "delta4" not in entry):
            entry["delta8"] = float(ilp.quant_perturbation(weight.float(), 8))
            entry["delta4"] = float(ilp.quant_perturbation(weight.float(), 4))
    write_json_atomic(traces, data)


class HawqMethod(Method):
    name = "hawq"
    label = "HAWQ-V3"
    search_on_torchrun = True

    def unsupported(self, arch: str, data: str, image_size: int, num_classes: int) -> str | None:
        """HAWQ-V3's quantized model zoo (``hawq.utils.models``) has the ResNets only."""
        from hawq.utils.models import build_quantized_model

        try:
            build_quantized_model(arch, num_classes=10)
        except (Exception, SystemExit) as e:
            return f"HAWQ-V3 has no quantized {arch} ({' '.join(str(e).split())[:120]})"
        return None

    def hessian_argv(self, ctx: Context, traces: Path) -> list[str]:
        batch, probes = (8, 2) if ctx.quick else (128, 50)
        # hawq.hessian's --batch-size is global; it must split over the processes
        per_process_batch(ctx, batch)
        return [
            "--arch", ctx.arch, "--data", ctx.data, "--out", str(traces), "--checkpoint", str(ctx.float_checkpoint),
            "--input-size", str(ctx.image_size), "--num-classes", str(ctx.num_classes), "--batch-size", str(batch),
            "--batches", "1", "--probes", str(probes), "--tol", "1e-3", "--mode", "per_layer",
            "--device", ctx.device, "--seed", str(ctx.seed), "--no-progress", "--workers", str(loader_workers(ctx)),
        ]  # fmt: skip

    def search(self, ctx: Context, out: Path) -> SearchOutcome:
        from hawq import hessian, ilp

        traces = out / "traces.json"
        run_step(ctx, "hawq.hessian", self.hessian_argv(ctx, traces), hessian.main)
        add_perturbations(traces, ctx.float_checkpoint)
        problem = ilp.load_traces(traces, ctx.arch, str(ctx.float_checkpoint))
        info = {layer.name: layer for layer in ctx.layers}
        fixed = {name: (PINNED_BITS, PINNED_BITS) for name in info if name not in problem.layers}
        weight_bits, ops = ctx.budget.remaining(ctx.layers, fixed)
        n = np.array([info[name].weight_params for name in problem.layers], float)
        m = np.array([info[name].macs for name in problem.layers], float)
        result = ilp.solve_ilp_limits(
            problem,
            [("weight bits", 4 * n, 8 * n, weight_bits), ("BOPs", 16 * m, 64 * m, ops)],
            f"benchmark budget ({ctx.budget.describe()})",
        )
        source = (
            f"HAWQ-V3 ILP over {{4, 8}} under the benchmark's weight-bit and BOPs limits; traces {traces}"
        )
        path = write_bitconfig(ilp.to_bitconfig(problem, result, source), out / "bit_config.json")
        notes = [
            "ILP with both limits as constraints (weight bits and BOPs of the searched convs); "
            "candidates {4, 8}, a = w per layer, conv1/downsample ties kept",
        ]
        return SearchOutcome(path, notes)

    def finetune(self, ctx: Context, bitconfig: Path, out: Path) -> FinetuneOutcome:
        outcome = finetune_common(replace(ctx, common_acts="hawq"), bitconfig, out)
        outcome.notes.append(
            "HAWQ-V3's own fine-tuning is the common QAT path (at 4 and 8 bits its activation rule is the same)"
        )
        return outcome


METHOD = HawqMethod()
