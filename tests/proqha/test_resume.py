"""Kill-and-resume of ``main/train.py`` and ``main/search.py``: a run killed after a checkpoint and restarted in
the same ``--out`` ends with the uninterrupted run's weights, bit for bit (both run under torchrun too:
tests/common/test_ddp_entrypoints.py)."""

from __future__ import annotations

import pytest

from common.runtime import load_checkpoint
from proqha.main import search, train

QUICK = ["--dataset", "digits", "--arch", "resnet20", "--num_layers", "8", "--data_dir", "digits"]
QUICK += ["--train_fraction", "0.05", "--train_batch_size", "32", "--eval_batch_size", "400"]
QUICK += ["--workers", "0"]
QUICK += ["--archtype", "quant", "--k_bits", "8", "--ratio", "1.0", "--seed", "3", "--threads", "1"]


def test_train_killed_after_an_epoch_resumes_bit_identically(tmp_path, kill_switch) -> None:
    argv = [*QUICK, "--lr", "0.01", "--train_epochs", "3"]
    full, part = tmp_path / "full", tmp_path / "part"
    assert train.main([*argv, "--out", str(full)]) == 0
    kill_switch.arm(train, "checkpoint.pt", count=1)
    with pytest.raises(kill_switch.Killed):
        train.main([*argv, "--out", str(part)])
    kill_switch.disarm()
    assert train.main([*argv, "--out", str(part)]) == 0  # continues from part/checkpoint/checkpoint.pt
    want = load_checkpoint(full / "checkpoint" / "checkpoint.pt")
    got = load_checkpoint(part / "checkpoint" / "checkpoint.pt")
    assert got["epoch"] == want["epoch"] == 3
    kill_switch.assert_same_tensors(got["state_dict"], want["state_dict"])


def test_search_killed_after_a_round_resumes_bit_identically(tmp_path, kill_switch) -> None:
    argv = [*QUICK, "--base_data_dir", "digits", "--step", "3", "--lam", "2", "--search_epochs", "2"]
    argv += ["--lr", "1e-3", "--ratio", "0.5", "--score_batch", "random"]
    full, part = tmp_path / "full", tmp_path / "part"
    assert search.main([*argv, "--out", str(full)]) == 0
    kill_switch.arm(search, "last.pt", count=1)
    with pytest.raises(kill_switch.Killed):
        search.main([*argv, "--out", str(part)])
    kill_switch.disarm()
    assert search.main([*argv, "--out", str(part)]) == 0
    want = load_checkpoint(full / "checkpoint" / "2.pt")
    got = load_checkpoint(part / "checkpoint" / "2.pt")
    assert got["kbits"] == want["kbits"]
    kill_switch.assert_same_tensors(got["state_dict"], want["state_dict"])
