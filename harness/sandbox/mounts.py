"""Command lines of the isolating tools: what the sandbox can see.

bwrap mode builds the sandbox's filesystem from nothing (bubblewrap's empty root): only
the interpreter's prefix (and the directory of its binary), the system library
directories it links against (``/usr/lib``, ``/lib*`` and their symlinks), the dynamic
linker's cache, ``/dev/null`` and ``/dev/urandom`` are bound, all read-only; ``/tmp`` is a
size-capped tmpfs that holds the working directory, and the program's files are copied
into it from memfds, so nothing the program writes reaches the host disk.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

INSIDE_WORKDIR = "/tmp/work"
LIBRARY_DIRS = ("/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/libx32", "/lib", "/lib64", "/lib32", "/libx32")
"""System library directories bound read-only (or re-created as the symlinks they are)."""
DEVICES = ("/dev/null", "/dev/urandom")


def interpreter() -> tuple[str, str]:
    """The base interpreter (not the venv shim: programs get only the standard library)."""
    exe = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    return exe, os.path.realpath(sys.base_prefix)


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _ancestors(path: str) -> list[str]:
    parts = Path(path).parts[1:-1]
    return [str(Path("/", *parts[: i + 1])) for i in range(len(parts))]


def _read_only(paths: list[str]) -> list[str]:
    """bind arguments for ``paths`` (deduplicated, parents created traversable first)."""
    cmd: list[str] = []
    made: set[str] = set()
    kept: list[str] = []
    for p in sorted(set(paths), key=len):
        if not any(_under(p, k) for k in kept):
            kept.append(p)
    for p in kept:
        for a in _ancestors(p):
            if a not in made and not any(_under(a, k) for k in kept):
                cmd += ["--perms", "0755", "--dir", a]
                made.add(a)
        cmd += ["--ro-bind", p, p]
    return cmd


def bwrap_argv(tmp_bytes: int, files: Mapping[str, int]) -> list[str]:
    """``bwrap ... --``: ``files`` maps names inside the working directory to readable fds."""
    exe, prefix = interpreter()
    binds = [prefix] + ([] if _under(exe, prefix) else [os.path.dirname(exe)])
    links: list[str] = []
    for d in LIBRARY_DIRS:
        if os.path.islink(d):
            links += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            binds.append(d)
    cmd = ["bwrap", *_read_only(binds), *links, "--perms", "0755", "--dir", "/etc",
           "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    cmd += ["--perms", "0755", "--dir", "/dev"]
    for dev in DEVICES:
        cmd += ["--dev-bind", dev, dev]
    cmd += ["--perms", "1777", "--size", str(tmp_bytes), "--tmpfs", "/tmp"]
    cmd += ["--perms", "1777", "--dir", INSIDE_WORKDIR]
    for name, fd in sorted(files.items()):
        target = f"{INSIDE_WORKDIR}/{name}"
        for a in _ancestors(target):
            if _under(a, INSIDE_WORKDIR) and a != INSIDE_WORKDIR:
                cmd += ["--perms", "1777", "--dir", a]
        cmd += ["--perms", "0644", "--file", str(fd), target]
    cmd += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if os.geteuid() == 0:
        cmd += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        cmd += ["--unshare-user"]
    cmd += ["--die-with-parent", "--new-session", "--clearenv", "--"]
    return cmd


def unshare_prefix() -> list[str]:
    """``unshare ... --``: new network and PID namespaces (and a user namespace when not root)."""
    cmd = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]
    if os.geteuid() != 0:
        cmd += ["--user", "--map-root-user"]
    return [*cmd, "--"]
