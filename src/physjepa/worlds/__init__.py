"""Built-in simulated worlds (see ``registry.make``)."""

from physjepa.worlds.base import Goal, VisibleVariable, World, WorldError
from physjepa.worlds.registry import make, names

__all__ = ["Goal", "VisibleVariable", "World", "WorldError", "make", "names"]
