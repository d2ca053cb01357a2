"""BFCL v4 (Berkeley Function Calling Leaderboard) as a specboard suite.

Everything BFCL-specific comes from the pinned ``bfcl-eval`` wheel in the offline cache:
the data files, the system prompt for prompt (non-FC) models
(``system_prompt_pre_processing_chat_model``), the decoder
(``default_decode_ast_prompting``), the checkers (``ast_checker``,
``multi_turn_checker``), the simulated multi-turn APIs
(``execute_multi_turn_func_call``) and the aggregation helpers. Nothing of that is
re-implemented here; this module only loads items, runs the conversation loop and turns
checker results into specboard rows.

Modules: :mod:`.loader` (importing bfcl-eval from the cache, items, answers), :mod:`.decode`
(output → calls, guarded), :mod:`.safe_eval` and :mod:`.api_worker` (what runs instead of
``eval``), :mod:`.task` (one category as a task), :mod:`.multi_turn` (the
conversation loop), :mod:`.metrics` (BFCL's aggregates).

Safety (:mod:`.safe_eval`, :mod:`.api_worker`): bfcl's decoder ``eval``s arithmetic in
call arguments and its multi-turn executor ``eval``s the decoded calls; both ``eval``
lookups are shadowed by small interpreters (numbers only; public methods of the simulated
API instances with literal arguments), checked before anything is decoded, and the
simulated APIs run in a child process with memory and time limits. Output bfcl would have
run as code is refused and scores 0 in every category.

Not handled: the agentic categories (web_search needs the network, memory_vector an
embedding model) and format_sensitivity; ``bfcl/overall`` therefore
re-normalises BFCL's weights over non-live, live, irrelevance and multi-turn.
"""

from specboard.suites.bfcl.decode import UnsafeOutputError, decode
from specboard.suites.bfcl.loader import (
    ARTIFACT,
    AST_CATEGORIES,
    CATEGORIES,
    MODEL_NAME,
    MULTI_TURN_CATEGORIES,
    RELEVANCE_CATEGORIES,
    answers,
    bfcl,
    entries,
)
from specboard.suites.bfcl.metrics import headline, suite_metrics
from specboard.suites.bfcl.task import STOP, BfclTask, tasks

SUITE_VERSION = "1"
GATE_CANDIDATE = "specialist:toolcall-135m?constrained=1"
"""The candidate ``pytest suites -k bfcl`` gates by default, and that ``baselines/bfcl/`` was
made with: the tool-calling specialist trained here (a committed LoRA adapter on
SmolLM2-135M-Instruct, ``baselines/specialists/``) with the call grammar. It calls
functions, makes parallel calls and abstains; see baselines/bfcl/README.md for why this one."""
GATE_BUDGET = "9m"
"""The sequential gate's default budget: evaluation time, so that the whole
``pytest suites -k bfcl`` fits in 10 minutes on 2 cores (model load and start-up included)."""
GATE_MARGIN = 0.10
"""Default δ on accuracy, for the headline (``bfcl/overall``) and each category (raised per
category by ``noise.json``). Half of the overall's weight is multi-turn, so a draw costs ~7 s
here (2 cores) and the gate certified 10 points after 48 agreeing draws (5 min 16 s in all); 2 points
need ~230 draws, about 27 minutes (docs/gate.md)."""

__all__ = [
    "ARTIFACT",
    "AST_CATEGORIES",
    "CATEGORIES",
    "GATE_BUDGET",
    "GATE_CANDIDATE",
    "GATE_MARGIN",
    "MODEL_NAME",
    "MULTI_TURN_CATEGORIES",
    "RELEVANCE_CATEGORIES",
    "STOP",
    "SUITE_VERSION",
    "BfclTask",
    "UnsafeOutputError",
    "answers",
    "bfcl",
    "decode",
    "entries",
    "headline",
    "suite_metrics",
    "tasks",
]
