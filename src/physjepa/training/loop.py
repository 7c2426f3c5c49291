"""Training: batch -> loss -> backward -> clip -> step -> log / eval / save.

``train(cfg, data_path, run_dir)`` is the whole recipe, readable top to bottom.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from physjepa import __version__
from physjepa.config import Config, ConfigError
from physjepa.data.episodes import EpisodeFile, split_episodes
from physjepa.data.windows import WindowDataset
from physjepa.fileio import atomic_write_text
from physjepa.models.losses import prediction_loss, random_directions, sigreg_over_time
from physjepa.models.world_model import ModelSpec, WorldModel, build_world_model
from physjepa.training import checkpoint as ckpt
from physjepa.training.logging import read_metrics


class TrainError(RuntimeError):
    """Training cannot start or continue; the message says why and what to do."""


def resolve_device(name: str) -> torch.device:
    """The one place a device is chosen: 'auto' picks cuda, then mps, then cpu."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"train.device={name!r} but CUDA is not available here; use train.device=cpu or auto"
        )
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ConfigError(
            "train.device='mps' but MPS is not available here; use train.device=cpu or auto"
        )
    return torch.device(name)


def compute_loss(
    model: WorldModel, batch: dict[str, torch.Tensor], cfg: Config, directions: torch.Tensor
) -> tuple[torch.Tensor, dict[str, float]]:
    """JEPA objective on a batch of windows: teacher-forced + rollout MSE + λ·SIGReg."""
    h, r = cfg.data.history, cfg.data.rollout
    obs, act = batch["obs"], batch["action"]  # (B, T, ...), (B, T, A); T = h + r
    z = model.encode(obs)  # (B, T, D)
    pred = model.predict_all(z[:, :h], act[:, :h])  # (B, h, D): predictions of frames 1..h
    loss_pred = prediction_loss(pred, z[:, 1 : h + 1])
    loss_roll = torch.zeros((), device=z.device)
    if r > 1:
        ctx = torch.cat([z[:, 1:h], pred[:, -1:]], dim=1)  # frames 1..h, the last one predicted
        outs = []
        for k in range(1, r):
            nxt = model.predict(ctx, act[:, k : k + h])  # (B, D): frame h+k
            outs.append(nxt)
            ctx = torch.cat([ctx[:, 1:], nxt[:, None]], dim=1)
        loss_roll = prediction_loss(torch.stack(outs, dim=1), z[:, h + 1 : h + r])
    sig = sigreg_over_time(z, directions, cfg.loss.sigreg_knots)
    loss = loss_pred + cfg.loss.rollout_weight * loss_roll + cfg.loss.sigreg_weight * sig
    stats = {
        "train/loss": loss.item(),
        "train/loss_pred": loss_pred.item(),
        "train/loss_rollout": loss_roll.item(),
        "train/sigreg": sig.item(),
    }
    return loss, stats


def lr_at(step: int, cfg: Config) -> float:
    t = cfg.train
    if step < t.warmup_steps:
        return t.lr * (step + 1) / t.warmup_steps
    frac = (step - t.warmup_steps) / max(1, t.steps - t.warmup_steps)
    return t.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


@torch.no_grad()
def validation_loss(
    model: WorldModel, data: WindowDataset, cfg: Config, device: torch.device, batches: int = 4
) -> float:
    """Teacher-forced prediction loss on fixed held-out windows (same windows every call)."""
    model.eval()
    g = torch.Generator().manual_seed(12345)
    h = cfg.data.history
    losses = []
    for _ in range(batches):
        b = {k: v.to(device) for k, v in data.sample(cfg.train.batch_size, g).items()}
        z = model.encode(b["obs"])
        losses.append(
            prediction_loss(model.predict_all(z[:, :h], b["action"][:, :h]), z[:, 1 : h + 1]).item()
        )
    model.train()
    return sum(losses) / len(losses)


