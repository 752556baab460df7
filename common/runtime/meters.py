"""Running averages and top-k accuracy."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist

from .distributed import is_dist_initialized

__all__ = ["AverageMeter", "accuracy"]


class AverageMeter:
    """Current value, sum, count and average of a quantity, as in the PyTorch ImageNet example.

    ``update`` accepts Python numbers or tensors; tensor values are accumulated on their device
    without a host sync, which only happens when ``val``/``sum``/``avg`` are read. ``all_reduce``
    sums ``sum`` and ``count`` over the ranks (e.g. after distributed validation).
    """

    def __init__(self, name: str = "", fmt: str = ":f") -> None:
        self.name = name
        self.fmt = fmt
        self.reset()

    def reset(self) -> None:
        """Forget everything."""
        self._val: float | torch.Tensor = 0.0
        self._sum: float | torch.Tensor = 0.0
        self.count: int = 0

    def update(self, val: float | torch.Tensor, n: int = 1) -> None:
        """Record ``val`` as the mean of ``n`` samples."""
        if isinstance(val, torch.Tensor):
            val = val.detach()
            if val.numel() != 1:
                raise ValueError(
                    f"AverageMeter.update expects a scalar, got a tensor of shape {tuple(val.shape)}"
                )
            val = val.reshape(()).float()
        self._val = val
        self._sum = self._sum + val * n
        self.count += int(n)

    @staticmethod
    def _float(x: float | torch.Tensor) -> float:
        return float(x.item()) if isinstance(x, torch.Tensor) else float(x)

    @property
    def val(self) -> float:
        """The last value passed to ``update``."""
        return self._float(self._val)

    @property
    def sum(self) -> float:
        """Sum of ``val * n`` over all updates."""
        return self._float(self._sum)

    @property
    def avg(self) -> float:
        """``sum / count`` (0 before the first update)."""
        return self.sum / self.count if self.count else 0.0

    def all_reduce(self) -> None:
        """Replace ``sum`` and ``count`` by their totals over all ranks (no-op without a process group)."""
        if not is_dist_initialized():
            return
        device = torch.device("cpu")
        if dist.get_backend() == "nccl":
            device = torch.device("cuda", torch.cuda.current_device())
        total = torch.tensor([self.sum, float(self.count)], dtype=torch.float64, device=device)
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        self._sum = float(total[0].item())
        self.count = int(round(total[1].item()))

    def __str__(self) -> str:
        fmtstr = "{name} {val" + self.fmt + "} ({avg" + self.fmt + "})"
        return fmtstr.format(name=self.name, val=self.val, avg=self.avg)

    def __repr__(self) -> str:
        return f"AverageMeter(name={self.name!r}, val={self.val}, avg={self.avg}, count={self.count})"


def accuracy(output: torch.Tensor, target: torch.Tensor, topk: Sequence[int] = (1, 5)) -> list[torch.Tensor]:
    """Top-k accuracy in percent for each ``k`` in ``topk``, as one-element tensors (``acc[0]``).

    ``k`` larger than the number of classes is clipped to it (so top-5 of a 3-class problem is 100%).
    ``target`` holds class indices, or per-class scores/one-hot rows (its argmax is used).
    """
    with torch.no_grad():
        if output.dim() != 2:
            output = output.reshape(output.shape[0], -1)
        if target.dim() == 2:
            target = target.argmax(dim=1)
        batch_size = target.size(0)
        maxk = max(1, min(max(topk), output.size(1)))
        _, pred = output.topk(maxk, dim=1, largest=True, sorted=True)
        correct = pred.t().eq(target.reshape(1, -1).expand(maxk, -1))
        result = []
        for k in topk:
            kk = max(1, min(int(k), maxk))
            hits = correct[:kk].reshape(-1).float().sum(0, keepdim=True)
            result.append(hits.mul_(100.0 / batch_size) if batch_size else hits)
        return result
