"""``haq.rl_quantize`` builds the searched model for the data's class count: the embedded digits mean 10 classes
(also ``qmobilenetv2``, whose ImageNet build is always 1000-way), and float weights of another class count are a
one-line error, exit 2 (no new random head)."""

from __future__ import annotations

import pytest
import torch

from common.bitconfig import read_bitconfig
from common.models import build_model
from common.runtime import UsageError, run_main
from haq import rl_quantize
from haq.lib.utils.data_utils import data_setup
from haq.lib.utils.linear_quant import QUANT_TYPES

SMALL = ["--train_episode", "2", "--warmup", "0", "--train_size", "32", "--val_size", "16", "--data_bsize", "16",
         "--n_worker", "0", "--bsize", "4", "--seed", "3"]  # fmt: skip


@pytest.mark.parametrize("dataset", ["imagenet", "imagenet10", "digits"])
@pytest.mark.parametrize("arch", ["qmobilenetv2", "tiny_resnet"])
def test_digits_mean_ten_classes(arch: str, dataset: str) -> None:
    setup = data_setup(dataset, "digits", 32)
    assert rl_quantize.search_classes(arch, dataset, setup) == 10


def test_imagenet_folders_keep_their_class_count(tmp_path) -> None:
    setup = data_setup("imagenet100", str(tmp_path), 224)
    assert rl_quantize.search_classes("resnet50", "imagenet100", setup) == 100
    assert rl_quantize.search_classes("qmobilenetv2", "imagenet100", setup) == 1000  # the original's head
    with pytest.raises(UsageError, match="imagenet100 means 100 classes but the embedded digits have 10"):
        rl_quantize.search_classes("tiny_resnet", "imagenet100", data_setup("imagenet100", "digits", 32))


def test_qmobilenetv2_on_digits_has_ten_quantized_outputs() -> None:
    model = rl_quantize.build_search_model("qmobilenetv2", 10, False)
    layers = [m for _, m in rl_quantize.quantizable_modules(model, QUANT_TYPES)]
    assert len(layers) == 53 and isinstance(layers[-1], QUANT_TYPES) and layers[-1].out_features == 10
    assert model.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def _exit_line(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as stop:
        run_main(rl_quantize.main, argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1 and err[0].startswith("error: ")
    return err[0]


def test_weights_of_other_class_count_are_one_line(tmp_path, capsys) -> None:
    path = tmp_path / "five.pt"
    torch.save(build_model("tiny_resnet", 5).state_dict(), path)
    out = tmp_path / "o"
    line = _exit_line(capsys, ["--arch", "tiny_resnet", "--dataset", "digits", "--pretrained", str(path),
                               "--output", str(out), *SMALL])  # fmt: skip
    assert "5-class classifier but the data has 10 classes" in line and "--pretrained none" in line
    line = _exit_line(
        capsys, ["--arch", "mobilenetv2", "--dataset_root", "digits", "--output", str(out), *SMALL]
    )
    assert "--pretrained published (ImageNet weights) holds a 1000-class classifier" in line
    assert not out.exists()


def test_search_on_digits_root_writes_ten_classes(tmp_path) -> None:
    path = tmp_path / "ten.pt"
    torch.manual_seed(0)
    model = build_model("tiny_resnet", 10)
    torch.save(model.state_dict(), path)
    argv = [
        "--arch",
        "tiny_resnet",
        "--dataset_root",
        "digits",
        "--preserve_ratio",
        "0.1",
        "--pretrained",
        str(path),
    ]
    res = rl_quantize.main([*argv, "--output", str(tmp_path / "o"), *SMALL])
    assert read_bitconfig(res["bitconfig"]).num_classes == 10
