"""Training: bit-identical seeds, exact resume, run-dir contents, refusals, corrupt checkpoints."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys

import pytest
import torch
from safetensors.torch import load_file

from physjepa.config import Config, apply_overrides, load_preset
from physjepa.data.augment import dilate_windows
from physjepa.data.episodes import EpisodeFile
from physjepa.models.losses import compute_loss
from physjepa.training.checkpoint import CheckpointError, load_run
from physjepa.training.loop import TrainError, lr_at, read_metrics, train

# The lr schedule depends on train.steps, so "a 10-step run" equals "the first 10 steps of a
# 20-step run" (the state a run interrupted at step 10 leaves) only while the schedule is
# still warming up: warmup_steps=20 makes lr(step) independent of train.steps.
RESUME_OVERRIDES = ["train.warmup_steps=20"]


def _weights(run) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model.safetensors"))


def _assert_same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), f"{k} differs"


def _losses(run) -> dict[int, float]:
    return {r["step"]: r["train/loss"] for r in read_metrics(run) if "train/loss" in r}


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run_files(run) -> dict[str, str]:
    return {p.name: _sha(p) for p in sorted(run.iterdir()) if p.is_file()}


# -- determinism ---------------------------------------------------------------------------------
def test_same_seed_bit_identical_weights(debug_cfg, debug_run, ball_file, tmp_path):
    again = train(debug_cfg, ball_file, tmp_path / "again", progress=False)
    _assert_same_weights(debug_run, again)
    assert _losses(debug_run) == _losses(again)


def test_different_seed_different_weights(debug_cfg, debug_run, ball_file, tmp_path):
    cfg = apply_overrides(debug_cfg, ["train.seed=1"])
    other = train(cfg, ball_file, tmp_path / "seed1", progress=False)
    wa, wb = _weights(debug_run), _weights(other)
    differing = [k for k in wa if wa[k].is_floating_point() and not torch.equal(wa[k], wb[k])]
    assert len(differing) > len(wa) // 2, differing


def test_resume_continues_exactly(debug_cfg, ball_file, tmp_path):
    cfg = apply_overrides(debug_cfg, RESUME_OVERRIDES)
    assert cfg.train.steps == 20
    straight = train(cfg, ball_file, tmp_path / "a", progress=False)
    half = apply_overrides(cfg, ["train.steps=10"])
    resumed = train(half, ball_file, tmp_path / "b", progress=False)
    assert json.loads((resumed / "config.json").read_text())["config"]["train"]["steps"] == 10
    assert torch.load(resumed / "train_state.pt", weights_only=True)["step"] == 10
    train(cfg, None, resumed, resume=True, progress=False)
    assert torch.load(resumed / "train_state.pt", weights_only=True)["step"] == 20
    _assert_same_weights(straight, resumed)
    # the metrics continue too: every logged loss equals the straight run's, none twice
    steps = [r["step"] for r in read_metrics(resumed) if "train/loss" in r]
    assert steps == [5, 10, 15, 20]
    assert _losses(straight) == _losses(resumed)


def test_an_augmented_run_trains_on_augmented_windows_and_resumes_exactly(
    debug_cfg, debug_run, ball_file, tmp_path
):
    aug = ["data.augment_zoom=0.25", "data.augment_colour=0.5", "data.augment_dilate=1"]
    cfg = apply_overrides(debug_cfg, [*RESUME_OVERRIDES, *aug])
    straight = train(cfg, ball_file, tmp_path / "a", progress=False)
    plain = ["data.augment_zoom=0", "data.augment_colour=0", "data.augment_dilate=0"]
    plain = apply_overrides(cfg, plain)
    plain = train(plain, ball_file, tmp_path / "p", progress=False)
    wa, wp = _weights(straight), _weights(plain)
    assert any(not torch.equal(wa[k], wp[k]) for k in wa)  # the augmentation reached the model
    half = apply_overrides(cfg, ["train.steps=10"])
    half = train(half, ball_file, tmp_path / "b", progress=False)
    train(cfg, None, half, resume=True, progress=False)  # the augmentation draws resume too
    _assert_same_weights(straight, half)


@pytest.mark.parametrize(
    ("key", "value"), [("augment_zoom", "0.2"), ("augment_colour", "0.2"), ("augment_dilate", "1")]
)
def test_augmentation_of_vector_observations_is_refused(key, value, ball_file, tmp_path):
    cfg = load_preset("debug", ["model.encoder=mlp", "train.steps=2", f"data.{key}={value}"])
    with pytest.raises(TrainError, match=f"observes 'state'; set data.{key}=0"):
        train(cfg, ball_file, tmp_path / "mlp", progress=False)
    assert not (tmp_path / "mlp" / "model.safetensors").exists()


def test_an_invariance_weight_without_augmentation_is_refused(ball_file, tmp_path):
    cfg = load_preset("debug", ["train.steps=2", "loss.invariance_weight=1"])
    with pytest.raises(TrainError, match="no augmentation is on; set data.augment_dilate"):
        train(cfg, ball_file, tmp_path / "inv", progress=False)
    assert not (tmp_path / "inv" / "model.safetensors").exists()


def test_the_invariance_term_trains_on_plain_windows_and_scores_the_view_against_them(
    debug_cfg, debug_run
):
    """With an augmented view beside the windows, the JEPA terms are those of the plain
    windows alone, and the view adds its squared distance to their embeddings: 0 when the
    view is the windows themselves."""
    model, _, _ = load_run(debug_run)
    cfg = apply_overrides(debug_cfg, ["loss.invariance_weight=2", "data.augment_dilate=1"])
    g = torch.Generator().manual_seed(0)
    b, t = 4, cfg.data.history + cfg.data.rollout
    obs = torch.randint(0, 256, (b, t, 32, 32, 3), generator=g, dtype=torch.uint8)
    batch = {"obs": obs, "action": torch.randn(b, t, model.spec.action_dim, generator=g)}
    dirs = torch.randn(cfg.model.dim, 8, generator=g)
    torch.manual_seed(0)
    base, stats0 = compute_loss(model, dict(batch), cfg, dirs)
    torch.manual_seed(0)
    same, stats1 = compute_loss(model, {**batch, "obs_view": obs.clone()}, cfg, dirs)
    assert float(stats1["train/invariance"]) == 0.0
    assert torch.allclose(same.detach(), base.detach())
    view = dilate_windows(obs, 1)
    torch.manual_seed(0)
    loss, stats = compute_loss(model, {**batch, "obs_view": view}, cfg, dirs)
    assert float(stats["train/loss_pred"]) == pytest.approx(float(stats0["train/loss_pred"]))
    inv = float(stats["train/invariance"])
    assert inv > 0 and loss.item() == pytest.approx(base.item() + 2 * inv, rel=1e-5)


def test_the_invariance_term_ties_a_dilated_view_to_the_plain_embeddings(ball_file, tmp_path):
    """A learning test: trained with the tie, the encoder maps a dilated window near the plain
    one (the term falls, and ends well below that of a run shown the same dilations untied)."""
    common = ["train.steps=60", "train.device=cpu", "data.augment_dilate=1"]
    tied = train(
        load_preset("debug", [*common, "loss.invariance_weight=1"]), ball_file,
        tmp_path / "tied", progress=False,
    )  # fmt: skip
    untied = train(load_preset("debug", common), ball_file, tmp_path / "untied", progress=False)
    logged = [r["train/invariance"] for r in read_metrics(tied) if "train/invariance" in r]
    assert logged[-1] < 0.5 * logged[0]
    frames = torch.from_numpy(EpisodeFile(ball_file).episode(0)["pixels"][None])  # (1, T, ...)
    bigger = _dilate_all(frames)

    def gap(run) -> float:
        model, _, _ = load_run(run)
        with torch.no_grad():
            z, zv = model.encode(frames), model.encode(bigger)
        spread = (z - z.mean(1, keepdim=True)).pow(2).mean()
        return float((zv - z).pow(2).mean() / spread)

    assert gap(tied) < 0.5 * gap(untied)


def _dilate_all(frames: torch.Tensor) -> torch.Tensor:
    """Every window dilated by one pixel (``dilate_windows`` draws -1, 0 or +1 per window)."""
    from physjepa.data.augment import _morph_step

    b, t, h, w, c = frames.shape
    out = _morph_step(frames.float().reshape(-1, h, w, c), grow=True)
    return out.reshape(b, t, h, w, c).round().to(frames.dtype)


def test_resume_after_a_kill_between_the_two_checkpoint_files(debug_cfg, ball_file, tmp_path):
    """train_state.pt is written first and holds the weights: a kill before model.safetensors
    was replaced (a stale weights file) still resumes exactly."""
    cfg = apply_overrides(debug_cfg, RESUME_OVERRIDES)
    straight = train(cfg, ball_file, tmp_path / "a", progress=False)
    run = train(apply_overrides(cfg, ["train.steps=5"]), ball_file, tmp_path / "b", progress=False)
    stale = (run / "model.safetensors").read_bytes()
    train(apply_overrides(cfg, ["train.steps=10"]), None, run, resume=True, progress=False)
    (run / "model.safetensors").write_bytes(stale)  # as if killed between the two renames
    (run / ".train_state.pt.999.tmp").write_bytes(b"half a file")  # and a leftover temp file
    train(cfg, None, run, resume=True, progress=False)
    _assert_same_weights(straight, run)
    assert not list(run.glob(".*.tmp"))


def test_resume_before_the_first_checkpoint_starts_over(debug_cfg, ball_file, tmp_path):
    """A run killed before its first checkpoint holds only config.json (and a partial log):
    --resume starts it over with its own config."""
    cfg = apply_overrides(debug_cfg, RESUME_OVERRIDES)
    straight = train(cfg, ball_file, tmp_path / "a", progress=False)
    run = train(cfg, ball_file, tmp_path / "b", progress=False)
    (run / "train_state.pt").unlink()
    (run / "model.safetensors").unlink()
    (run / "metrics.jsonl").write_text('{"step": 5, "train/loss": 1.0}\n{"step": 10, "tr')
    train(cfg, None, run, resume=True, progress=False)
    _assert_same_weights(straight, run)
    assert _losses(straight) == _losses(run)


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_checkpoint(
    debug_cfg, copy_run, monkeypatch
):
    import physjepa.training.loop as loop

    run = copy_run()
    before = _run_files(run)
    real = loop.compute_loss

    def poisoned(*a, **k):
        loss, stats = real(*a, **k)
        return loss * float("nan"), stats

    monkeypatch.setattr(loop, "compute_loss", poisoned)
    with pytest.raises(TrainError, match="loss became nan at step 21.*last good checkpoint"):
        train(
            apply_overrides(debug_cfg, ["train.steps=30"]), None, run, resume=True, progress=False
        )
    after = _run_files(run)
    for name in ("model.safetensors", "train_state.pt"):
        assert after[name] == before[name], name
    # the resumed run's config records the changed setting
    assert json.loads((run / "config.json").read_text())["config"]["train"]["steps"] == 30


def test_resume_refuses_a_changed_model(debug_cfg, copy_run):
    run = copy_run()
    before = _run_files(run)
    cfg = apply_overrides(debug_cfg, ["model.dim=64"])
    with pytest.raises(TrainError, match="only train.\\* settings .* may change"):
        train(cfg, None, run, resume=True, progress=False)
    assert _run_files(run) == before


def test_resume_at_the_end_is_a_no_op(debug_cfg, copy_run):
    run = copy_run()
    before = _run_files(run)
    train(debug_cfg, None, run, resume=True, progress=False)
    assert _run_files(run) == before


# -- the run directory ------------------------------------------------------------------------
def test_run_dir_contents(debug_cfg, debug_run, ball_file):
    names = {p.name for p in debug_run.iterdir()}
    assert {"config.json", "model.safetensors", "train_state.pt", "metrics.jsonl"} <= names
    assert not [n for n in names if n.endswith((".tmp", ".partial"))], names

    meta = json.loads((debug_run / "config.json").read_text())
    assert Config.from_dict(meta["config"]) == debug_cfg  # the fully resolved config
    assert meta["config"]["train"]["steps"] == 20 and meta["config"]["preset"] == "debug"
    assert meta["spec"] == {"obs_shape": [32, 32, 3], "action_dim": 2, "history": 2}
    assert meta["data"]["path"] == str(ball_file)
    assert meta["data"]["world"] == "ball-drop"
    assert (meta["data"]["train_episodes"], meta["data"]["val_episodes"]) == (10, 2)
    assert meta["data"]["obs_key"] == "pixels"
    assert meta["n_params"] > 0

    state = torch.load(debug_run / "train_state.pt", weights_only=True)
    assert state["step"] == 20
    assert {"optimizer", "batch_rng", "dir_rng", "rank_rng", "model"} <= set(state)
    assert state["optimizer"]["state"], "the optimizer state is saved"
    # the train state is a complete checkpoint: its weights are those of model.safetensors
    saved = _weights(debug_run)
    assert state["model"].keys() == saved.keys()
    assert all(torch.equal(state["model"][k], saved[k]) for k in saved)

    records = read_metrics(debug_run)
    train_recs = [r for r in records if "train/loss" in r]
    assert [r["step"] for r in train_recs] == [5, 10, 15, 20]
    for r in train_recs:
        for key in ("train/loss", "train/loss_pred", "train/sigreg", "train/frames_per_s"):
            assert isinstance(r[key], float) and math.isfinite(r[key]), key
        assert r["train/frames_per_s"] > 0
        assert r["train/loss"] >= r["train/loss_pred"]
    evals = [r for r in records if "eval/loss_pred" in r]
    assert [r["step"] for r in evals] == [10, 20]


def test_load_run_rebuilds_the_trained_model(debug_cfg, debug_run):
    model, cfg, run = load_run(debug_run)
    assert not model.training and run.step == 20
    assert cfg == debug_cfg
    saved = _weights(debug_run)
    for k, v in model.state_dict().items():
        assert torch.equal(v, saved[k]), k
    z = model.encode(torch.zeros(1, 2, 32, 32, 3, dtype=torch.uint8))
    assert z.shape == (1, 2, cfg.model.dim)


def test_vector_observations_train_an_mlp(ball_file, tmp_path):
    cfg = load_preset("debug", ["model.encoder=mlp", "train.steps=2"])
    run = train(cfg, ball_file, tmp_path / "mlp", progress=False)
    meta = json.loads((run / "config.json").read_text())
    assert meta["data"]["obs_key"] == "state" and meta["spec"]["obs_shape"] == [4]
    model, _, _ = load_run(run)
    assert model.encode(torch.zeros(3, 2, 4)).shape == (3, 2, 32)


# -- refusals ------------------------------------------------------------------------------------
def test_a_run_dir_holding_a_run_is_refused(debug_cfg, copy_run, ball_file):
    run = copy_run()
    before = _run_files(run)
    with pytest.raises(TrainError, match="already holds a run.*--resume.*--overwrite"):
        train(debug_cfg, ball_file, run, progress=False)
    assert _run_files(run) == before


def test_overwrite_replaces_the_run(copy_run, ball_file):
    run = copy_run()
    (run / "eval.json").write_text("{}")
    train(load_preset("debug", ["train.steps=1"]), ball_file, run, overwrite=True, progress=False)
    assert not (run / "eval.json").exists()
    assert torch.load(run / "train_state.pt", weights_only=True)["step"] == 1
    assert [r["step"] for r in read_metrics(run) if "train/loss" in r] == [1]


def test_resume_without_a_run_is_refused(tmp_path):
    with pytest.raises(TrainError, match="holds no run"):
        train(load_preset("debug"), None, tmp_path / "empty", resume=True, progress=False)


def test_missing_data_is_a_data_error(tmp_path):
    from physjepa.data.episodes import DataError

    with pytest.raises(DataError, match="not found"):
        train(load_preset("debug"), tmp_path / "nope.h5", tmp_path / "run", progress=False)


# -- corrupt checkpoints -------------------------------------------------------------------------
def test_load_run_on_random_bytes_weights(copy_run):
    run = copy_run()
    (run / "model.safetensors").write_bytes(
        torch.randint(0, 256, (4096,), dtype=torch.uint8).numpy().tobytes()
    )
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        load_run(run)


def test_load_run_on_truncated_weights(copy_run):
    run = copy_run()
    data = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_run(run)


def test_load_run_on_weights_of_another_model(copy_run, ball_file, tmp_path):
    other = train(
        load_preset("debug", ["model.dim=16", "model.pred_heads=2", "train.steps=1"]),
        ball_file,
        tmp_path / "other",
        progress=False,
    )
    run = copy_run()
    (run / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError):
        load_run(run)


def test_load_run_without_weights(copy_run):
    run = copy_run()
    (run / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="not found"):
        load_run(run)


def test_load_run_on_a_dir_that_is_not_a_run(tmp_path):
    with pytest.raises(CheckpointError, match="not a run directory"):
        load_run(tmp_path)


@pytest.mark.parametrize(
    ("text", "match"),
    [("{not json", "corrupt"), ('{"config": {"model": {"nope": 1}}}', "not a physjepa run config")],
)
def test_load_run_on_a_bad_config(copy_run, text, match):
    run = copy_run()
    (run / "config.json").write_text(text)
    with pytest.raises(CheckpointError, match=match):
        load_run(run)


def test_resume_refuses_a_pickled_object_in_the_train_state(debug_cfg, copy_run):
    """train_state.pt is loaded with weights_only=True: arbitrary objects are refused."""
    run = copy_run()
    torch.save({"step": 20, "payload": argparse.Namespace(x=1)}, run / "train_state.pt")
    with pytest.raises(CheckpointError, match="cannot be loaded safely"):
        train(debug_cfg, None, run, resume=True, progress=False)


def test_resume_refuses_a_corrupt_train_state(debug_cfg, copy_run):
    run = copy_run()
    (run / "train_state.pt").write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="cannot be loaded safely"):
        train(debug_cfg, None, run, resume=True, progress=False)


# -- schedule -------------------------------------------------------------------------------------
def test_lr_schedule_warms_up_then_decays_to_a_tenth():
    cfg = load_preset("debug", ["train.steps=100", "train.warmup_steps=10", "train.lr=0.01"])
    assert lr_at(0, cfg) == pytest.approx(0.001)
    assert lr_at(9, cfg) == pytest.approx(0.01)
    assert lr_at(10, cfg) == pytest.approx(0.01)
    assert lr_at(55, cfg) == pytest.approx(0.01 * 0.55)
    assert lr_at(100, cfg) == pytest.approx(0.001)
    lrs = [lr_at(s, cfg) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_weights_files_are_byte_identical_across_processes(debug_run, tmp_path):
    """The same weights give the same model.safetensors bytes (so checkpoint hashes in results
    are reproducible), also when written by another process (one is enough: a fresh
    interpreter has fresh dict orders, hash seeds and allocator state)."""
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path; "
        "from physjepa.training.checkpoint import load_run, save_weights; "
        "m, c, meta = load_run(sys.argv[1]); save_weights(Path(sys.argv[2]), m, meta.step)"
    )
    subprocess.run([sys.executable, "-c", code, str(debug_run), str(tmp_path)], check=True)
    assert _sha(tmp_path / "model.safetensors") == _sha(debug_run / "model.safetensors")


def test_tensorboard_mirror_is_optional(tmp_path, ball_file, monkeypatch):
    from physjepa.config import ConfigError, load_preset
    from physjepa.training.loop import train

    cfg = load_preset("debug", ["train.steps=4", "train.log_every=2", "train.tensorboard=true"])
    run = train(cfg, ball_file, tmp_path / "tb_run", progress=False)
    events = list((run / "tb").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tb"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("train/loss")] == [2, 4]
    # without the package: one clear error before any work, and nothing written
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ConfigError, match="pip install"):
        train(cfg, ball_file, tmp_path / "tb_missing", progress=False)
    assert not (tmp_path / "tb_missing").exists()
