"""The ``threejs`` domain suite: where a Three.js specialist should beat general models.

All items come from the HELD-OUT files of the fixed by-file split in
:mod:`specboard.harness.data.threejs` (the same split the trainers use, so no evaluated
byte was trained on). Files are visited in sha256(path) order, so ``--limit N`` takes a
spread of files rather than one directory. Three tasks, each runs on any candidate
(byte-level n-gram / EGGROLL or tokenised HF models):

``threejs/heldout_bpb``
    True bits per byte: −Σ ``loglikelihood_rolling`` nats / ln 2 / UTF-8 bytes, in float64.
    Items are chunks of held-out files (file text without the corpus header): a file is
    cut at line ends into consecutive chunks of at most :data:`CHUNK_BYTES` bytes (a
    longer single line is cut at a character boundary), and each chunk is scored from an
    empty context. Sample score = the chunk's bits/byte; the metric is the ratio total
    bits / total bytes with a percentile bootstrap over FILES (chunks of a file are
    resampled together), lower is better.
``threejs/next_line``
    Exact-match next-line completion. Per held-out file, the :data:`LINES_PER_FILE` lines
    with the smallest sha256("path:lineno") among eligible ones (not the first line,
    8–160 bytes without indentation, not a comment, not only brackets). Prompt = the last
    :data:`PROMPT_BYTES` bytes of the corpus document (``// === FILE`` header + text) up
    to and including the line's indentation; greedy generation with stop ``"\\n"``;
    correct when the output equals the line, leading and trailing whitespace ignored
    (a BPE model given a prompt that ends inside the indentation often emits one more
    tab: that is a tokenisation artefact, not a wrong line). An empty output (the model
    predicted a blank line) is wrong.
``threejs/api_cloze``
    Multiple choice among Three.js class names, scored by log-likelihood: every first
    ``new X`` / ``extends X`` / ``new THREE.X`` of a class X defined in ``src/`` in each
    held-out file, except classes defined in that same file. Context = the preceding
    :data:`PROMPT_BYTES` bytes of the document; choices = X and :data:`DISTRACTORS`
    other ``src/`` classes: first classes the same file names (its imports and uses, so
    the choice turns on what fits here, not on which name is more common), in hash
    order, then classes whose names share the longest prefix or suffix with X (ties by
    hash). Each is scored as a continuation that includes the word-boundary space (as in
    lm-eval) and the character that follows X in the file (``(``, `` ``, ...), so a
    longer name like ``Vector3Uniform`` is not favoured or penalised just for stopping
    early; correct when X has the highest total log-likelihood.

The suite's headline is held-out bits/byte; the runner puts each task's items in a seeded
random order, so ``--limit``/``--budget`` take a fair sample. Not handled: per-token
normalisation of the cloze, fuzzy next-line scores (an edit-similarity is stored in
``extra`` only), and the correlation of chunks of one file in the sequential gate (it
treats chunks as independent draws; the reported interval bootstraps over files).
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from specboard.harness.candidates.base import Candidate, GenerateRequest, LoglikelihoodRequest
from specboard.harness.data import threejs as corpus
from specboard.harness.results.schema import MetricRow, SampleRow
from specboard.harness.runner.tasks import Item, Scored, Task

SUITE_VERSION = "1"
CHUNK_BYTES = 4096
PROMPT_BYTES = 1024
LINES_PER_FILE = 2
MAX_LINE_BYTES = 160
MAX_NEW_TOKENS = 192
DISTRACTORS = 3
BOOTSTRAP_RESAMPLES = 2000
LN2 = math.log(2.0)


def _h(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@functools.cache
def heldout_files() -> tuple[corpus.SourceFile, ...]:
    """Held-out files in sha256(path) order."""
    return tuple(sorted(corpus.source_files("heldout"), key=lambda f: _h(f.path)))


def tail_bytes(text: str, n: int) -> str:
    """The last ``n`` UTF-8 bytes of ``text``, dropping a partial leading character."""
    raw = text.encode("utf-8")
    return raw[-n:].decode("utf-8", errors="ignore") if len(raw) > n else text


def chunk_text(text: str, limit: int = CHUNK_BYTES) -> list[str]:
    """Cut ``text`` at line ends into pieces of at most ``limit`` UTF-8 bytes (lossless)."""
    if limit < 4:
        raise ValueError(f"chunk limit {limit} is below one UTF-8 character (4 bytes)")
    chunks: list[str] = []
    cur: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        n = len(line.encode("utf-8"))
        if size + n > limit and cur:
            chunks.append("".join(cur))
            cur, size = [], 0
        while n > limit:  # one over-long line: cut at a character boundary
            head = line.encode("utf-8")[:limit].decode("utf-8", errors="ignore")
            chunks.append(head)
            line = line[len(head) :]
            n = len(line.encode("utf-8"))
        if line:
            cur.append(line)
            size += n
    if cur:
        chunks.append("".join(cur))
    return chunks


class _ThreeTask(Task):
    suite = "threejs"
    data_artifacts = (corpus.ARTIFACT,)

    def __init__(self) -> None:
        self._items: list[Item] | None = None

    def items(self) -> list[Item]:
        if self._items is None:
            self._items = self.build_items()
        return self._items

    def build_items(self) -> list[Item]:
        raise NotImplementedError


class HeldoutBpb(_ThreeTask):
    """Held-out bits per byte (true, float64), aggregated as a ratio over files."""

    name = "threejs/heldout_bpb"
    metric = "bits_per_byte"
    higher_is_better = False
    binary = False
    batch_size = 4
    score_range = (0.0, 10.0)
    """Bits per byte of a chunk: 8 is a uniform byte model; worse is clipped by the gate."""

    def decoding(self) -> dict[str, Any]:
        return {"chunk_bytes": CHUNK_BYTES, "context": "none (each chunk scored alone)"}

    def build_items(self) -> list[Item]:
        out = []
        for f in heldout_files():
            for k, chunk in enumerate(chunk_text(f.text)):
                out.append(Item(id=f"{f.path}#{k}", prompt=chunk, data={"file": f.path, "chunk": k}))
        return out

    def evaluate(self, candidate: Candidate, items: Sequence[Item], *, repeat: int, seed: int) -> list[Scored]:
        nats = candidate.loglikelihood_rolling([it.prompt for it in items])
        out = []
        for it, ll in zip(items, nats, strict=True):
            nbytes = len(it.prompt.encode("utf-8"))
            bits = -float(ll) / LN2
            bad = not math.isfinite(bits) or bits < 0
            out.append(
                Scored(
                    item=it,
                    score=bits / nbytes if not bad else 0.0,
                    error=f"invalid log-likelihood {ll!r}" if bad else None,
                    tokens_in=nbytes,
                    extra={"bits": bits, "bytes": nbytes, "file": it.data["file"]},
                )
            )
        return out

    def aggregate(self, run_id: str, samples: Sequence[SampleRow]) -> list[MetricRow]:
        per_file: dict[str, list[float]] = {}
        errors = 0
        for s in samples:
            if s.repeat != 0:
                continue
            if s.error is not None or "bits" not in s.extra:
                errors += 1
                continue
            acc = per_file.setdefault(str(s.extra["file"]), [0.0, 0.0])
            acc[0] += float(s.extra["bits"])
            acc[1] += float(s.extra["bytes"])
        if not per_file:
            return []
        arr = np.array(list(per_file.values()), dtype=np.float64)
        value = float(arr[:, 0].sum() / arr[:, 1].sum())
        low = high = stderr = None
        if len(arr) > 1:
            rng = np.random.default_rng(0)
            idx = rng.integers(0, len(arr), size=(BOOTSTRAP_RESAMPLES, len(arr)))
            ratios = arr[idx, 0].sum(axis=1) / arr[idx, 1].sum(axis=1)
            low, high = (float(x) for x in np.quantile(ratios, [0.025, 0.975]))
            stderr = float(ratios.std(ddof=1))
        return [
            MetricRow(
                run_id=run_id,
                task=self.name,
                metric=self.metric,
                value=value,
                n=len(arr),
                stderr=stderr,
                ci_low=low,
                ci_high=high,
                ci_method="bootstrap-percentile-over-files" if low is not None else None,
                higher_is_better=False,
                aggregation="ratio",
                extra={
                    "total_bits": float(arr[:, 0].sum()),
                    "total_bytes": int(arr[:, 1].sum()),
                    "chunks": len(samples) - errors,
                    "errors": errors,
                    "unit": "files",
                },
            )
        ]


_COMMENT = re.compile(r"^\s*(//|/\*|\*)")
_ONLY_BRACKETS = re.compile(r"^[\s{}()\[\];,]*$")


class NextLine(_ThreeTask):
    """Greedy exact-match completion of one held-out line."""

    name = "threejs/next_line"
    version = "2"
    metric = "exact_match"
    batch_size = 8

    def decoding(self) -> dict[str, Any]:
        return {"temperature": 0.0, "stop": ["\n"], "max_tokens": MAX_NEW_TOKENS, "prompt_bytes": PROMPT_BYTES}

    def build_items(self) -> list[Item]:
        out = []
        for f in heldout_files():
            doc = f.document
            header = len(doc) - len(f.text)
            lines = f.text.splitlines(keepends=True)
            starts = np.cumsum([0] + [len(x) for x in lines])
            eligible = []
            for i, line in enumerate(lines):
                body = line.strip()
                if i == 0 or not 8 <= len(body.encode("utf-8")) <= MAX_LINE_BYTES:
                    continue
                if _COMMENT.match(line) or _ONLY_BRACKETS.match(body):
                    continue
                eligible.append(i)
            for i in sorted(eligible, key=lambda i: _h(f"{f.path}:{i + 1}"))[:LINES_PER_FILE]:
                line = lines[i].rstrip("\r\n")
                indent = line[: len(line) - len(line.lstrip())]
                cut = header + int(starts[i]) + len(indent)
                out.append(
                    Item(
                        id=f"{f.path}:{i + 1}",
                        prompt=tail_bytes(doc[:cut], PROMPT_BYTES),
                        target=line[len(indent) :].rstrip(),
                        data={"file": f.path, "line": i + 1},
                    )
                )
        return out

    def evaluate(self, candidate: Candidate, items: Sequence[Item], *, repeat: int, seed: int) -> list[Scored]:
        reqs = [GenerateRequest(prompt=it.prompt, stop=("\n",), max_tokens=MAX_NEW_TOKENS) for it in items]
        gens = candidate.generate(reqs)
        out = []
        for it, g in zip(items, gens, strict=True):
            s = self.score_output(it, g.text)
            if g.error is not None:
                s.score, s.passed, s.error = 0.0, False, g.error
            s.tokens_in, s.tokens_out = g.tokens_in, g.tokens_out
            s.extra["finish_reason"] = g.finish_reason
            out.append(s)
        return out

    def score_output(self, item: Item, output: str, *, repeat: int = 0) -> Scored:
        """Exact match of the output's first line with the held-out line (whitespace ignored)."""
        text = output.split("\n", 1)[0].strip()
        ok = text == item.target
        return Scored(item=item, score=float(ok), passed=ok, output=output,
                      extra={"similarity": difflib.SequenceMatcher(None, text, item.target or "").ratio()})


