"""Checkpoints of the torch trainers: integrity, SIGINT-safe stopping, ``hf:`` exports.

``transformers.Trainer`` writes the checkpoints (``checkpoint-N/``: weights, optimizer,
scheduler, RNG states, trainer state) and resumes from them; this module adds what it
lacks:

- :class:`ChecksumCallback` writes ``specboard_checksums.json`` (sha256 + size of every file)
  into each checkpoint right after Trainer saves it; :func:`validate_checkpoint` refuses a
  checkpoint whose manifest is missing (an interrupted save), or whose files are missing,
  resized or altered, or whose trainer state is unreadable, naming the file and reason.
- :class:`SigintCallback`: the first Ctrl-C asks Trainer to save a checkpoint and stop at
  the end of the current step; a second one aborts at once.
- :func:`export_model`: an atomic safetensors export (model + tokenizer +
  ``specboard_provenance.json``) that ``hf:DIR`` loads.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

from specboard.harness.data.cache import sha256_file
from specboard.harness.errors import InvalidInputError
from specboard.harness.results.store import atomic_write_text
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

CHECKSUMS = "specboard_checksums.json"
PROVENANCE = "specboard_provenance.json"
_CKPT = re.compile(r"^checkpoint-(\d+)$")


class CorruptCheckpointError(InvalidInputError, RuntimeError):
    """A checkpoint that must not be resumed from; the message says why."""


def write_checksums(ckpt: Path) -> None:
    files = {
        p.relative_to(ckpt).as_posix(): {"sha256": sha256_file(p), "size": p.stat().st_size}
        for p in sorted(ckpt.rglob("*")) if p.is_file() and p.name != CHECKSUMS
    }
    atomic_write_text(ckpt / CHECKSUMS, json.dumps({"files": files}, indent=1, sort_keys=True))


def validate_checkpoint(ckpt: Path) -> int:
    """Check a ``checkpoint-N`` dir against its manifest; returns its global step."""
    ckpt = Path(ckpt)
    if not ckpt.is_dir():
        raise CorruptCheckpointError(f"checkpoint {ckpt} does not exist")
    manifest = ckpt / CHECKSUMS
    if not manifest.is_file():
        raise CorruptCheckpointError(
            f"checkpoint {ckpt} has no {CHECKSUMS}: its save was interrupted or it was not written by specboard"
        )
    try:
        files = json.loads(manifest.read_text())["files"]
    except (OSError, ValueError, KeyError) as exc:
        raise CorruptCheckpointError(f"checkpoint {ckpt}: unreadable {CHECKSUMS}: {exc}") from exc
    for rel, rec in files.items():
        p = ckpt / rel
        if not p.is_file():
            raise CorruptCheckpointError(f"checkpoint {ckpt}: {rel} is missing")
        if p.stat().st_size != rec["size"]:
            raise CorruptCheckpointError(
                f"checkpoint {ckpt}: {rel} is {p.stat().st_size} bytes, expected {rec['size']} (truncated or replaced)"
            )
        if sha256_file(p) != rec["sha256"]:
            raise CorruptCheckpointError(f"checkpoint {ckpt}: {rel} does not match its recorded sha256 (altered on disk)")
    try:
        state = json.loads((ckpt / "trainer_state.json").read_text())
        return int(state["global_step"])
    except (OSError, ValueError, KeyError) as exc:
        raise CorruptCheckpointError(f"checkpoint {ckpt}: unreadable trainer_state.json: {exc}") from exc


def list_checkpoints(root: Path) -> list[Path]:
    """``checkpoint-N`` dirs under ``root``, by step."""
    if not Path(root).is_dir():
        return []
    found = [(int(m.group(1)), p) for p in Path(root).iterdir() if (m := _CKPT.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def resolve_resume(root: Path, resume: str | None) -> Path | None:
    """The checkpoint to resume from (``latest`` or a path), validated; None to start fresh."""
    if resume is None:
        return None
    if resume in ("latest", "true", "1"):
        found = list_checkpoints(root)
        if not found:
            return None
        ckpt = found[-1]
        try:
            validate_checkpoint(ckpt)
        except CorruptCheckpointError as exc:
            older = [p.name for p in found[:-1]]
            hint = f"; an older one exists: --resume {found[-2]}" if older else ""
            raise CorruptCheckpointError(f"{exc}{hint}") from exc
        return ckpt
    ckpt = Path(resume)
    validate_checkpoint(ckpt)
    return ckpt


class ChecksumCallback(TrainerCallback):
    """Writes the integrity manifest of each checkpoint right after it is saved."""

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if ckpt.is_dir():
            write_checksums(ckpt)


class SigintCallback(TrainerCallback):
    """First SIGINT: save a checkpoint and stop after this step. Second: abort now."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)
            raise KeyboardInterrupt
        self.requested = True
        print("\nspecboard: interrupt received; saving a checkpoint after this step (Ctrl-C again to abort)")

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        except ValueError:  # not the main thread: leave signals alone
            self._previous = None

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        if self.requested:
            control.should_save = True
            control.should_training_stop = True

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def export_model(model: Any, tokenizer_dir: Path, out: Path, provenance: dict[str, Any]) -> Path:
    """Save ``model`` as safetensors + the tokenizer files + provenance, atomically, into ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        for f in Path(tokenizer_dir).iterdir():
            if f.is_file():
                shutil.copy2(f, tmp / f.name)
        atomic_write_text(tmp / PROVENANCE, json.dumps(provenance, indent=1, sort_keys=True, default=str))
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
