"""The error types that mean "the user asked for something wrong": shown as one line."""

from physjepa.config import ConfigError
from physjepa.data.episodes import DataError
from physjepa.training.checkpoint import CheckpointError
from physjepa.training.loop import TrainError
from physjepa.worlds.base import WorldError

USER_ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    DataError,
    CheckpointError,
    TrainError,
    WorldError,
    ValueError,
    FileNotFoundError,
    PermissionError,
)
