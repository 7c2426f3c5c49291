"""Proprioception beside the pixels (``model.proprio``): the world's reading, the data column,
the wider latent, training, planning and the one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from physjepa.config import ConfigError, load_preset
from physjepa.data.collect import collect
from physjepa.data.episodes import EpisodeFile, split_episodes
from physjepa.errors import UserError
from physjepa.metrics.closed_loop import evaluate_planning
from physjepa.metrics.rollout import encode_episodes
from physjepa.models.world_model import ModelSpec, build_world_model
from physjepa.planning.base import PlannerError
from physjepa.planning.policy import WorldModelPolicy
from physjepa.planning.registry import build_planner
from physjepa.training.checkpoint import load_run
from physjepa.training.loop import TrainError, train
from physjepa.worlds import WorldError, make

DEBUG_OVERRIDES = ["train.steps=20", "train.device=cpu"]


@pytest.fixture(scope="module")
def proprio_run(tmp_path_factory):
    """A two-room run that reads the agent's position and velocity beside each frame."""
    data = tmp_path_factory.mktemp("data") / "two-room.h5"
    collect("two-room", data, episodes=10, steps=30, policy="scripted", seed=0, image_size=64)
    cfg = load_preset(
        "debug", [*DEBUG_OVERRIDES, "data.frameskip=2", "train.steps=150", "model.proprio=true"]
    )
    return train(cfg, data, tmp_path_factory.mktemp("runs") / "proprio", progress=False), data


@pytest.mark.parametrize(
    "name,keys", [("push-t", ("agent_pos", "agent_vel")), ("reacher", ("joint_angle", "joint_vel"))]
)
def test_a_world_with_a_body_reads_its_proprio_from_its_state(name, keys):
    world = make(name)
    world.reset(seed=1)
    world.step(world.action_space.sample())
    s = world.state()
    np.testing.assert_array_equal(world.proprio(), np.concatenate([s[k] for k in keys]))


def test_a_world_without_a_body_has_no_proprio():
    world = make("ball-drop")
    world.reset(seed=0)
    with pytest.raises(WorldError, match="no proprioception"):
        world.proprio()


def test_collect_writes_the_proprio_column_with_names(proprio_run):
    _, data = proprio_run
    with EpisodeFile(data) as f:
        ep = f.episode(0)
        assert ep["proprio"].shape == (30, 4) and ep["proprio"].dtype == np.float32
        np.testing.assert_array_equal(ep["proprio"][:, :2], ep["state"][:, :2])  # agent_pos
        assert f.channel_names("proprio") == [
            "agent_pos_0",
            "agent_pos_1",
            "agent_vel_0",
            "agent_vel_1",
        ]


def test_the_latent_is_the_embedding_with_the_standardised_proprio_appended():
    cfg = load_preset("debug", ["model.proprio=true"])
    model = build_world_model(cfg.model, ModelSpec((16, 16, 3), 2, 2, proprio_dim=3)).eval()
    model.set_proprio_normalization(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 0.0, 4.0]))
    obs = torch.randint(0, 255, (2, 2, 16, 16, 3), dtype=torch.uint8)
    p = torch.tensor([3.0, 5.0, 7.0]).expand(2, 2, 3)
    z = model.encode(obs, p)
    d = cfg.model.dim
    assert z.shape == (2, 2, d + 3)
    torch.testing.assert_close(z[..., :d], model.encode_pixels(obs))
    torch.testing.assert_close(z[0, 0, d:], torch.tensor([1.0, 3.0, 1.0]))  # std 0 -> 1
    torch.testing.assert_close(model.cost_part(z), z[..., :d])
    assert model.predict(z, torch.zeros(2, 2, 2)).shape == (2, d + 3)
    assert model.rollout(z, torch.zeros(2, 4, 3, 2), torch.zeros(2, 1, 2)).shape == (2, 4, 3, d + 3)
    with pytest.raises(UserError, match="model.proprio=true: give the proprio reading"):
        model.encode(obs)
    with pytest.raises(UserError, match=r"proprio has shape \(2, 2, 2\)"):
        model.encode(obs, p[..., :2])


def test_a_model_without_proprio_keeps_its_weights_and_names():
    """Old checkpoints load unchanged: no new parameter or buffer without proprio."""
    cfg = load_preset("debug", [])
    model = build_world_model(cfg.model, ModelSpec((16, 16, 3), 2, 2))
    names = set(model.state_dict())
    assert not {n for n in names if "proprio" in n or n.startswith("predictor.inp")}


def test_proprio_needs_a_pixel_encoder_and_a_vector_latent():
    with pytest.raises(ConfigError, match="model.proprio"):
        load_preset("debug", ["model.proprio=true", "model.latent=tokens"])
    with pytest.raises(ConfigError, match="model.proprio"):
        load_preset("debug", ["model.proprio=true", "model.encoder=mlp"])


def test_training_on_data_without_proprio_is_a_one_line_error(ball_file, tmp_path):
    cfg = load_preset("debug", [*DEBUG_OVERRIDES, "model.proprio=true"])
    with pytest.raises(TrainError, match="no 'proprio' column.*model.proprio=false"):
        train(cfg, ball_file, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_a_proprio_run_learns_where_the_agent_goes(proprio_run):
    """The predictor learns the agent's next position from its reading and the action: on
    held-out episodes its one-step error on the proprio part is below 'it stays put'."""
    run_dir, data = proprio_run
    model, cfg, run = load_run(run_dir)
    assert run.shape.proprio_dim == 4
    assert json.loads((run_dir / "config.json").read_text())["spec"]["proprio_dim"] == 4
    with EpisodeFile(data) as f:
        _, val = split_episodes(f.n_episodes, cfg.data.val_fraction)
        eps = encode_episodes(model, f, val, cfg.data.frameskip, "pixels")
    d, h = cfg.model.dim, model.history
    err, base = [], []
    with torch.no_grad():
        for ep in eps:
            for s in range(h - 1, len(ep.z) - 1):
                pred = model.predict(
                    ep.z[None, s - h + 1 : s + 1], ep.action[None, s - h + 1 : s + 1]
                )
                err.append((pred[0, d : d + 2] - ep.z[s + 1, d : d + 2]).pow(2).sum())
                base.append((ep.z[s, d : d + 2] - ep.z[s + 1, d : d + 2]).pow(2).sum())
    ratio = float(torch.stack(err).mean() / torch.stack(base).mean())
    assert ratio < 0.5, ratio


def test_planning_reads_the_world_proprio_and_compares_the_encoder_part(proprio_run):
    run_dir, _ = proprio_run
    model, cfg, run = load_run(run_dir)
    k = cfg.data.frameskip
    payload, _ = evaluate_planning(
        model,
        run.data.world,
        run.data.params,
        k,
        episodes=1,
        settings={"samples": 8, "iterations": 2},
        horizon=2,
        baselines=(),
    )
    assert payload["results"]["model"]["episodes"][0]["plans"] >= 1
    world = make("two-room")
    low = torch.as_tensor(np.tile(world.action_space.low, k))
    high = torch.as_tensor(np.tile(world.action_space.high, k))
    with pytest.raises(PlannerError, match="pass proprio="):
        WorldModelPolicy(model, build_planner("cem", low, high), k)
    obs, _ = world.reset(seed=0)
    policy = WorldModelPolicy(model, build_planner("cem", low, high), k, proprio=world.proprio)
    assert policy.encode(obs).shape == (cfg.model.dim + 4,)
    assert policy.encode(obs, goal=True).shape == (cfg.model.dim,)
