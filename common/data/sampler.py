"""Training order and augmentation as functions of ``(seed, epoch)``, shared by one process and DDP ranks.

:class:`EpochSampler` draws, for every epoch, one permutation of the dataset and one random 63-bit
number per item from a generator seeded by ``(seed, epoch)`` alone. Rank ``r`` of ``W`` takes the
items ``r, r + W, r + 2W, ...`` of that permutation, so with a per-rank batch ``b`` the ``W`` rank batches of
step ``k`` together hold exactly items ``kWb .. (k+1)Wb - 1``: the batch a single process with batch
``Wb`` takes at step ``k``. Given ``b`` (``batch_size``), a length that ``W`` does not divide is split exactly:
the last global batch of ``m`` items leaves rank ``r`` its ``n_r = ⌈(m - r)/W⌉`` of them, and
:meth:`EpochSampler.share_weight` gives the factor ``W·n_r/m`` that makes DDP's average of the ranks' mean
losses the one-process batch's mean. Only where ``m < W`` (some rank would have no last batch, and every step
is a collective) is the order padded with its first items, as :class:`torch.utils.data.DistributedSampler`
pads; ``drop_last`` cuts it to a multiple of ``W`` instead. It yields ``(index, item_seed)`` pairs; :class:`SeededSamples` wraps the
dataset and loads every item with torch's CPU generator seeded by ``item_seed`` (restored afterwards),
so random crops and flips depend on the item and the epoch only, not on the rank, the worker, the
batch size or what ran before. Hence

* a run resumed at an epoch boundary sees the data of the uninterrupted run, given the epoch;
* ``set_epoch(epoch, skip=n)`` starts the next pass after the first ``n`` items of this rank's share
  (resuming a checkpoint written in the middle of an epoch);
* a pass without a ``set_epoch`` before it takes the next epoch number (each pass reshuffles).

Transforms must draw from torch's generator (every torchvision transform does); Python's ``random``
and NumPy's global state are not reseeded per item.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler

__all__ = [
    "BatchShareSampler",
    "EpochSampler",
    "SeededOrder",
    "SeededSamples",
    "ShardSampler",
    "epoch_generator",
]

_MASK63 = (1 << 63) - 1


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator whose stream depends on ``(seed, epoch)`` only (distinct pairs, distinct seeds)."""
    mixed = (int(seed) * 0x9E3779B97F4A7C15 + int(epoch) * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & _MASK63
    return torch.Generator().manual_seed(mixed)


class EpochSampler(Sampler[tuple[int, int]]):
    """Per-epoch shuffled ``(index, item_seed)`` pairs, this rank's share of one global order.

    ``length``: dataset size; ``shuffle=False`` keeps the natural order (item seeds still change per
    epoch); ``num_replicas``/``rank``: the DDP world (1/0 for one process); ``drop_last``: cut the order
    to a multiple of ``num_replicas``; ``batch_size``: the per-rank batch of the loader, which lets an
    uneven length split exactly (see the module docstring); without it an uneven length is padded.
    """

    def __init__(
        self,
        length: int,
        seed: int = 0,
        *,
        shuffle: bool = True,
        num_replicas: int = 1,
        rank: int = 0,
        drop_last: bool = False,
        batch_size: int | None = None,
    ) -> None:
        if length < 0 or num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"bad sampler set-up: length {length}, rank {rank} of {num_replicas}")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {batch_size}")
        self.length = int(length)
        self.seed = int(seed)
        self.shuffle = bool(shuffle)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.drop_last = bool(drop_last)
        self.batch_size = None if batch_size is None else int(batch_size)
        self.epoch = 0
        self.skip = 0
        self.exact = False  # an uneven length split without padding
        if self.drop_last:
            self.per_rank = self.length // self.num_replicas
        elif self.length % self.num_replicas == 0:
            self.per_rank = self.length // self.num_replicas
        elif self.batch_size is not None and self.last_global_batch() >= self.num_replicas:
            self.exact = True
            self.per_rank = (self.length - self.rank + self.num_replicas - 1) // self.num_replicas
        else:
            self.per_rank = -(-self.length // self.num_replicas)

    @property
    def padded(self) -> int:
        """How many items every pass repeats to fill the ranks' shares (0 when split exactly or cut)."""
        if self.drop_last or self.exact:
            return 0
        return self.per_rank * self.num_replicas - self.length

    def last_global_batch(self) -> int:
        """``m``: the items of one process's last batch of ``W·b`` (``W·b`` when the length divides)."""
        if self.batch_size is None:
            raise ValueError("the last global batch needs the per-rank batch size")
        full = self.num_replicas * self.batch_size
        return self.length % full or full

    def global_batch(self, step: int) -> int | None:
        """The size of one process's batch ``step`` (all ranks' batches together) on the last step of an exact
        uneven split; None on every other step, where it is ``W`` times this rank's batch."""
        if not self.exact or self.batch_size is None:
            return None
        return self.last_global_batch() if step == -(-self.per_rank // self.batch_size) - 1 else None

    def share_weight(self, step: int) -> float:
        """``W·n_r/n`` for this rank's batch ``step`` of a pass: its ``n_r`` of the step's ``n`` images over
        ``W`` ranks. 1.0 except on the last step of an exact uneven split, where the shares differ by one.

        A rank's mean loss times this weight, averaged over the ranks by DDP, is the global batch's mean loss.
        """
        m = self.global_batch(step)
        if m is None:
            return 1.0
        mine = (m - self.rank + self.num_replicas - 1) // self.num_replicas
        return self.num_replicas * mine / m

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """The next pass is ``epoch``'s, starting after the first ``skip`` items of this rank's share."""
        if skip < 0:
            raise ValueError(f"skip must be >= 0, got {skip}")
        self.epoch = int(epoch)
        self.skip = int(skip)

    def global_order(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(indices, item_seeds)`` of the whole epoch before the split by rank (padded / cut)."""
        gen = epoch_generator(self.seed, epoch)
        order = torch.randperm(self.length, generator=gen) if self.shuffle else torch.arange(self.length)
        item_seeds = torch.randint(0, _MASK63, (self.length,), generator=gen, dtype=torch.int64)
        total = self.length if self.exact else self.per_rank * self.num_replicas
        if total > self.length:  # pad with the first items, as DistributedSampler does
            reps = -(-total // max(self.length, 1))
            order = order.repeat(reps)
        order = order[:total]
        return order, item_seeds[order]

    def __len__(self) -> int:
        return self.per_rank

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order, item_seeds = self.global_order(self.epoch)
        mine = slice(self.rank + self.skip * self.num_replicas, None, self.num_replicas)
        pairs = list(zip(order[mine].tolist(), item_seeds[mine].tolist(), strict=True))
        self.epoch += 1
        self.skip = 0
        return iter(pairs)

    def state_dict(self) -> dict[str, int]:
        """Where the next pass starts: ``{"epoch", "skip"}``."""
        return {"epoch": self.epoch, "skip": self.skip}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.set_epoch(int(state["epoch"]), int(state.get("skip", 0)))


class SeededSamples(Dataset):
    """``dataset`` read with ``(index, item_seed)`` keys: torch's CPU generator is seeded with
    ``item_seed`` while the item loads (its transform runs) and restored afterwards. A plain integer key
    reads the item with the generator as it is. Other attributes are looked up on ``dataset``."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: int | tuple[int, int]) -> Any:
        if not isinstance(key, tuple):
            return self.dataset[key]
        index, item_seed = key
        gen = torch.default_generator
        saved = gen.get_state()
        gen.manual_seed(int(item_seed))
        try:
            return self.dataset[int(index)]
        finally:
            gen.set_state(saved)

    def __getattr__(self, name: str) -> Any:
        # "dataset" is not set yet while unpickling; dunders (``__getitems__`` of a Subset, which would
        # receive the pairs) are never forwarded
        if name == "dataset" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.dataset, name)


class BatchShareSampler(Sampler[int]):
    """This rank's contiguous share of every global batch that ``base`` (a one-process sampler) orders.

    Each pass draws ``base``'s whole order once (consuming its generator exactly as the one-process run
    does), cuts it into global batches of ``global_batch`` items and gives rank ``r`` of ``W`` the slice
    ``[⌊r·m/W⌋, ⌊(r+1)·m/W⌋)`` of each batch of ``m`` items. With a per-rank batch of ``global_batch / W``
    the ranks' batches of step ``k``, concatenated in rank order, are exactly the one-process run's batch
    ``k``, also the last, shorter one (whose shares may differ in size by one; a last batch of fewer than ``W``
    items leaves some ranks one batch short, which a caller that steps collectively must refuse).
    ``generator`` is ``base``'s.
    """

    def __init__(self, base: Sampler[int], global_batch: int, num_replicas: int, rank: int) -> None:
        if global_batch < 1 or num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"bad share: global batch {global_batch}, rank {rank} of {num_replicas}")
        if global_batch % num_replicas:
            raise ValueError(f"a global batch of {global_batch} does not split over {num_replicas} ranks")
        self.base, self.global_batch = base, int(global_batch)
        self.num_replicas, self.rank = int(num_replicas), int(rank)

    @property
    def generator(self) -> torch.Generator | None:
        """The base sampler's generator (its state is what a resumed run restores)."""
        return getattr(self.base, "generator", None)

    def share(self, size: int) -> tuple[int, int]:
        """``(start, stop)`` of this rank's slice of a global batch of ``size`` items."""
        return self.rank * size // self.num_replicas, (self.rank + 1) * size // self.num_replicas

    def __len__(self) -> int:
        total = len(self.base)  # type: ignore[arg-type]
        full, last = divmod(total, self.global_batch)
        start, stop = self.share(last)
        return full * (self.global_batch // self.num_replicas) + stop - start

    def share_weight(self, step: int) -> float:
        """``W·n_r/m`` for this rank's batch ``step``: its ``n_r`` of the step's ``m`` images over ``W`` ranks
        (1.0 where the global batch splits evenly). A rank's mean loss times this, averaged over the ranks by
        DDP, is the one-process batch's mean loss."""
        total = len(self.base)  # type: ignore[arg-type]
        m = min(self.global_batch, total - step * self.global_batch)
        if m <= 0 or m % self.num_replicas == 0:
            return 1.0
        start, stop = self.share(m)
        return self.num_replicas * (stop - start) / m

    def __iter__(self) -> Iterator[int]:
        order = list(self.base)
        for begin in range(0, len(order), self.global_batch):
            batch = order[begin : begin + self.global_batch]
            start, stop = self.share(len(batch))
            yield from batch[start:stop]


class SeededOrder(Sampler[tuple[int, int]]):
    """``base``'s order with an item seed per position: ``(index, item_seed)`` pairs for :class:`SeededSamples`.

    Pass ``p`` (counted from 0, or from :meth:`load_state_dict`) draws its item seeds from
    :func:`epoch_generator` ``(seed, p)``, never from ``base``'s generator, so ``base`` orders exactly as it
    would alone, and an item's augmentation depends on ``(seed, pass, position)`` only: not on the data-loader
    workers, nor on which DDP rank loads it (wrap this in :class:`BatchShareSampler` for the split).
    """

    def __init__(self, base: Sampler[int], seed: int) -> None:
        self.base, self.seed, self.passes = base, int(seed), 0

    @property
    def generator(self) -> torch.Generator | None:
        """The base sampler's generator."""
        return getattr(self.base, "generator", None)

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = list(self.base)
        seeds = torch.randint(0, _MASK63, (len(order),), generator=epoch_generator(self.seed, self.passes))
        self.passes += 1
        return iter(zip(order, seeds.tolist(), strict=True))


class ShardSampler(Sampler[int]):
    """Rank ``r`` of ``W``'s items ``r, r + W, r + 2W, ...`` of ``0 .. length - 1``, in order and without padding.

    For evaluation split over the ranks (summed counts): every item is read exactly once, where
    :class:`torch.utils.data.DistributedSampler` repeats the first items to equal the shares, which counts
    them twice. The shares may differ by one batch, so the loop over it must not step collectively.
    """

    def __init__(self, length: int, num_replicas: int, rank: int) -> None:
        if length < 0 or num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"bad shard: length {length}, rank {rank} of {num_replicas}")
        self.length, self.num_replicas, self.rank = int(length), int(num_replicas), int(rank)

    def __len__(self) -> int:
        return len(range(self.rank, self.length, self.num_replicas))

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.length, self.num_replicas))
