"""Rounds of the progressive search (docs/proqha.md section 3.3, ``lib/greed.py architecture_search``).

Round s, from the current model M with bits b:

1. snapshot M's state; for i = 1..lam: reload the snapshot into a scratch copy, draw
   ``C_i = random.sample(range(N), int(N * ratio))`` (Python's global ``random``, as the original), set the
   scratch bits to ``lower(b, C_i, interval)`` and score it with one Adam step on the scoring batch
   (:func:`proqha.progressive.score.one_step_score`);
2. select ``argmin_i I_i`` (``--info hession``) or ``argmax_i acc_i`` (``--info acc``). The original's ``acc_i``
   is the val accuracy of the *unmodified* M, the same for every candidate, so ``acc`` picks candidate 0; it is
   computed once per round here (identical selection). ``acc_eval="candidate"`` scores each candidate's own
   val accuracy instead;
3. M takes the selected bits (its weights are untouched by the candidates' steps) and is fine-tuned for
   ``search_epochs`` epochs with a fresh Adam, lr ``lr (1 + cos(pi e / E)) / 2`` per epoch, clip 5;
4. M is evaluated, the round is logged and checkpointed.

The original runs every round; ``stop_cost`` (``--enforce_cost``) ends the search after the first round whose
cost is at most ``--cost``.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from common.data import set_loader_epoch
from common.runtime import AverageMeter, LossGuard, check_finite, progress
from proqha.bits import get_bits, lower_bits, set_bits
from proqha.cost import CostModel
from proqha.engine import evaluate, train_epoch
from proqha.optim import LegacyAdam, cosine_lr, set_lr
from proqha.progressive.score import AdamConfig, one_step_score

INFOS = ("hession", "acc")
ACC_EVALS = ("base", "candidate")


@dataclass
class SearchConfig:
    step: int = 20
    lam: int = 100
    ratio: float = 0.5
    interval: int = 1
    search_epochs: int = 30
    adam: AdamConfig = field(default_factory=AdamConfig)
    info: str = "hession"
    acc_eval: str = "base"
    cost_pairing: str = "odd_position"
    stop_cost: float | None = None
    amp: str = "none"


@dataclass
class Candidate:
    positions: list[int]
    bits: list[int]
    score: float
    acc: float
    cost: float
    loss: float


@dataclass
class RoundResult:
    step: int
    bits: list[int]
    score: float
    acc_info: float
    cost: float
    cost_weight_bits: float
    train_acc: float
    test_acc: float
    lr: float
    seconds: float
    candidates: list[Candidate]

    def log_row(self, model_size: float) -> dict[str, Any]:
        """The original ``search_log.csv`` columns (floats, the lr actually used in the last epoch) plus the
        corrected-pairing cost; ``model_size`` is the FP32 size in bits, as the original logs it."""
        row: dict[str, Any] = {
            "step": self.step,
            "step_time": round(self.seconds, 3),
            "model_size": model_size,
            "hession_info": self.score,
            "acc_info": self.acc_info,
            "cost": self.cost,
            "cost_weight_bits": self.cost_weight_bits,
            "train_acc": self.train_acc,
            "test_acc": self.test_acc,
            "lr": self.lr,
        }
        row.update({f"kbits{i + 1}": b for i, b in enumerate(self.bits)})
        return row


def score_candidates(
    model: nn.Module,
    next_batch: Callable[[], tuple[torch.Tensor, torch.Tensor]],
    cfg: SearchConfig,
    costs: CostModel,
    device: torch.device,
    base_acc: float,
    val_loader: Any = None,
    rng: random.Random | None = None,
) -> list[Candidate]:
    """Steps 1-2 of a round: ``lam`` scored candidates lowered from the model's current bits."""
    rng = rng if rng is not None else random._inst  # type: ignore[attr-defined]
    base = get_bits(model)
    snapshot = {k: v.detach().clone() for k, v in model.state_dict().items()}
    scratch = copy.deepcopy(model)
    out = []
    for _ in progress(range(cfg.lam), desc="candidates", leave=False):
        scratch.load_state_dict(snapshot)
        positions = rng.sample(range(len(base)), int(len(base) * cfg.ratio))
        bits = lower_bits(base, positions, cfg.interval)
        set_bits(scratch, bits)
        images, labels = next_batch()
        result = one_step_score(scratch, images.to(device), labels.to(device), cfg.adam)
        check_finite(result.loss, what="loss of a scoring step (the model's weights are no longer finite)")
        acc = base_acc
        if cfg.acc_eval == "candidate" and val_loader is not None:
            acc = evaluate(scratch, val_loader, device, cfg.amp)[1]
        out.append(
            Candidate(positions, bits, result.score, acc, costs.cost(bits, cfg.cost_pairing), result.loss)
        )
    return out


