"""Exit codes and the error base class, shared by the CLI and the pytest plugin.

Every error that is the user's (a bad argument, an unknown candidate, a corrupt artifact,
a malformed file) is a :class:`SpecboardError` subclass that carries the
:class:`ExitCode` it ends the process with; the CLI maps them in one table
(:func:`specboard.harness.cli.exit_code_for`) and prints one line. Anything else is a bug
and exits with ``INTERNAL_ERROR`` — never with ``FAIL``, which only the gate may return.

Exit-code values agree with pytest's own ``ExitCode`` where the meaning is the same
(0, 1, 2, 3, 4), so ``pytest suites`` and ``specboard gate`` read the same way in CI.
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar


class ExitCode(IntEnum):
    """Process exit status."""

    PASS = 0
    """Success; for the gate: no regression beyond the margin."""
    FAIL = 1
    """The gate found a regression (worse than the baseline by more than the margin)."""
    INTERRUPTED = 2
    """Stopped by SIGINT; state was saved and the run can be resumed."""
    INTERNAL_ERROR = 3
    """A bug, or a failure inside task/scoring code; never a verdict."""
    USAGE_ERROR = 4
    """Bad arguments, unknown candidate or suite, missing baseline or artifact."""
    INCONCLUSIVE = 6
    """Too few items or too much noise to tell (fails CI only with --inconclusive=fail)."""
    INVALID_INPUT = 7
    """Results files with malformed lines, corrupt artifacts or other bad input."""


class SpecboardError(Exception):
    """Base of every error specboard reports to the user as one line."""

    exit_code: ClassVar[ExitCode] = ExitCode.INTERNAL_ERROR


class UsageError(SpecboardError):
    """The command asked for something that does not exist or cannot be done here."""

    exit_code = ExitCode.USAGE_ERROR


class InvalidInputError(SpecboardError):
    """A file or artifact the command read is malformed or corrupt."""

    exit_code = ExitCode.INVALID_INPUT


class RunFailedError(SpecboardError, RuntimeError):
    """Task or scoring code raised: the run is recorded as ``failed``, never as a verdict."""

    exit_code = ExitCode.INTERNAL_ERROR
