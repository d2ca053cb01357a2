"""Exit codes shared by the CLI and the pytest plugin.

Values agree with pytest's own ``ExitCode`` where the meaning is the same (0, 1, 2, 3, 4),
so ``pytest suites`` and ``specboard gate`` can be read the same way by CI.
"""

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit status."""

    PASS = 0
    """Success; for the gate: no regression beyond the margin."""
    FAIL = 1
    """The gate found a regression (worse than the baseline by more than the margin)."""
    INTERRUPTED = 2
    """Stopped by SIGINT; state was saved and the run can be resumed."""
    INTERNAL_ERROR = 3
    """A bug or an unexpected failure."""
    USAGE_ERROR = 4
    """Bad arguments, unknown candidate, missing baseline or artifact."""
    INCONCLUSIVE = 6
    """Too few items or too much noise to tell (fails CI only with --inconclusive=fail)."""
    INVALID_INPUT = 7
    """Results files with malformed lines, corrupt artifacts or other bad input."""
