"""Built-in simulated worlds (see ``registry.make``)."""

from physjepa.worlds.base import Goal, World, WorldError
from physjepa.worlds.registry import make, names

__all__ = ["Goal", "World", "WorldError", "make", "names"]
