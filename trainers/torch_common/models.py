"""Resolve a candidate spec (``baseline:NAME`` / ``hf:DIR``) to a local HF model directory.

Trainers need the weights and tokenizer of a teacher (distill) or base model (SFT), not the
Candidate protocol, so they go through the directory a candidate would load:

- ``hf:DIR`` → ``DIR`` (must hold ``config.json``);
- ``baseline:NAME`` → ``specboard.baselines.registry.converted_dir(NAME)`` (the GGUF
  converted once by :func:`specboard.harness.candidates.hf.convert_gguf`). Only when the
  baselines package is absent (a partial checkout) does :func:`_convert_gguf_fallback` do
  the same conversion into a cache dir of its own.

Also here: :func:`tokenizer_sha256`, the identity used to refuse teacher/student tokenizer
mismatches; :func:`model_revision`, the sha256 that names a model's weights; and
:func:`count_params`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from specboard.harness.candidates.registry import CandidateSpecError, parse_spec
from specboard.harness.data.cache import sha256_file
from specboard.harness.errors import UsageError


class ModelResolveError(UsageError, ValueError):
    """A spec that names no trainable model directory."""


def _baseline_artifact(name: str) -> str:
    """The cache artifact of baseline ``name`` (from ``baselines/models.toml``)."""
    try:
        from specboard.baselines.registry import get_model
    except ImportError:
        return name
    return get_model(name).artifact


def resolve_model_dir(spec: str) -> Path:
    """The local HF directory behind a ``baseline:`` or ``hf:`` spec (converting once)."""
    try:
        parts = parse_spec(spec)
    except CandidateSpecError as exc:
        raise ModelResolveError(str(exc)) from exc
    if parts.scheme == "hf":
        d = Path(parts.target).expanduser()
        if not (d / "config.json").is_file():
            raise ModelResolveError(f"{spec}: {d} is not a transformers model directory (no config.json)")
        return d
    if parts.scheme == "baseline":
        try:
            from specboard.baselines.registry import converted_dir
        except ImportError:
            return _convert_gguf_fallback(_baseline_artifact(parts.target))
        try:
            return Path(converted_dir(parts.target))
        except CandidateSpecError as exc:
            raise ModelResolveError(str(exc)) from exc
    raise ModelResolveError(
        f"{spec}: trainers need a transformers model; use baseline:NAME or hf:DIR (not {parts.scheme}:)"
    )


def _convert_gguf_fallback(artifact: str) -> Path:
    """GGUF → HF dir once, cached under ``derived/distill-gguf/<sha>``, atomic and locked."""
    from filelock import FileLock
    from specboard.harness.data.cache import derived_dir, get_artifact, model_path

    gguf = model_path(artifact)
    sha = get_artifact(artifact).model_sha256 or hashlib.sha256(str(gguf).encode()).hexdigest()
    root = derived_dir("distill-gguf")
    out = root / sha[:24]
    if (out / "config.json").is_file():
        return out
    with FileLock(str(root / f"{sha[:24]}.lock")):
        if (out / "config.json").is_file():
            return out
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
        try:
            model.save_pretrained(tmp, safe_serialization=True)
            tok.save_pretrained(tmp)
            tmp.rename(out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return out


_TOKENIZER_SHA: dict[str, str] = {}


def tokenizer_sha256(tokenizer: Any) -> str:
    """sha256 of what decides token ids: the fast tokenizer's full JSON (minus its
    truncation/padding state), else the vocab. Memoised per process on the raw JSON."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        raw = backend.to_str()
        raw_key = hashlib.sha256(raw.encode()).hexdigest()
        if raw_key not in _TOKENIZER_SHA:
            spec = json.loads(raw)
            spec.pop("truncation", None)
            spec.pop("padding", None)
            canon = json.dumps(spec, sort_keys=True)
            _TOKENIZER_SHA[raw_key] = hashlib.sha256(canon.encode()).hexdigest()
        return _TOKENIZER_SHA[raw_key]
    else:
        text = json.dumps(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(text.encode()).hexdigest()


def check_same_tokenizer(teacher_tok: Any, student_tok: Any, *, teacher: str, student: str) -> None:
    """Refuse a teacher/student pair whose tokenizers would map text to different ids."""
    a, b = tokenizer_sha256(teacher_tok), tokenizer_sha256(student_tok)
    if a == b:
        return
    va, vb = len(teacher_tok), len(student_tok)
    raise TokenizerMismatchError(
        f"tokenizer mismatch: teacher {teacher} (vocab {va}, sha256 {a[:12]}) and student {student} "
        f"(vocab {vb}, sha256 {b[:12]}) do not share a tokenizer, so token-level distillation "
        "would compare unrelated ids. Build a fresh student (drop student_init) — it takes the "
        "teacher's tokenizer — or pick a teacher with the student's tokenizer."
    )


class TokenizerMismatchError(UsageError, ValueError):
    """Teacher and student tokenizers differ."""


def model_revision(spec: str, model_dir: Path) -> str:
    """sha256 naming the weights: the GGUF's recorded hash for baselines, else the safetensors'."""
    if spec.startswith("baseline:"):
        try:
            from specboard.harness.data.cache import get_artifact

            sha = get_artifact(_baseline_artifact(spec.split(":", 1)[1])).model_sha256
            if sha:
                return sha
        except Exception:
            pass
    h = hashlib.sha256()
    for f in sorted(Path(model_dir).glob("*.safetensors")):
        h.update(sha256_file(f).encode())
    return h.hexdigest()


def count_params(model: Any) -> int:
    """Unique parameters (tied weights counted once)."""
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total
