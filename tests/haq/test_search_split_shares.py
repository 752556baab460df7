"""The search split under torchrun (haq.lib.utils.data_utils.get_split_train_dataset with ``num_replicas``): the
ranks' batches, concatenated in rank order, are the one-process batches, images and random crops included, and
a global batch that does not split, or a last training batch smaller than the process count, is refused."""

from __future__ import annotations

import pytest
import torch

from common.runtime import UsageError
from haq.lib.utils.data_utils import data_setup, get_split_train_dataset

SETUP = data_setup("digits", "digits", 32)


def _batches(loader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x.clone(), y.clone()) for x, y in loader]


@pytest.mark.parametrize("workers", [0, 2])
def test_rank_batches_are_the_one_process_batches(workers: int) -> None:
    """Two passes each (the second reshuffles and redraws the crops); 100 training images in batches of 32 end in
    a batch of 4, split 2 + 2. Loader workers do not change the crops (one process reads with none)."""
    one_train, one_val = get_split_train_dataset(SETUP, 32, 0, 40, 100, seed=3)
    want = [_batches(one_train) for _ in range(2)], _batches(one_val)
    ranks = [
        get_split_train_dataset(SETUP, 32, workers, 40, 100, seed=3, num_replicas=2, rank=r) for r in range(2)
    ]
    got = [[_batches(train) for _ in range(2)] for train, _ in ranks], [_batches(val) for _, val in ranks]
    for p in range(2):
        assert len(want[0][p]) == len(got[0][0][p]) == len(got[0][1][p]) == 4
        for k, (x, y) in enumerate(want[0][p]):
            parts = [got[0][r][p][k] for r in range(2)]
            assert [len(part[1]) for part in parts] == [len(y) // 2, len(y) - len(y) // 2]
            assert torch.equal(torch.cat([part[0] for part in parts]), x)
            assert torch.equal(torch.cat([part[1] for part in parts]), y)
    assert not torch.equal(want[0][0][0][0], want[0][1][0][0])  # the second pass is another order and crops
    val = [torch.cat([got[1][r][k][1] for r in range(2)]) for k in range(len(want[1]))]
    assert all(torch.equal(v, y) for v, (_, y) in zip(val, want[1], strict=True))


def test_global_batch_that_does_not_split_is_refused() -> None:
    with pytest.raises(UsageError, match="does not split evenly over 3 processes"):
        get_split_train_dataset(SETUP, 32, 0, 40, 100, num_replicas=3, rank=0)


def test_last_training_batch_smaller_than_the_processes_is_refused() -> None:
    with pytest.raises(UsageError, match="ends in a batch of 1, fewer than the 2 processes"):
        get_split_train_dataset(SETUP, 32, 0, 40, 97, num_replicas=2, rank=0)
