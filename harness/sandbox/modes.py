"""Which isolation this machine gives (``SPECBOARD_SANDBOX``), probed once per process."""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Mapping
from functools import lru_cache

from specboard.harness.errors import UsageError
from specboard.harness.sandbox.core import Limits, spawn_and_collect

MODES = ("bwrap", "unshare", "unsafe-no-namespace")
ENV_VAR = "SPECBOARD_SANDBOX"
_PROBE = "import sys; sys.stdout.write('ok')"


class SandboxUnavailableError(UsageError, RuntimeError):
    """No usable isolation on this machine (and no explicit opt-out)."""


def probe(mode: str) -> str | None:
    """None when ``mode`` runs a trivial program correctly here, else why not."""
    tool = {"bwrap": "bwrap", "unshare": "unshare"}.get(mode)
    if tool and shutil.which(tool) is None:
        return f"{tool} is not installed"
    res = spawn_and_collect(mode, _PROBE, "probe.py", {}, Limits(cpu_s=5, wall_s=20), None)
    if res.status == "passed" and res.stdout == "ok":
        return None
    return f"{mode} probe failed: {res.status}: {res.reason or res.stderr.strip()[-300:]}"


@lru_cache(maxsize=8)
def resolve(requested: str) -> str:
    """The mode to use for ``requested`` (``auto`` probes bwrap, then unshare)."""
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
        why = probe(mode)
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
    return resolve(env.get(ENV_VAR, "auto").strip() or "auto")
