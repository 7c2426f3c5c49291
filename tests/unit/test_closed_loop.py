"""Closed-loop planning: manifests, MPC with the true simulator, the world-model policy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from physjepa.metrics.closed_loop import evaluate_planning, run_episode
from physjepa.planning.base import PlannerError, PlanResult
from physjepa.planning.manifest import build_manifest, load_manifest
from physjepa.planning.mpc import RandomPolicy, RecedingHorizon, SimulatorPolicy
from physjepa.planning.policy import WorldModelPolicy
from physjepa.planning.registry import build_planner
from physjepa.training.checkpoint import load_run
from physjepa.worlds import WorldError, make


def _planner(world, frameskip, **settings):
    low = torch.as_tensor(np.tile(world.action_space.low, frameskip))
    high = torch.as_tensor(np.tile(world.action_space.high, frameskip))
    return build_planner("cem", low, high, **settings)


def test_manifest_is_deterministic_and_goals_are_not_already_reached():
    a = build_manifest("two-room", episodes=5, seed=3)
    b = build_manifest("two-room", episodes=5, seed=3)
    assert json.dumps(a) == json.dumps(b)
    assert json.dumps(a) != json.dumps(build_manifest("two-room", episodes=5, seed=4))
    world = make("two-room")
    world.reset(seed=0)
    for e in a["episodes"]:
        world.set_sim_state(e["goal"])
        goal = world.goal_here()
        world.set_sim_state(e["start"])
        assert not world.success(goal)


@pytest.mark.parametrize("name", ["two-room", "reacher", "push-t"])
def test_shipped_manifest_loads_and_matches_a_regeneration(name):
    m = load_manifest(name)
    assert len(m["episodes"]) >= 50 and len(m["sha256"]) == 64
    assert m["budget"] == 50 and m["goal_steps"] == 25
    fresh = build_manifest(
        name, episodes=3, seed=m["seed"], goal_steps=m["goal_steps"], warmup=m["warmup"]
    )
    for old, new in zip(m["episodes"][:3], fresh["episodes"]):
        for key in ("start", "goal"):
            for k, v in old[key].items():
                np.testing.assert_allclose(v, new[key][k], atol=1e-9)


def test_manifest_errors_are_one_line(tmp_path):
    with pytest.raises(WorldError, match="no planning manifest for world 'ball-drop'"):
        load_manifest("ball-drop")
    bad = tmp_path / "m.json"
    bad.write_text("{not json")
    with pytest.raises(WorldError, match="not a physjepa planning manifest"):
        load_manifest("two-room", bad)
    m = json.loads(json.dumps(build_manifest("two-room", episodes=1)))
    m["version"] = 99
    bad.write_text(json.dumps(m))
    with pytest.raises(WorldError, match="v99"):
        load_manifest("two-room", bad)


@pytest.mark.parametrize("name", ["two-room", "reacher"])
def test_mpc_with_the_true_simulator_reaches_the_goal(name):
    m = build_manifest(name, episodes=4, seed=1)
    world = make(name)
    world.reset(seed=0)
    wins = []
    for e in m["episodes"]:
        world.set_sim_state(e["goal"])
        goal = world.goal_here()
        policy = SimulatorPolicy(world, goal, _planner(world, 5, samples=32, iterations=4), 5)
        r = run_episode(world, policy, e, budget=50)
        wins.append(r["success"])
        assert r["plans"] >= 1 and r["ms_per_plan"] > 0
    assert all(wins), wins


def test_random_policy_is_seeded():
    m = build_manifest("two-room", episodes=4, seed=1)
    world = make("two-room")
    world.reset(seed=0)
    runs = [
        [
            run_episode(world, RandomPolicy(world, seed=7), e, 50)["final_distance"]
            for e in m["episodes"]
        ]
        for _ in range(2)
    ]
    assert runs[0] == runs[1]


def test_world_model_policy_keeps_an_aligned_history_and_checks_shapes(two_room_run):
    model, cfg, run = load_run(two_room_run)
    k = cfg.data.frameskip
    world = make("two-room")
    obs, _ = world.reset(seed=0)
    policy = WorldModelPolicy(model, _planner(world, k, samples=8, iterations=2), k, horizon=3)
    goal = world.goal()
    for _ in range(4 * k):
        a = policy.act(obs, goal.obs)
        assert a.shape == (2,) and a.dtype == np.float32 and np.all(np.abs(a) <= 1)
        obs, *_ = world.step(a)
    assert len(policy.plan_ms) == 4  # one plan per block
    assert len(policy._z) == model.history and len(policy._blocks) == model.history - 1
    with pytest.raises(PlannerError, match=r"shape \(32, 32, 3\) does not match"):
        policy.reset()
        policy.act(np.zeros((32, 32, 3), np.uint8), goal.obs)
    with pytest.raises(PlannerError, match="action block"):
        WorldModelPolicy(model, build_planner("cem", [-1.0], [1.0]), k)


def test_evaluate_planning_reports_model_oracle_and_random(two_room_run):
    model, cfg, run = load_run(two_room_run)
    payload, recorded = evaluate_planning(
        model,
        run.data.world,
        run.data.params,
        cfg.data.frameskip,
        episodes=2,
        settings={"samples": 8, "iterations": 2},
        horizon=2,
        record=1,
    )
    rows, k, budget = payload["results"], cfg.data.frameskip, payload["budget"]
    radius = payload["world_params"]["success_radius"]
    assert set(rows) == {"model", "oracle", "random"}
    for name, row in rows.items():
        eps = row["episodes"]
        assert [e["index"] for e in eps] == [0, 1], name  # the same manifest episodes
        # each episode: success is the distance rule, and only a success stops early
        for e in eps:
            assert e["success"] == (e["final_distance"] < radius), (name, e)
            assert e["steps"] <= budget and (e["success"] or e["steps"] == budget), (name, e)
            # receding horizon, executing one block of k steps per plan
            assert e["plans"] == (0 if name == "random" else math.ceil(e["steps"] / k)), e
        # the summary is the mean over its episodes
        assert row["success_rate"] == np.mean([e["success"] for e in eps])
        assert row["final_distance_mean"] == pytest.approx(
            np.mean([e["final_distance"] for e in eps]), abs=1e-12
        )
    # planning on the true simulator beats acting at random, by far
    assert rows["oracle"]["success_rate"] > rows["random"]["success_rate"]
    assert rows["oracle"]["final_distance_mean"] < 0.5 * rows["random"]["final_distance_mean"]
    assert rows["random"]["ms_per_plan"] is None and rows["model"]["ms_per_plan"] > 0
    assert payload["planner"]["samples"] == 8 and "elites" in payload["planner"]
    assert len(recorded) == 1 and recorded[0]["frames"][0].shape == (64, 64, 3)
    small = {**load_manifest("two-room"), "image_size": 32}
    with pytest.raises(WorldError, match=r"trained on observations of shape \(64, 64, 3\)"):
        evaluate_planning(
            model, run.data.world, run.data.params, cfg.data.frameskip, episodes=1, manifest=small
        )
    with pytest.raises(WorldError, match="action block is 4"):
        evaluate_planning(model, run.data.world, run.data.params, 3, episodes=1)


class _Recorder(WorldModelPolicy):
    """Records what each plan was given: the latent history and the blocks between."""

    def cost_now(self, obs, goal_obs):
        self.seen.append((torch.stack(list(self._z)).clone(), list(self._blocks), obs.copy()))
        return super().cost_now(obs, goal_obs)


def test_world_model_policy_history_is_the_boundary_frames_and_the_blocks_between(two_room_run):
    model, cfg, _ = load_run(two_room_run)
    k = cfg.data.frameskip
    world = make("two-room")
    obs, _ = world.reset(seed=3)
    policy = _Recorder(model, _planner(world, k, samples=8, iterations=1), k, horizon=3)
    policy.seen, executed, goal = [], [], world.goal()
    for t in range(5 * k):
        a = policy.act(obs, goal.obs)
        if t % k == 0:
            executed.append(policy._blocks[-1].clone())
        obs, *_ = world.step(a)
    for i, (z_hist, blocks, frame) in enumerate(policy.seen):
        torch.testing.assert_close(z_hist[-1], policy.encode(frame))  # the frame of this plan
        assert len(z_hist) == min(i + 1, model.history) and len(blocks) == len(z_hist) - 1
        for got, want in zip(blocks, executed[max(0, i - len(blocks)) : i]):
            assert torch.equal(got, want)  # block j was executed after history frame j
        if i:
            torch.testing.assert_close(z_hist[-2], policy.seen[i - 1][0][-1])


class _Fixed:
    """A planner stand-in that records its warm starts and returns them + 1."""

    def __init__(self):
        self.low, self.high, self.inits = torch.full((2,), -5.0), torch.full((2,), 5.0), []

    def plan(self, cost_fn, init_mean, generator):
        self.inits.append(init_mean.clone())
        return PlanResult(init_mean + 1, 0.0, {})


def test_receding_horizon_warm_starts_with_the_shifted_previous_plan():
    planner = _Fixed()
    mpc = RecedingHorizon(planner, horizon=3, execute=2)
    first = mpc.plan(lambda a: a.sum((1, 2)))
    assert torch.equal(planner.inits[0], torch.zeros(3, 2))  # cold: the middle of the box
    mpc.plan(lambda a: a.sum((1, 2)))
    expect = torch.cat([first.actions[2:], torch.zeros(2, 2)])  # executed 2 blocks dropped
    assert torch.equal(planner.inits[1], expect)
    mpc.reset()
    mpc.plan(lambda a: a.sum((1, 2)))
    assert torch.equal(planner.inits[2], torch.zeros(3, 2))


def test_a_run_trained_on_other_world_params_is_refused(two_room_run):
    model, cfg, run = load_run(two_room_run)
    other = {"door_width": 0.3}
    with pytest.raises(WorldError, match=r"door_width=0.3 \(manifest: 0.2\)"):
        evaluate_planning(model, run.data.world, other, cfg.data.frameskip, episodes=1)


def test_gradient_planner_plans_and_its_oracle_samples_with_cem(two_room_run):
    model, cfg, run = load_run(two_room_run)
    payload, _ = evaluate_planning(
        model,
        run.data.world,
        run.data.params,
        cfg.data.frameskip,
        episodes=1,
        planner="gd",
        settings={"iterations": 2},
        horizon=2,
        record=0,
        baselines=("oracle",),
    )
    assert payload["planner"]["name"] == "gd" and payload["results"]["oracle"]["planner"] == "cem"
    assert payload["results"]["model"]["ms_per_plan"] > 0
