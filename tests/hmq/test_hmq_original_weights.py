"""HMQ's EfficientNet-B0 starts from HMQ's own float file, never torchvision's (issue 18 item 1)."""

from __future__ import annotations

import pytest

from common.runtime import UsageError
from hmq.weights import original_weights_file


def test_missing_hmq_efficientnet_file_names_url_and_place(tmp_path, monkeypatch):
    monkeypatch.setenv("MPQ_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(UsageError) as err:
        original_weights_file("efficientnet_b0")
    assert "sony-si/ai-research/raw/master/HMQ/models/EfficientNet_B0_IMAGENET.pt" in str(err.value)
    assert str(tmp_path / "hmq" / "EfficientNet_B0_IMAGENET.pt") in str(err.value)
    (tmp_path / "hmq").mkdir()
    (tmp_path / "hmq" / "EfficientNet_B0_IMAGENET.pt").write_bytes(b"")
    assert original_weights_file("efficientnet_b0") == tmp_path / "hmq" / "EfficientNet_B0_IMAGENET.pt"
    assert original_weights_file("mobilenet_v2") is None  # torchvision's V1 weights are the original's there