@functools.cache
def api_classes() -> tuple[str, ...]:
    """Class names defined at top level in ``src/`` (the Three.js core API)."""
    names: set[str] = set()
    for f in corpus.source_files("all"):
        if f.path.startswith("src/"):
            names.update(re.findall(r"^(?:export\s+)?class\s+([A-Z]\w*)", f.text, re.M))
    return tuple(sorted(names))


def distractors(gold: str, pool: Sequence[str], k: int = DISTRACTORS, prefer: Sequence[str] = ()) -> list[str]:
    """``k`` names other than ``gold``: from ``prefer`` first (in hash order), then the
    names of ``pool`` most like ``gold`` (longest shared prefix or suffix, ties by hash)."""

    def common(a: str, b: str) -> int:
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        return n

    def shared(a: str, b: str) -> int:
        return max(common(a, b), common(a[::-1], b[::-1]))

    first = sorted({n for n in prefer if n != gold}, key=lambda n: _h(f"{gold}|{n}"))[:k]
    others = [n for n in pool if n != gold and n not in first]
    return first + sorted(others, key=lambda n: (-shared(gold, n), _h(f"{gold}|{n}")))[: k - len(first)]


_USE = re.compile(r"\b(?:new|extends)\s+(?:THREE\.)?([A-Z]\w*)\b")


