"""``specialist:NAME`` → a committed LoRA adapter merged onto a pinned baseline.

Specialists trained here (``specboard train sft``) are candidates like any baseline, and a
gate may guard one; it must then load on a fresh CI machine that has only the pinned
artifacts. So its LoRA adapter is committed under ``baselines/specialists/NAME/``
(``adapter_model.safetensors`` in bf16, about 10 MB for r 16 on every linear layer of
SmolLM2-135M; ``adapter_config.json``; ``provenance.json`` from the training run) and listed
in ``models.toml`` as a ``[[specialist]]`` with the adapter's sha256.

Resolving a name verifies the adapter's sha256 (a different file is refused, never loaded),
resolves the base through :mod:`.registry` (its GGUF checked against the manifest), merges
the adapter into the base's fp32 weights once with peft (``merge_and_unload``) into
``derived/hf-lora/<base gguf sha256[:16]>-<adapter sha256[:16]>/`` and loads that directory
as an :class:`~specboard.harness.candidates.hf.HFCandidate` of family ``specialist``. The
options after ``?`` are those of ``baseline:`` specs (``dtype``, ``threads``,
``constrained`` …) and are part of the name.

``python -m specboard.baselines.specialists pin CHECKPOINT NAME --base smollm2-135m
--provenance RUN/final/specboard_provenance.json`` writes such a directory from a trainer
checkpoint and prints the sha256 to record in ``models.toml``.

Not handled: adapters other than LoRA (peft loads what its config names, but only LoRA
is tested), bases other than ``baseline:`` models, full fine-tunes (too large to commit).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specboard.baselines.registry import MODELS_FILE, BaselineUnavailableError, converted_dir
from specboard.harness.candidates.base import SpecParts
from specboard.harness.candidates.registry import CandidateSpecError

SPECIALISTS_DIR = Path(__file__).with_name("specialists")
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
PROVENANCE = "provenance.json"
MERGE_FILE = "specboard_merge.json"
"""Written last into a merged directory: its presence marks the merge complete."""


class AdapterMismatchError(CandidateSpecError):
    """The committed adapter's bytes differ from the sha256 ``models.toml`` records."""


@dataclass(frozen=True)
class Specialist:
    """One ``[[specialist]]`` row of ``models.toml``."""

    name: str
    """What follows ``specialist:`` in a spec."""
    base: str
    """The ``baseline:`` model the adapter was trained on (and is merged into)."""
    adapter: str
    """The adapter's directory, relative to ``baselines/``."""
    adapter_sha256: str
    """sha256 of the directory's ``adapter_model.safetensors``."""
    params: int
    """Parameters of the merged model (the base's: LoRA merges add none)."""
    notes: str = ""
    """Free text for the registry's readers."""
    domain: tuple[str, ...] = ()
    """Suites the specialist was trained for (``["bfcl"]``), recorded as
    ``CandidateInfo.extra["domain"]``: the board compares it there as in its domain. Needed
    when the training data were not cut from the suite's own data (the tool-calling set is
    built from non-BFCL material), so the corpus cannot name the domain."""


@functools.cache
def specialists(path: Path = MODELS_FILE) -> dict[str, Specialist]:
    data = tomllib.loads(Path(path).read_text())
    return {s["name"]: Specialist(**{**s, "domain": tuple(s.get("domain", ()))}) for s in data.get("specialist", [])}


def get_specialist(name: str) -> Specialist:
    known = specialists()
    if name not in known:
        raise CandidateSpecError(f"unknown specialist {name!r}; known specialists: {', '.join(sorted(known)) or 'none'}")
    return known[name]


def verified_adapter(s: Specialist, root: Path = SPECIALISTS_DIR.parent) -> Path:
    """The adapter directory of ``s``, refused if its weights differ from the recorded sha256."""
    from specboard.harness.candidates.hf.convert import sha256_cached

    adir = root / s.adapter
    weights = adir / ADAPTER_WEIGHTS
    if not weights.is_file() or not (adir / ADAPTER_CONFIG).is_file():
        raise BaselineUnavailableError(f"specialist {s.name!r}: no adapter at {adir} "
                                       f"({ADAPTER_WEIGHTS} and {ADAPTER_CONFIG} expected)")
    sha = sha256_cached(weights)
    if sha != s.adapter_sha256:
        raise AdapterMismatchError(f"{weights} has sha256 {sha}, but models.toml records {s.adapter_sha256} "
                                   f"for specialist {s.name!r}; refusing to load it")
    return adir


