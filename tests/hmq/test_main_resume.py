"""Kill-and-resume of ``hmq.main``: a run killed right after ``resume.pt`` (in the search or the fine-tune stage)
and continued with ``--resume`` ends with the uninterrupted run's weights and bit allocation, bit for bit."""

from __future__ import annotations

import pytest

import hmq.main as hmq_main
from common.bitconfig import read_bitconfig
from common.runtime import load_checkpoint

FAST = ["--dataset", "digits", "--data_dir", "digits", "--network_name", "tiny_resnet", "--image_size", "8"]
FAST += ["--batch_size", "16", "--num_workers", "0", "--cycle_size", "1", "--n_target_steps", "1"]
FAST += ["--target_compression", "8", "--gamma", "64", "--device", "cpu", "--train_fraction", "0.056"]
FAST += ["--threads", "1", "--seed", "4", "--n_epochs", "3", "--n_epochs_final", "2", "--fix_small_epochs"]


@pytest.mark.parametrize(
    "kill_after,extra",
    [(1, []), (4, ["--sync-noise"])],
    ids=["search_epoch_0", "final_epoch_0_shared_noise"],
)
def test_killed_run_resumes_bit_identically(kill_after, extra, tmp_path, kill_switch) -> None:
    full, part = tmp_path / "full", tmp_path / "part"
    hmq_main.main([*FAST, *extra, "--out", str(full)])
    kill_switch.arm(hmq_main, "resume.pt", count=kill_after)
    with pytest.raises(kill_switch.Killed):
        hmq_main.main([*FAST, *extra, "--out", str(part)])
    kill_switch.disarm()
    hmq_main.main([*FAST, *extra, "--out", str(part), "--resume", str(part / "resume.pt")])
    kill_switch.assert_same_tensors(
        load_checkpoint(part / "final_last.pt"), load_checkpoint(full / "final_last.pt")
    )
    want, got = read_bitconfig(full / "bitconfig.json"), read_bitconfig(part / "bitconfig.json")
    assert got.layers == want.layers
