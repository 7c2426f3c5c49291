"""Worlds by name: ``make("ball-drop", gravity=900.0)``."""

from __future__ import annotations

import importlib
from typing import Any

from physjepa.worlds.base import World, WorldError

# name -> "module:Class"; modules are imported only when a world is made (no import side effects).
_REGISTRY: dict[str, str] = {
    "ball-drop": "physjepa.worlds.ball_drop:BallDrop",
    "beam": "physjepa.worlds.beam:Beam",
    "push-t": "physjepa.worlds.push_t:PushT",
    "reacher": "physjepa.worlds.reacher:Reacher",
    "reaction": "physjepa.worlds.reaction:Reaction",
    "two-room": "physjepa.worlds.two_room:TwoRoom",
}


def names() -> list[str]:
    """Registered world names, sorted."""
    return sorted(_REGISTRY)


def world_class(name: str) -> type[World]:
    if isinstance(name, str) and name.startswith("gym:"):
        from physjepa.worlds.gym_adapter import GymWorld

        return GymWorld
    if name not in _REGISTRY:
        raise WorldError(f"unknown world {name!r}; known worlds: {', '.join(names())}")
    module, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


def make(name: str, image_size: int = 64, **params: Any) -> World:
    """Create world ``name`` with the given params (its factors of variation); ``gym:<id>``
    wraps any Gymnasium env that renders ``rgb_array`` (see ``worlds/gym_adapter.py``)."""
    if isinstance(name, str) and name.startswith("gym:"):
        from physjepa.worlds.gym_adapter import GymWorld, is_gym

        if not is_gym(name):
            raise WorldError("a Gymnasium world is named gym:<env id>, e.g. gym:Pendulum-v1")
        return GymWorld(name[4:], image_size=image_size, **params)
    return world_class(name)(image_size=image_size, **params)
