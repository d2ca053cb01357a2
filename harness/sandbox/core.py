"""One sandboxed run: place the files, start the launcher, collect output, classify.

The status of a run comes only from what this process measured: the wall clock, the
bytes of output, the wait status and resource usage that the trusted launcher reports on
a private pipe, and (``must_finish``) whether the per-run random token printed after the
program's last line arrived. Nothing the program writes to stdout/stderr changes the
status; its stderr appears only in ``reason`` for people to read.
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from specboard.harness.sandbox.mounts import INSIDE_WORKDIR, bwrap_argv, interpreter, unshare_prefix

Status = Literal["passed", "failed", "timeout", "memory", "killed", "error"]
_SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
MEMORY_RSS_FRACTION = 0.5
"""A failed run whose peak RSS reached this fraction of ``memory_bytes`` is ``memory``."""


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
    """Size cap of the tmpfs holding ``/tmp`` and the working directory (bwrap mode)."""


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


def end_marker(token: str) -> str:
    """Program text appended after the last line: prints the token on a line of its own."""
    return f"\n\nimport sys as _specboard_sys\n_specboard_sys.stdout.write('\\n{token}\\n')\n_specboard_sys.stdout.flush()\n"


def safe_name(name: str) -> str:
    """A relative file name that stays inside the working directory (else ValueError)."""
    norm = os.path.normpath(name)
    if os.path.isabs(norm) or norm == ".." or norm.startswith("../") or norm in ("", "."):
        raise ValueError(f"sandbox file name {name!r} leaves the working directory")
    return norm


def spawn_and_collect(mode: str, code: str, filename: str, files: Mapping[str, str], limits: Limits,
                      stdin: bytes | None, must_finish: bool = False) -> SandboxResult:
    """Run ``code`` once in ``mode``; see the package docstring for what each mode gives."""
    token = secrets.token_hex(16) if must_finish else None
    program = code + end_marker(token) if token else code
    texts = {safe_name(n): t for n, t in {**files, filename: program}.items()}
    exe, _ = interpreter()
    uid = 200_000 + secrets.randbelow(800_000) if (os.geteuid() == 0 and mode == "bwrap") else None
    workdir = None if mode == "bwrap" else tempfile.mkdtemp(prefix="specboard-sbx-")
    fds: list[int] = []
    try:
        placed = _place(texts, workdir, fds)
        inside = INSIDE_WORKDIR if workdir is None else workdir
        env = {"PATH": _SANDBOX_PATH, "HOME": inside, "TMPDIR": inside, "LANG": "C.UTF-8",
               "PYTHONDONTWRITEBYTECODE": "1"}
        read_fd, write_fd = os.pipe()
        config = {
            "fd": write_fd, "uid": uid, "cwd": inside, "env": env,
            "argv": [exe, "-E", "-s", "-B", f"{inside}/{safe_name(filename)}"],
            "limits": {"cpu": limits.cpu_s, "as": limits.memory_bytes, "fsize": limits.file_size_bytes,
                       "nproc": limits.processes, "nofile": limits.open_files},
        }
        argv = _argv(mode, workdir, limits, placed, [exe, "-I", "-S", "-c", _LAUNCHER, json.dumps(config)])
        with tempfile.TemporaryFile() as stdin_file:  # a file, so a full pipe never blocks us
            stdin_file.write(stdin or b"")
            stdin_file.seek(0)
            t0 = time.monotonic()
            try:
                proc = subprocess.Popen(
                    argv, stdin=stdin_file if stdin else subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, pass_fds=(write_fd, *fds), env=env, cwd=workdir or "/",
                    process_group=0,
                )
            finally:
                os.close(write_fd)
                for fd in fds:
                    os.close(fd)
                fds = []
            try:
                res = _collect(proc, read_fd, limits, t0, mode)
            finally:
                os.close(read_fd)
        if token is not None:
            _check_end(res, token)
        return res
    finally:
        for fd in fds:
            os.close(fd)
        if workdir is not None:
            _remove(workdir)


def _place(texts: Mapping[str, str], workdir: str | None, fds: list[int]) -> dict[str, int]:
    """Put the program's files where the sandbox reads them: memfds passed to bwrap (they
    never touch the host disk; their fds are appended to ``fds``), else files in ``workdir``."""
    placed: dict[str, int] = {}
    for name, text in texts.items():
        if workdir is None:
            fd = os.memfd_create(f"sbx-{os.path.basename(name)}", 0)
            fds.append(fd)
            os.write(fd, text.encode("utf-8"))
            os.lseek(fd, 0, os.SEEK_SET)
            placed[name] = fd
        else:
            target = os.path.join(workdir, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w", encoding="utf-8") as fh:
                fh.write(text)
    return placed


def _argv(mode: str, workdir: str | None, limits: Limits, placed: Mapping[str, int], launcher: list[str]) -> list[str]:
    """The launcher behind the mode's isolation prefix."""
    if workdir is None:
        return bwrap_argv(limits.tmp_bytes, placed) + launcher
    if mode == "unshare":
        return unshare_prefix() + launcher
    return launcher


def _check_end(res: SandboxResult, token: str) -> None:
    """``must_finish``: passed only if the token is the last line of stdout (then removed)."""
    marker = f"\n{token}\n"
    reached = res.stdout.endswith(marker)
    if reached:
        res.stdout = res.stdout[: -len(marker)]
    res.stdout = res.stdout.replace(token, "<token>")
    if res.status == "passed" and not reached:
        res.status = "failed"
        res.reason = "exit code 0 before the end of the program (its completion token was not printed)"


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
            with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as fh:
                children = fh.read().split()
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


def _pump(proc: subprocess.Popen[bytes], status_fd: int, limits: Limits, t0: float
          ) -> tuple[str, dict[str, bytearray], dict[str, bytearray], dict[str, int], bytearray]:
    """Read stdout/stderr/status until the program ends, the wall clock or the output cap."""
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
    return killed_for, kept, tails, seen, status_buf


def _collect(proc: subprocess.Popen[bytes], status_fd: int, limits: Limits, t0: float, mode: str) -> SandboxResult:
    killed_for, kept, tails, seen, status_buf = _pump(proc, status_fd, limits, t0)
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
    """Status from the launcher's measurements only (wait status, CPU seconds, peak RSS)."""
    st = int(report["status"])
    res.cpu_s = float(report["cpu"])
    res.max_rss_bytes = int(report["rss"])
    near_limit = res.max_rss_bytes >= MEMORY_RSS_FRACTION * limits.memory_bytes
    last = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    said = f": {last[-1][:300]}" if last else ""  # for people; never used for the status
    if os.WIFEXITED(st):
        res.exit_code = os.WEXITSTATUS(st)
        if res.exit_code == 0:
            res.status, res.reason = "passed", ""
        elif near_limit:
            res.status = "memory"
            res.reason = f"exit code {res.exit_code} at peak RSS {res.max_rss_bytes} of {limits.memory_bytes} bytes{said}"
        else:
            res.status, res.reason = "failed", f"exit code {res.exit_code}{said}"
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
    elif near_limit:
        res.status, res.reason = "memory", f"killed by {name} at peak RSS {res.max_rss_bytes} bytes"
    else:
        res.status, res.reason = "killed", f"killed by {name}"
