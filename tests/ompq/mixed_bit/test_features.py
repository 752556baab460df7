"""Feature extraction (docs/ompq.md §3.1): train-mode BN only, deterministic, modes restored; MobileNetV2 entries."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from common.models import build_model
from ompq.mixed_bit.features import extract_features
from ompq.mixed_bit.search_model import model_from_cfg
from ompq.mixed_bit.searchable import searchable_entries


@pytest.fixture(scope="module")
def images():
    return torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_mobilenet_v2_with_dropout_gives_identical_features_twice(images):
    torch.manual_seed(0)
    model = build_model("mobilenet_v2", 10)  # torchvision's builder: classifier = Dropout(0.2), Linear
    assert any(isinstance(m, nn.Dropout) and m.p > 0 for m in model.modules())
    model.train()
    entries = searchable_entries(model, "PTQ")
    first = extract_features(model, entries, images)
    second = extract_features(model, entries, images)
    assert len(first) == 53
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    # the logits are those of the network without dropout, with BN on the batch statistics
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.train()
    with torch.no_grad():
        momentum = [(m, m.momentum) for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        for m, _ in momentum:
            m.momentum = 0.0
        logits = model(images)
        for m, mom in momentum:
            m.momentum = mom
    np.testing.assert_allclose(first[-1], logits.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bn_mode", ["train", "eval"])
def test_modes_and_bn_statistics_are_restored(images, bn_mode):
    torch.manual_seed(1)
    model = build_model("mobilenet_v2", 10)
    model.train()
    model.classifier[0].eval()  # a mixed state must come back as it was
    model.features[3].eval()
    modes = {n: m.training for n, m in model.named_modules()}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    extract_features(model, searchable_entries(model, "PTQ"), images, bn_mode)
    assert {n: m.training for n, m in model.named_modules()} == modes
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_bn_normalises_with_the_batch_statistics(images):
    torch.manual_seed(2)
    model = build_model("mobilenet_v2", 10).eval()
    entries = searchable_entries(model, "PTQ")
    stem = model.features[0]
    conv, bn = stem[0], stem[1]
    with torch.no_grad():
        y = F.batch_norm(conv(images), None, None, bn.weight, bn.bias, training=True, eps=bn.eps)
        expected = F.relu6(y).reshape(len(images), -1).numpy()
        running = F.relu6(bn(conv(images))).reshape(len(images), -1).numpy()
    got_train = extract_features(model, entries[:1], images, "train")[0]
    got_eval = extract_features(model, entries[:1], images, "eval")[0]
    np.testing.assert_allclose(got_train, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_eval, running, rtol=1e-5, atol=1e-6)


def test_first_block_feature_is_taken_without_its_residual(images):
    """The original appends ``block.conv(x)`` for the t=1 block and ``block(x)`` (with residual) for the others."""
    cfg = [8, 8, 8, 8, 16, 16, 16, 32]  # stem 8 -> block 1 8: stride 1, same width, so it has a residual
    model = model_from_cfg("mobilenet_v2", cfg, 10)
    block1 = model.features[1]
    assert block1.use_res_connect
    entries = searchable_entries(model, "PTQ")
    assert [e.module for e in entries[:6]] == [
        "features.0", "features.1.conv.0", "features.1.conv",
        "features.2.conv.0", "features.2.conv.1", "features.2",
    ]  # fmt: skip
    # a later block with a residual (group 3's second block) keeps it in its output entry
    assert model.features[5].use_res_connect and entries[3 + 3 * 4 - 1].module == "features.5"
    feats = extract_features(model, entries, images)
    model.train()  # no dropout in this model: train mode = BN on the batch statistics
    with torch.no_grad():
        x0 = model.features[0](images)
        without = block1.conv(x0).reshape(len(images), -1).numpy()
        with_res = block1(x0).reshape(len(images), -1).numpy()
    np.testing.assert_allclose(feats[2], without, rtol=1e-5, atol=1e-6)
    assert not np.allclose(feats[2], with_res, atol=1e-3)
