"""Dataclass configs of the torch trainers (distill, SFT): presets, config files, overrides.

A config is built in three layers, later ones winning: the dataclass defaults, a named
preset (``tiny`` for CI smoke runs, ``small``/``base`` for real runs), a config file
(``.toml``, ``.json`` or ``.yaml``: a flat table of field names), then command-line
overrides. Unknown keys are refused with the list of known ones, so a typo never silently
falls back to a default. The SFT trainer reuses :class:`TrainCommon` and :func:`load_config`.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

import yaml
from specboard.harness.errors import UsageError


class ConfigError(UsageError, ValueError):
    """A config file or override that cannot be used; the message says why."""


@dataclass
class TrainCommon:
    """Fields every torch trainer shares."""

    seed: int = 0
    """Seed for weights init, data order and dropout (same seed → same weights)."""
    threads: int = 1
    """torch intra-op threads (1 held up best on the shared 2-core machines)."""
    seq_len: int = 256
    """Tokens per training sequence."""
    batch_size: int = 8
    """Sequences per optimizer step (per device)."""
    grad_accum: int = 1
    """Gradient accumulation steps."""
    steps: int = 1000
    """Optimizer steps (``max_steps``)."""
    lr: float = 1e-3
    """Peak learning rate (linear warm-up then cosine decay)."""
    warmup_steps: int = 20
    weight_decay: float = 0.0
    bf16: bool = True
    """bf16 autocast for the student/base forward and backward (fp32 master weights)."""
    save_every: int = 100
    """Checkpoint every N steps (also on SIGINT and at the end)."""
    keep_checkpoints: int = 2
    """How many step checkpoints to keep (``save_total_limit``)."""
    log_every: int = 10
    eval_every: int = 0
    """Run the train-time evaluation hook every N steps (0: only with --eval at the end)."""
    max_docs: int | None = None
    """Use only the first N Three.js train files (smoke runs); None: the whole split."""
    max_chunks: int | None = None
    """Train on a seeded random subset of this many ``seq_len`` chunks (after ``max_docs``),
    spread over the whole split, e.g. to bound the teacher's top-k pass; None: all chunks."""
    max_memory_gb: float | None = None
    """Refuse to start when the estimated peak exceeds this (default: 80% of available RAM)."""


@dataclass
class DistillConfig(TrainCommon):
    """Logit distillation from a teacher into a fresh Llama-style student."""

    teacher: str = "baseline:smollm2-135m"
    """Teacher candidate spec (``baseline:NAME`` or ``hf:DIR``); its tokenizer is shared."""
    teacher_bf16: bool = True
    """Run the teacher in bf16 (cuts distillation cost by about a third)."""
    teacher_batch: int = 8
    """Sequences per teacher forward when filling the top-k cache."""
    student_init: str | None = None
    """An existing HF dir to start the student from (must share the teacher's tokenizer);
    None builds a fresh student from the architecture fields below."""
    init_from_teacher: bool = True
    """Initialise the student's (tied) embedding with the teacher's embedding matrix
    projected onto its top ``hidden_size`` principal components (cheap, and token
    meaning need not be learnt from scratch); False: random init."""
    subclone: bool = False
    """Build every student weight from the teacher instead of a fresh init ("weight
    subcloning", :mod:`.subclone`): teacher blocks chosen by ``subclone_layers``, the
    residual stream rotated onto its top ``hidden_size`` principal directions, the
    heads and MLP neurons with the largest contributions. The student takes the teacher's
    head_dim, RoPE and norm epsilon. Overrides ``init_from_teacher``."""
    subclone_layers: str | list[int] = "influence"
    """Which teacher blocks a subcloned student keeps: ``"influence"`` (largest block
    influence on calibration text), ``"ends"`` (first and last blocks) or a list of indices."""
    prefill_teacher: bool = False
    """Run the teacher over the whole training split before the first step (its time is
    recorded apart as ``teacher_cache_seconds``; a later run with the same teacher, data,
    ``top_k`` and ``seq_len`` reuses the cache). Off: blocks are filled when first needed."""
    hidden_size: int = 256
    layers: int = 6
    heads: int = 4
    kv_heads: int = 2
    intermediate_size: int = 688
    temperature: float = 2.0
    """Distillation temperature T; KL terms are multiplied by T²."""
    alpha_kl: float = 1.0
    """Weight of forward KL(teacher ‖ student) at T."""
    alpha_rkl: float = 0.0
    """Weight of reverse KL(student ‖ teacher) at T (over the teacher's top-k support)."""
    alpha_ce: float = 0.0
    """Weight of the ordinary next-token cross-entropy on the data."""
    top_k: int = 32
    """Teacher logits cached per position (values fp16 + indices int32)."""