def merged_dir(s: Specialist, root: Path = SPECIALISTS_DIR.parent) -> Path:
    """The HF directory of ``s``'s adapter merged into its base (merging it on first use)."""
    from filelock import FileLock
    from specboard.harness.data.cache import derived_dir

    adir = verified_adapter(s, root)
    base_dir = converted_dir(s.base)
    base_sha = base_dir.name  # convert_gguf names the directory by the GGUF's sha256
    parent = derived_dir("hf-lora")
    out = parent / f"{base_sha[:16]}-{s.adapter_sha256[:16]}"
    if (out / MERGE_FILE).exists():
        return out
    with FileLock(str(parent / f".{out.name}.lock")):
        if not (out / MERGE_FILE).exists():
            _merge(s, base_dir, base_sha, adir, parent, out)
    return out


def _merge(s: Specialist, base_dir: Path, base_sha: str, adir: Path, parent: Path, out: Path) -> None:
    import time

    import torch
    from peft import PeftModel
    from specboard.harness.candidates.hf.candidate import PROVENANCE_FILE
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    model = PeftModel.from_pretrained(model, str(adir)).merge_and_unload()
    with tempfile.TemporaryDirectory(dir=parent, prefix=f".{out.name}-") as tmp:
        stage = Path(tmp) / "model"
        model.save_pretrained(str(stage), safe_serialization=True)
        AutoTokenizer.from_pretrained(str(base_dir)).save_pretrained(str(stage))
        prov = json.loads((adir / PROVENANCE).read_text()) if (adir / PROVENANCE).exists() else {}
        (stage / PROVENANCE_FILE).write_text(json.dumps(prov, indent=1))
        record = {"specialist": s.name, "base": s.base, "base_gguf_sha256": base_sha,
                  "adapter_sha256": s.adapter_sha256, "merge_s": round(time.perf_counter() - t0, 3)}
        (stage / MERGE_FILE).write_text(json.dumps(record, indent=1))
        if out.exists():  # a merge interrupted before its record was written
            shutil.rmtree(out)
        os.replace(stage, out)


def from_spec(parts: SpecParts) -> Any:
    """``specialist:toolcall-135m?constrained=1&threads=2``."""
    from specboard.harness.candidates.hf import HFCandidate, candidate_kwargs

    s = get_specialist(parts.target)
    path = merged_dir(s)
    kw = candidate_kwargs(parts)
    extra = {"specialist": s.name, "base": f"baseline:{s.base}", **({"domain": list(s.domain)} if s.domain else {})}
    return HFCandidate(path, family="specialist", name=parts.canonical(s.name), revision=s.adapter_sha256,
                       extra=extra, **kw)


def pin(checkpoint: Path, dest: Path, *, base: str, provenance: Path | None = None) -> str:
    """Write ``checkpoint``'s LoRA adapter to ``dest`` in bf16 with a base-independent config
    (and the run's provenance); return the weights' sha256 for ``models.toml``."""
    import torch
    from safetensors.torch import load_file, save_file
    from specboard.harness.data.cache import sha256_file

    tensors = load_file(str(Path(checkpoint) / ADAPTER_WEIGHTS))
    config = json.loads((Path(checkpoint) / ADAPTER_CONFIG).read_text())
    if config.get("peft_type") != "LORA":
        raise ValueError(f"{checkpoint}: peft_type {config.get('peft_type')!r}, expected LORA")
    config["base_model_name_or_path"] = f"baseline:{base}"  # not this machine's cache path
    dest.mkdir(parents=True, exist_ok=True)
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in sorted(tensors.items())},
              str(dest / ADAPTER_WEIGHTS), metadata={"format": "pt"})
    (dest / ADAPTER_CONFIG).write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")
    if provenance is not None:
        shutil.copyfile(provenance, dest / PROVENANCE)
    return sha256_file(dest / ADAPTER_WEIGHTS)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="commit a trained LoRA adapter as a specialist")
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("pin", help="write baselines/specialists/NAME from a trainer checkpoint")
    q.add_argument("checkpoint", type=Path)
    q.add_argument("name")
    q.add_argument("--base", default="smollm2-135m")
    q.add_argument("--provenance", type=Path)
    a = p.parse_args(argv)
    sha = pin(a.checkpoint, SPECIALISTS_DIR / a.name, base=a.base, provenance=a.provenance)
    print(f"{SPECIALISTS_DIR / a.name}: adapter sha256 {sha}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
