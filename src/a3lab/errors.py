"""Errors the user can cause and fix: the CLI prints them as one line and exits with code 2.

Library code names its parameters in backticks (`` `batch_size` must be >= 1``); the CLI shows the command's
flag in their place (``--batch-size must be >= 1``), so a message reads right from Python and from the shell.
Any other exception is a bug in a3lab: the CLI prints its traceback and exits with code 1.
"""


class A3labError(Exception):
    """Base class for user-facing errors (bad input, missing or corrupt files, unusable output paths)."""


class UserError(A3labError, ValueError):
    """A value or a combination of values the user gave is invalid (a ValueError for Python callers)."""


class DataError(A3labError):
    """A data set is missing, truncated or not in the IDX format."""


class CheckpointError(A3labError):
    """A checkpoint is missing, corrupt or does not match the model."""


class TrainingDiverged(A3labError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class OutputError(A3labError):
    """An output path cannot be used: unwritable, something of the wrong kind in the way, not empty, or locked."""


class WriteError(OutputError):
    """The operating system refused a write during a run (disk full, permission, read-only file system)."""