@dataclass
class SFTConfig(TrainCommon):
    """LoRA supervised fine-tuning of a baseline on Three.js domain text."""

    base: str = "baseline:smollm2-135m"
    """Model to fine-tune (``baseline:NAME`` or ``hf:DIR``)."""
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "distill": {
        # ~1.6 M params (mostly the 49,152 × 32 tied embedding): CI smoke runs.
        "tiny": dict(hidden_size=32, layers=2, heads=2, kv_heads=1, intermediate_size=64,
                     seq_len=32, batch_size=4, steps=10, lr=3e-3, warmup_steps=2,
                     save_every=5, log_every=1, max_docs=12, top_k=8, teacher_batch=4),
        # ~17 M params, subcloned from the teacher: ~28 min on 2 CPU threads after a one-off
        # ~15 min teacher top-k pass; 1.64 held-out Three.js bits/byte (README, measured).
        "small": dict(hidden_size=256, layers=6, heads=4, kv_heads=2, intermediate_size=688,
                      seq_len=256, batch_size=8, steps=1400, lr=3e-3, save_every=200,
                      subclone=True, prefill_teacher=True, alpha_ce=0.5, temperature=1.0),
        # ~8 M params, shorter sequences: faster per step on CPU.
        "base": dict(hidden_size=160, layers=4, heads=4, kv_heads=2, intermediate_size=432,
                     seq_len=128, batch_size=8, steps=1000, lr=2e-3, save_every=200),
    },
    "sft": {
        "tiny": dict(seq_len=32, batch_size=2, steps=3, lr=1e-3, warmup_steps=0, save_every=2,
                     log_every=1, max_docs=4, lora_r=4, lora_alpha=8,
                     target_modules=["q_proj", "v_proj"]),
        "small": dict(seq_len=256, batch_size=4, steps=300, lr=5e-4, save_every=50),
    },
}

C = TypeVar("C", bound=TrainCommon)


def presets(kind: str) -> list[str]:
    return sorted(_PRESETS[kind])


def read_config_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc}") from exc
    try:
        if p.suffix == ".toml":
            data = tomllib.loads(text)
        elif p.suffix == ".json":
            data = json.loads(text)
        elif p.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"config file {p} must end in .toml, .json, .yaml or .yml")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file {p} is not valid {p.suffix[1:]}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a table of settings, not {type(data).__name__}")
    return data


def _coerce(cls: type[C], values: dict[str, Any], source: str) -> dict[str, Any]:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"{source}: unknown setting(s) {', '.join(unknown)} for {cls.__name__}; "
            f"known: {', '.join(sorted(known))}"
        )
    return values


def load_config(
    cls: type[C],
    kind: str,
    *,
    preset: str | None = None,
    file: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> C:
    """Defaults ← preset ← file ← overrides (``None`` override values are ignored)."""
    cfg = cls()
    if preset is not None:
        if preset not in _PRESETS[kind]:
            raise ConfigError(f"unknown {kind} preset {preset!r}; known: {', '.join(presets(kind))}")
        cfg = replace(cfg, **_coerce(cls, dict(_PRESETS[kind][preset]), f"preset {preset}"))
    if file is not None:
        cfg = replace(cfg, **_coerce(cls, read_config_file(file), str(file)))
    if overrides:
        cfg = replace(cfg, **_coerce(cls, {k: v for k, v in overrides.items() if v is not None}, "override"))
    validate(cfg)
    return cfg


def validate(cfg: TrainCommon) -> None:
    """Refuse settings that cannot train, with the reason."""
    positive = ["seq_len", "batch_size", "grad_accum", "steps", "threads", "save_every", "log_every"]
    if isinstance(cfg, DistillConfig):
        positive += ["hidden_size", "layers", "heads", "kv_heads", "intermediate_size", "top_k", "teacher_batch"]
    for name in positive:
        if int(getattr(cfg, name)) < 1:
            raise ConfigError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    if cfg.lr <= 0:
        raise ConfigError(f"lr must be > 0, got {cfg.lr}")
    for name in ("max_docs", "max_chunks"):
        if getattr(cfg, name) is not None and int(getattr(cfg, name)) < 1:
            raise ConfigError(f"{name} must be >= 1 or unset, got {getattr(cfg, name)}")
    if isinstance(cfg, DistillConfig):
        if cfg.temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {cfg.temperature}")
        if min(cfg.alpha_kl, cfg.alpha_rkl, cfg.alpha_ce) < 0 or cfg.alpha_kl + cfg.alpha_rkl + cfg.alpha_ce <= 0:
            raise ConfigError("alpha_kl, alpha_rkl, alpha_ce must be >= 0 and not all 0")
        if cfg.hidden_size % cfg.heads or cfg.heads % cfg.kv_heads:
            raise ConfigError(
                f"hidden_size ({cfg.hidden_size}) must divide by heads ({cfg.heads}) and heads by kv_heads ({cfg.kv_heads})"
            )
        layers = cfg.subclone_layers
        if isinstance(layers, str) and layers not in ("influence", "ends"):
            raise ConfigError(f"subclone_layers must be 'influence', 'ends' or a list of block indices, got {layers!r}")
        if isinstance(layers, list) and (len(layers) != cfg.layers or len(set(layers)) != len(layers)
                                         or not all(isinstance(i, int) and i >= 0 for i in layers)):
            raise ConfigError(f"subclone_layers {layers} must be {cfg.layers} distinct block indices (layers = {cfg.layers})")
    if isinstance(cfg, SFTConfig) and (cfg.lora_r < 1 or not cfg.target_modules):
        raise ConfigError("lora_r must be >= 1 and target_modules non-empty")


def to_dict(cfg: TrainCommon) -> dict[str, Any]:
    return asdict(cfg)
