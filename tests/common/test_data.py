"""Tests of common.data: embedded data, transforms, folders, CIFAR pickles, subsets, loaders, errors."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import SequentialSampler, Subset
from torchvision.transforms import InterpolationMode
from torchvision.transforms import transforms as T

import common.data as D
from common.data.__main__ import main as data_main

REPO = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------------------------- helpers


def _png(path: Path, size: int = 8, value: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((size, size, 3), value, dtype=np.uint8)
    arr[0, 0] = (255, 0, 0)
    Image.fromarray(arr).save(path)


def _tree(
    root: Path, classes: tuple[str, ...] = ("cat", "dog", "eel"), per_class: int = 3, val: str = "val"
) -> Path:
    for split, n in (("train", per_class), (val, 2)):
        for ci, c in enumerate(classes):
            for i in range(n):
                _png(root / split / c / f"img{i}.png", value=10 * ci + i)
    return root


def _assert_one_line(err: pytest.ExceptionInfo, path: Path | str) -> None:
    msg = str(err.value)
    assert "\n" not in msg
    assert os.fspath(path) in msg, msg


CIFAR_META = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _cifar_pickles(root: Path, per_batch: int = 4, n_test: int = 3) -> Path:
    base = root / D.CIFAR10_FOLDER
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for k, name in enumerate(batches):
        n = n_test if name == "test_batch" else per_batch
        entry = {
            "batch_label": f"batch {k}",
            "labels": [int(v) for v in rng.integers(0, 10, n)],
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            "filenames": [f"f{k}_{i}.png" for i in range(n)],
        }
        with open(base / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump(
            {"label_names": CIFAR_META, "num_cases_per_batch": per_batch, "num_vis": 3072}, f, protocol=2
        )
    return root


# ----------------------------------------------------------------------------------------------- digits


def test_digits_split_sizes_disjoint_and_deterministic():
    train, val = D.digits_split()
    assert (len(train), len(val)) == (1438, 359)
    assert len(np.intersect1d(train, val)) == 0
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(1797))
    D.digits_split.cache_clear()
    train2, val2 = D.digits_split()
    assert np.array_equal(train, train2) and np.array_equal(val, val2)


def test_digits_labels_and_class_balance():
    from sklearn.datasets import load_digits

    y = load_digits().target
    tr, va = D.DigitsDataset("train"), D.DigitsDataset("val")
    assert len(tr) == 1438 and len(va) == 359 and len(D.DigitsDataset("all")) == 1797
    assert tr.classes == [str(i) for i in range(10)]
    assert tr.targets == y[D.digits_split()[0]].tolist()
    counts_all = np.bincount(y, minlength=10)
    counts_val = np.bincount(va.targets, minlength=10)
    assert np.all(np.abs(counts_val - 0.2 * counts_all) <= 0.5 + 1e-9)
    assert set(va.targets) == set(range(10))
    _, label = va[5]
    assert isinstance(label, int) and 0 <= label < 10


@pytest.mark.parametrize("size", [8, 16, 32, 40])
def test_digits_rendering_size_mode_and_values(size):
    ds = D.DigitsDataset("val", image_size=size)
    img, _ = ds[0]
    assert isinstance(img, Image.Image) and img.mode == "RGB" and img.size == (size, size)
    arr = np.asarray(img)
    assert np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 0], arr[..., 2])
    assert arr.max() > 0


def test_render_digit_scaling_and_nearest():
    pixels = np.arange(64, dtype=np.float64).reshape(8, 8) % 17
    scaled = np.floor(pixels * 255 / 16 + 0.5).astype(np.uint8)
    img8 = D.render_digit(scaled, 8)
    assert np.array_equal(np.asarray(img8)[..., 1], scaled)
    img16 = np.asarray(D.render_digit(scaled, 16, "nearest"))[..., 0]
    assert np.array_equal(img16, np.kron(scaled, np.ones((2, 2), dtype=np.uint8)))
    with pytest.raises(D.DataError):
        D.render_digit(scaled, 16, "lanczos")


def test_digits_normalisation_constants_match_computation():
    mean, std = D.digits_mean_std(32)
    assert D.DIGITS_MEAN == (round(mean, 4),) * 3
    assert D.DIGITS_STD == (round(std, 4),) * 3


def test_build_datasets_digits():
    train, val, n = D.build_datasets("digits", preset="digits", image_size=32)
    assert n == 10 and len(train) == 1438 and len(val) == 359
    x, y = val[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and isinstance(y, int)
    batch = torch.stack([val[i][0] for i in range(0, len(val), 3)])
    assert abs(float(batch.mean())) < 0.1 and abs(float(batch.std()) - 1) < 0.1


def test_build_datasets_digits_through_imagenet_preset():
    train, val, n = D.build_datasets("digits", preset="imagenet", image_size=64)
    assert train[0][0].shape == (3, 64, 64) and val[0][0].shape == (3, 64, 64)


# ----------------------------------------------------------------------------------------------- synthetic


def test_synthetic_deterministic_any_size_and_classes():
    a = D.SyntheticDataset(20, image_size=12, num_classes=3, seed=5)
    b = D.SyntheticDataset(20, image_size=12, num_classes=3, seed=5)
    c = D.SyntheticDataset(20, image_size=12, num_classes=3, seed=6)
    img, label = a[7]
    assert img.mode == "RGB" and img.size == (12, 12) and 0 <= label < 3
    assert np.array_equal(np.asarray(img), np.asarray(b[7][0])) and a.targets == b.targets
    assert not np.array_equal(np.asarray(img), np.asarray(c[7][0]))
    with pytest.raises(IndexError):
        a[20]
    train, val, n = D.build_datasets(
        "synthetic", preset="cifar", image_size=32, num_classes=5, synthetic_sizes=(10, 4)
    )
    assert (len(train), len(val), n) == (10, 4, 5)
    assert train[0][0].shape == (3, 32, 32)
    assert not torch.equal(train[0][0], val[0][0])  # val is drawn with another seed


# ----------------------------------------------------------------------------------------------- transforms


@pytest.mark.parametrize("preset", ["imagenet", "imagenet_bicubic", "hmq", "ompq", "proqha"])
@pytest.mark.parametrize("train", [True, False])
def test_imagenet_style_presets_shapes(preset, train):
    tf = D.build_transforms(preset, train, 40)
    out = tf(Image.new("RGB", (70, 50), (120, 30, 200)))
    assert out.shape == (3, 40, 40) and out.dtype == torch.float32


@pytest.mark.parametrize("preset", ["cifar", "cifar_proqha", "digits", "none"])
@pytest.mark.parametrize("train", [True, False])
def test_small_image_presets_shapes(preset, train):
    out = D.build_transforms(preset, train, 32)(Image.new("RGB", (32, 32), (50, 60, 70)))
    assert out.shape == (3, 32, 32)


def test_preset_defaults_and_details():
    assert D.build_transforms("inception", True)(Image.new("RGB", (320, 300))).shape == (3, 299, 299)
    resize = D.build_transforms("inception", False).transforms[0]
    assert isinstance(resize, T.Resize) and resize.size == 342
    assert D.build_transforms("inception", False, resize_size=341).transforms[0].size == 341
    im_val = D.build_transforms("imagenet", False, 224).transforms
    assert im_val[0].size == 256 and im_val[0].interpolation == InterpolationMode.BILINEAR
    assert im_val[1].size == (224, 224)
    assert D.build_transforms("hmq", False, 224).transforms[0].interpolation == InterpolationMode.BICUBIC
    rrc = D.build_transforms("proqha", True, 224).transforms[0]
    assert rrc.scale == (0.08, 1.25)
    rrc = D.build_transforms("ompq", True, 224).transforms[0]
    assert rrc.scale == (0.1, 1.0) and rrc.ratio == (0.8, 1.25)
    digits_train = D.build_transforms("digits", True, 32).transforms
    assert not any(isinstance(t, T.RandomHorizontalFlip) for t in digits_train)
    assert D.build_transforms("cifar_proqha", False).transforms[-1].mean == D.PROQHA_CIFAR_MEAN
    assert D.build_transforms("cifar", False).transforms[-1].std == D.CIFAR_STD
    plain = D.build_transforms("none", True, 8)(Image.new("RGB", (8, 8), (255, 0, 0)))
    assert float(plain.max()) == 1.0 and float(plain.min()) == 0.0
    with pytest.raises(D.DataError) as err:
        D.build_transforms("imagenett", True)
    assert "imagenett" in str(err.value) and "\n" not in str(err.value)


# ----------------------------------------------------------------------------------------------- folders


def test_image_folder_tree(tmp_path):
    root = _tree(tmp_path / "data")
    train, val, n = D.build_datasets(root, preset="imagenet", image_size=16)
    assert n == 3 and len(train) == 9 and len(val) == 6
    assert train.classes == ["cat", "dog", "eel"] and val.targets == [0, 0, 1, 1, 2, 2]
    x, y = val[3]
    assert x.shape == (3, 16, 16) and y == 1
    assert D.build_datasets(str(root), preset="none", image_size=8, num_classes=1000)[2] == 1000


def test_validation_alias(tmp_path):
    root = _tree(tmp_path / "hmq", val="validation")
    assert D.split_dir(root, "val") == os.path.join(root, "validation")
    train, val, n = D.build_datasets(root, preset="hmq", image_size=8)
    assert n == 3 and len(val) == 6 and val.root == os.path.join(root, "validation")


def test_val_preferred_over_validation(tmp_path):
    root = _tree(tmp_path / "both")
    _tree(root, val="validation")
    assert D.split_dir(root, "val") == os.path.join(root, "val")


def test_val_classes_must_match_train(tmp_path):
    root = _tree(tmp_path / "d")
    _png(root / "train" / "fox" / "a.png")
    with pytest.raises(D.DataError) as err:
        D.build_datasets(root, preset="none", image_size=8)
    _assert_one_line(err, root / "val")
    assert "fox" in str(err.value)


def test_num_classes_smaller_than_found_is_an_error(tmp_path):
    root = _tree(tmp_path / "d")
    with pytest.raises(D.DataError):
        D.build_datasets(root, preset="none", image_size=8, num_classes=2)


# ----------------------------------------------------------------------------------------------- subsets


def test_subset_by_fraction_deterministic():
    ds = D.SyntheticDataset(100, image_size=4)
    a, b = D.subset_by_fraction(ds, 0.25, seed=3), D.subset_by_fraction(ds, 0.25, seed=3)
    assert isinstance(a, Subset) and len(a) == 25 and a.indices == b.indices
    assert D.subset_by_fraction(ds, 0.25, seed=4).indices != a.indices
    assert len(set(a.indices)) == 25
    assert len(D.subset_by_fraction(ds, 0.0001)) == 1
    assert len(D.subset_by_fraction(ds, 0.019)) == 1
    assert len(D.subset_by_fraction(ds, 1.0)) == 100
    assert len(D.subset_by_fraction(ds, 0.5, seed=None)) == 50
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(D.DataError):
            D.subset_by_fraction(ds, bad)


def test_build_datasets_train_fraction():
    train, val, _ = D.build_datasets("digits", preset="digits", image_size=16, train_fraction=0.1, seed=1)
    again, _, _ = D.build_datasets("digits", preset="digits", image_size=16, train_fraction=0.1, seed=1)
    assert len(train) == 143 and train.indices == again.indices and len(val) == 359


# ----------------------------------------------------------------------------------------------- ImageNet-100


def _fake_imagenet(root: Path, n: int = 120, val: str = "val") -> list[str]:
    wnids = [f"n{1440764 + 137 * i:08d}" for i in range(n)]
    order = np.random.default_rng(0).permutation(n)
    for i in order:  # created out of order: the builder must sort
        for split in ("train", val):
            (root / split / wnids[i]).mkdir(parents=True)
    return sorted(wnids)


def test_imagenet100_builder_picks_first_100_sorted(tmp_path):
    wnids = _fake_imagenet(tmp_path / "src")
    (tmp_path / "src" / "train" / "README.txt").write_text("not a class")
    assert D.imagenet100_classes(tmp_path / "src") == wnids[:100]
    classes = D.build_imagenet100(tmp_path / "src", tmp_path / "dst")
    assert classes == wnids[:100]
    for split in ("train", "val"):
        entries = sorted(os.listdir(tmp_path / "dst" / split))
        assert entries == wnids[:100]
        for w in entries:
            link = tmp_path / "dst" / split / w
            assert link.is_symlink()
            assert os.readlink(link) == os.path.abspath(tmp_path / "src" / split / w)
    assert D.build_imagenet100(tmp_path / "src", tmp_path / "dst") == classes  # idempotent


def test_imagenet100_from_validation_and_small_n(tmp_path):
    wnids = _fake_imagenet(tmp_path / "src", n=12, val="validation")
    assert D.build_imagenet100(tmp_path / "src", tmp_path / "dst", n_classes=5) == wnids[:5]
    assert sorted(os.listdir(tmp_path / "dst" / "val")) == wnids[:5]
    with pytest.raises(D.DataError) as err:
        D.imagenet100_classes(tmp_path / "src", 100)
    _assert_one_line(err, tmp_path / "src" / "train")


def test_imagenet100_missing_val_class_leaves_nothing(tmp_path):
    wnids = _fake_imagenet(tmp_path / "src", n=10)
    os.rmdir(tmp_path / "src" / "val" / wnids[3])
    with pytest.raises(D.DataError) as err:
        D.build_imagenet100(tmp_path / "src", tmp_path / "dst", n_classes=5)
    _assert_one_line(err, tmp_path / "src" / "val" / wnids[3])
    assert not (tmp_path / "dst").exists()


def test_imagenet100_refuses_to_replace(tmp_path):
    wnids = _fake_imagenet(tmp_path / "src", n=3)
    (tmp_path / "dst" / "train" / wnids[1]).mkdir(parents=True)
    with pytest.raises(D.DataError) as err:
        D.build_imagenet100(tmp_path / "src", tmp_path / "dst", n_classes=3)
    _assert_one_line(err, tmp_path / "dst" / "train" / wnids[1])


def test_imagenet100_cli(tmp_path, capsys):
    wnids = _fake_imagenet(tmp_path / "src", n=4)
    assert data_main(["imagenet100", str(tmp_path / "src"), str(tmp_path / "dst"), "--n-classes", "2"]) == 0
    assert sorted(os.listdir(tmp_path / "dst" / "train")) == wnids[:2]
    assert data_main(["imagenet100", str(tmp_path / "nowhere"), str(tmp_path / "dst2")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path / "nowhere") in err


@pytest.mark.slow
def test_module_entrypoint_runs(tmp_path):
    _fake_imagenet(tmp_path / "src", n=3)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "common.data",
            "imagenet100",
            str(tmp_path / "src"),
            str(tmp_path / "dst"),
            "--n-classes",
            "3",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(os.listdir(tmp_path / "dst" / "val")) == 3


# ----------------------------------------------------------------------------------------------- CIFAR-10


def test_cifar10_pickles(tmp_path):
    root = _cifar_pickles(tmp_path / "cifar")
    train = D.CIFAR10Pickles(root, train=True)
    test = D.CIFAR10Pickles(root / D.CIFAR10_FOLDER, train=False)
    assert len(train) == 20 and len(test) == 3 and train.classes == CIFAR_META
    with open(root / D.CIFAR10_FOLDER / "data_batch_2", "rb") as f:
        raw = pickle.load(f, encoding="latin1")
    img, label = train[5]  # second image of data_batch_2
    assert img.mode == "RGB" and img.size == (32, 32) and label == raw["labels"][1]
    arr = np.asarray(img)
    row = raw["data"][1]
    assert arr[0, 0, 0] == row[0] and arr[0, 0, 1] == row[1024] and arr[0, 0, 2] == row[2048]
    assert arr[2, 3, 1] == row[1024 + 2 * 32 + 3]


def test_cifar10_pickles_match_torchvision(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as tv_cifar

    root = _cifar_pickles(tmp_path / "cifar")
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)
    for train in (True, False):
        ref = tv_cifar.CIFAR10(str(root), train=train, download=False)
        ours = D.CIFAR10Pickles(root, train=train)
        assert np.array_equal(ref.data, ours.data) and ref.targets == ours.targets
        assert ref.classes == ours.classes


def test_cifar10_through_build_datasets(tmp_path):
    root = _cifar_pickles(tmp_path / "c")
    for data in (str(root), f"cifar10:{root}", f"cifar10:{root / D.CIFAR10_FOLDER}"):
        train, val, n = D.build_datasets(data, preset="cifar", image_size=32)
        assert (len(train), len(val), n) == (20, 3, 10)
        assert train[0][0].shape == (3, 32, 32)


def test_cifar10_image_folder_layout_with_test(tmp_path):
    root = _tree(tmp_path / "cf", val="test")
    train, val, n = D.build_datasets(f"cifar10:{root}", preset="cifar_proqha", image_size=8)
    assert (len(train), len(val), n) == (9, 6, 3)
    with pytest.raises(D.DataError):  # test/ is only an alias for CIFAR folders
        D.build_datasets(root, preset="none", image_size=8)


def test_cifar10_missing_batch(tmp_path):
    root = _cifar_pickles(tmp_path / "c")
    os.remove(root / D.CIFAR10_FOLDER / "data_batch_4")
    with pytest.raises(D.DataError) as err:
        D.CIFAR10Pickles(root)
    _assert_one_line(err, root / D.CIFAR10_FOLDER / "data_batch_4")
    (root / D.CIFAR10_FOLDER / "test_batch").write_bytes(b"garbage")
    with pytest.raises(D.DataError) as err:
        D.CIFAR10Pickles(root, train=False)
    _assert_one_line(err, root / D.CIFAR10_FOLDER / "test_batch")


# ----------------------------------------------------------------------------------------------- loaders


def test_loaders_plain():
    train_ds = D.SyntheticDataset(10, image_size=4, transform=T.ToTensor())
    val_ds = D.SyntheticDataset(7, image_size=4, transform=T.ToTensor(), seed=1)
    tl, vl = D.build_loaders(train_ds, val_ds, batch_size=4, workers=0, distributed=False, seed=0)
    assert isinstance(vl.sampler, SequentialSampler) and isinstance(tl.sampler, D.EpochSampler)
    assert isinstance(tl.dataset, D.SeededSamples) and tl.dataset.targets == train_ds.targets
    assert not tl.persistent_workers and tl.pin_memory == torch.cuda.is_available()
    xb, yb = next(iter(tl))
    assert xb.shape == (4, 3, 4, 4) and yb.dtype == torch.int64
    assert [len(b[1]) for b in vl] == [4, 3]
    assert torch.cat([b[1] for b in vl]).tolist() == val_ds.targets
    tl2, _ = D.build_loaders(train_ds, val_ds, 4, 0, False, 0)
    tl2b, _ = D.build_loaders(train_ds, val_ds, 4, 0, False, 0)
    order = [i for i, _ in tl2.sampler]
    assert order == [i for i, _ in tl2b.sampler] and sorted(order) == list(range(10))
    assert [i for i, _ in tl2.sampler] != order  # the next pass gets the next epoch's order
    D.set_loader_epoch(tl2, 0)
    assert [i for i, _ in tl2.sampler] == order  # ... and an epoch's order is a function of (seed, epoch)
    tl3, none = D.build_loaders(train_ds, None, 4, 0, False, 1, val_batch_size=2)
    assert none is None and [i for i, _ in tl3.sampler] != order
    tlw, vlw = D.build_loaders(train_ds, val_ds, 4, 1, False, 0, val_batch_size=7, pin_memory=False)
    assert tlw.persistent_workers and not tlw.pin_memory and vlw.batch_size == 7
    assert len(list(vlw)) == 1


def test_loaders_distributed_without_process_group():
    ds = D.SyntheticDataset(10, image_size=4, transform=T.ToTensor())
    seen = []
    for rank in (0, 1):
        tl, vl = D.build_loaders(ds, ds, 2, 0, distributed=True, seed=3, num_replicas=2, rank=rank)
        assert isinstance(tl.sampler, D.EpochSampler) and tl.sampler.shuffle and tl.sampler.seed == 3
        assert (tl.sampler.rank, tl.sampler.num_replicas, len(tl.sampler)) == (rank, 2, 5)
        assert isinstance(vl.sampler, SequentialSampler)
        seen.append([i for i, _ in tl.sampler])
        D.set_loader_epoch(tl, 0)
        first = [i for i, _ in tl.sampler]
        assert first == seen[-1]
        D.set_loader_epoch(tl, 1)
        assert [i for i, _ in tl.sampler] != first
    assert sorted(seen[0] + seen[1]) == list(range(10))
    odd = D.SyntheticDataset(7, image_size=4, transform=T.ToTensor())
    shards = [
        list(D.build_loaders(ds, odd, 2, 0, True, 0, num_replicas=3, rank=r, distributed_val=True)[1].sampler)
        for r in range(3)
    ]
    assert shards == [[0, 3, 6], [1, 4], [2, 5]]  # each val image read once, in order, none repeated
    with pytest.raises(RuntimeError):
        D.build_loaders(ds, ds, 2, 0, distributed=True)


def test_uneven_split_over_processes_is_logged_on_rank_0(caplog):
    """9 images over 2 processes in batches of 2 leave a last global batch of 1 image: the order is padded with 1
    repeated image (as DistributedSampler does) and rank 0 says so once. Another rank, an even split, one process,
    and 11 images (a last global batch of 3, split 2 + 1 exactly) say nothing."""
    ds = D.SyntheticDataset(9, image_size=4, transform=T.ToTensor())
    with caplog.at_level("WARNING", logger="common.data.build"):
        tl, _ = D.build_loaders(ds, None, 2, 0, distributed=True, num_replicas=2, rank=0)
    assert len(tl.sampler) == 5 and len(caplog.records) == 1
    assert (
        "9 training images do not split evenly over 2 processes" in caplog.text and "first 1 " in caplog.text
    )
    caplog.clear()
    with caplog.at_level("WARNING", logger="common.data.build"):
        D.build_loaders(ds, None, 2, 0, distributed=True, num_replicas=2, rank=1)
        D.build_loaders(
            D.SyntheticDataset(12, image_size=4), None, 2, 0, distributed=True, num_replicas=2, rank=0
        )
        D.build_loaders(ds, None, 2, 0)
        eleven = [
            D.build_loaders(D.SyntheticDataset(11, image_size=4), None, 2, 0, True, num_replicas=2, rank=r)[0]
            for r in range(2)
        ]
    assert not caplog.records
    assert [len(t.sampler) for t in eleven] == [6, 5] and [len(t) for t in eleven] == [3, 3]
    assert [D.share_weight(t, 2) for t in eleven] == [4 / 3, 2 / 3]
    assert [D.global_batch_size(t, 2) for t in eleven] == [3, 3] and D.global_batch_size(eleven[0], 1) is None


# ----------------------------------------------------------------------------------------------- errors


def test_error_missing_folder(tmp_path):
    with pytest.raises(D.DataError) as err:
        D.build_datasets(tmp_path / "absent", preset="imagenet", image_size=8)
    _assert_one_line(err, tmp_path / "absent")
    assert str(err.value).startswith("data folder not found: ")
    (tmp_path / "file").write_text("x")
    with pytest.raises(D.DataError) as err:
        D.build_datasets(tmp_path / "file", preset="imagenet", image_size=8)
    _assert_one_line(err, tmp_path / "file")


def test_error_missing_split(tmp_path):
    _png(tmp_path / "d" / "train" / "a" / "x.png")
    with pytest.raises(D.DataError) as err:
        D.build_datasets(tmp_path / "d", preset="imagenet", image_size=8)
    _assert_one_line(err, tmp_path / "d" / "val")


def test_error_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(D.DataError) as err:
        D.build_datasets(tmp_path / "empty", preset="imagenet", image_size=8)
    _assert_one_line(err, tmp_path / "empty")
    (tmp_path / "d" / "train").mkdir(parents=True)
    (tmp_path / "d" / "val").mkdir()
    with pytest.raises(D.DataError) as err:
        D.build_datasets(tmp_path / "d", preset="imagenet", image_size=8)
    _assert_one_line(err, tmp_path / "d" / "train")


def test_error_class_folder_without_images(tmp_path):
    root = _tree(tmp_path / "d")
    (root / "val" / "dog").joinpath("notes.txt").write_text("x")
    for f in (root / "val" / "dog").glob("*.png"):
        f.unlink()
    with pytest.raises(D.DataError) as err:
        D.build_datasets(root, preset="imagenet", image_size=8)
    _assert_one_line(err, root / "val" / "dog")


def test_error_unreadable_image(tmp_path):
    root = _tree(tmp_path / "d")
    bad = root / "val" / "eel" / "img1.png"
    bad.write_bytes(b"this is not a png\nat all")
    _, val, _ = D.build_datasets(root, preset="imagenet", image_size=8)
    val[0]  # the good ones still load
    with pytest.raises(D.DataError) as err:
        val[5]
    _assert_one_line(err, bad)
    truncated = root / "train" / "cat" / "img0.png"
    truncated.write_bytes(truncated.read_bytes()[:40])
    with pytest.raises(D.DataError) as err:
        D.load_image(str(truncated))
    _assert_one_line(err, truncated)


def test_error_unreadable_image_in_worker(tmp_path):
    root = _tree(tmp_path / "d", classes=("a",), per_class=1)
    bad = root / "val" / "a" / "img0.png"
    bad.write_bytes(b"junk")
    _, val, _ = D.build_datasets(root, preset="none", image_size=8)
    _, loader = D.build_loaders(val, val, 2, 1, False, 0, pin_memory=False)
    with pytest.raises(D.DataError) as err:
        next(iter(loader))
    line = err.value.one_line()
    assert "\n" not in line and line.startswith("cannot read image: ") and str(bad) in line


def test_data_error_is_one_line():
    err = D.DataError("a\nb")
    assert str(err) == "a b" and err.one_line() == "a b" and isinstance(err, ValueError)


def test_bad_data_arguments(tmp_path):
    with pytest.raises(D.DataError):
        D.build_datasets("cifar10:", preset="cifar", image_size=32)
    with pytest.raises(D.DataError) as err:
        D.build_datasets(f"cifar10:{tmp_path / 'none'}", preset="cifar", image_size=32)
    _assert_one_line(err, tmp_path / "none")
    with pytest.raises(D.DataError):
        D.build_split("digits", "test", None)
