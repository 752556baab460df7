"""``hmq.main``'s flags for fixed choices: ``--bit_config`` (via :func:`hmq.report.apply_bitconfig`),
``--pinned_layers`` and ``--train_fraction``."""

from __future__ import annotations

import argparse

import pytest
import torch

from common.bitconfig import BitConfigError, read_bitconfig, write_bitconfig
from common.runtime import UsageError
from hmq.block import HmqControl
from hmq.compression import activation_blocks
from hmq.main import _pin_layers, build_parser, main, validate_args
from hmq.networks import build_hmq_network
from hmq.report import apply_bitconfig, layer_bits, make_bitconfig

SIZE = 16


def _network(seed: int) -> torch.nn.Module:
    """tiny_resnet with HMQ blocks whose activation thresholds come from one statistics batch."""
    torch.manual_seed(0)  # same float weights for every call
    control = HmqControl(quant_weights=True, quant_acts=True)
    model = build_hmq_network("tiny_resnet", 10, control)
    torch.manual_seed(seed)
    model.eval()
    control.statistics = True
    with torch.no_grad():
        model(torch.rand(4, 3, SIZE, SIZE))
    control.statistics = False
    return model


def test_apply_bitconfig_restores_every_choice() -> None:
    src = _network(1)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for _, block in activation_blocks(src):
            block.set_bits([int(torch.randint(2, 9, (1,), generator=gen))])
        for m in src.modules():
            if hasattr(m, "search_matrix"):
                m.search_matrix.copy_(torch.randn(m.search_matrix.shape, generator=gen) * 3)
    cfg = make_bitconfig(src, "tiny_resnet", 10, SIZE, "test")
    assert len({lb.w for lb in cfg.layers.values()}) > 1  # a mixed config, not the initial all-8
    dst = _network(1)
    apply_bitconfig(dst, cfg, SIZE, "tiny_resnet")
    got, acts = layer_bits(dst, SIZE)
    want, want_acts = layer_bits(src, SIZE)
    assert {n: (lb.w, lb.a, lb.extra) for n, lb in got.items()} == {
        n: (lb.w, lb.a, lb.extra) for n, lb in want.items()
    }
    assert [(a["bits"], a["threshold"]) for a in acts] == [(a["bits"], a["threshold"]) for a in want_acts]
    x = torch.rand(2, 3, SIZE, SIZE)
    dst.eval(), src.eval()
    with torch.no_grad():
        assert torch.equal(dst(x), src(x))


def test_apply_bitconfig_rejects_bad_configs() -> None:
    model = _network(0)
    cfg = make_bitconfig(model, "tiny_resnet", 10, SIZE, "test")
    cfg.layers["layer1.0.conv1"].w = 12
    with pytest.raises(BitConfigError, match="layer1.0.conv1"):
        apply_bitconfig(model, cfg, SIZE)
    cfg = make_bitconfig(model, "tiny_resnet", 10, SIZE, "test")
    cfg.layers["layer2.0.downsample.0"].a = 3  # reads the same activation as layer2.0.conv1 (8 bits)
    with pytest.raises(BitConfigError, match="layer2.0.downsample.0"):
        apply_bitconfig(model, cfg, SIZE)
    with pytest.raises(BitConfigError, match="resnet20"):
        apply_bitconfig(model, cfg, SIZE, "resnet20")


def test_pinned_layers_offer_only_the_largest_bit_width() -> None:
    control = HmqControl(quant_weights=True)
    model = build_hmq_network("tiny_resnet", 10, control, bits_list=(6, 4, 2))
    args = argparse.Namespace(pinned_layers=["conv1", "fc"], bits_list=[6, 4, 2], n_thresholds_shifts=8)
    _pin_layers(model, control, args)
    assert model.conv1.q.bits_vector.tolist() == [6.0] and model.fc.q.bits_vector.tolist() == [6.0]
    assert model.conv1.q.search_matrix.shape == (1, 1, 8, 1)
    assert model.layer1[0].conv1.q.bits_vector.tolist() == [6.0, 4.0, 2.0]
    args.pinned_layers = ["layer9"]
    with pytest.raises(UsageError, match="layer9"):
        _pin_layers(model, control, args)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--train_fraction", "0"], "--train_fraction"),
        (["--bit_config", "missing.json", "--n_epochs", "0"], "not found"),
        (["--bit_config", __file__, "--n_epochs", "2"], "--n_epochs 0"),
    ],
)
def test_new_flags_are_validated(extra: list[str], message: str) -> None:
    args = build_parser().parse_args(["--network_name", "tiny_resnet", *extra])
    with pytest.raises(UsageError, match=message):
        validate_args(args)


def test_fine_tune_only_run_keeps_the_given_choices(tmp_path) -> None:
    model = _network(2)
    with torch.no_grad():
        model.layer4[0].conv2.q.search_matrix.zero_()
        model.layer4[0].conv2.q.search_matrix[0, 5, 2, 0] = 5.0  # 3 bits, third threshold
    cfg_path = tmp_path / "in.json"
    cfg = make_bitconfig(model, "tiny_resnet", 10, SIZE, "test")
    write_bitconfig(cfg, cfg_path)
    argv = ["--dataset", "digits", "--data_dir", "digits", "--network_name", "tiny_resnet"]
    argv += ["--image_size", str(SIZE), "--num_workers", "0", "--batch_size", "32", "--n_epochs", "0"]
    argv += ["--n_epochs_final", "1", "--train_fraction", "0.05", "--stats_batches", "1"]
    argv += ["--bit_config", str(cfg_path), "--pinned_layers", "conv1", "fc", "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    out = read_bitconfig(tmp_path / "run" / "bitconfig.json")
    assert out.layers["layer4.0.conv2"].w == 3
    assert {n: lb.w for n, lb in out.layers.items()} == {n: lb.w for n, lb in cfg.layers.items()}
