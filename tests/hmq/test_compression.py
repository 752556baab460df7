"""hmq.compression against golden/hmq/compression.npz and the schedules of golden_meta.json."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hmq.block import HMQ, HmqControl
from hmq.compression import (
    activation_bit_rule,
    compression_penalty,
    expected_weight_compression,
    weight_compression,
)
from hmq.schedules import ParetoBest, SingleBest, target_schedule, temperature_schedule

TOL = {"rtol": 1e-5, "atol": 1e-5}


@pytest.fixture()
def tiny_blocks(golden, golden_meta):
    g, meta = golden("compression"), golden_meta["compression"]
    blocks = []
    for layer in meta["weight_layers"]:
        block = HMQ(HmqControl(), signed=True, weight=torch.ones(layer["tensor_size"]))
        block.search_matrix.data.copy_(g[f"sm_{layer['name']}"])
        blocks.append(block)
    return blocks, meta


def test_expected_and_hard_compression(tiny_blocks) -> None:
    blocks, meta = tiny_blocks
    for block, layer in zip(blocks, meta["weight_layers"], strict=True):
        assert float(block.expected_bits().detach()) == pytest.approx(layer["expected_bits"], rel=1e-6)
        assert block.bit_width() == layer["argmax_bits"]
    assert float(expected_weight_compression(blocks).detach()) == pytest.approx(
        meta["expected_weight_compression"], rel=1e-6
    )
    assert weight_compression(blocks) == pytest.approx(meta["hard_weight_compression"], rel=1e-12)


def test_penalty_values_and_gradients(golden, tiny_blocks) -> None:
    blocks, meta = tiny_blocks
    g = golden("compression")
    for case in meta["losses"]:
        for b in blocks:
            b.search_matrix.grad = None
        loss = compression_penalty(
            expected_weight_compression(blocks), case["target"], case["gamma"], case["gamma_rate"]
        )
        assert float(loss.detach()) == pytest.approx(case["loss"], rel=1e-5, abs=1e-6)
        loss.backward()
        for b, layer in zip(blocks, meta["weight_layers"], strict=True):
            grad = b.search_matrix.grad if b.search_matrix.grad is not None else torch.zeros(1, 8, 8, 1)
            torch.testing.assert_close(grad, g[f"grad_{case['key']}_{layer['name']}"], **TOL)


def test_activation_bit_rule(golden_meta) -> None:
    meta = golden_meta["compression"]
    names = [a["name"] for a in meta["activation_layers"]]
    sizes = [a["tensor_size"] for a in meta["activation_layers"]]
    for target, expected in meta["activation_bit_rule"].items():
        bits = activation_bit_rule(sizes, float(target), 4, 8)
        assert bits == [expected[n] for n in names]
        acr = 32 * max(sizes) / max(b * s for b, s in zip(bits, sizes, strict=True))
        assert acr == pytest.approx(expected["activation_max_compression"])


@pytest.mark.parametrize("n_batches", [5005, 626, 196])
def test_temperature_schedule(golden_meta, n_batches) -> None:
    meta = golden_meta["schedules"][f"temperature_N{n_batches}"]
    tau = temperature_schedule(n_batches)
    for j, value in meta["values"].items():
        assert tau(int(j)) == pytest.approx(value, rel=1e-12)
    assert tau(-1) == meta["value_at_-1"]


def test_temperature_nan_quirk_below_13_batches() -> None:
    tau = temperature_schedule(12)
    assert np.isnan(tau(0)) and np.isnan(tau(60)) and tau(1) == 0.5
    fixed = temperature_schedule(12, fix_small_epochs=True)
    assert fixed(0) == 1.0 and fixed(1) == pytest.approx(np.exp(-0.01))


@pytest.mark.parametrize("target", [8.0, 12.0, 14.0, 16.0, 17.0])
def test_target_schedule(golden_meta, target) -> None:
    expected = golden_meta["schedules"][f"target_{target}"]
    f = target_schedule(target)
    assert [f(e) for e in range(len(expected))] == pytest.approx(expected)


def test_pareto_and_single_best(golden_meta) -> None:
    meta = golden_meta["schedules"]
    pb = ParetoBest()
    assert [pb.update(w, a) for w, a in meta["pareto_best"]["sequence(wc,acc)"]] == meta["pareto_best"][
        "saved"
    ]
    sb = SingleBest()
    assert [sb.update(a) for a in meta["single_best"]["sequence"]] == meta["single_best"]["saved"]
