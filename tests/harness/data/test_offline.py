"""The offline switch turns network use into an error and leaves loopback alone."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from specboard.harness.data.offline import (
    OfflineError,
    disable_offline,
    enforce_offline,
    is_offline,
)


@pytest.fixture
def offline() -> Iterator[None]:
    enforce_offline()
    try:
        yield
    finally:
        disable_offline()


def test_remote_connect_refused(offline: None) -> None:
    assert is_offline()
    with pytest.raises(OfflineError, match="specboard prefetch"):
        socket.create_connection(("203.0.113.7", 443), timeout=1)
    with pytest.raises(OfflineError):
        socket.getaddrinfo("models.example.com", 443)


def test_http_client_refused(offline: None) -> None:
    import urllib.request

    with pytest.raises(Exception) as info:
        urllib.request.urlopen("http://198.51.100.9/weights.bin", timeout=1)
    assert "offline" in str(info.value)


def test_loopback_allowed(offline: None) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    t = threading.Thread(target=lambda: server.accept()[0].close(), daemon=True)
    t.start()
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    t.join(5)
    server.close()


def test_hf_env_switched_on(offline: None) -> None:
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["HF_DATASETS_OFFLINE"] == "1"
