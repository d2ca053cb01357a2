"""The run lifecycle: tasks and items, evaluation runs, and where they ran.

- :mod:`.tasks`: :class:`Task` and :class:`Item`, what a suite is made of;
- :mod:`.options`: :class:`RunOptions`, the one options object of every entry point;
- :mod:`.order`: the seeded stratified item order and the draw schedule;
- :mod:`.run`: :class:`Run`, the rows of one run (open/resume → write → aggregate → finish);
- :mod:`.suite_run`: :func:`evaluate_suite`, the lifecycle every entry point calls;
- :mod:`.environment`: git state, packages, CPU and threads recorded with every run;
- :mod:`.efficiency`: size, memory and speed rows of one candidate.
"""

from specboard.harness.runner.options import Budget, RunOptions, parse_budget, parse_shard
from specboard.harness.runner.run import Run, fingerprint, select_items
from specboard.harness.runner.suite_run import (
    SuiteResult,
    SuiteRun,
    build_protocol,
    evaluate,
    evaluate_suite,
)
from specboard.harness.runner.tasks import Item, Scored, Task

__all__ = [
    "Budget", "Item", "Run", "RunOptions", "Scored", "SuiteResult", "SuiteRun", "Task", "build_protocol",
    "evaluate", "evaluate_suite", "fingerprint", "parse_budget", "parse_shard", "select_items",
]
