"""The errors that mean "the user asked for something wrong": the CLI shows them as one line.

Every error physjepa raises on purpose for bad input is a :class:`UserError`. Anything else
(a bug of ours, an internal numpy or torch failure) keeps its traceback. The classes live
here, with no imports, so the CLI can catch them without loading torch, h5py or a simulator;
each package re-exports its own (``physjepa.data.episodes.DataError`` and so on).
"""

from __future__ import annotations


class UserError(ValueError):
    """Bad input from the user: the message says what is wrong and how to fix it."""


class ConfigError(UserError):
    """An unknown config key, a wrong value or type, an unknown preset."""


class DataError(UserError):
    """An episode file or other input data is missing, corrupt or does not fit the run."""


class CheckpointError(UserError):
    """A run directory or checkpoint is missing, corrupt or unsafe."""


class TrainError(UserError):
    """Training cannot start or continue; the message says why and what to do."""


class WorldError(UserError):
    """An unknown world, a bad world param, or a world that cannot do what was asked."""


class PlannerError(UserError):
    """An unknown planner or a bad planner setting."""


#: What the CLI prints as one line. ``OSError``s about the user's own paths (a missing file,
#: no permission, a directory where a file was meant) are bad input too.
USER_ERRORS: tuple[type[Exception], ...] = (
    UserError,
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)
