"""The optional NVIDIA DALI loaders (common.data.dali) on the CPU, and HAWQ-V3's QAT reading through them.

The tests that run DALI are skipped where it is not installed (``pip install -e '.[dali]'``); the one-line errors
are checked everywhere.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch
from bad_input import run_bad
from fake_data import fake_image_folder

from common.data import dali
from common.data.transforms import build_transforms
from common.runtime import UsageError

needs_dali = pytest.mark.skipif(not dali.dali_available(), reason="NVIDIA DALI is not installed")
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes, 3 training and 2 validation JPEGs each, 48 px."""
    return fake_image_folder(tmp_path_factory.mktemp("dali") / "data", classes=3, train=3, val=2, size=48)


def _loaders(folder: Path, rank: int = 0, world: int = 1) -> tuple[dali.DaliLoader, dali.DaliLoader]:
    return dali.build_dali_loaders(
        folder, preset="imagenet", image_size=32, batch_size=2, threads=1, device=CPU, rank=rank, world=world
    )


@needs_dali
def test_validation_matches_torchvision_eval_transform(folder: Path) -> None:
    """Resize of the shorter side to int(32/0.875) = 36, centre crop 32, ImageNet mean/std: the images of the
    torchvision path up to the resampling (mean |difference| 0.0025 measured, the images' std 0.44), the same
    labels in the same order, each image once."""
    from torchvision.datasets import ImageFolder

    _, val = _loaders(folder)
    reference = ImageFolder(str(folder / "val"), transform=build_transforms("imagenet", False, 32))
    want_x = torch.stack([reference[i][0] for i in range(len(reference))])
    want_y = [reference[i][1] for i in range(len(reference))]
    for _ in range(2):  # a second pass reads the same
        batches = list(val)
        x = torch.cat([b[0] for b in batches])
        y = torch.cat([b[1] for b in batches])
        assert x.shape == (6, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
        assert y.tolist() == want_y
        assert float((x - want_x).abs().mean()) < 0.01
    assert len(val) == 3 and len(val.dataset) == 6 and val.classes == reference.classes


@needs_dali
@pytest.mark.parametrize("world", [1, 2, 4])
def test_training_shards_cover_the_set_with_equal_step_counts(folder: Path, world: int) -> None:
    """Every rank takes the same number of steps (a collective each). One process reads each of the 9 images once
    (3 of every class, a last batch of 1); several processes read full batches, DALI repeating a shard's last
    image to fill them, so every class appears at least its 3 times."""
    counts: Counter[int] = Counter()
    steps = set()
    for rank in range(world):
        train, _ = _loaders(folder, rank, world)
        for _ in range(2):
            batches = list(train)
            steps.add(len(batches))
            assert len(batches) == len(train)
            for x, y in batches:
                assert x.shape[1:] == (3, 32, 32) and 0 <= int(y.min()) and int(y.max()) < 3
                assert len(y) == 2 or world == 1
        counts.update(torch.cat([y for _, y in batches]).tolist())
    assert len(steps) == 1
    if world == 1:
        assert counts == {0: 3, 1: 3, 2: 3}
    else:
        assert sum(counts.values()) == world * steps.pop() * 2 and min(counts[c] for c in range(3)) >= 3


@needs_dali
def test_resume_skips_batches_of_the_next_pass(folder: Path) -> None:
    from common.data import set_loader_epoch

    train, _ = _loaders(folder)
    set_loader_epoch(train, 3, skip_batches=2)
    assert len(list(train)) == len(train) - 2 == 3
    assert len(list(train)) == 5  # only the next pass skips
    with pytest.raises(ValueError):
        train.set_epoch(0, 6)


@needs_dali
def test_quant_train_reads_through_dali(folder: Path, tmp_path: Path) -> None:
    """HAWQ-V3's QAT for one epoch with --dali on the CPU: it trains, validates all 6 images and writes its run."""
    from common.runtime import run_main
    from hawq import quant_train

    out = tmp_path / "run"
    argv = [
        "-a",
        "resnet18",
        "--data",
        str(folder),
        "--dali",
        "--image-size",
        "32",
        "--epochs",
        "1",
        "-b",
        "3",
    ]
    argv += [
        "--lr",
        "0.01",
        "-j",
        "1",
        "--quant-scheme",
        "uniform8",
        "--device",
        "cpu",
        "--save-path",
        f"{out}/",
        "--threads",
        "1",
    ]
    run_main(quant_train.main, argv)
    final = json.loads((out / "final.json").read_text())
    assert 0 <= final["best_acc1"] <= 100 and (out / "quantized_checkpoint.pth.tar").is_file()


def test_dali_errors_are_one_line(folder: Path, tmp_path: Path, capsys, monkeypatch) -> None:  # noqa: ANN001
    from hawq import quant_train

    base = ["-a", "resnet18", "--epochs", "1", "--device", "cpu", "--save-path", f"{tmp_path}/r/", "--dali"]
    assert "--dali reads an ImageFolder root" in run_bad(
        quant_train.main, [*base, "--data", "digits"], capsys
    )
    monkeypatch.setattr(dali, "dali_available", lambda: False)
    line = run_bad(quant_train.main, [*base, "--data", str(folder)], capsys)
    assert "--dali needs NVIDIA DALI" in line
    with pytest.raises(UsageError, match="train/ and val/"):
        monkeypatch.setattr(dali, "dali_available", lambda: True)
        dali.build_dali_loaders(
            tmp_path, preset="imagenet", image_size=32, batch_size=2, threads=1, device=CPU
        )


def test_ompq_qat_takes_the_flag() -> None:
    from ompq.QAT import quant_train

    assert quant_train.build_parser().parse_args(["--data", "x", "--dali"]).dali is True
