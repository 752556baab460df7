"""Original weight layouts (pytorchcv ResNet, BRECQ MobileNetV2, HMQ EfficientNet-B0) load tensor for tensor.

Each test writes a random state dict under the original's own key names and shapes (built here from the
original's architecture tables, not from our converters), loads it through ``load_original``, and compares the
model's output with a reference model whose tensors were assigned by hand, module by module.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models as tv

from common.models import build_model
from common.models.pretrained import PretrainedWeightsError, load_state_dict_strict
from common.models.weight_layouts import hmq_efficientnet_numerics, load_original, weight_source

GEN = torch.Generator().manual_seed(0)


def _rand(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=GEN) * 0.1


def _bn(state: dict, prefix: str, c: int) -> None:
    state[f"{prefix}.weight"] = 1 + _rand(c)
    state[f"{prefix}.bias"] = _rand(c)
    state[f"{prefix}.running_mean"] = _rand(c)
    state[f"{prefix}.running_var"] = 1 + _rand(c).abs()
    state[f"{prefix}.num_batches_tracked"] = torch.tensor(7)


def _set_bn(bn: nn.BatchNorm2d, state: dict, prefix: str) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(bn, name).data.copy_(state[f"{prefix}.{name}"])


def _save(tmp_path, monkeypatch, origin: str, file: str, obj) -> None:
    monkeypatch.setenv("MPQ_WEIGHTS_DIR", str(tmp_path))
    (tmp_path / origin).mkdir(exist_ok=True)
    torch.save(obj, tmp_path / origin / file)


def _same_output(model: nn.Module, ref: nn.Module, size: int) -> None:
    x = torch.randn(2, 3, size, size, generator=GEN)
    model.eval(), ref.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x), rtol=0, atol=0)


def test_pytorchcv_resnet18(tmp_path, monkeypatch):
    state: dict[str, torch.Tensor] = {}
    state["features.init_block.conv.conv.weight"] = _rand(64, 3, 7, 7)
    _bn(state, "features.init_block.conv.bn", 64)
    cin = 64
    for s, c in enumerate((64, 128, 256, 512), start=1):
        for u in (1, 2):
            unit = f"features.stage{s}.unit{u}"
            state[f"{unit}.body.conv1.conv.weight"] = _rand(c, cin, 3, 3)
            _bn(state, f"{unit}.body.conv1.bn", c)
            state[f"{unit}.body.conv2.conv.weight"] = _rand(c, c, 3, 3)
            _bn(state, f"{unit}.body.conv2.bn", c)
            if cin != c:
                state[f"{unit}.identity_conv.conv.weight"] = _rand(c, cin, 1, 1)
                _bn(state, f"{unit}.identity_conv.bn", c)
            cin = c
    state["output.weight"], state["output.bias"] = _rand(1000, 512), _rand(1000)
    _save(tmp_path, monkeypatch, "pytorchcv", "resnet18.pth", state)

    from hawq.utils.models import build_float_model

    model = build_float_model("resnet18", 1000, pretrained=True)  # HAWQ's --pretrained path
    ref = tv.resnet18()
    ref.conv1.weight.data.copy_(state["features.init_block.conv.conv.weight"])
    _set_bn(ref.bn1, state, "features.init_block.conv.bn")
    for s in range(1, 5):
        for u in (1, 2):
            block, unit = getattr(ref, f"layer{s}")[u - 1], f"features.stage{s}.unit{u}"
            for k in (1, 2):
                getattr(block, f"conv{k}").weight.data.copy_(state[f"{unit}.body.conv{k}.conv.weight"])
                _set_bn(getattr(block, f"bn{k}"), state, f"{unit}.body.conv{k}.bn")
            if block.downsample is not None:
                block.downsample[0].weight.data.copy_(state[f"{unit}.identity_conv.conv.weight"])
                _set_bn(block.downsample[1], state, f"{unit}.identity_conv.bn")
    ref.fc.weight.data.copy_(state["output.weight"])
    ref.fc.bias.data.copy_(state["output.bias"])
    _same_output(model, ref, 32)


def test_brecq_mobilenetv2(tmp_path, monkeypatch):
    # BRECQ's table (t, c, n, s); blocks are flat Sequentials: dw,bn,relu,pw,bn or pw,bn,relu,dw,bn,relu,pw,bn
    table = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]
    state: dict[str, torch.Tensor] = {"features.0.0.weight": _rand(32, 3, 3, 3)}
    _bn(state, "features.0.1", 32)
    cin, i, plan = 32, 1, []
    for t, c, n, _s in table:
        for _ in range(n):
            hidden, p = cin * t, f"features.{i}.conv"
            if t == 1:
                state[f"{p}.0.weight"] = _rand(hidden, 1, 3, 3)
                _bn(state, f"{p}.1", hidden)
                state[f"{p}.3.weight"] = _rand(c, hidden, 1, 1)
                _bn(state, f"{p}.4", c)
            else:
                state[f"{p}.0.weight"] = _rand(hidden, cin, 1, 1)
                _bn(state, f"{p}.1", hidden)
                state[f"{p}.3.weight"] = _rand(hidden, 1, 3, 3)
                _bn(state, f"{p}.4", hidden)
                state[f"{p}.6.weight"] = _rand(c, hidden, 1, 1)
                _bn(state, f"{p}.7", c)
            plan.append((i, t))
            cin, i = c, i + 1
    state["features.18.0.weight"] = _rand(1280, 320, 1, 1)
    _bn(state, "features.18.1", 1280)
    state["classifier.1.weight"], state["classifier.1.bias"] = _rand(1000, 1280), _rand(1000)
    _save(tmp_path, monkeypatch, "brecq", "mobilenetv2.pth.tar", {"model": state, "epoch": 150})

    model = load_original(build_model("mobilenet_v2", 1000), weight_source("brecq", "mobilenet_v2"))
    ref = tv.mobilenet_v2()
    flat = {name: m for name, m in ref.named_modules()}
    ref.features[0][0].weight.data.copy_(state["features.0.0.weight"])
    _set_bn(ref.features[0][1], state, "features.0.1")
    for i, t in plan:
        # the i-th block's convs and BNs in forward order, whatever their nesting in torchvision
        convs = [m for m in ref.features[i].conv.modules() if isinstance(m, nn.Conv2d)]
        bns = [m for m in ref.features[i].conv.modules() if isinstance(m, nn.BatchNorm2d)]
        flat_idx = (0, 3) if t == 1 else (0, 3, 6)
        for conv, bn, j in zip(convs, bns, flat_idx, strict=True):
            conv.weight.data.copy_(state[f"features.{i}.conv.{j}.weight"])
            _set_bn(bn, state, f"features.{i}.conv.{j + 1}")
    flat["features.18.0"].weight.data.copy_(state["features.18.0.weight"])
    _set_bn(flat["features.18.1"], state, "features.18.1")
    ref.classifier[1].weight.data.copy_(state["classifier.1.weight"])
    ref.classifier[1].bias.data.copy_(state["classifier.1.bias"])
    _same_output(model, ref, 32)


def test_hmq_efficientnet_b0(tmp_path, monkeypatch):
    # HMQ's stage table (output channels, expand ratio, first stride, kernel, repeats) after the 32-channel stem
    stages = [(16, 1, 1, 3, 1), (24, 6, 2, 3, 2), (40, 6, 2, 5, 2), (80, 6, 2, 3, 3), (112, 6, 1, 5, 3)]
    stages += [(192, 6, 2, 5, 4), (320, 6, 1, 3, 1)]
    state: dict[str, torch.Tensor] = {"conv_blocks.0.0.conv.weight": _rand(32, 3, 3, 3)}
    _bn(state, "conv_blocks.0.0.bn", 32)
    cin, plan = 32, []
    for s, (c, t, _stride, k, n) in enumerate(stages, start=1):
        for j in range(n):
            p, hidden, idx = f"conv_blocks.{s}.blocks.{j}.conv", cin * t, 0
            if t != 1:
                state[f"{p}.0.0.conv.weight"] = _rand(hidden, cin, 1, 1)
                _bn(state, f"{p}.0.0.bn", hidden)
                idx = 1
            state[f"{p}.{idx}.0.conv.weight"] = _rand(hidden, 1, k, k)
            _bn(state, f"{p}.{idx}.0.bn", hidden)
            red = int(cin * 0.25)
            state[f"{p}.{idx + 1}.conv_reduce.0.conv.weight"] = _rand(red, hidden, 1, 1)
            state[f"{p}.{idx + 1}.conv_reduce.0.conv.bias"] = _rand(red)
            state[f"{p}.{idx + 1}.conv_expand.0.conv.weight"] = _rand(hidden, red, 1, 1)
            state[f"{p}.{idx + 1}.conv_expand.0.conv.bias"] = _rand(hidden)
            state[f"{p}.{idx + 2}.0.conv.weight"] = _rand(c, hidden, 1, 1)
            _bn(state, f"{p}.{idx + 2}.0.bn", c)
            plan.append((s, j, p, idx))
            cin = c
    state["conv_head.0.conv.weight"] = _rand(1280, 320, 1, 1)
    _bn(state, "conv_head.0.bn", 1280)
    state["fc.fc.weight"], state["fc.fc.bias"] = _rand(1000, 1280), _rand(1000)
    _save(
        tmp_path,
        monkeypatch,
        "hmq",
        "EfficientNet_B0_IMAGENET.pt",
        {f"module.{k}": v for k, v in state.items()},
    )

    model = load_original(build_model("efficientnet_b0", 1000), weight_source("hmq", "efficientnet_b0"))
    ref = hmq_efficientnet_numerics(tv.efficientnet_b0())
    ref.features[0][0].weight.data.copy_(state["conv_blocks.0.0.conv.weight"])
    _set_bn(ref.features[0][1], state, "conv_blocks.0.0.bn")
    for s, j, p, idx in plan:
        block = ref.features[s][j].block
        parts = ([f"{p}.0.0"] if idx else []) + [f"{p}.{idx}.0"]
        for m, prefix in zip(block[: idx + 1], parts, strict=True):
            m[0].weight.data.copy_(state[f"{prefix}.conv.weight"])
            _set_bn(m[1], state, f"{prefix}.bn")
        se = block[idx + 1]
        for fc, name in ((se.fc1, "conv_reduce"), (se.fc2, "conv_expand")):
            fc.weight.data.copy_(state[f"{p}.{idx + 1}.{name}.0.conv.weight"])
            fc.bias.data.copy_(state[f"{p}.{idx + 1}.{name}.0.conv.bias"])
        block[idx + 2][0].weight.data.copy_(state[f"{p}.{idx + 2}.0.conv.weight"])
        _set_bn(block[idx + 2][1], state, f"{p}.{idx + 2}.0.bn")
    ref.features[8][0].weight.data.copy_(state["conv_head.0.conv.weight"])
    _set_bn(ref.features[8][1], state, "conv_head.0.bn")
    ref.classifier[1].weight.data.copy_(state["fc.fc.weight"])
    ref.classifier[1].bias.data.copy_(state["fc.fc.bias"])
    _same_output(model, ref, 64)


def test_hmq_numerics_pad_like_tensorflow():
    net = nn.Sequential(nn.Conv2d(2, 2, 5, stride=2, padding=2, bias=False), nn.BatchNorm2d(2))
    hmq_efficientnet_numerics(net)
    x = torch.randn(1, 2, 9, 9, generator=GEN)
    # TensorFlow SAME for k=5, s=2: 3 padded pixels, 1 before and 2 after, on each axis
    expect = F.conv2d(F.pad(x, (1, 2, 1, 2)), net[0].weight, stride=2)
    assert net[1].eps == 1e-3
    torch.testing.assert_close(net[0](x), expect)


def test_missing_original_file_names_url_and_place(tmp_path, monkeypatch):
    monkeypatch.setenv("MPQ_WEIGHTS_DIR", str(tmp_path))
    from common.runtime import UsageError
    from hawq.utils.models import build_float_model

    with pytest.raises(UsageError) as err:  # no silent torchvision ResNet-18 in place of pytorchcv's
        build_float_model("resnet18", 1000, pretrained=True)
    assert "github.com/osmr/imgclsmob" in str(err.value)
    assert str(tmp_path / "pytorchcv" / "resnet18.pth") in str(err.value)
    with pytest.raises(
        PretrainedWeightsError, match=r"yhhhli/BRECQ/releases/download/v1.0/mobilenetv2.pth.tar"
    ):
        load_original(build_model("mobilenet_v2", 10), weight_source("brecq", "mobilenet_v2"))
    with pytest.raises(PretrainedWeightsError, match=r"HMQ/models/mobilenet_v1_imagenet.pth"):
        build_model("mobilenet_v1", 1000, pretrained=True, online=False)


def test_no_tensor_is_dropped_silently(tmp_path, capsys):
    src = build_model("tiny_resnet", 10)
    path = tmp_path / "w.pth"
    torch.save(src.state_dict(), path)
    with pytest.raises(PretrainedWeightsError, match=r"fc\.weight.*new-head"):
        build_model("tiny_resnet", 7, pretrained=path)
    model = build_model("tiny_resnet", 7, pretrained=path, new_head=True)
    assert "new head" in capsys.readouterr().err
    own = model.state_dict()
    assert all(torch.equal(own[k], v) for k, v in src.state_dict().items() if not k.startswith("fc."))
    # a mismatch outside the head is an error even with new_head, and so is a stray tensor
    bad = dict(src.state_dict())
    bad["conv1.weight"] = bad["conv1.weight"][:, :1]
    with pytest.raises(PretrainedWeightsError, match=r"conv1\.weight"):
        load_state_dict_strict(build_model("tiny_resnet", 10), bad, "tiny_resnet", new_head=True)
    extra = dict(src.state_dict(), stray=torch.zeros(1))
    with pytest.raises(PretrainedWeightsError, match="unexpected stray"):
        load_state_dict_strict(build_model("tiny_resnet", 10), extra, "tiny_resnet")
