"""bfcl-eval's simulated multi-turn APIs, run in a child process with memory and time limits.

The multi-turn loop executes the model's calls against bfcl's simulated APIs
(``execute_multi_turn_func_call``) and checks the final state (``multi_turn_checker``,
which executes every call again). :mod:`.safe_eval` makes sure only public methods of
those simulated instances run, with literal arguments; but a method given a huge argument
can still take unbounded time or memory (``MathAPI.power(base=10, exponent=10**12)``,
``GorillaFileSystem.cut(fields="1-99999999999")``) or change process-wide state
(``MathAPI.square_root`` sets the ``decimal`` context, ``logarithm`` mpmath's precision).
So all of it runs here, in one long-lived child per scoring process, never in the
scoring process itself:

- the child is ``python -P -m specboard.suites.bfcl.api_worker``; requests and replies are
  JSON lines on a private pipe (the simulated APIs' own prints go to stderr);
- it caps its address space (:data:`MEMORY_BYTES`, ``RLIMIT_AS``) so a memory bomb is a
  ``MemoryError`` inside the call, which bfcl reports as an execution error;
- every request has a wall-clock limit (:data:`TIMEOUT_S`); past it the child is killed
  (SIGKILL), :class:`ApiTimeoutError` is raised for that item, and the next request starts
  a fresh child.

Not handled: CPU time taken from other processes while a call runs (up to the timeout),
and sharing one child between threads at the same time (requests are serialised by a lock).
"""

from __future__ import annotations

import json
import os
import re
import selectors
import subprocess
import sys
import threading
import time
from typing import Any

MEMORY_BYTES = 4 << 30
"""Address-space cap of the child (bfcl and its imports take well under 1 GiB)."""
TIMEOUT_S = 60.0
"""Wall-clock seconds one request (one turn step, or one final check) may take."""
START_TIMEOUT_S = 120.0
"""Seconds the child may take to import bfcl-eval (a loaded 2-core machine is slow)."""


class ApiTimeoutError(RuntimeError):
    """A simulated-API request ran past its wall-clock limit; the child was killed."""


# ---------------------------------------------------------------------------- child side
def _serve(channel: Any) -> None:
    from specboard.suites.bfcl.decode import safe_bfcl
    from specboard.suites.bfcl.loader import answers, entries

    b = safe_bfcl()
    channel.write(json.dumps({"ok": "ready"}) + "\n")
    channel.flush()
    for line in sys.stdin:
        req = json.loads(line)
        try:
            reply: dict[str, Any] = {"ok": _handle(b, req, entries, answers)}
        except Exception as exc:  # reported to the parent, which decides
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        channel.write(json.dumps(reply, default=str) + "\n")
        channel.flush()


def _handle(b: Any, req: dict[str, Any], entries: Any, answers: Any) -> Any:
    op = req["op"]
    if op == "close":
        prefix = re.sub(r"[-./:]", "_", req["model"])
        for key in [k for k in vars(b.multi_turn_utils) if k.startswith(prefix)]:
            delattr(b.multi_turn_utils, key)
        return None
    entry = entries(req["category"], True)[req["item_id"]]
    if op == "execute":
        outs, _ = b.execute(req["calls"], initial_config=entry.get("initial_config", {}),
                            involved_classes=entry["involved_classes"], model_name=req["model"],
                            test_entry_id=entry["id"], long_context=req["long_context"], is_evaL_run=False)
        return outs
    if op == "check":
        truth = answers(req["category"])[req["item_id"]]
        return b.multi_turn_checker(req["results"], truth, entry, req["category"], req["model"])
    raise ValueError(f"unknown op {op!r}")


def main() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything the simulated APIs print goes to stderr, not into the protocol
    _serve(channel)


# --------------------------------------------------------------------------- parent side
class _Worker:
    """One child process; :meth:`request` restarts it when it died or was killed."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.lock = threading.Lock()

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "specboard.suites.bfcl.api_worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            encoding="utf-8", start_new_session=True,
        )
        self._read(START_TIMEOUT_S)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def _read(self, timeout: float) -> Any:
        assert self.proc is not None and self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + timeout
            while not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                if time.monotonic() >= deadline:
                    self.kill()
                    raise ApiTimeoutError(f"simulated API call took longer than {timeout:g} s (killed)")
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            self.proc = None
            raise ApiTimeoutError(f"simulated API process died (exit {code})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"simulated API process: {reply['error']}")
        return reply["ok"]

    def request(self, timeout: float | None = None, **req: Any) -> Any:
        timeout = TIMEOUT_S if timeout is None else timeout
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self._start()
            assert self.proc is not None and self.proc.stdin is not None
            try:
                self.proc.stdin.write(json.dumps(req) + "\n")
                self.proc.stdin.flush()
            except BrokenPipeError:
                self.kill()
                raise ApiTimeoutError("simulated API process died") from None
            return self._read(timeout)


_WORKER = _Worker()


class ApiSession:
    """The simulated APIs of one multi-turn item (one model name) in the worker."""

    def __init__(self, category: str, item_id: str, model: str, long_context: bool):
        self.base = {"category": category, "item_id": item_id, "model": model}
        self.long_context = long_context

    def execute(self, calls: list[str]) -> list[str]:
        return list(_WORKER.request(op="execute", calls=calls, long_context=self.long_context, **self.base))

    def check(self, results: list[list[list[str]]]) -> dict[str, Any]:
        return dict(_WORKER.request(op="check", results=results, **self.base))

    def close(self) -> None:
        if _WORKER.proc is not None:
            try:
                _WORKER.request(op="close", **self.base)
            except (ApiTimeoutError, RuntimeError):
                pass


if __name__ == "__main__":
    main()
