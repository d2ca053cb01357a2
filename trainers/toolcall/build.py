"""Build the tool-calling training set: sources → examples → dedup → BFCL-overlap check → JSONL.

Recipe (deterministic from ``seed``; sizes are printed by ``python -m
specboard.trainers.toolcall.build`` and recorded in the set's ``meta``):

1. Function docs: public functions of installed Python packages (:mod:`.pysources`) and
   methods of the Three.js train split (:mod:`.jssources`), minus every doc whose name or
   description equals a BFCL function's (:func:`.overlap.excluded`).
2. Examples, drawn with weights :data:`KINDS`: ``simple``, ``multiple`` (distractors from
   the same module first — the hard choice), ``parallel``, ``parallel_multiple``,
   ``irrelevance`` (functions from one package, a request generated for a function of
   another package, or small talk; from version 3 also near misses: a request for a
   function of the same module that is not offered; answer ``[]``). Requests and answers
   by :mod:`.templates`. :data:`RECIPES` holds each version's weights.
3. Deduplicated on the (functions, request) pair and on the request text alone (the first
   one drawn wins), so no request appears with two answers.
4. :func:`.overlap.violations` over every function in the set must be empty, else
   :class:`OverlapError`.

Each row holds ``functions`` (BFCL-shaped docs without the language hint), ``request``,
``answer`` (BFCL python call syntax), ``kind`` and ``source``; :func:`messages` turns a row
into exactly the chat BFCL's suite sends a prompt model (bfcl-eval's own language hint and
``system_prompt_pre_processing_chat_model``).

Not handled: teacher-written requests (the Qwen teacher is not used), multi-turn examples,
Java/JavaScript call syntax (every answer is Python syntax, as BFCL's Python categories ask).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from specboard.trainers.toolcall import templates as T
from specboard.trainers.toolcall.overlap import bfcl_functions, excluded, violations
from specboard.trainers.toolcall.schema import FunctionDoc


@dataclass(frozen=True)
class Recipe:
    """How examples are drawn (the sources, dedup and overlap check are the same for all)."""

    version: str
    """Recorded as the set's ``recipe_version`` and the corpus name ``toolcall-vN``."""
    kinds: dict[str, float]
    """Draw weight of each example kind."""
    near_miss: float = 0.0
    """Share of ``irrelevance`` examples that are near misses: the request is for a function
    of the *same module* as the offered ones, which is not offered (see :meth:`_Drawer.near_miss`)."""


RECIPES: dict[str, Recipe] = {
    # Version 2 (version 1: 0.25 / 0.3 / 0.08 / 0.07 / 0.3). Version 1's specialist never wrote
    # a correct parallel answer (0 of 88 BFCL parallel items) and abstained on half the AST
    # requests, so version 2 trains more parallel calls and fewer abstentions.
    "2": Recipe("2", {"simple": 0.2, "multiple": 0.25, "parallel": 0.2, "parallel_multiple": 0.15,
                      "irrelevance": 0.2}),
    # Version 3: version 2's specialist called a function on 20–28% of BFCL's irrelevance
    # items, mostly one on the request's topic that cannot serve it (an IRR function for the
    # *external* rate of return). Its negatives were all easy (another package, or small
    # talk), so version 3 makes 40% of them near misses and draws a few more.
    "3": Recipe("3", {"simple": 0.2, "multiple": 0.25, "parallel": 0.175, "parallel_multiple": 0.125,
                      "irrelevance": 0.25}, near_miss=0.4),
}

RECIPE_VERSION = "2"
"""The default recipe: the one the committed specialist ``toolcall-135m`` was trained on."""
KINDS: dict[str, float] = RECIPES[RECIPE_VERSION].kinds
"""The default recipe's draw weights."""


class Drawn(NamedTuple):
    """One drawn example before dedup."""

    functions: list[FunctionDoc]
    """The offered docs, in the order the prompt lists them."""
    request: str
    """The user's request."""
    calls: list[Any]
    """``(name, args)`` of each expected call; empty for an abstention."""
    near_miss: bool = False
    """An ``irrelevance`` example whose request is for an unoffered function of the offered
    functions' module (:meth:`_Drawer.near_miss`)."""


class OverlapError(RuntimeError):
    """The built set contains a BFCL (name, description) pair."""


def module_of(doc: FunctionDoc) -> str:
    return doc["name"].rsplit(".", 1)[0]


def package_of(doc: FunctionDoc) -> str:
    return doc["name"].split(".", 1)[0]


