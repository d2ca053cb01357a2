"""Tool-calling rows → packed, loss-masked token rows for supervised fine-tuning.

Each example is rendered as the BFCL chat (:func:`.build.messages`) through the model's own
chat template with the generation prompt, exactly the text the BFCL suite asks a prompt
model to continue, followed by the answer and the end-of-turn token (``<|im_end|>`` for
ChatML models: the token greedy decoding must stop on). Only the answer and end-of-turn
tokens are labelled; prompt tokens get label ``-100``.

Packing: examples are taken in a seeded random order and placed whole into rows of
``seq_len`` tokens, first fit over the few most recent open rows (the rest of a row is
padding with label ``-100``; an example longer than ``seq_len`` is skipped and counted). Examples in
one row attend to the earlier ones in that row, as in TRL's default packing; every
example's answer still follows its own complete prompt.

Not handled: per-example attention isolation (position ids restart only per row), models
without a chat template.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

IGNORE = -100
OPEN_ROWS = 8
"""Rows still open for first-fit packing."""
MIN_ROOM = 350
"""A row with less room than this (shorter than any prompt) is closed."""


@dataclass
class PackedData:
    """Packed rows plus where they came from."""

    input_ids: np.ndarray
    """int32 ``[rows, seq_len]``."""
    labels: np.ndarray
    """int32 ``[rows, seq_len]``; ``-100`` where no loss is taken."""
    examples: int
    skipped_too_long: int
    answer_tokens: int
    meta: dict[str, Any] = field(default_factory=dict)

    def provenance(self) -> dict[str, Any]:
        return {"corpus": f"toolcall-v{self.meta.get('recipe_version', '?')}",
                "data_sha256": hashlib.sha256(self.input_ids.tobytes() + self.labels.tobytes()).hexdigest(),
                "n_rows": int(self.input_ids.shape[0]), "seq_len": int(self.input_ids.shape[1]),
                "examples_packed": self.examples, "skipped_too_long": self.skipped_too_long,
                "answer_tokens": self.answer_tokens, "recipe": self.meta}


def encode(tokenizer: Any, row: dict[str, Any]) -> tuple[list[int], list[int]]:
    """Token ids and labels of one example (prompt masked)."""
    from specboard.trainers.toolcall.build import messages

    prompt = tokenizer.apply_chat_template(messages(row), tokenize=False, add_generation_prompt=True)
    end = tokenizer.eos_token or ""
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    a_ids = tokenizer(row["answer"] + end, add_special_tokens=False)["input_ids"]
    return p_ids + a_ids, [IGNORE] * len(p_ids) + a_ids


def pack(tokenizer: Any, rows: list[dict[str, Any]], seq_len: int, *, seed: int = 0,
         max_rows: int | None = None, meta: dict[str, Any] | None = None) -> PackedData:
    """Pack whole examples into ``seq_len`` rows, first fit over the last :data:`OPEN_ROWS`
    rows (see module doc); stops once ``max_rows`` rows are full."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    done: list[tuple[list[int], list[int]]] = []
    open_rows: list[tuple[list[int], list[int]]] = []
    packed = skipped = answer_tokens = 0
    for i in order:
        ids, labels = encode(tokenizer, rows[i])
        if len(ids) > seq_len:
            skipped += 1
            continue
        row = next((r for r in open_rows if len(r[0]) + len(ids) <= seq_len), None)
        if row is None:
            if max_rows is not None and len(done) + len(open_rows) >= max_rows:
                break
            row = ([], [])
            open_rows.append(row)
            if len(open_rows) > OPEN_ROWS:
                done.append(open_rows.pop(0))
        row[0].extend(ids)
        row[1].extend(labels)
        packed += 1
        answer_tokens += sum(1 for x in labels if x != IGNORE)
        still_open = []
        for r in open_rows:
            (done if seq_len - len(r[0]) < MIN_ROOM else still_open).append(r)
        open_rows = still_open
    done += open_rows
    if not done:
        raise ValueError(f"no example fits in seq_len {seq_len} ({skipped} longer); raise seq_len")
    ids_arr = np.full((len(done), seq_len), pad, dtype=np.int32)
    lab_arr = np.full((len(done), seq_len), IGNORE, dtype=np.int32)
    for k, (ids, labels) in enumerate(done):
        ids_arr[k, : len(ids)] = ids
        lab_arr[k, : len(labels)] = labels
    return PackedData(ids_arr, lab_arr, packed, skipped, answer_tokens, dict(meta or {}))


class PackedDataset:
    """Map-style torch dataset over packed rows: ``input_ids`` and ``labels``."""

    def __init__(self, data: PackedData):
        self.data = data

    def __len__(self) -> int:
        return int(self.data.input_ids.shape[0])

    def __getitem__(self, i: int) -> dict[str, Any]:
        import torch

        return {"input_ids": torch.from_numpy(self.data.input_ids[i].astype(np.int64)),
                "labels": torch.from_numpy(self.data.labels[i].astype(np.int64))}


def load_packed(tokenizer: Any, path: str | Path, seq_len: int, *, seed: int = 0,
                max_rows: int | None = None) -> PackedData:
    """Read a built set (:func:`.build.read`) and pack it."""
    from specboard.trainers.toolcall.build import read

    rows, meta = read(Path(path))
    return pack(tokenizer, rows, seq_len, seed=seed, max_rows=max_rows, meta=meta)


N_EXAMPLES = 20000
"""Examples the SFT trainer's ``data = "toolcall"`` builds before packing (a run uses the
first ``steps × batch_size × grad_accum`` packed rows of their seeded shuffle)."""


def for_sft(tokenizer: Any, seq_len: int, *, seed: int, max_rows: int,
            out: Path | None = None, recipe: str = "2") -> tuple[PackedData, PackedDataset]:
    """Build the set (:func:`.build.build`, overlap-checked), write it to ``out`` when given,
    and pack ``max_rows`` rows: what the SFT trainer trains on with ``data = "toolcall"``."""
    from specboard.trainers.toolcall.build import build, write

    rows, meta = build(N_EXAMPLES, seed, recipe)
    if out is not None:
        meta = {**meta, "sha256": write(rows, meta, out)}
    data = pack(tokenizer, rows, seq_len, seed=seed, max_rows=max_rows, meta=meta)
    return data, PackedDataset(data)
