"""Exception classes of the engine: each says what went wrong, where, and what to do."""

from __future__ import annotations


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class JobDefinitionError(EngineError):
    """The job uses a feature the engine cannot run, or its options contradict each other."""


class InputError(EngineError):
    """An input path is missing, unreadable, corrupt or empty."""


class TaskFailedError(EngineError):
    """A task failed on every attempt; carries the worker's traceback."""

    def __init__(self, message: str, remote_traceback: str = "") -> None:
        super().__init__(message)
        self.remote_traceback = remote_traceback

    def __str__(self) -> str:
        text = super().__str__()
        if self.remote_traceback:
            return f"{text}\n\nWorker traceback (last attempt):\n{self.remote_traceback.rstrip()}"
        return text


class CommitError(EngineError):
    """The output directory exists, or the job's output could not be committed."""


class JobInterrupted(EngineError):
    """The driver was told to stop (Ctrl-C or SIGTERM); nothing was committed."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"job interrupted by signal {signum}; no output was written")
        self.signum = signum