def source_docs() -> tuple[list[FunctionDoc], dict[str, Any]]:
    """Python and Three.js docs minus BFCL-colliding ones, with counts for the recipe record."""
    from specboard.trainers.toolcall import jssources, pysources

    py, failed = pysources.collect()
    js = jssources.collect()
    b = bfcl_functions()
    kept = [d for d in py + js if not excluded(d, b)]
    info = {"python_functions": len(py), "threejs_methods": len(js), "failed_modules": failed,
            "package_versions": pysources.versions(),
            "excluded_bfcl_collisions": len(py) + len(js) - len(kept), "functions": len(kept)}
    return kept, info


class _Drawer:
    """Seeded example drawing over a fixed pool of docs."""

    def __init__(self, docs: list[FunctionDoc], seed: int, near_misses: float = 0.0):
        self.docs = docs
        self.near_misses = near_misses
        self.r = random.Random(seed)
        self.by_module: dict[str, list[FunctionDoc]] = {}
        for d in docs:
            self.by_module.setdefault(module_of(d), []).append(d)
        self.with_params = [d for d in docs if d["parameters"]["properties"]]

    def distractors(self, doc: FunctionDoc, k: int) -> list[FunctionDoc]:
        same = [d for d in self.by_module[module_of(doc)] if d["name"] != doc["name"]]
        picked = self.r.sample(same, min(k, len(same))) if self.r.random() < 0.7 else []
        while len(picked) < k:
            d = self.r.choice(self.docs)
            if d["name"] != doc["name"] and d not in picked:
                picked.append(d)
        return picked

    def offer(self, docs: list[FunctionDoc]) -> list[FunctionDoc]:
        out = list(docs)
        self.r.shuffle(out)
        return out

    def simple(self) -> Drawn:
        d = self.r.choice(self.with_params)
        args = T.choose_args(d, self.r)
        return Drawn([d], T.request(d, args, self.r), [(d["name"], args)])

    def multiple(self) -> Drawn:
        funcs, req, calls, _ = self.simple()
        return Drawn(self.offer(funcs + self.distractors(funcs[0], self.r.choice((1, 1, 2, 2, 3)))), req, calls)

    def parallel(self) -> Drawn:
        d = self.r.choice(self.with_params)
        sets = [T.choose_args(d, self.r)]
        for _ in range(self.r.choice((1, 1, 2))):
            sets.append(T.vary(d, sets[0], self.r))
        funcs = [d] + (self.distractors(d, 1) if self.r.random() < 0.3 else [])
        return Drawn(self.offer(funcs), T.parallel_request(d, sets, self.r), [(d["name"], a) for a in sets])

    def parallel_multiple(self) -> Drawn:
        first = self.r.choice(self.with_params)
        chosen = [first, *self.distractors(first, self.r.choice((1, 1, 2)))]
        parts, calls = [], []
        for d in chosen:
            args = T.choose_args(d, self.r)
            parts.append(T.request(d, args, self.r).rstrip(".?"))
            calls.append((d["name"], args))
        glue = self.r.choice(("{a}. Also, {b}.", "{a}, and then {b}.", "First, {a}. Then {b}."))
        req = glue.format(a=parts[0], b=". Also, ".join(p[:1].lower() + p[1:] for p in parts[1:]))
        extra = self.distractors(first, 1) if self.r.random() < 0.3 else []
        return Drawn(self.offer(chosen + [e for e in extra if e not in chosen]), req, calls)

    def near_miss(self) -> Drawn | None:
        """A request for one function of a module while 1–3 *other* functions of that module
        are offered (answer ``[]``). Offered functions that could be the same one are left out:
        the same summary (aliases such as numpy's ``amax`` and ``max`` share their docstring),
        or the same parameter names under a name that differs only in case or underscores.
        ``None`` when the module has no such other function."""
        wanted = self.r.choice(self.with_params)
        summary = wanted["description"].split(". ")[0].strip().lower()
        params = set(wanted["parameters"]["properties"])
        own = set(T.words(wanted["name"].rsplit(".", 1)[-1]).split())
        siblings = [d for d in self.by_module[module_of(wanted)]
                    if d["name"] != wanted["name"]
                    and d["description"].split(". ")[0].strip().lower() != summary
                    and not (set(d["parameters"]["properties"]) == params
                             and set(T.words(d["name"].rsplit(".", 1)[-1]).split()) == own)]
        if not siblings:
            return None
        offered = self.r.sample(siblings, min(len(siblings), self.r.choice((1, 1, 2, 3))))
        return Drawn(self.offer(offered), T.request(wanted, T.choose_args(wanted, self.r), self.r), [], near_miss=True)

    def irrelevance(self) -> Drawn:
        if self.near_misses and self.r.random() < self.near_misses:
            hit = self.near_miss()
            if hit is not None:
                return hit
        offered = self.r.choice(self.docs)
        funcs = [offered, *self.distractors(offered, self.r.choice((0, 0, 1, 2)))]
        if self.r.random() < 0.3:
            return Drawn(self.offer(funcs), T.small_talk(self.r), [])
        pkgs = {package_of(f) for f in funcs}
        words = {w for f in funcs for w in T.words(f["name"]).split() + f["description"].lower().split()}
        for _ in range(50):
            other = self.r.choice(self.with_params)
            if package_of(other) in pkgs:
                continue
            if len(set(T.words(other["name"].rsplit(".", 1)[-1]).split()) & words) == 0:
                break
        return Drawn(self.offer(funcs), T.request(other, T.choose_args(other, self.r), self.r), [])


