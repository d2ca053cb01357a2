"""The offline switch: with it on, any attempt to reach the network is an error.

``SPECBOARD_OFFLINE=1`` (or ``specboard --offline``) makes the entry points (the CLI and
the pytest plugin, through :func:`specboard.harness.runtime.configure`, once at start-up)
call :func:`enforce_offline`, which

- sets ``HF_HUB_OFFLINE``, ``TRANSFORMERS_OFFLINE`` and ``HF_DATASETS_OFFLINE`` so Hugging
  Face libraries never try a hub, and
- wraps ``socket.socket.connect``/``connect_ex`` and ``socket.getaddrinfo`` so a connection
  to anything but this machine (loopback, Unix sockets) raises :class:`OfflineError`
  naming ``specboard prefetch``.

Loopback stays allowed: pytest-xdist, ``torch.distributed`` (gloo) and local servers use
it. Not handled: code that opens raw sockets through C extensions without going through
Python's ``socket`` module (e.g. libcurl inside a native library); our own processes that
need data get it only from the cache.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

from specboard.harness.errors import UsageError

_ENABLED = False
_orig_connect = socket.socket.connect
_orig_connect_ex = socket.socket.connect_ex
_orig_getaddrinfo = socket.getaddrinfo

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


class OfflineError(UsageError, ConnectionError):
    """Network use while offline."""


def is_offline() -> bool:
    return _ENABLED or os.environ.get("SPECBOARD_OFFLINE", "") not in ("", "0", "false", "no")


def _is_local_host(host: Any) -> bool:
    if not isinstance(host, str):
        return True
    if host in _LOCAL_NAMES or host == socket.gethostname():
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _message(target: Any) -> str:
    return (
        f"specboard is offline (SPECBOARD_OFFLINE=1): refused network access to {target!r}. "
        "Data and weights come only from the cache: run `specboard prefetch` on a machine "
        "with registry access first."
    )


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local_host(address[0]):
        raise OfflineError(_message(address))
    return _orig_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local_host(address[0]):
        raise OfflineError(_message(address))
    return _orig_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host is not None and not _is_local_host(host if isinstance(host, str) else host.decode()):
        raise OfflineError(_message(host))
    return _orig_getaddrinfo(host, *args, **kwargs)


def enforce_offline() -> None:
    """Turn the offline switch on for this process (idempotent)."""
    global _ENABLED
    os.environ["SPECBOARD_OFFLINE"] = "1"
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[var] = "1"
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]
    _ENABLED = True


def disable_offline() -> None:
    """Undo :func:`enforce_offline` (tests)."""
    global _ENABLED
    socket.socket.connect = _orig_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _orig_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _orig_getaddrinfo
    os.environ.pop("SPECBOARD_OFFLINE", None)
    _ENABLED = False


def enforce_if_requested() -> None:
    """Apply the switch when the environment asks for it."""
    if os.environ.get("SPECBOARD_OFFLINE", "") not in ("", "0", "false", "no"):
        enforce_offline()
