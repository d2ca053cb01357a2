"""Import bfcl-eval's entry points from the offline cache, and its items and answers.

How bfcl-eval is imported (:func:`bfcl`): it is never installed into the venv (its full
install pulls a CUDA torch and every vendor SDK); its package is loaded straight from the
unpacked, verified artifact with :class:`importlib.machinery.PathFinder` (submodules then
resolve through the package's ``__path__``), so ``sys.path`` is not touched. What cannot be
avoided, and why:

- ``bfcl_eval.constants.eval_config`` reads ``BFCL_PROJECT_ROOT`` once, at import, and
  creates result/score/lock directories under it; it is set to a derived cache directory
  only while bfcl-eval is being imported and restored afterwards (they must not land inside
  the verified artifact);
- ``bfcl_eval.constants.model_config`` is pre-seeded in ``sys.modules`` with a minimal
  module. The real one imports every vendor SDK (openai, anthropic, ...); the checker reads
  only ``MODEL_CONFIG_MAPPING[name].underscore_to_dot``, which is ``False`` for every
  prompt model (dots in function names are kept), so the stub answers exactly that.
  Importing a package at all means entries in ``sys.modules``; nothing else is changed.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

ARTIFACT = "bfcl-eval"
MODEL_NAME = "specboard"

AST_CATEGORIES = (
    "simple_python", "simple_java", "simple_javascript", "multiple", "parallel",
    "parallel_multiple", "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple",
)
RELEVANCE_CATEGORIES = ("irrelevance", "live_irrelevance", "live_relevance")
MULTI_TURN_CATEGORIES = (
    "multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context",
)
CATEGORIES = AST_CATEGORIES + RELEVANCE_CATEGORIES + MULTI_TURN_CATEGORIES


def _model_config_stub() -> types.ModuleType:
    mod = types.ModuleType("bfcl_eval.constants.model_config")
    mod.__doc__ = "specboard stub: only what ast_checker.convert_func_name reads (see harness.suites.bfcl)."

    class _PromptModelConfig:
        underscore_to_dot = False
        is_fc_model = False

    class _Mapping(dict):  # type: ignore[type-arg]
        def __missing__(self, key: str) -> _PromptModelConfig:
            return _PromptModelConfig()

    mod.MODEL_CONFIG_MAPPING = _Mapping()  # type: ignore[attr-defined]
    return mod


@cache
def bfcl() -> types.SimpleNamespace:
    """bfcl-eval's entry points, imported from the cached artifact (see module docstring)."""
    from specboard.harness.data.cache import artifact_dir, derived_dir

    with _environ("BFCL_PROJECT_ROOT", str(derived_dir("bfcl-eval"))):
        _load_package("bfcl_eval", str(artifact_dir(ARTIFACT)))
        sys.modules.setdefault("bfcl_eval.constants.model_config", _model_config_stub())
        return _entry_points()


@contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    """``os.environ[name] = value`` for the duration of the block only."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _load_package(name: str, root: str) -> None:
    """Import top-level package ``name`` from directory ``root`` without adding it to sys.path."""
    if name in sys.modules:
        return
    spec = importlib.machinery.PathFinder.find_spec(name, [root])
    if spec is None or spec.loader is None:
        from specboard.harness.data.cache import CorruptArtifactError

        raise CorruptArtifactError(f"{ARTIFACT}: no package {name!r} under {root}; run `specboard prefetch {ARTIFACT}`")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise


def _entry_points() -> types.SimpleNamespace:
    from bfcl_eval.constants import default_prompts
    from bfcl_eval.constants.enums import Language, ReturnFormat
    from bfcl_eval.eval_checker import eval_runner_helper as helper
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker
    from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils
    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import multi_turn_checker
    from bfcl_eval.model_handler import utils as handler_utils
    from bfcl_eval.utils import (
        is_empty_output,
        is_function_calling_format_output,
        load_dataset_entry,
        load_ground_truth_entry,
    )

    return types.SimpleNamespace(
        Language=Language, ReturnFormat=ReturnFormat, ast_checker=ast_checker,
        multi_turn_checker=multi_turn_checker, multi_turn_utils=multi_turn_utils,
        execute=multi_turn_utils.execute_multi_turn_func_call,
        is_empty_execute_response=multi_turn_utils.is_empty_execute_response,
        system_prompt=handler_utils.system_prompt_pre_processing_chat_model,
        decode_ast=handler_utils.default_decode_ast_prompting,
        to_execution_list=handler_utils.decoded_output_to_execution_list,
        is_empty_output=is_empty_output, is_fc_format=is_function_calling_format_output,
        load_dataset_entry=load_dataset_entry, load_ground_truth_entry=load_ground_truth_entry,
        prompts=default_prompts, helper=helper,
    )


@cache
def entries(category: str, hint: bool) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in bfcl().load_dataset_entry(category, include_language_specific_hint=hint)}


@cache
def answers(category: str) -> dict[str, Any]:
    if category in RELEVANCE_CATEGORIES:
        return {}
    return {g["id"]: g["ground_truth"] for g in bfcl().load_ground_truth_entry(category)}
