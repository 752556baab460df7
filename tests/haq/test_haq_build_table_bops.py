"""``build_table --mode bops``: a 'latency' table whose entries are the bit operations MACs·w·a."""

from __future__ import annotations

import numpy as np

from common.layers import enumerate_arch
from haq.lib.env.budget import latency_cost
from haq.lib.simulator import build_table


def test_bops_table_is_macs_times_bits(tmp_path) -> None:
    path = build_table.main(
        ["--arch", "qtiny_resnet", "--dataset", "digits", "--mode", "bops", "--out", str(tmp_path / "b.npy")]
    )
    table = np.load(path)
    macs = np.array([l.macs for l in enumerate_arch("tiny_resnet", 32, 10)], dtype=np.int64)
    assert table.shape == (13, 8, 8) and table.dtype == np.int64
    w, a = np.meshgrid(np.arange(1, 9), np.arange(1, 9), indexing="ij")
    assert (table == macs[:, None, None] * (w * a)[None]).all()
    # a strategy's HAQ cost is its BOPs; a = -1 (first layer) reads the 7-bit column
    strategy = [[8, -1]] + [[3, 5]] * 11 + [[8, 8]]
    expected = macs[0] * 56 + 15 * macs[1:-1].sum() + 64 * macs[-1]
    assert latency_cost(strategy, table) == expected


def test_bops_table_ignores_the_batch(tmp_path) -> None:
    argv = ["--arch", "qtiny_resnet", "--dataset", "digits", "--mode", "bops"]
    one = np.load(build_table.main([*argv, "--batch", "1", "--out", str(tmp_path / "1.npy")]))
    many = np.load(build_table.main([*argv, "--batch", "16", "--out", str(tmp_path / "16.npy")]))
    assert (one == many).all()