def prepare_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> None:
    has_run = (run_dir / "config.json").exists()
    if resume:
        if not has_run:
            raise TrainError(
                f"--resume: {run_dir} holds no run (no config.json); drop --resume to start one"
            )
        return
    if has_run and not overwrite:
        raise TrainError(
            f"{run_dir} already holds a run; pass --resume to continue it or --overwrite to replace it"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    if overwrite:
        for name in ckpt.RUN_FILES:
            (run_dir / name).unlink(missing_ok=True)
        for gif in run_dir.glob("plan_ep*.gif"):
            gif.unlink()


def train(
    cfg: Config,
    data_path: str | Path,
    run_dir: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Train a world model on ``data_path`` into ``run_dir``; returns ``run_dir``.

    With ``resume`` the config, weights, optimizer, step and RNG states come from the run.
    """
    run_dir = Path(run_dir)
    prepare_run_dir(run_dir, resume, overwrite)
    if resume:
        meta = ckpt.read_run_config(run_dir)
        saved = Config.from_dict(meta["config"])
        if saved.model != cfg.model or saved.data != cfg.data or saved.loss != cfg.loss:
            raise TrainError(
                "--resume continues the saved config; only train.* settings may change (e.g. train.steps)"
            )
        data_path = meta["data"]["path"]
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    device = resolve_device(cfg.train.device)
    torch.manual_seed(cfg.train.seed)

    # -- data ------------------------------------------------------------------------------
    file = EpisodeFile(data_path)
    obs_key = "pixels" if cfg.model.encoder in ("conv", "vit") else "state"
    train_eps, val_eps = split_episodes(file.n_episodes, cfg.data.val_fraction)
    train_data = WindowDataset(file, train_eps, cfg.data.window, cfg.data.frameskip, obs_key)
    val_data = WindowDataset(file, val_eps, cfg.data.window, cfg.data.frameskip, obs_key)
    spec = ModelSpec(tuple(train_data.obs.shape[1:]), train_data.action_dim, cfg.data.history)
    data_info = {
        "path": str(data_path),
        "world": file.world,
        "params": file.params,
        "state_spec": file.state_spec,
        "train_episodes": len(train_eps),
        "val_episodes": len(val_eps),
        "obs_key": obs_key,
    }
    file.close()

    # -- model and optimizer ---------------------------------------------------------------
    model = build_world_model(cfg.model, spec).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(
        model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay
    )
    batch_gen = torch.Generator().manual_seed(cfg.train.seed)
    dir_gen = torch.Generator().manual_seed(cfg.train.seed + 1)
    step = 0
    if resume:
        state = ckpt.load_train_state(run_dir)
        w_step = ckpt.load_weights(model, run_dir)
        if w_step != state["step"]:
            raise TrainError(
                f"{run_dir}: weights are from step {w_step} but the train state from step {state['step']}; the checkpoint is inconsistent"
            )
        opt.load_state_dict(state["optimizer"])
        batch_gen.set_state(state["batch_rng"])
        dir_gen.set_state(state["dir_rng"])
        torch.set_rng_state(state["torch_rng"])
        step = state["step"]
        _truncate_metrics(run_dir / "metrics.jsonl", step)
    else:
        ckpt.save_config(
            run_dir,
            cfg,
            spec,
            {"data": data_info, "n_params": n_params, "physjepa_version": __version__},
        )
    if progress:
        print(
            f"model: {n_params / 1e6:.2f}M parameters on {device}; {len(train_data)} training windows; config in {run_dir / 'config.json'}"
        )

    def save(step: int) -> None:
        ckpt.save_weights(run_dir, model, step)
        ckpt.save_train_state(
            run_dir,
            {
                "step": step,
                "optimizer": opt.state_dict(),
                "batch_rng": batch_gen.get_state(),
                "dir_rng": dir_gen.get_state(),
                "torch_rng": torch.get_rng_state(),
            },
        )

    # -- loop ------------------------------------------------------------------------------
    model.train()
    frames_per_step = cfg.train.batch_size * cfg.data.window
    bar = tqdm(
        total=cfg.train.steps, initial=step, disable=not progress, unit="step", dynamic_ncols=True
    )
    log = open(run_dir / "metrics.jsonl", "a")
    t_start, t_last, s_last = time.time(), time.time(), step
    try:
        while step < cfg.train.steps:
            batch = {
                k: v.to(device, non_blocking=True)
                for k, v in train_data.sample(cfg.train.batch_size, batch_gen).items()
            }
            directions = random_directions(cfg.model.dim, cfg.loss.sigreg_directions, dir_gen).to(
                device
            )
            for g in opt.param_groups:
                g["lr"] = lr_at(step, cfg)
            loss, stats = compute_loss(model, batch, cfg, directions)
            if not torch.isfinite(loss):
                raise TrainError(
                    f"loss became {loss.item()} at step {step}; the last good checkpoint is kept in {run_dir}. Lower train.lr or raise loss.sigreg_weight"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
            opt.step()
            step += 1
            bar.update(1)

            if step % cfg.train.log_every == 0 or step == cfg.train.steps:
                now = time.time()
                fps = frames_per_step * (step - s_last) / max(now - t_last, 1e-9)
                t_last, s_last = now, step
                rec = {
                    "step": step,
                    "time_s": round(now - t_start, 3),
                    **stats,
                    "train/lr": lr_at(step - 1, cfg),
                    "train/grad_norm": float(grad_norm),
                    "train/frames_per_s": fps,
                }
                log.write(json.dumps(rec) + "\n")
                log.flush()
                bar.set_postfix(loss=f"{stats['train/loss']:.4f}", fps=f"{fps:.0f}")
            if (
                cfg.train.eval_every and step % cfg.train.eval_every == 0
            ) or step == cfg.train.steps:
                rec = {
                    "step": step,
                    "eval/loss_pred": validation_loss(model, val_data, cfg, device),
                }
                log.write(json.dumps(rec) + "\n")
                log.flush()
            if (
                cfg.train.save_every and step % cfg.train.save_every == 0
            ) or step == cfg.train.steps:
                save(step)
    finally:
        bar.close()
        log.close()
    return run_dir


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop metric lines logged after the checkpoint being resumed (they will be logged again)."""
    if path.exists():
        keep = [r for r in read_metrics(path.parent) if r.get("step", 0) <= step]
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in keep))
