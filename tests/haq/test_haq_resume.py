"""Kill-and-resume of ``finetune.py`` (K-means) and ``pretrain.py``: a run killed after an epoch's checkpoint and
continued with ``--resume`` ends with the uninterrupted run's weights, bit for bit; under torchrun both refuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from torch.utils.data import Subset

from common.runtime import load_checkpoint
from haq import finetune, pretrain
from haq.lib.utils import fit as fit_module

STRATEGY = json.dumps([2, 3, 3, 4, 4, 2, 2, 3, 3, 4, 4, 2, 8])
COMMON = ["-a", "tiny_resnet", "-d", "digits", "--data_name", "digits", "-j", "0", "--manualSeed", "7"]
COMMON += ["--train_batch", "32", "--lr", "0.05", "--device", "cpu", "--threads", "1", "--epochs", "3"]


@pytest.fixture
def small_digits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first 96 training and 64 validation digits (the entrypoints have no train-size flag)."""
    real = finetune.build_datasets

    def build(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        train, val, classes = real(*args, **kwargs)
        return Subset(train, range(96)), Subset(val, range(64)), classes

    monkeypatch.setattr(finetune, "build_datasets", build)


def _kill_and_resume(entry, argv: list[str], tmp_path: Path, kill_switch) -> None:  # noqa: ANN001
    full, part = tmp_path / "full", tmp_path / "part"
    entry.main([*argv, "-c", str(full)])
    kill_switch.arm(fit_module, "checkpoint.pth.tar", count=1)  # fit() writes the checkpoints
    with pytest.raises(kill_switch.Killed):
        entry.main([*argv, "-c", str(part)])
    kill_switch.disarm()
    entry.main([*argv, "-c", str(part), "--resume", str(part / "checkpoint.pth.tar")])
    want = load_checkpoint(full / "checkpoint.pth.tar")
    got = load_checkpoint(part / "checkpoint.pth.tar")
    assert got["epoch"] == want["epoch"] == 3
    kill_switch.assert_same_tensors(got["state_dict"], want["state_dict"])


def test_finetune_kmeans_killed_after_an_epoch_resumes_bit_identically(
    small_digits, tmp_path, kill_switch
) -> None:
    _kill_and_resume(finetune, [*COMMON, "--strategy", STRATEGY], tmp_path, kill_switch)


def test_pretrain_killed_after_an_epoch_resumes_bit_identically(small_digits, tmp_path, kill_switch) -> None:
    _kill_and_resume(pretrain, COMMON, tmp_path, kill_switch)