class ApiCloze(_ThreeTask):
    """Which Three.js class comes next? Multiple choice by log-likelihood."""

    name = "threejs/api_cloze"
    version = "2"
    metric = "accuracy"
    batch_size = 16

    def decoding(self) -> dict[str, Any]:
        return {"choices": 1 + DISTRACTORS, "prompt_bytes": PROMPT_BYTES, "score": "sum log-likelihood"}

    def build_items(self) -> list[Item]:
        api = set(api_classes())
        pool = api_classes()
        out = []
        for f in heldout_files():
            doc = f.document
            header = len(doc) - len(f.text)
            seen = set(re.findall(r"^(?:export\s+)?class\s+([A-Z]\w*)", f.text, re.M))  # defined here
            in_file = sorted(api & set(re.findall(r"\b[A-Z]\w*\b", f.text)))
            for m in _USE.finditer(f.text):
                gold = m.group(1)
                if gold not in api or gold in seen:
                    continue
                seen.add(gold)
                start = header + m.start(1)
                lead = " " if doc[start - 1] == " " else ""
                follow = f.text[m.end(1) : m.end(1) + 1]
                context = tail_bytes(doc[: start - len(lead)], PROMPT_BYTES)
                names = sorted([gold, *distractors(gold, pool, prefer=in_file)], key=lambda n: _h(f"{f.path}|{m.start(1)}|{n}"))
                out.append(
                    Item(
                        id=f"{f.path}@{m.start(1)}",
                        prompt=context,
                        target=lead + gold + follow,
                        data={
                            "choices": [lead + n + follow for n in names],
                            "gold": names.index(gold),
                            "file": f.path,
                        },
                    )
                )
        return out

    def evaluate(self, candidate: Candidate, items: Sequence[Item], *, repeat: int, seed: int) -> list[Scored]:
        reqs = [LoglikelihoodRequest(it.prompt, c) for it in items for c in it.data["choices"]]
        res = candidate.loglikelihood(reqs)
        out, pos = [], 0
        for it in items:
            n = len(it.data["choices"])
            lls = [float(r.logprob) for r in res[pos : pos + n]]
            pos += n
            best = max(range(n), key=lls.__getitem__)
            ok = best == int(it.data["gold"])
            out.append(
                Scored(
                    item=it,
                    score=float(ok),
                    passed=ok,
                    output=str(it.data["choices"][best]),
                    extra={"loglikelihoods": lls},
                )
            )
        return out


def tasks(**_: Any) -> list[Task]:
    """The three tasks over the whole held-out split (the runner orders, limits and budgets them)."""
    return [HeldoutBpb(), NextLine(), ApiCloze()]


def headline(tasks: list[Task]) -> Any:
    """The suite's headline for the gate: held-out bits/byte (the other tasks are reported)."""
    from specboard.harness.gate.headline import Headline

    return Headline("threejs/heldout_bpb", {t.name: 1.0 if t.name == "threejs/heldout_bpb" else 0.0 for t in tasks})
