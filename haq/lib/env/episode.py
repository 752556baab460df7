"""What happens to the network at the end of an episode (docs/haq.md section 3.6, step 4).

* :class:`KMeansEpisode`: restore the pretrained weights, K-means-quantize every layer (3 Lloyd iterations,
  k-means++), optionally fine-tune (SGD lr ``finetune_lr``, momentum 0.9, weight decay 4e-5, projection after
  every step with ``free_high_bit``), return top-1 (or top-5) on the held-out split.
* :class:`LinearEpisode`: restore the pretrained weights, set each layer's (w, a), calibrate on one training
  batch (in whatever train/eval mode the model is in), optionally fine-tune and return the epoch's running
  training accuracy (the original's reward accuracy; ``reward_on_val`` measures the held-out split instead).

The learning rate is multiplied by ``finetune_gamma`` after each fine-tune epoch; the best epoch counts.

Under torchrun (``trained`` DDP-wrapped, the loaders giving each rank its share of every global batch) the
fine-tune is data-parallel with the gradient of the global batch, the accuracies count every rank's images,
and the calibration batch is the whole first global batch, gathered on every rank (synchronised BatchNorm
then normalising with that rank's copy alone), so every rank calibrates, quantizes and scores the same
network as one process would.
"""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from common.runtime import LossGuard, get_world_size
from common.runtime.ddp_sync import all_gather_rows, check_ranks_agree, local_batch_statistics
from haq.lib.utils.kmeans import kmeans_update_model, quantize_model
from haq.lib.utils.linear_quant import calibrate, set_bits
from haq.lib.utils.train import evaluate, train_epoch


class _Episode:
    def __init__(
        self, model: nn.Module, pretrained: dict, train_loader: DataLoader, val_loader: DataLoader,
        args: Namespace, device: torch.device, trained: nn.Module | None = None,
    ) -> None:  # fmt: skip
        self.model, self.pretrained = model, pretrained
        #: what the fine-tune steps (``model`` in DDP under torchrun, else ``model`` itself)
        self.trained = model if trained is None else trained
        self.across_ranks = get_world_size() > 1
        self.train_loader, self.val_loader = train_loader, val_loader
        self.args, self.device = args, device
        self.key = "top5" if args.use_top5 else "top1"
        self.calls = 0
        #: named as the last good checkpoint when a fine-tune loss turns NaN (the search's resume file)
        self.checkpoint: Path | None = None

    def restore(self) -> torch.optim.Optimizer:
        self.model.load_state_dict(self.pretrained, strict=False)
        return torch.optim.SGD(
            self.model.parameters(), lr=self.args.finetune_lr, momentum=0.9, weight_decay=4e-5
        )

    def finetune(self, optimizer: torch.optim.Optimizer, after_step=None) -> float:
        best = 0.0
        guard = LossGuard(checkpoint=self.checkpoint, what="loss of the in-search fine-tune")
        for epoch in range(self.args.finetune_epoch):
            stats = train_epoch(
                self.trained, self.train_loader, optimizer, self.device, after_step, desc="finetune",
                guard=guard, epoch=epoch, across_ranks=self.across_ranks,
            )  # fmt: skip
            best = max(best, stats[self.key])
            for group in optimizer.param_groups:
                group["lr"] *= self.args.finetune_gamma
        return best

    def held_out(self) -> float:
        return evaluate(
            self.model, self.val_loader, self.device, desc="validate", across_ranks=self.across_ranks
        )[self.key]

    def calibrate(self) -> None:
        """Calibrate on the first batch of the training split (every rank's share gathered under torchrun)."""
        inputs = next(iter(self.train_loader))[0].to(self.device)
        if self.across_ranks:
            inputs = all_gather_rows(inputs).reshape(-1, *inputs.shape[1:])
        with local_batch_statistics(self.model):
            calibrate(self.model, inputs)


class KMeansEpisode(_Episode):
    def __call__(self, strategy: list[int]) -> float:
        optimizer = self.restore()
        seed = self.args.seed * 1000 + self.calls
        self.calls += 1
        books = quantize_model(
            self.model, strategy, max_iter=3, is_pruned=self.args.is_pruned, random_state=seed
        )
        if self.across_ranks:  # each rank clusters on its own; the projections after every step must agree
            check_ranks_agree(list(self.model.parameters()), "the K-means-quantized weights")
        if self.args.finetune_flag:
            self.finetune(optimizer, lambda: kmeans_update_model(self.model, books, free_high_bit=True))
        return self.held_out()


class LinearEpisode(_Episode):
    def __call__(self, strategy: list[list[int]]) -> float:
        optimizer = self.restore()
        set_bits(self.model, strategy)
        self.calibrate()
        if self.args.finetune_flag:
            acc = self.finetune(optimizer)
            return self.held_out() if self.args.reward_on_val else acc
        return self.held_out()
