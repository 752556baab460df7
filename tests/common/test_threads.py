"""``--threads``: one flag that limits torch's intra-op pool and the BLAS pools together.

The suite's autouse ``restore_threads`` fixture (tests/conftest.py) puts the session's counts back after each test.
"""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

from common.runtime import UsageError, add_common_args, add_threads_arg, set_threads


def test_set_threads_limits_torch_and_blas() -> None:
    np.dot(np.ones((64, 64)), np.ones((64, 64)))  # make sure numpy's BLAS is loaded
    set_threads(1)
    assert torch.get_num_threads() == 1
    pools = threadpool_info()
    assert pools, "threadpoolctl found no thread pool at all"
    assert all(pool["num_threads"] == 1 for pool in pools), pools


def test_zero_leaves_defaults() -> None:
    torch.set_num_threads(2)
    set_threads(0)
    set_threads(None)
    assert torch.get_num_threads() == 2


def test_negative_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--threads"):
        set_threads(-1)


def test_flag_added_once_by_both_helpers() -> None:
    p = argparse.ArgumentParser()
    add_threads_arg(p)
    add_common_args(p)  # must not add a second --threads
    assert p.parse_args(["--threads", "3"]).threads == 3
    q = add_common_args(argparse.ArgumentParser())
    assert q.parse_args([]).threads == 0


@pytest.mark.parametrize(
    "module",
    [
        "hawq.quant_train",
        "hawq.hessian",
        "hawq.search",
        "haq.rl_quantize",
        "haq.finetune",
        "haq.pretrain",
        "haq.lib.simulator.build_table",
        "hmq.main",
        "reproduce.baseline_digits",
        "reproduce.compare.run",
        "proqha.utils.options",
        "ompq.mixed_bit.feature_extract",
        "ompq.QAT.quant_train",
        "ompq.PTQ.main_imagenet",
    ],
)
def test_entrypoints_take_threads(module: str) -> None:
    import importlib

    mod = importlib.import_module(module)
    parser = mod.build_parser("prog") if module.startswith("proqha") else mod.build_parser()
    assert "--threads" in parser._option_string_actions, module
