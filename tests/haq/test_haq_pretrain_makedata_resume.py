"""pretrain.py on digits, the ImageNet-100 symlink builder, and resuming a search from search_state.pth."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Subset, SubsetRandomSampler

from common.data import SeededOrder
from common.runtime import load_checkpoint, run_main
from haq import finetune, pretrain, rl_quantize
from haq.lib.rl.ddpg import DDPG
from haq.lib.utils import make_data
from haq.models import build_haq_model

SEARCH = ["--arch", "tiny_resnet", "--dataset", "digits", "--pretrained", "none", "--preserve_ratio", "0.1", "--max_bit", "4",
          "--warmup", "0", "--train_size", "32", "--val_size", "16", "--data_bsize", "16", "--n_worker", "0",
          "--bsize", "4", "--seed", "5", "--device", "cpu"]  # fmt: skip


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _small_digits(monkeypatch: pytest.MonkeyPatch, n_train: int, n_val: int) -> None:
    """pretrain.py has no train-size flag: keep the first images of the real digits splits."""
    real = finetune.build_datasets

    def build(*args, **kwargs):
        train, val, info = real(*args, **kwargs)
        assert len(train) > n_train and len(val) > n_val
        return Subset(train, range(n_train)), Subset(val, range(n_val)), info

    monkeypatch.setattr(finetune, "build_datasets", build)


def test_pretrain_one_epoch_on_digits_writes_a_loadable_checkpoint(tmp_path: Path, monkeypatch) -> None:
    _small_digits(monkeypatch, 256, 128)
    out = tmp_path / "ckpt"
    argv = ["-a", "tiny_resnet", "-d", "digits", "--data_name", "digits", "-j", "0", "--epochs", "1",
            "--train_batch", "256", "--lr", "0.05", "--manualSeed", "1", "--device", "cpu", "-c", str(out)]  # fmt: skip
    res = pretrain.main(argv)
    ckpt = load_checkpoint(out / "checkpoint.pth.tar")
    assert ckpt["epoch"] == 1 and ckpt["best_acc"] == pytest.approx(res["best_acc"])
    assert not any(k.startswith("module.") for k in ckpt["state_dict"])
    # The saved weights are the trained ones: they differ from a fresh model and reproduce best_acc.
    fresh = build_haq_model("tiny_resnet", 10, pretrained=False).state_dict()
    assert set(ckpt["state_dict"]) == set(fresh)
    moved = [
        k for k, v in fresh.items() if v.is_floating_point() and not torch.equal(v, ckpt["state_dict"][k])
    ]
    assert moved
    assert len(_rows(out / "epochs.csv")) == 1 and (out / "final.json").is_file()
    stats = pretrain.main([*argv[:-2], "--resume", str(out / "checkpoint.pth.tar"), "-e"])
    assert stats["top1"] == pytest.approx(res["best_acc"], abs=1e-6)


def test_pretrain_rejects_a_quantized_arch(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        run_main(pretrain.main, ["-a", "qtiny_resnet", "-d", "digits", "-c", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and "qtiny_resnet" in err[0]
    assert not (tmp_path / "o").exists()


def _fake_imagenet(root: Path, wnids: list[str]) -> None:
    for split in ("train", "val"):
        for wnid in wnids:
            folder = root / split / wnid
            folder.mkdir(parents=True)
            (folder / f"{wnid}_0.JPEG").write_bytes(b"x")


def test_make_data_links_the_listed_subset(tmp_path: Path, capsys) -> None:
    listed = make_data.read_classes()
    assert len(listed) == 100 and len(set(listed)) == 100
    chosen, extra = listed[:3], "n99999999"
    src, dst = tmp_path / "imagenet", tmp_path / "imagenet100"
    _fake_imagenet(src, [*chosen, extra])
    classes = tmp_path / "classes.txt"
    classes.write_text("".join(f"{w} some description\n" for w in chosen))
    argv = ["--src", str(src), "--dst", str(dst), "--classes", str(classes)]
    assert run_main(make_data.main, argv) == 0
    assert "linked 6 class folders" in capsys.readouterr().out
    for split in ("train", "val"):
        assert sorted(p.name for p in (dst / split).iterdir()) == sorted(chosen)
        for wnid in chosen:
            link = dst / split / wnid
            assert link.is_symlink() and Path(os.readlink(link)) == (src / split / wnid).resolve()
            assert (link / f"{wnid}_0.JPEG").is_file()
    # Running again leaves the correct links alone and makes none.
    assert run_main(make_data.main, argv) == 0
    assert "linked 0 class folders" in capsys.readouterr().out


def test_make_data_missing_class_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    src, dst = tmp_path / "imagenet", tmp_path / "imagenet100"
    _fake_imagenet(src, ["n01440764", "n01443537"])
    for f in (src / "val" / "n01440764").iterdir():
        f.unlink()
    (src / "val" / "n01440764").rmdir()  # val lacks the first class
    classes = tmp_path / "classes.txt"
    classes.write_text("n01440764\nn01443537\n")
    with pytest.raises(SystemExit) as exc:
        run_main(make_data.main, ["--src", str(src), "--dst", str(dst), "--classes", str(classes)])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and "n01440764" in err[0] and "missing" in err[0]
    assert not dst.exists()  # checked before anything is created


def test_make_data_refuses_a_foreign_folder_in_the_way(tmp_path: Path, capsys) -> None:
    src, dst = tmp_path / "imagenet", tmp_path / "imagenet100"
    _fake_imagenet(src, ["n01440764"])
    (dst / "val" / "n01440764").mkdir(parents=True)
    classes = tmp_path / "classes.txt"
    classes.write_text("n01440764\n")
    with pytest.raises(SystemExit) as exc:
        run_main(make_data.main, ["--src", str(src), "--dst", str(dst), "--classes", str(classes)])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and "n01440764" in err[0]
    assert not (dst / "train").exists()


@pytest.fixture(scope="module")
def resumed_search(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, str]], dict]:
    """A 1-episode search, then the same search resumed from its state up to 2 episodes."""
    out = tmp_path_factory.mktemp("resumed")
    rl_quantize.main([*SEARCH, "--train_episode", "1", "--output", str(out)])
    run_dir = out / "tiny_resnet_digits"
    after_one = {
        "state_episode": load_checkpoint(run_dir / "search_state.pth")["episode"],
        "rows": [r["episode"] for r in _rows(run_dir / "epochs.csv")],
    }
    res = rl_quantize.main([*SEARCH, "--train_episode", "2", "--resume", "auto", "--output", str(out)])
    return run_dir, _rows(run_dir / "epochs.csv"), {**after_one, "result": res}


def test_search_resumes_from_its_saved_state(resumed_search) -> None:
    run_dir, rows, info = resumed_search
    assert info["state_episode"] == 1 and info["rows"] == ["0"]
    assert [r["episode"] for r in rows] == ["0", "1"]  # continued at 1, not restarted at 0
    state = load_checkpoint(run_dir / "search_state.pth")
    assert state["episode"] == 2 and info["result"]["episodes"] == 2
    # Both episodes' transitions are in the replay memory (13 layers + 1 terminal entry each).
    assert len(state["memory"]["rew"]) == 2 * 14
    assert "resumed at episode 1" in (run_dir / "log.txt").read_text()


def test_resumed_search_matches_an_uninterrupted_one(resumed_search, tmp_path: Path) -> None:
    """Agent noise, k-means seeds and the search split's sampling order all continue where they stopped."""
    _, rows, _ = resumed_search
    rl_quantize.main([*SEARCH, "--train_episode", "2", "--output", str(tmp_path)])
    ref = _rows(tmp_path / "tiny_resnet_digits" / "epochs.csv")
    assert [r["strategy"] for r in rows] == [r["strategy"] for r in ref]
    for key in ("reward", "accuracy", "w_ratio"):
        assert [float(r[key]) for r in rows] == pytest.approx([float(r[key]) for r in ref], abs=1e-9), key


