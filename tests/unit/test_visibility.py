"""Latent visibility (issue 15): a real tiny trained model, and handcrafted encoders whose
blindness is known, so the measurement is shown to see what the latent ignores."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import DEBUG_OVERRIDES
from torch import nn

from physjepa.config import load_preset
from physjepa.data.collect import collect
from physjepa.metrics.visibility import latent_visibility, visibility_of_run
from physjepa.models.predictor import Predictor
from physjepa.models.world_model import ModelSpec, WorldModel
from physjepa.training.loop import train
from physjepa.worlds import WorldError, make

SIZE = 32


class _Pixels(nn.Module):
    """A handcrafted encoder: the frame's pixels, or only those of one colour (a mask)."""

    def __init__(self, color: tuple[int, int, int] | None = None):
        super().__init__()
        self.color = color

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.color is None:
            return x.float().flatten(1) / 255.0  # (N, H*W*3)
        mask = (x == torch.tensor(self.color, dtype=x.dtype)).all(dim=-1)  # (N, H, W)
        return mask.float().flatten(1)


def _handmade(encoder: nn.Module, dim: int) -> WorldModel:
    spec = ModelSpec((SIZE, SIZE, 3), 2, 1)
    return WorldModel(encoder, nn.Identity(), Predictor(dim, 2, 1, depth=1, heads=1), spec)


@pytest.fixture(scope="module")
def push_t_run(tmp_path_factory):
    data = tmp_path_factory.mktemp("data") / "push-t.h5"
    collect("push-t", data, episodes=6, steps=30, policy="scripted", seed=0, image_size=SIZE)
    cfg = load_preset("debug", [*DEBUG_OVERRIDES, "data.frameskip=2"])
    return train(cfg, data, tmp_path_factory.mktemp("runs") / "push-t", progress=False)


def test_trained_model_agent_is_one_and_values_are_finite(push_t_run):
    vis = visibility_of_run(push_t_run, starts=6)
    assert set(vis) == {"agent_pos", "block_pos", "block_angle"}
    assert vis["agent_pos"]["reference"] and vis["agent_pos"]["visibility"] == 1.0
    for name, v in vis.items():
        assert math.isfinite(v["visibility"]) and v["visibility"] > 0, name
        assert math.isfinite(v["latent_distance"]) and v["latent_distance"] > 0, name
        assert v["starts"] >= 4, name
    assert vis["block_pos"]["move"] == pytest.approx(51.2)  # 0.1 of the 512-unit table
    assert vis["block_angle"]["move"] == pytest.approx(0.2 * math.pi)


def test_an_encoder_blind_to_the_block_scores_zero_and_a_seeing_one_does_not():
    world = make("push-t", image_size=SIZE)
    agent_only = _handmade(_Pixels(world.params["agent_color"]), SIZE * SIZE)
    blind = latent_visibility(agent_only, world, starts=8)
    assert blind["agent_pos"]["visibility"] == 1.0
    assert blind["block_pos"]["visibility"] < 0.05
    assert blind["block_angle"]["visibility"] < 0.05
    seeing = latent_visibility(_handmade(_Pixels(), SIZE * SIZE * 3), world, starts=8)
    assert seeing["block_pos"]["visibility"] > 0.3
    assert seeing["block_angle"]["visibility"] > 0.3


def test_reacher_measures_the_elbow_against_the_shoulder():
    world = make("reacher", image_size=SIZE)
    vis = latent_visibility(_handmade(_Pixels(), SIZE * SIZE * 3), world, starts=6, seed=1)
    assert vis["shoulder"]["reference"] and vis["shoulder"]["visibility"] == 1.0
    # the elbow moves only the forearm: fewer pixels change than for the whole arm
    assert 0.1 < vis["elbow"]["visibility"] < 1.0


def test_moves_stay_valid_and_the_world_is_restored():
    world = make("two-room", image_size=SIZE)
    vis = latent_visibility(_handmade(_Pixels(), SIZE * SIZE * 3), world, starts=5)
    assert vis["agent_pos"]["starts"] == 5
    pt = make("push-t", image_size=SIZE)
    pt.reset(seed=0)
    s = pt.sim_state()
    assert pt.valid_sim_state(s)
    s["block_pos"] = list(s["agent_pos"])  # the pusher inside the T
    assert not pt.valid_sim_state(s)


def test_bad_requests_are_one_line_world_errors():
    model = _handmade(_Pixels(), SIZE * SIZE * 3)
    with pytest.raises(WorldError, match="lists no state variables"):
        latent_visibility(model, make("ball-drop", image_size=SIZE))
    with pytest.raises(WorldError, match="image size"):
        latent_visibility(model, make("push-t", image_size=64))
    with pytest.raises(WorldError, match="fraction"):
        latent_visibility(model, make("push-t", image_size=SIZE), fraction=0.0)


def test_same_seed_same_result():
    world = make("push-t", image_size=SIZE)
    model = _handmade(_Pixels(), SIZE * SIZE * 3)
    a = latent_visibility(model, world, starts=4, seed=3)
    b = latent_visibility(model, world, starts=4, seed=3)
    assert a == b
    assert np.isfinite(a["block_pos"]["visibility"])
