"""Errors the user can cause and fix: the CLI prints them as one line and exits with code 2."""


class A3labError(Exception):
    """Base class for user-facing errors (bad input, missing or corrupt files)."""


class DataError(A3labError):
    """A data set is missing, truncated or not in the IDX format."""


class CheckpointError(A3labError):
    """A checkpoint is missing, corrupt or does not match the model."""


class TrainingDiverged(A3labError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""
