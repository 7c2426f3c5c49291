"""Latent visibility: how much each state variable moves the latent, relative to the agent.

For each of ``starts`` start states (the world's ``reset`` with seeds of their own), every
variable the world lists in ``visibility_variables()`` is moved alone through
``set_sim_state`` by ``fraction`` of its declared range (a random direction for a position,
a random sign for an angle; a move that would put a body in a wall or in another body is
drawn again, up to 20 times), the frame is rendered and encoded, and the Euclidean distance
between its latent and the start's latent is recorded. A variable's visibility is the median
over start states of that distance divided by the distance the reference variable (the agent,
or the controlled joint) causes from the same start: 1.0 means the planning cost sees the
variable as well as it sees the agent, 0 that the latent ignores it.

The model encodes every frame on its own: ``encode`` is frame-wise (the encoder and its
projector see one frame at a time; BatchNorm in eval mode), so no history is needed and
none is filled in. With a token latent the distance is over all tokens, as the cost sums them.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physjepa.worlds import VisibleVariable, World, WorldError, make

_VIS_TAG = 0x56495342  # "VISB": start-state seeds of their own, apart from collection's
_TRIES = 20


def latent_visibility(
    model,
    world: World,
    starts: int = 32,
    fraction: float = 0.1,
    seed: int = 0,
    batch: int = 64,
) -> dict[str, dict[str, Any]]:
    """``{variable: {"visibility", "latent_distance", "move", "starts", "reference"}}``.

    ``latent_distance`` is the median latent distance the move causes, ``move`` the size of
    the move (in the variable's units), ``starts`` the start states where the move and the
    reference's move were both possible. ``world`` must render what the model was trained
    on (its image size); it is left in some start state.
    """
    variables = world.visibility_variables()
    refs = [name for name, v in variables.items() if v.reference]
    if len(refs) != 1:
        raise WorldError(f"world {world.name!r} marks {len(refs)} reference variables; need 1")
    if not 0.0 < fraction <= 1.0:
        raise WorldError(f"visibility fraction={fraction!r} must lie in (0, 1]")
    if starts < 1:
        raise WorldError(f"visibility starts={starts!r} must be at least 1")
    shape = tuple(world.observation_space.shape)
    if tuple(model.spec.obs_shape) != shape:
        raise WorldError(
            f"the model was trained on observations of shape {tuple(model.spec.obs_shape)}, "
            f"world {world.name!r} renders {shape}; make it with the training image size"
        )
    start_seeds, move_seeds = np.random.SeedSequence([_VIS_TAG, seed]).spawn(2)
    seeds = start_seeds.generate_state(starts)
    rng = np.random.default_rng(move_seeds)  # directions and signs of the moves
    frames: list[np.ndarray] = []
    rows: list[dict[str, int]] = []  # per start: frame index of the start and of each move
    for s in seeds:
        world.reset(seed=int(s))
        start = world.sim_state()
        row = {"": len(frames)}
        frames.append(world.render())
        for name, var in variables.items():
            frame = _moved_frame(world, start, var, fraction * var.span, rng)
            if frame is not None:
                row[name] = len(frames)
                frames.append(frame)
        world.set_sim_state(start)
        if refs[0] in row:
            rows.append(row)
    if not rows:
        raise WorldError(f"world {world.name!r}: the reference could not be moved from any start")
    z = _encode(model, np.stack(frames), batch)  # (N, D)
    out: dict[str, dict[str, Any]] = {}
    for name, var in variables.items():
        dist, ratio = [], []
        for row in rows:
            if name not in row:
                continue
            d = float((z[row[name]] - z[row[""]]).norm())
            d_ref = float((z[row[refs[0]]] - z[row[""]]).norm())
            dist.append(d)
            ratio.append(d / d_ref if d_ref > 0 else float("nan"))
        out[name] = {
            "visibility": float(np.nanmedian(ratio)) if ratio else float("nan"),
            "latent_distance": float(np.median(dist)) if dist else float("nan"),
            "move": fraction * var.span,
            "starts": len(dist),
            "reference": var.reference,
        }
    return out


def visibility_of_run(
    run_dir: str | Path, starts: int = 32, fraction: float = 0.1, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """:func:`latent_visibility` of a trained run, in the world (and params) it was trained on."""
    from physjepa.runs import Run

    run = Run.open(run_dir)
    if len(run.shape.obs_shape) != 3:
        raise WorldError(f"{run_dir} observes vectors, not frames: report the probe R² alone")
    model = run.load_model("cpu")
    world = make(run.data.world, image_size=int(run.shape.obs_shape[0]), **run.data.params)
    return latent_visibility(model, world, starts, fraction, seed)


def _moved_frame(
    world: World, start: dict, var: VisibleVariable, size: float, rng: np.random.Generator
) -> np.ndarray | None:
    """The frame with ``var`` moved by ``size`` from ``start``, or None if no try was valid."""
    for _ in range(_TRIES):
        if len(var.index) == 1:
            step = np.array([rng.choice([-1.0, 1.0])])
        else:
            step = rng.normal(size=len(var.index))
            step /= np.linalg.norm(step)
        s = copy.deepcopy(start)
        for i, d in zip(var.index, step * size):
            s[var.key][i] += float(d)
        if world.valid_sim_state(s):
            world.set_sim_state(s)
            return world.render()
    return None


@torch.no_grad()
def _encode(model, frames: np.ndarray, batch: int) -> torch.Tensor:
    """Frames (N, H, W, 3) uint8 -> latents (N, dim), each frame on its own, in eval mode: the
    encoder's part (``encode_pixels``) in the cost's metric (``cost_embed``), which is what
    the planning cost compares."""
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        x = torch.as_tensor(frames, device=device)
        return torch.cat(
            [
                model.cost_embed(model.encode_pixels(x[i : i + batch, None])[:, 0])
                for i in range(0, len(x), batch)
            ]
        )
    finally:
        model.train(was_training)
