"""specboard lives under one namespace and does not shadow PyPI packages.

The user's top-level directories (``kernels/``, ``baselines/``, ``harness/``, ...) are
installed as ``specboard.kernels`` etc. transformers probes for Hugging Face's ``kernels``
package; lm-eval and others import generic names. Both must import cleanly, and the bare
names must not resolve to our directories.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_PROBE = """
import importlib.util, sys
sys.path = [p for p in sys.path if p not in ('', '.')]
import specboard.kernels, specboard.baselines, specboard.harness, specboard.trainers, specboard.leaderboard
for bare in ("kernels", "baselines", "harness", "trainers", "leaderboard"):
    spec = importlib.util.find_spec(bare)
    where = [] if spec is None else [spec.origin or "", *(spec.submodule_search_locations or [])]
    assert not any(w.startswith(sys.argv[1]) for w in where), (bare, where)
import transformers
from transformers import AutoConfig, LlamaConfig
import lm_eval
from lm_eval.api.model import LM
print("ok")
"""


def test_bare_names_not_shadowed_and_libraries_import() -> None:
    # Run from a neutral directory so the repo root is not on sys.path.
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(ROOT) + "/"], capture_output=True, text=True, cwd="/",
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")
