"""OMPQ's MobileNetV2 chains on digits at reduced width (issue 18 item 2), each a few seconds on one core:

* search (``--model mobilenetv2 --cfg``, 8-32 channels) -> QAT (``mobilenetv2_w1`` at matching pytorchcv widths, one
  epoch on 10 % of the data): every trained layer's integer weights span exactly the searched bit-width;
* search (``tiny_mobilenet_v2``) -> BRECQ PTQ -> ``python -m ompq.PTQ.evaluate`` of the saved model: the searched
  bits on every quantized layer of the reloaded model and the PTQ's final top-1.

``ompq.QAT.quant_train`` has no width flag, so the QAT test builds its float model through ``build_float_model``
with the widths set (the one seam used here).
"""

from __future__ import annotations

import functools
import math

import torch

from common.bitconfig import read_bitconfig
from common.bitconfig.ompq import read_for_arch
from common.runtime import load_checkpoint
from ompq.mixed_bit import feature_extract
from ompq.PTQ import evaluate, main_imagenet
from ompq.PTQ.saved_model import load_quantized
from ompq.QAT import quant_train

SEARCH = ["--dataset", "digits", "--save_path", "digits", "--train_batch_size", "16", "--image_size", "16"]
SEARCH += ["--threads", "1", "--device", "cpu"]
#: torchvision-layout widths for the search (stem, then c of the seven groups) ...
CFG = [8, 8, 8, 8, 16, 16, 16, 32]
#: ... and the same widths in pytorchcv's convention for QAT's mobilenetv2_w1 (output width per unit)
W1_WIDTHS = {"init_block_channels": 8, "channels": [[8], [8, 8], [8, 8, 8], [16] * 7, [16, 16, 16, 32]]}


def test_search_then_qat_reduced_width(tmp_path, monkeypatch) -> None:
    search = tmp_path / "search"
    feature_extract.main(
        [
            "--model",
            "mobilenetv2",
            "--cfg",
            str(CFG),
            "--model_size",
            "0.07",
            "--quant_type",
            "QAT",
            "--abits",
            "6",
        ]
        + ["--beta", "1", "--out", str(search), *SEARCH]
    )
    searched = read_bitconfig(search / "bit_config.json")
    assert searched.arch == "mobilenet_v2" and len(searched.layers) == 53
    assert len({lb.w for lb in searched.layers.values()}) > 1  # a mixed assignment under the budget
    monkeypatch.setattr(
        quant_train, "build_float_model", functools.partial(quant_train.build_float_model, **W1_WIDTHS)
    )
    save = tmp_path / "qat"
    result = quant_train.main([
        "-a", "mobilenetv2_w1", "--data", "digits", "--epochs", "1", "--lr", "0.0001", "--batch_size", "64",
        "--save_path", f"{save}/", "--act_range_momentum=0.99", "--wd", "1e-4", "--data_percentage", "0.1",
        "--fix_BN", "--bit_config", str(search / "bit_config.json"), "--seed", "0", "-j", "0",
        "--image_size", "16", "--device", "cpu", "--threads", "1",
    ])  # fmt: skip
    assert math.isfinite(result["val_loss"]) and 0.0 <= result["val_acc1"] <= 100.0
    want = read_for_arch(search / "bit_config.json", "mobilenetv2_w1")
    integers = load_checkpoint(save / "quantized_checkpoint.pth.tar", weights_only=False)["weight_integer"]
    assert len(integers) == len(want.layers) == 54
    for layer, lb in want.layers.items():
        key = layer.removesuffix(".conv").replace("features.init_block", "init_block") + ".weight_integer"
        # symmetric per-channel weights at b bits: the largest |integer| is 2^(b-1) - 1
        assert integers[key].abs().max().item() == 2 ** (lb.w - 1) - 1, (layer, lb.w)
        assert lb.a == 6
    # pytorchcv's extra block-1 1x1 conv trained at the bits the search gave the depthwise conv
    first_dw = list(searched.layers.values())[1].w
    assert (
        integers["features.stage1.unit1.conv1.weight_integer"].abs().max().item() == 2 ** (first_dw - 1) - 1
    )


def test_search_then_ptq_then_evaluate_reduced_width(tmp_path) -> None:
    search = tmp_path / "search"
    feature_extract.main(
        ["--model", "tiny_mobilenet_v2", "--model_size", "0.09", "--quant_type", "PTQ", "--beta", "100"]
        + ["--out", str(search), *SEARCH]
    )
    searched = [lb.w for lb in read_bitconfig(search / "bit_config.json").layers.values()]
    assert len(searched) == 53 and len(set(searched)) > 1
    out = tmp_path / "ptq"
    result = main_imagenet.main([
        "--data_path", "digits", "--arch", "tiny_mobilenet_v2", "--image_size", "16", "--n_bits_w", "2",
        "--channel_wise", "--n_bits_a", "8", "--act_quant", "--bit_config", str(search / "bit_config.json"),
        "--num_samples", "32", "--iters_w", "2", "--iters_a", "2", "--batch_size", "128", "--out", str(out),
        "--threads", "1", "--device", "cpu", "--use_seed",
    ])  # fmt: skip
    assert result["weight_bits"] == searched
    qnn, _ = load_quantized(out / "quantized_model.pth")
    assert [m.weight_quantizer.n_bits for _, m in qnn.quant_modules()] == searched
    assert all(torch.is_tensor(m.weight_quantizer.delta) for _, m in qnn.quant_modules())
    evaluated = evaluate.main([str(out), "--batch_size", "128", "--threads", "1", "--device", "cpu"])
    assert evaluated["top1"] == result["acc_full_quant"]