def draw(docs: list[FunctionDoc], n: int, seed: int, recipe: str = RECIPE_VERSION) -> list[dict[str, Any]]:
    """``n`` unique examples of ``recipe`` (see module doc); fewer only if the pool runs dry."""
    rec = RECIPES[recipe]
    dr = _Drawer(docs, seed, rec.near_miss)
    kinds, weights = list(rec.kinds), list(rec.kinds.values())
    rows: list[dict[str, Any]] = []
    seen_pairs: set[str] = set()
    seen_requests: set[str] = set()
    attempts = 0
    while len(rows) < n and attempts < 5 * n:
        attempts += 1
        kind = dr.r.choices(kinds, weights)[0]
        funcs, req, calls, near_miss = getattr(dr, kind)()
        key = hashlib.sha256(json.dumps([[f["name"] for f in funcs], req]).encode()).hexdigest()
        if key in seen_pairs or req in seen_requests:
            continue
        seen_pairs.add(key)
        seen_requests.add(req)
        rows.append({"id": f"toolcall_{len(rows)}", "kind": kind, "functions": funcs, "request": req,
                     "answer": T.answer(calls), "source": sorted({package_of(f) for f in funcs}),
                     **({"near_miss": True} if near_miss else {})})
    return rows


def messages(row: dict[str, Any]) -> list[dict[str, str]]:
    """The chat BFCL sends a prompt model for this row (bfcl-eval's own hint and system prompt)."""
    from specboard.suites.bfcl import bfcl

    b = bfcl()
    import bfcl_eval.utils as bu  # on sys.path once bfcl() ran

    entry = {"id": "simple_python_0", "function": copy.deepcopy(row["functions"])}
    funcs = bu.add_language_specific_hint_to_function_doc([entry])[0]["function"]
    return b.system_prompt([{"role": "user", "content": row["request"]}], funcs, entry["id"])


def build(n: int, seed: int, recipe: str = RECIPE_VERSION) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The rows and the recipe record (sizes, kinds, sources, overlap result)."""
    docs, info = source_docs()
    rows = draw(docs, n, seed, recipe)
    used = {f["name"]: f for r in rows for f in r["functions"]}
    bad = violations(used.values())
    if bad:
        raise OverlapError(f"{len(bad)} training functions match a BFCL (name, description) pair: {bad[:10]}")
    meta = {"recipe_version": recipe, "seed": seed, "requested": n, "examples": len(rows),
            "kinds": dict(Counter(r["kind"] for r in rows)),
            **({"near_misses": sum(1 for r in rows if r.get("near_miss"))} if RECIPES[recipe].near_miss else {}),
            "functions_used": len(used),
            "bfcl_function_docs_checked": bfcl_functions().n_docs, "overlap_violations": 0, **info}
    return rows, meta


def write(rows: list[dict[str, Any]], meta: dict[str, Any], out: Path) -> str:
    """Write ``out`` atomically (one row per line, meta first); returns the file's sha256."""
    from specboard.harness.results.store import atomic_write_text

    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"meta": meta}, sort_keys=True) + "\n" + "".join(
        json.dumps(r, sort_keys=True) + "\n" for r in rows)
    atomic_write_text(out, text)
    return hashlib.sha256(text.encode()).hexdigest()


def read(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(x) for x in lines[1:]], json.loads(lines[0])["meta"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="build the tool-calling training set (offline)")
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--recipe", choices=sorted(RECIPES), default=RECIPE_VERSION)
    p.add_argument("--out", type=Path, default=Path("runs/toolcall/data.jsonl"))
    a = p.parse_args(argv)
    rows, meta = build(a.n, a.seed, a.recipe)
    sha = write(rows, meta, a.out)
    print(json.dumps({**meta, "sha256": sha, "out": str(a.out)}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
