"""HAQ's additions for data beyond ImageNet and digits: ``--dataset cifar10`` / ``--data_name cifar10`` (CIFAR
transforms at 32 px) and ``--image_size`` (the side, the state embedding's side and the BOPs table's side).
Without them every command behaves as the original: 224 px (299 for Inception) on the ImageNet names, the arch's
side on digits, and ``build_table`` charges a 1000-way classifier outside digits."""

from __future__ import annotations

import numpy as np
import pytest
from fake_data import fake_cifar10

from common.layers import enumerate_arch
from common.runtime import UsageError
from haq import finetune, rl_quantize
from haq.lib.simulator import build_table
from haq.lib.utils.data_utils import data_setup, get_split_train_dataset


def test_original_sides_without_image_size(tmp_path) -> None:
    assert data_setup("imagenet", str(tmp_path), 32).image_size == 224
    inception = data_setup("imagenet", str(tmp_path), 299, is_inception=True)
    assert (inception.image_size, inception.resize_size, inception.embed_size) == (299, 341, 224)
    assert data_setup("digits", "digits", 32).image_size == 32


def test_image_size_sets_the_side_and_the_embedding(tmp_path) -> None:
    setup = data_setup("imagenet10", str(tmp_path), 224, image_size=64)
    assert (setup.image_size, setup.embed_size, setup.resize_size, setup.preset) == (64, 64, None, "imagenet")
    assert data_setup("digits", "digits", 32, image_size=48).image_size == 48
    with pytest.raises(UsageError, match="--image_size must be >= 8"):
        data_setup("imagenet", str(tmp_path), 224, image_size=4)


def test_cifar10_reads_the_pickles_with_cifar_transforms(tmp_path) -> None:
    root = fake_cifar10(tmp_path, per_batch=8)
    setup = data_setup("cifar10", str(root), 32)
    assert (setup.root, setup.preset, setup.image_size, setup.num_classes) == (
        f"cifar10:{root}",
        "cifar",
        32,
        10,
    )
    assert data_setup("cifar10", f"cifar10:{root}", 32).root == f"cifar10:{root}"
    train, val = get_split_train_dataset(setup, 4, 0, val_size=8, train_size=16, seed=0)
    images, labels = next(iter(train))
    assert images.shape == (4, 3, 32, 32) and int(labels.max()) < 10
    assert len(val.sampler) == 8 and len(train.sampler) == 16
    with pytest.raises(UsageError, match="pass --dataset cifar10"):
        data_setup("imagenet", f"cifar10:{root}", 224)
    with pytest.raises(UsageError, match="is not a folder"):
        data_setup("cifar10", str(tmp_path / "missing"), 32)


def test_search_classes_on_cifar10_keep_ten_even_for_qmobilenetv2(tmp_path) -> None:
    setup = data_setup("cifar10", str(fake_cifar10(tmp_path)), 32)
    assert rl_quantize.search_classes("qmobilenetv2", "cifar10", setup) == 10


def test_finetune_loaders_on_cifar10(tmp_path) -> None:
    root = fake_cifar10(tmp_path, per_batch=8)
    argv = [
        "--data",
        str(root),
        "--data_name",
        "cifar10",
        "-a",
        "qresnet20",
        "--train_batch",
        "4",
        "-j",
        "0",
        "--manualSeed",
        "1",
    ]
    train, val, classes = finetune.make_loaders(finetune.build_parser().parse_args(argv), "qresnet20")
    assert classes == 10 and next(iter(train))[0].shape == (4, 3, 32, 32)
    assert len(val.dataset) == 8 and len(train.dataset) == 40
    sized = finetune.build_parser().parse_args([*argv, "--image_size", "40"])
    assert next(iter(finetune.make_loaders(sized, "qresnet20")[0]))[0].shape == (4, 3, 40, 40)
    # cifar10:PATH with the default --data_name imagenet: the 1000-class name does not fit, one line
    wrong = finetune.build_parser().parse_args(
        ["--data", f"cifar10:{root}", "-a", "qresnet20", "-j", "0", "--manualSeed", "1"]
    )
    with pytest.raises(UsageError, match="--data_name imagenet means 1000 classes but .* has 10"):
        finetune.make_loaders(wrong, "qresnet20")


@pytest.mark.parametrize(("dataset", "extra", "side", "classes"), [
    ("imagenet", [], 224, 1000),
    ("cifar10", [], 32, 10),
    ("imagenet10", ["--image_size", "64", "--num_classes", "10"], 64, 10),
])  # fmt: skip
def test_bops_table_at_the_requested_side_and_classes(tmp_path, dataset, extra, side, classes) -> None:
    argv = [
        "--arch",
        "qresnet20",
        "--dataset",
        dataset,
        "--mode",
        "bops",
        "--out",
        str(tmp_path / "t.npy"),
        *extra,
    ]
    table = np.load(build_table.main(argv))
    macs = np.array([l.macs for l in enumerate_arch("resnet20", side, classes)], dtype=np.int64)
    assert (table[:, 7, 7] == 64 * macs).all()
