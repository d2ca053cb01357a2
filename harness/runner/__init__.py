"""The run lifecycle: tasks and items, evaluation runs, and where they ran.

- :mod:`.tasks`: :class:`Task` and :class:`Item`, what a suite is made of;
- :mod:`.run`: :class:`Run` (open/resume → evaluate → aggregate → finish) and :func:`evaluate`;
- :mod:`.environment`: git state, packages, CPU and threads recorded with every run;
- :mod:`.efficiency`: size, memory and speed rows of one candidate.
"""

from specboard.harness.runner.run import Run, build_protocol, evaluate, fingerprint, select_items
from specboard.harness.runner.tasks import Item, Scored, Task

__all__ = ["Item", "Run", "Scored", "Task", "build_protocol", "evaluate", "fingerprint", "select_items"]
