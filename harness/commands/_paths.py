"""Checks on the files a command is given, so that every problem is one line, never a hang.

:func:`input_file` refuses, before anything opens it, a path that is missing, a directory,
not a regular file (a FIFO without a writer would block ``open`` forever; a device could
stream without end) or not readable. :func:`writing` turns an ``OSError`` while writing an
output (read-only or full disk, no permission) into one line naming the file.

Not handled: a regular file that another process replaces between the check and the read
(the read then reports whatever ``open`` raises), and readability decided by ACLs or
security modules that ``os.access`` does not see (the read reports it).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator

from specboard.harness.errors import InvalidInputError, UsageError


class UnwritableOutputError(UsageError):
    """An output file cannot be written here (read-only or full disk, no permission)."""


def input_file(path: str) -> str:
    """``path`` if it is a readable regular file, else a one-line :class:`SpecboardError`."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except PermissionError:
        raise InvalidInputError(f"{path}: permission denied") from None
    except OSError as exc:
        raise InvalidInputError(f"{path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{path}: is a directory, not a JSONL file (name the files inside it)")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "a device"
        raise UsageError(f"{path}: is {kind}, not a regular file; refusing to read it")
    if not os.access(path, os.R_OK):
        raise InvalidInputError(f"{path}: permission denied")
    return path


def output_file(path: str) -> str:
    """``path`` if it is absent or a regular file: never replace a directory, FIFO or device."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise UnwritableOutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{path}: is a directory; name a file to write")
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{path}: is not a regular file (FIFO, socket or device); refusing to replace it")
    return path


def input_files(paths: list[str]) -> list[str]:
    return [input_file(p) for p in paths]


@contextlib.contextmanager
def writing(path: str) -> Iterator[None]:
    """Report an ``OSError`` raised while writing ``path`` as one line naming it."""
    try:
        yield
    except OSError as exc:
        raise UnwritableOutputError(f"cannot write {path}: {exc.strerror or exc}") from None
