"""Worker for tests/common/test_ddp.py, launched by ``torchrun --nproc_per_node=2``.

Each rank takes its half of a fixed global batch of 8, does one SGD step through ``wrap_ddp``, and
rank 0 saves the resulting weights (plus the all-reduced loss and meter values) to ``argv[1]``.
The model and batch come from :func:`build`, which the test also calls for the one-process step.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from common.runtime import (  # noqa: E402
    AverageMeter,
    all_reduce_mean,
    barrier,
    choose_device,
    cleanup_distributed,
    init_distributed,
    save_checkpoint,
    seed_everything,
    unwrap_model,
    wrap_ddp,
)

SEED = 1234
GLOBAL_BATCH = 8
LR = 0.1


def build() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The tiny model (no BatchNorm) with rank 0's initial weights, and the fixed global batch."""
    torch.manual_seed(SEED)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 5))
    gen = torch.Generator().manual_seed(99)
    images = torch.randn(GLOBAL_BATCH, 3, 4, 4, generator=gen)
    labels = torch.randint(0, 5, (GLOBAL_BATCH,), generator=gen)
    return model, images, labels


def make_optimizer(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9, weight_decay=1e-4)


def main() -> None:
    out = Path(sys.argv[1])
    info = init_distributed(backend="gloo", timeout=60)
    assert info.distributed and info.world_size == 2, info
    device = choose_device("cpu")
    model, images, labels = build()
    if info.rank != 0:
        # Perturb the other rank's initial weights: DDP must broadcast rank 0's at construction.
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
    seed_everything(SEED, rank=info.rank)
    ddp = wrap_ddp(model, device, info)
    assert isinstance(ddp, nn.parallel.DistributedDataParallel)
    optimizer = make_optimizer(ddp)
    share = GLOBAL_BATCH // info.world_size
    lo, hi = info.rank * share, (info.rank + 1) * share
    loss = nn.functional.cross_entropy(ddp(images[lo:hi].to(device)), labels[lo:hi].to(device))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    mean_loss = all_reduce_mean(loss.detach())
    meter = AverageMeter("loss")
    meter.update(loss.detach(), share)
    meter.all_reduce()
    barrier()
    if info.is_main:
        state = {k: v.detach().cpu() for k, v in unwrap_model(ddp).state_dict().items()}
        save_checkpoint(
            {"state_dict": state, "mean_loss": mean_loss, "meter_avg": meter.avg, "meter_count": meter.count},
            out,
        )
    barrier()
    cleanup_distributed()


if __name__ == "__main__":
    main()
