"""Model registry: known architectures, parameter counts, errors, pretrained loading offline."""

from __future__ import annotations

import pytest
import torch

from common.models import UnknownModelError, available_models, build_model, get_spec
from common.models.pretrained import PretrainedWeightsError

# Parameter counts of the reference definitions (torchvision's, and the layouts in the specs).
EXPECTED_PARAMS = {
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "resnet50_v1": 25_557_032,
    "mobilenet_v2": 3_504_872,
    "mobilenetv2_w1": 3_504_960,  # HAWQ-V3 costs.json fp32_params
    "mobilenet_v1": 4_231_976,
    "inception_v3": 23_834_568,  # HAWQ-V3 costs.json fp32_params
    "resnet20": 269_722,
}


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_parameter_counts(name: str) -> None:
    assert n_params(build_model(name)) == EXPECTED_PARAMS[name]


def test_required_models_are_registered() -> None:
    required = {
        "resnet18",
        "resnet50",
        "resnet101",
        "mobilenet_v2",
        "mobilenet_v1",
        "resnet20",
        "tiny_resnet",
    }
    assert required <= set(available_models())


def test_unknown_model_lists_known_names() -> None:
    with pytest.raises(UnknownModelError) as err:
        build_model("resnet19")
    message = str(err.value)
    assert "resnet19" in message and "resnet18" in message and "mobilenet_v1" in message


def test_alias_resolves() -> None:
    assert get_spec("mobilenetv2").name == "mobilenet_v2"


@pytest.mark.parametrize("name", ["tiny_resnet", "tiny_mobilenet_v2", "resnet20"])
def test_small_models_forward_on_digits_size(name: str) -> None:
    model = build_model(name, num_classes=10).eval()
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)


def test_mobilenet_v1_layout_matches_hmq_names() -> None:
    names = {n for n, _ in build_model("mobilenet_v1").named_modules()}
    assert {
        "model.0.conv2d",
        "model.0.bn",
        "model.1.dw_conv",
        "model.1.bn_0",
        "model.1.conv",
        "model.1.bn_1",
        "fc",
    } <= names
    assert "model.13.conv" in names and "model.14" not in names


def test_resnet50_v1_moves_stride_to_first_conv() -> None:
    v1 = build_model("resnet50_v1")
    v15 = build_model("resnet50")
    assert v1.layer2[0].conv1.stride == (2, 2) and v1.layer2[0].conv2.stride == (1, 1)
    assert v15.layer2[0].conv1.stride == (1, 1) and v15.layer2[0].conv2.stride == (2, 2)
    assert v1.state_dict().keys() == v15.state_dict().keys()


def test_pretrained_from_local_file(tmp_path) -> None:
    source = build_model("tiny_resnet", num_classes=10)
    path = tmp_path / "weights.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in source.state_dict().items()}}, path)
    loaded = build_model("tiny_resnet", num_classes=10, pretrained=path)
    for key, value in source.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_pretrained_other_class_count_keeps_random_head(tmp_path) -> None:
    source = build_model("tiny_resnet", num_classes=10)
    path = tmp_path / "w.pth"
    torch.save(source.state_dict(), path)
    with pytest.raises(PretrainedWeightsError, match="new-head"):  # only when confirmed
        build_model("tiny_resnet", num_classes=7, pretrained=path)
    loaded = build_model("tiny_resnet", num_classes=7, pretrained=path, new_head=True)
    assert loaded.fc.out_features == 7
    assert torch.equal(loaded.conv1.weight, source.conv1.weight)


def test_pretrained_offline_names_the_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MPQ_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(PretrainedWeightsError) as err:
        build_model("resnet18", pretrained=True, online=False)
    message = str(err.value)
    assert "resnet18-f37072fd.pth" in message and str(tmp_path / "weights") in message


def test_pretrained_without_published_weights(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MPQ_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(PretrainedWeightsError, match="mobilenet_v1_imagenet.pth"):
        build_model("mobilenet_v1", pretrained=True, online=False)


def test_missing_weights_file() -> None:
    with pytest.raises(PretrainedWeightsError, match="not found"):
        build_model("tiny_resnet", pretrained="/nonexistent/file.pth")


def test_mismatched_weights_file(tmp_path) -> None:
    path = tmp_path / "w.pth"
    torch.save(build_model("resnet20").state_dict(), path)
    with pytest.raises(PretrainedWeightsError, match="do not fit"):
        build_model("tiny_resnet", pretrained=path)
