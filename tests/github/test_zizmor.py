"""The GitHub automation has no medium or high finding of zizmor (a GitHub Actions auditor).

zizmor runs with ``--offline`` (no network, no GitHub API: only the audits that read the
files) against ``.github/``; its JSON output is checked here so a failure lists the
findings. The same command is a step of ``.github/workflows/ci.yml``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMAND = ["--offline", "--format", "json", "--min-severity", "medium", ".github/"]


def test_no_medium_or_high_findings() -> None:
    exe = shutil.which("zizmor", path=str(Path(sys.executable).parent)) or shutil.which("zizmor")
    if exe is None:
        pytest.skip("zizmor is not installed (pip install -e '.[dev]')")
    proc = subprocess.run([exe, *COMMAND], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "ZIZMOR_OFFLINE": "1", "HOME": str(ROOT)})
    findings = json.loads(proc.stdout or "[]")
    summary = [f"{f['determinations']['severity']} {f['ident']}: {f['locations'][0]['symbolic']['key']}"
               for f in findings]
    assert findings == [], "\n".join(summary)
    assert proc.returncode == 0, proc.stderr