def select(candidates: list[Candidate], info: str) -> int:
    """Index of the kept candidate: first minimum score (``hession``) or first maximum accuracy (``acc``)."""
    if info == "hession":
        return min(range(len(candidates)), key=lambda i: candidates[i].score)
    return max(range(len(candidates)), key=lambda i: candidates[i].acc)


def fine_tune(
    model: nn.Module,
    loader: Any,
    cfg: SearchConfig,
    device: torch.device,
    checkpoint: Any = None,
    first_epoch: int = 0,
) -> tuple[float, float]:
    """Step 3: ``search_epochs`` epochs of Adam with the cosine schedule; ``(train top-1 over all epochs, last lr)``.

    A NaN/inf loss is an error naming ``checkpoint`` (the search's last good one) when it exists. The loader's
    passes are epochs ``first_epoch, first_epoch + 1, ...`` of its order (a resumed search sees the same data).
    """
    guard = LossGuard(checkpoint=checkpoint, what="fine-tune loss")
    a = cfg.adam
    opt = LegacyAdam(model.parameters(), lr=a.lr, betas=(a.beta1, a.beta2), eps=a.eps)
    top1 = AverageMeter("top1")
    lr = a.lr
    for epoch in range(cfg.search_epochs):
        lr = cosine_lr(a.lr, epoch, cfg.search_epochs)
        set_lr(opt, lr)
        set_loader_epoch(loader, first_epoch + epoch)
        train_epoch(
            model, loader, opt, device, clip=a.clip, amp=cfg.amp, top1=top1, desc=f"fine-tune {epoch}",
            guard=guard, epoch=epoch,
        )  # fmt: skip
    return top1.avg, lr


def broadcast_choice(index: int) -> int:
    """Rank 0's ``index`` on every rank (the index itself without a process group)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return index
    box = [index]
    dist.broadcast_object_list(box, src=0)
    return int(box[0])


def search_round(
    s: int,
    model: nn.Module,
    next_batch: Callable[[], tuple[torch.Tensor, torch.Tensor]],
    train_loader: Any,
    val_loader: Any,
    cfg: SearchConfig,
    costs: CostModel,
    device: torch.device,
    checkpoint: Any = None,
    trained: nn.Module | None = None,
) -> RoundResult:
    """One whole round (steps 1-4); ``checkpoint`` is named as the last good one if a loss turns NaN.

    ``trained``: the module the fine-tuning epochs step (the DDP wrapper of ``model`` under torchrun). Every rank
    scores the same candidates; under DDP rank 0's choice is broadcast, so the ranks keep the same bits even where
    their scores differ in the last bits (nondeterministic GPU kernels).
    """
    start = time.time()
    base_acc = evaluate(model, val_loader, device, cfg.amp)[1] if cfg.info == "acc" else float("nan")
    cands = score_candidates(model, next_batch, cfg, costs, device, base_acc, val_loader)
    best = cands[broadcast_choice(select(cands, cfg.info))]
    set_bits(model, best.bits)
    train_acc, lr = fine_tune(
        model if trained is None else trained, train_loader, cfg, device, checkpoint,
        first_epoch=s * cfg.search_epochs,
    )  # fmt: skip
    test_acc = evaluate(model, val_loader, device, cfg.amp)[1]
    return RoundResult(
        step=s,
        bits=list(best.bits),
        score=best.score,
        acc_info=best.acc,
        cost=costs.cost(best.bits, "odd_position"),
        cost_weight_bits=costs.cost(best.bits, "weight_bits"),
        train_acc=train_acc,
        test_acc=test_acc,
        lr=lr,
        seconds=time.time() - start,
        candidates=cands,
    )


def budget_met(result: RoundResult, cfg: SearchConfig) -> bool:
    """Whether ``--enforce_cost`` ends the search after this round (cost in the configured pairing)."""
    if cfg.stop_cost is None:
        return False
    cost = result.cost if cfg.cost_pairing == "odd_position" else result.cost_weight_bits
    return cost <= cfg.stop_cost
