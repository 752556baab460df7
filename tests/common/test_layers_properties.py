"""Property tests: the enumeration agrees with the conv arithmetic for any geometry."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from common.layers import DEPTHWISE, enumerate_layers


@st.composite
def conv_geometry(draw):
    groups = draw(st.sampled_from([1, 2, 4]))
    cin = groups * draw(st.integers(1, 4))
    cout = groups * draw(st.integers(1, 4))
    depthwise = draw(st.booleans())
    if depthwise:
        groups, cout = cin, cin * draw(st.integers(1, 2))
    kernel = draw(st.sampled_from([1, 3, 5]))
    stride = draw(st.integers(1, 3))
    padding = draw(st.integers(0, kernel // 2))
    size = draw(st.integers(kernel, 24))
    bias = draw(st.booleans())
    return cin, cout, kernel, stride, padding, groups, size, bias


@settings(max_examples=60, deadline=None)
@given(conv_geometry())
def test_conv_macs_and_shapes(geometry) -> None:
    cin, cout, kernel, stride, padding, groups, size, bias = geometry
    conv = nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups, bias=bias)
    (layer,) = enumerate_layers(nn.Sequential(conv), size, in_channels=cin)
    out = (size + 2 * padding - kernel) // stride + 1
    assert layer.out_hw == (out, out) and layer.in_hw == (size, size)
    assert layer.macs == cout * (cin // groups) * kernel * kernel * out * out
    assert layer.weight_params == conv.weight.numel()
    assert layer.bias_params == (cout if bias else 0)
    assert (layer.kind == DEPTHWISE) == (groups > 1 and groups == cin)
    # MACs equal the multiply count of the real convolution (ones in, ones as weights)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        if bias:
            conv.bias.zero_()
        ones = conv(torch.ones(1, cin, size, size))
    if padding == 0:
        assert int(ones.sum().item()) == layer.macs