class _Keys(torch.utils.data.Dataset):
    """Returns its key: the (index, item seed) pairs the search split's sampler hands out."""

    def __len__(self) -> int:
        return 20

    def __getitem__(self, key: tuple[int, int]) -> tuple[int, int]:
        return key


def _split_like_loader() -> DataLoader:
    """The sampler chain of the search split's training loader: a seeded SubsetRandomSampler, item seeds per pass."""
    base = SubsetRandomSampler(range(20), generator=torch.Generator().manual_seed(3))
    return DataLoader(_Keys(), batch_size=5, sampler=SeededOrder(base, seed=3))


def _pass(loader: DataLoader) -> list[list[list[int]]]:
    return [[part.tolist() for part in batch] for batch in loader]


def test_search_state_round_trips_the_episode_counter_and_sampling_order(tmp_path: Path) -> None:
    """save/load_search_state carry the k-means seed counter, the search split's sampler generator and its pass
    count (the random crops of the next pass)."""
    args = rl_quantize.build_parser().parse_args(["--bsize", "2", "--rmsize", "8", "--seed", "3"])
    loader = _split_like_loader()
    saved_env = SimpleNamespace(
        layer_embedding=np.random.RandomState(0).rand(4, 3),
        evaluate=SimpleNamespace(calls=0, train_loader=loader),
    )
    agent = DDPG(3, 1, args, device="cpu")
    for _ in range(3):  # three episodes: three k-means seeds used, the sampler advanced three epochs
        saved_env.evaluate.calls += 1
        list(loader)
    rl_quantize.save_search_state(tmp_path / "s.pth", agent, saved_env, 3, (0.5, [2, 3]))
    expected_next_epoch = _pass(loader)

    fresh = _split_like_loader()
    env = SimpleNamespace(
        layer_embedding=np.zeros((4, 3)), evaluate=SimpleNamespace(calls=0, train_loader=fresh)
    )
    start, best = rl_quantize.load_search_state(tmp_path / "s.pth", DDPG(3, 1, args, device="cpu"), env)
    assert start == 3 and best == (0.5, [2, 3])
    assert env.evaluate.calls == 3
    assert _pass(fresh) == expected_next_epoch
    np.testing.assert_array_equal(env.layer_embedding, saved_env.layer_embedding)
