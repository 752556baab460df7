"""The common QAT path's handling of shared input quantizers (reproduce/compare/common_qat.py)."""

from __future__ import annotations

from common.bitconfig import LayerBits, uniform_bitconfig
from reproduce.compare.common_qat import raise_weight_bits, share_input_bits, shared_input_groups


def test_tiny_resnet_shares_block_inputs_between_conv1_and_downsample() -> None:
    groups = shared_input_groups("tiny_resnet", 10)
    assert groups == [[f"layer{s}.0.conv1", f"layer{s}.0.downsample.0"] for s in (2, 3, 4)]


def test_share_input_bits_raises_each_group_to_its_largest_request() -> None:
    cfg = uniform_bitconfig("tiny_resnet", 4, 4, keep_first_last=8, num_classes=10, input_size=32)
    cfg.layers["layer2.0.conv1"] = LayerBits(3, 5)
    cfg.layers["layer2.0.downsample.0"] = LayerBits(6, 7, {"threshold": 2})
    cfg.costs = {"GBOPs": 1.0}
    out, notes = share_input_bits(cfg, shared_input_groups("tiny_resnet", 10))
    assert (out.layers["layer2.0.conv1"].w, out.layers["layer2.0.conv1"].a) == (3, 7)
    assert (out.layers["layer2.0.downsample.0"].w, out.layers["layer2.0.downsample.0"].a) == (6, 7)
    assert out.layers["layer2.0.downsample.0"].extra == {"threshold": 2}
    assert out.costs == {}  # the searched costs no longer describe the file
    assert len(notes) == 1 and "a=7 (asked [5, 7])" in notes[0]
    # the input is left alone, and an agreeing config comes back unchanged
    assert cfg.layers["layer2.0.conv1"].a == 5
    same, none = share_input_bits(out, shared_input_groups("tiny_resnet", 10))
    assert none == [] and same.layers == out.layers


def test_one_bit_weights_are_trained_at_two_bits_and_said_so() -> None:
    """HMQ may pick 1-bit weights; HAWQ-V3's symmetric quantizer has no level for them (it used to train NaNs)."""
    cfg = uniform_bitconfig("tiny_resnet", 4, 4, keep_first_last=8, num_classes=10, input_size=32)
    cfg.layers["layer3.0.conv2"] = LayerBits(1, 4, {"threshold": 1})
    cfg.costs = {"GBOPs": 1.0}
    out, notes = raise_weight_bits(cfg)
    assert out.layers["layer3.0.conv2"] == LayerBits(2, 4, {"threshold": 1})
    assert {n: lb for n, lb in out.layers.items() if n != "layer3.0.conv2"} == {
        n: lb for n, lb in cfg.layers.items() if n != "layer3.0.conv2"
    }
    assert out.costs == {} and len(notes) == 1 and "layer3.0.conv2" in notes[0]
    assert cfg.layers["layer3.0.conv2"].w == 1  # the input is left alone
    same, none = raise_weight_bits(out)
    assert none == [] and same is out


def test_common_path_argv_follows_the_activation_rule(tmp_path) -> None:
    from dataclasses import replace

    from reproduce.compare.budget import Budget, bench_layers
    from reproduce.compare.common_qat import quant_train_argv
    from reproduce.compare.method import Context, Recipe

    layers = bench_layers("tiny_resnet", 32, 10)
    ctx = Context(
        "tiny_resnet",
        "digits",
        32,
        10,
        tmp_path / "f.pth",
        Budget(),
        layers,
        Budget().limits(layers),
        Recipe(),
    )
    argv = quant_train_argv(ctx, tmp_path / "b.json", tmp_path / "o")
    assert argv[argv.index("--asymmetric-acts-below") + 1] == "8"
    assert "--asymmetric-acts-below" not in quant_train_argv(
        replace(ctx, common_acts="hawq"), tmp_path / "b", tmp_path
    )
    assert argv[argv.index("--epochs") + 1] == "2" and "--data-percentage" not in argv
    assert "--compile" not in argv
    assert "--compile" in quant_train_argv(replace(ctx, compile=True), tmp_path / "b", tmp_path)
