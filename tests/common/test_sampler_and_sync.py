"""common.data.EpochSampler / SeededSamples (order and augmentation as functions of (seed, epoch), the DDP split
of one global order) and the one-process behaviour of common.runtime.ddp_sync and the generator-state helpers."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn
from torchvision import transforms as T

from common import data as D
from common.runtime import rng_state, set_rng_state
from common.runtime.ddp_sync import GlobalBatchNorm, convert_sync_batchnorm, global_moments


def _pairs(sampler: D.EpochSampler) -> list[tuple[int, int]]:
    return list(iter(sampler))


@pytest.mark.parametrize("n,world,batch", [(80, 2, 8), (83, 2, 8), (83, 3, 5), (10, 4, 1)])
def test_rank_batches_make_up_the_one_process_batches(n: int, world: int, batch: int) -> None:
    one = _pairs(D.EpochSampler(n, 7))
    ranks = [_pairs(D.EpochSampler(n, 7, num_replicas=world, rank=r)) for r in range(world)]
    assert sorted(i for i, _ in one) == list(range(n))
    assert len({len(r) for r in ranks}) == 1 and len(ranks[0]) * world >= n  # padded to equal shares
    steps = n // (world * batch)  # global steps every rank fills completely
    for k in range(steps):
        union = sorted(p for r in ranks for p in r[k * batch : (k + 1) * batch])
        assert union == sorted(one[k * world * batch : (k + 1) * world * batch])  # same items, same seeds


@pytest.mark.parametrize("n,world,batch", [(83, 2, 8), (83, 3, 5), (11, 2, 2), (47, 2, 8), (80, 2, 8)])
def test_uneven_split_is_exact_and_weighted_to_the_one_process_mean(n: int, world: int, batch: int) -> None:
    """Given the per-rank batch, a length that the ranks do not divide is split without repeats; the ranks' batches
    of every step, the last included, are the one-process batch, and DDP's average of the weighted rank means
    is that batch's mean."""
    one = _pairs(D.EpochSampler(n, 7))
    samplers = [D.EpochSampler(n, 7, num_replicas=world, rank=r, batch_size=batch) for r in range(world)]
    ranks = [_pairs(s) for s in samplers]
    steps = -(-n // (world * batch))
    assert sum(len(r) for r in ranks) == n and all(s.padded == 0 for s in samplers)
    assert all(-(-len(r) // batch) == steps for r in ranks)  # every rank takes part in every step
    values = torch.randn(n, dtype=torch.float64, generator=torch.Generator().manual_seed(n))
    for k in range(steps):
        parts = [r[k * batch : (k + 1) * batch] for r in ranks]
        global_batch = one[k * world * batch : (k + 1) * world * batch]
        assert sorted(p for part in parts for p in part) == sorted(global_batch)  # same items, same seeds
        ddp = (
            sum(
                s.share_weight(k) * values[[i for i, _ in part]].mean()
                for s, part in zip(samplers, parts, strict=True)
            )
            / world
        )
        assert float(ddp) == pytest.approx(float(values[[i for i, _ in global_batch]].mean()), rel=1e-12)
        if len({len(part) for part in parts}) > 1:
            assert samplers[0].global_batch(k) == len(global_batch) and samplers[0].share_weight(k) > 1
        else:
            assert all(s.share_weight(k) == 1.0 and s.global_batch(k) is None for s in samplers)
    skipped = D.EpochSampler(n, 7, num_replicas=world, rank=world - 1, batch_size=batch)
    skipped.set_epoch(0, skip=batch)
    assert _pairs(skipped) == ranks[-1][batch:]  # a mid-epoch resume takes the rest of this rank's share


@pytest.mark.parametrize("n,world,batch", [(38, 4, 3), (9, 2, 2)])
def test_a_last_batch_smaller_than_the_world_is_padded(n: int, world: int, batch: int) -> None:
    """Where the last global batch has fewer items than ranks, some rank would miss a step (each is a collective):
    the order is padded with its first items as DistributedSampler pads, and every weight is 1."""
    samplers = [D.EpochSampler(n, 7, num_replicas=world, rank=r, batch_size=batch) for r in range(world)]
    assert {len(s) for s in samplers} == {-(-n // world)}
    assert samplers[0].padded == -n % world > 0
    steps = -(-len(samplers[0]) // batch)
    assert all(s.share_weight(k) == 1.0 and s.global_batch(k) is None for s in samplers for k in range(steps))


def test_order_is_a_function_of_seed_and_epoch_only() -> None:
    a, b = D.EpochSampler(50, 1), D.EpochSampler(50, 1)
    first, second = _pairs(a), _pairs(a)  # a pass without set_epoch takes the next epoch
    assert first != second and [i for i, _ in first] != [i for i, _ in second]
    b.set_epoch(1)
    assert _pairs(b) == second
    b.set_epoch(0)
    assert _pairs(b) == first
    assert _pairs(D.EpochSampler(50, 2)) != first
    c = D.EpochSampler(50, 1)
    c.set_epoch(1, skip=7)
    assert _pairs(c) == second[7:] and len(c) == 50  # the skip applies to one pass; len is the full share
    state = c.state_dict()
    d = D.EpochSampler(50, 1)
    d.load_state_dict(state)
    assert _pairs(d) == _pairs(c)


def test_augmentation_depends_on_the_item_and_epoch_not_on_the_generator_or_split() -> None:
    crop = T.Compose([T.ToTensor(), T.RandomCrop(4, padding=2)])
    ds = D.SyntheticDataset(12, image_size=4, transform=crop)
    one, _ = D.build_loaders(ds, None, 4, 0, seed=3)
    two = [D.build_loaders(ds, None, 2, 0, True, 3, num_replicas=2, rank=r)[0] for r in range(2)]
    torch.manual_seed(123)
    x1, _ = next(iter(one))
    torch.manual_seed(999)  # the global generator does not matter...
    before = torch.get_rng_state()
    xr = [next(iter(loader))[0] for loader in two]
    assert torch.equal(torch.get_rng_state(), before)  # ...and is left as it was
    assert torch.equal(x1[0::2], xr[0]) and torch.equal(x1[1::2], xr[1])
    D.set_loader_epoch(one, 1)
    assert not torch.equal(next(iter(one))[0], x1)  # the next epoch crops anew


def test_set_loader_epoch_skips_batches() -> None:
    ds = D.SyntheticDataset(20, image_size=4, transform=T.ToTensor())
    loader, _ = D.build_loaders(ds, None, 4, 0, seed=0)
    D.set_loader_epoch(loader, 2)
    whole = [y for _, y in loader]
    D.set_loader_epoch(loader, 2, skip_batches=3)
    rest = [y for _, y in loader]
    assert (
        len(whole) == 5
        and len(rest) == 2
        and all(torch.equal(a, b) for a, b in zip(whole[3:], rest, strict=True))
    )


def test_global_batchnorm_alone_matches_batchnorm_and_keeps_its_keys() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.BatchNorm1d(64))
    keys = set(model.state_dict())
    bn = nn.BatchNorm2d(4)
    bn.load_state_dict(model[1].state_dict())
    model, n = convert_sync_batchnorm(model, "cpu")
    assert n == 2 and isinstance(model[1], GlobalBatchNorm) and isinstance(model[4], GlobalBatchNorm)
    assert set(model.state_dict()) == keys
    x = torch.randn(6, 4, 5, 5, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    got, want = model[1](x), bn(x2)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    got.square().sum().backward()
    want.square().sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(model[1].running_var, bn.running_var, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(model[1].running_mean, bn.running_mean, rtol=1e-6, atol=1e-7)
    model.eval()
    bn.eval()
    torch.testing.assert_close(model[1](x), bn(x))


def test_global_moments_alone() -> None:
    x = torch.randn(5, 3, 4, 4, dtype=torch.float32)
    mean, m2, n = global_moments(x, (0, 2, 3))
    assert n == 80 and mean.dtype == torch.float64
    torch.testing.assert_close(mean.float(), x.mean((0, 2, 3)))
    torch.testing.assert_close((m2 / (n - 1)).float(), x.var((0, 2, 3)))


def test_rng_state_round_trip_covers_python_numpy_and_torch(tmp_path) -> None:
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    saved = rng_state()
    torch.save(saved, tmp_path / "s.pt")
    first = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    set_rng_state(torch.load(tmp_path / "s.pt", weights_only=True))
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == first


@pytest.mark.parametrize("n,world,batch", [(100, 2, 32), (70, 4, 16), (41, 3, 12)])
def test_batch_shares_concatenate_to_the_one_process_batches(n: int, world: int, batch: int) -> None:
    """Rank shares of BatchShareSampler, batched at batch/W and concatenated in rank order, are the one-process
    batches, the last shorter one too; the base generator is drawn as in one process."""
    one = list(iter(torch.utils.data.BatchSampler(_subset(n, 3), batch, drop_last=False)))
    per_rank = []
    for r in range(world):
        share = D.BatchShareSampler(_subset(n, 3), batch, world, r)
        items = list(iter(share))
        assert len(items) == len(share)
        per_rank.append(list(iter(torch.utils.data.BatchSampler(items, batch // world, drop_last=False))))
    assert {len(b) for b in per_rank} == {len(one)}
    values = torch.randn(200, dtype=torch.float64, generator=torch.Generator().manual_seed(n))
    for k, want in enumerate(one):
        assert [i for r in range(world) for i in per_rank[r][k]] == want
        # DDP's average of the weighted rank means is the one-process batch's mean, the uneven last step too
        weights = [D.BatchShareSampler(_subset(n, 3), batch, world, r).share_weight(k) for r in range(world)]
        ddp = sum(w * values[per_rank[r][k]].mean() for r, w in enumerate(weights)) / world
        assert float(ddp) == pytest.approx(float(values[want].mean()), rel=1e-12)
    with pytest.raises(ValueError, match="does not split"):
        D.BatchShareSampler(_subset(n, 3), 10, 3, 0)


def _subset(n: int, seed: int) -> torch.utils.data.SubsetRandomSampler:
    return torch.utils.data.SubsetRandomSampler(
        list(range(100, 100 + n)), generator=torch.Generator().manual_seed(seed)
    )


def test_seeded_order_keeps_the_base_order_and_draws_item_seeds_per_pass() -> None:
    base, plain = _subset(40, 9), _subset(40, 9)
    seeded = D.SeededOrder(base, seed=4)
    first, second = list(iter(seeded)), list(iter(seeded))
    assert [i for i, _ in first] == list(iter(plain)) and [i for i, _ in second] == list(iter(plain))
    assert seeded.passes == 2 and seeded.generator is base.generator
    again = D.SeededOrder(_subset(40, 9), seed=4)
    assert list(iter(again)) == first  # the seeds are a function of (seed, pass, position)
    assert [s for _, s in first] != [s for _, s in second]


def test_local_batch_statistics_makes_global_batchnorm_plain_for_the_block() -> None:
    """Inside the block a GlobalBatchNorm normalises as nn.BatchNorm2d (float32 kernel) and afterwards it is
    the float64 global one again; the running statistics move as plain BN's."""
    from common.runtime.ddp_sync import local_batch_statistics

    torch.manual_seed(0)
    x = torch.randn(6, 3, 5, 5) * 3 + 1
    model, _ = convert_sync_batchnorm(nn.Sequential(nn.BatchNorm2d(3)), "cpu")
    plain = nn.BatchNorm2d(3)
    with local_batch_statistics(model):
        assert "forward" in vars(model[0])
        assert torch.equal(model(x), plain(x))
    assert torch.equal(model[0].running_var, plain.running_var)
    assert "forward" not in vars(model[0]) and isinstance(model[0], GlobalBatchNorm)
