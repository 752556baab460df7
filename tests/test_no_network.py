"""The suite runs without network: the guard in conftest.py refuses every non-loopback connection."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from common.models.pretrained import is_online


def test_outbound_connection_is_refused() -> None:
    # conftest.NetworkBlocked (an OSError) is not importable by name once sub-folders have a conftest too
    with pytest.raises(OSError, match="blocked in tests"):
        socket.create_connection(("download.pytorch.org", 443), timeout=1)
    with pytest.raises(OSError, match="blocked in tests"):
        socket.socket().connect(("93.184.216.34", 80))


def test_http_download_is_refused() -> None:
    with pytest.raises(OSError):
        urllib.request.urlopen("https://download.pytorch.org/models/resnet18-f37072fd.pth", timeout=1)


def test_loopback_still_works() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=1)
    client.close()
    server.close()


def test_pretrained_lookup_sees_offline_machine() -> None:
    assert is_online() is False
