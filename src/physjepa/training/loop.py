"""Training: batch -> loss -> backward -> clip -> step -> log / eval / save.

``train(cfg, data_path, run_dir)`` is the whole recipe, readable top to bottom.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from physjepa import __version__
from physjepa.config import Config, ConfigError, replace
from physjepa.data.augment import augment_windows
from physjepa.data.episodes import VECTOR_OBS, EpisodeFile, split_episodes
from physjepa.data.windows import WindowDataset
from physjepa.device import resolve_device
from physjepa.errors import TrainError  # noqa: F401  (re-exported)
from physjepa.fileio import atomic_write_text
from physjepa.models.encoders import PIXEL_ENCODERS
from physjepa.models.losses import compute_loss, prediction_loss, random_directions
from physjepa.models.world_model import ModelSpec, WorldModel, build_world_model
from physjepa.runlog import read_metrics
from physjepa.runs import DataSpec, Run
from physjepa.training import checkpoint as ckpt
from physjepa.training import distributed as ddp
from physjepa.training.cost_metric import fit_cost_metric

#: The training-time augmentations of pixel windows (``data.<key>``; 0 = off).
_AUGMENT_KEYS = ("augment_zoom", "augment_colour", "augment_dilate")


def observed_column(cfg: Config, file: EpisodeFile) -> str:
    """The episode column the model observes (``data.obs``; 'auto' picks by encoder)."""
    pixels = cfg.model.encoder in PIXEL_ENCODERS
    key = cfg.data.obs
    if key == "auto":
        vectors = [c for c in VECTOR_OBS if file.has(c)]
        key = "pixels" if pixels else (vectors[0] if vectors else "state")
    if pixels != (key == "pixels"):
        fix = "model.encoder=mlp" if pixels else "model.encoder=conv (or keypoints, vit)"
        raise ConfigError(
            f"data.obs={key!r} does not suit model.encoder={cfg.model.encoder!r}; use {fix}"
        )
    if not file.has(key):
        have = [c for c in ("pixels", *VECTOR_OBS) if file.has(c)]
        raise ConfigError(
            f"{file.path} has no {key!r} column to observe; it has {have}: set data.obs to one of "
            "them"
        )
    return key


def column_moments(
    file: EpisodeFile, column: str, episodes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of a vector column over ``episodes``, one episode in memory
    at a time (float64 sums)."""
    n, s1, s2 = 0, 0.0, 0.0
    for e in episodes:
        x = file.load(column, [int(e)]).astype(np.float64)
        n, s1, s2 = n + len(x), s1 + x.sum(0), s2 + (x * x).sum(0)
    mean = s1 / max(n, 1)
    return mean, np.sqrt(np.maximum(s2 / max(n, 1) - mean * mean, 0.0))


class TensorBoardWriter:
    """The optional TensorBoard mirror of metrics.jsonl: ``write(record)``, ``close()``."""

    def __init__(self, run_dir: Path):
        self._w = self.summary_writer()(log_dir=str(run_dir / "tb"))

    @staticmethod
    def summary_writer():
        """torch's SummaryWriter, or a one-line ConfigError when tensorboard is missing."""
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError(
                "train.tensorboard=true needs the tensorboard package: pip install "
                "'physjepa[tensorboard]' (or leave it false; metrics.jsonl is always written)"
            ) from None
        return SummaryWriter

    def write(self, rec: dict) -> None:
        for k, v in rec.items():
            if k != "step" and isinstance(v, int | float) and not isinstance(v, bool):
                self._w.add_scalar(k, v, rec["step"])
        self._w.flush()

    def close(self) -> None:
        self._w.close()


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
        z = model.encode(b["obs"], b.get("proprio"))
        losses.append(
            prediction_loss(model.predict_all(z[:, :h], b["action"][:, :h]), z[:, 1 : h + 1]).item()
        )
    model.train()
    return sum(losses) / len(losses)


def check_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse a start that would lose a run, or a resume of nothing (reads only)."""
    has_run = (run_dir / "config.json").exists()
    if resume and not has_run:
        raise TrainError(
            f"--resume: {run_dir} holds no run (no config.json); drop --resume to start one"
        )
    if not resume and has_run and not overwrite:
        raise TrainError(
            f"{run_dir} already holds a run; pass --resume to continue it or --overwrite to "
            "replace it"
        )


#: Files a training run writes; a fresh start clears leftovers of them (e.g. from an
#: --overwrite that was killed half-way), and their temp files are swept on start.
TRAIN_FILES = ("model.safetensors", "train_state.pt", "metrics.jsonl", "config.json")


def prepare_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Make the run directory ready: create it, clear a replaced run, drop stale temp files."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in TRAIN_FILES:  # left by a training process killed mid-write
        for tmp in run_dir.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)
    if resume:
        return
    if overwrite:
        for gif in run_dir.glob("plan_ep*.gif"):
            gif.unlink()
    # a replaced run's files; without --overwrite (no config.json, checked) the leftovers of
    # a killed overwrite. config.json last: until it is gone the directory reads as a run
    names = ckpt.RUN_FILES if overwrite else TRAIN_FILES
    for name in sorted(names, key=lambda n: n == "config.json"):
        (run_dir / name).unlink(missing_ok=True)


def train(
    cfg: Config,
    data_path: str | Path,
    run_dir: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Train a world model on ``data_path`` into ``run_dir``; returns ``run_dir``.

    With ``resume`` the config, weights, optimizer, step and RNG states come from the run's
    last complete checkpoint (a run killed before its first checkpoint starts over).
    Under ``torchrun`` each process trains its shard of every global batch; rank 0 writes.
    """
    rank = ddp.from_env()
    device = resolve_device(cfg.train.device)
    if rank.enabled and device.type == "cuda" and torch.cuda.device_count() > 1:
        device = torch.device("cuda", rank.local_rank)  # one GPU per process
    if rank.enabled and device.type == "mps":
        raise ConfigError("torchrun with train.device=mps is not supported; use cpu or cuda")
    if rank.enabled and cfg.train.batch_size % rank.world_size:
        raise ConfigError(
            f"train.batch_size={cfg.train.batch_size} must be divisible by the {rank.world_size} "
            "processes"
        )
    if cfg.train.tensorboard:
        TensorBoardWriter.summary_writer()  # missing tensorboard: say so before any work
    ddp.init(rank, device)
    try:
        return _train(cfg, data_path, Path(run_dir), resume, overwrite, progress, rank, device)
    finally:
        ddp.shutdown()


def _train(
    cfg: Config,
    data_path: str | Path,
    run_dir: Path,
    resume: bool,
    overwrite: bool,
    progress: bool,
    rank: ddp.Dist,
    device: torch.device,
) -> Path:
    progress = progress and rank.is_main
    check_run_dir(run_dir, resume, overwrite)
    ddp.barrier()  # every rank has checked before rank 0 changes anything
    if rank.is_main:
        prepare_run_dir(run_dir, resume, overwrite)
    ddp.barrier()
    state = None
    if resume:
        previous = Run.open(run_dir)
        saved = previous.config
        same_data = replace(saved.data, max_memory_mb=cfg.data.max_memory_mb) == cfg.data
        if saved.model != cfg.model or not same_data or saved.loss != cfg.loss:
            raise TrainError(
                "--resume continues the saved config; only train.* settings (e.g. train.steps) and "
                "data.max_memory_mb may change"
            )
        recorded = previous.data.path
        if data_path is not None and Path(data_path).resolve() != Path(recorded).resolve():
            raise TrainError(
                f"--resume continues on the run's own data {recorded}, not {data_path}; drop "
                "--data, or train a new run on it with another --out"
            )
        data_path = recorded
        state = ckpt.load_checkpoint(run_dir)  # None: killed before its first checkpoint
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    torch.manual_seed(cfg.train.seed)

    # -- data ------------------------------------------------------------------------------
    with EpisodeFile(data_path) as file:  # the datasets keep handles of their own
        obs_key = observed_column(cfg, file)
        if resume:
            _check_same_data(file, previous.data)
        train_eps, val_eps = split_episodes(file.n_episodes, cfg.data.val_fraction)
        data_info = {
            "path": str(data_path),
            "world": file.world,
            "params": file.params,
            "state_spec": file.state_spec,
            "train_episodes": len(train_eps),
            "val_episodes": len(val_eps),
            "obs_key": obs_key,
            "fps": file.fps,
            # a table imported without actions has one zero column that no stream carries
            "action_names": [] if file.attrs().get("no_actions") else file.channel_names("action"),
        }
        for key in _AUGMENT_KEYS:
            if getattr(cfg.data, key) and obs_key != "pixels":
                raise TrainError(
                    f"data.{key}={getattr(cfg.data, key)} augments pixel frames, but this run "
                    f"observes {obs_key!r}; set data.{key}=0"
                )
        if cfg.loss.invariance_weight > 0 and not any(getattr(cfg.data, k) for k in _AUGMENT_KEYS):
            raise TrainError(
                f"loss.invariance_weight={cfg.loss.invariance_weight} ties each window to an "
                "augmented view of it, but no augmentation is on; set data.augment_dilate "
                "(or data.augment_zoom, data.augment_colour) > 0, or loss.invariance_weight=0"
            )
        if obs_key != "pixels":  # vector channels are standardised by the encoder
            data_info["obs_names"] = file.channel_names(obs_key)
            mean, std = column_moments(file, obs_key, train_eps)
            data_info["obs_mean"], data_info["obs_std"] = mean.tolist(), std.tolist()
        proprio = cfg.model.proprio
        if proprio:
            if not file.has("proprio"):
                raise TrainError(
                    f"model.proprio=true, but {file.path} has no 'proprio' column; collect the "
                    "data again with this version (worlds with an agent write it) or set "
                    "model.proprio=false"
                )
            data_info["proprio_names"] = file.channel_names("proprio")
            mean, std = column_moments(file, "proprio", train_eps)
            data_info["proprio_mean"], data_info["proprio_std"] = mean.tolist(), std.tolist()
        budget = cfg.data.max_memory_mb
        train_data = WindowDataset(
            file, train_eps, cfg.data.window, cfg.data.frameskip, obs_key, budget, proprio
        )
        left = budget if train_data.streaming else max(0.0, budget - train_data.nbytes / 2**20)
        try:
            val_data = WindowDataset(
                file, val_eps, cfg.data.window, cfg.data.frameskip, obs_key, left, proprio
            )
        except BaseException:
            train_data.close()
            raise
    try:
        return _fit(
            cfg, run_dir, resume, state, progress, rank, device, train_data, val_data, data_info
        )
    finally:
        train_data.close()
        val_data.close()


def _check_same_data(file: EpisodeFile, recorded: DataSpec) -> None:
    """A resumed run's data file must still be the one it started on (world and episodes)."""
    n = (recorded.train_episodes or 0) + (recorded.val_episodes or 0)
    if file.world != recorded.world or (n and file.n_episodes != n):
        raise TrainError(
            f"{file.path} changed since the run started ({file.n_episodes} {file.world!r} "
            f"episodes, the run was trained on {n} {recorded.world!r} episodes); "
            "restore it, or train a new run with another --out"
        )


def _fit(
    cfg: Config,
    run_dir: Path,
    resume: bool,
    state: dict | None,
    progress: bool,
    rank: ddp.Dist,
    device: torch.device,
    train_data: WindowDataset,
    val_data: WindowDataset,
    data_info: dict,
) -> Path:
    spec = ModelSpec(
        tuple(train_data.obs_shape),
        train_data.action_dim,
        cfg.data.history,
        len(data_info.get("proprio_mean", ())),
    )

    # -- model and optimizer ---------------------------------------------------------------
    model = build_world_model(cfg.model, spec)
    if "obs_mean" in data_info:
        model.encoder.set_normalization(
            torch.tensor(data_info["obs_mean"]), torch.tensor(data_info["obs_std"])
        )
    if spec.proprio_dim:
        model.set_proprio_normalization(
            torch.tensor(data_info["proprio_mean"]), torch.tensor(data_info["proprio_std"])
        )
    if rank.enabled:
        model = ddp.convert_batchnorm(model)
    model = model.to(device)
    ddp.broadcast_module(model)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(
        model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay
    )
    batch_gen = torch.Generator().manual_seed(cfg.train.seed)  # same on every rank
    dir_gen = torch.Generator().manual_seed(cfg.train.seed + 1)
    if rank.rank > 0:  # ranks draw different dropout masks (each for its own shard)
        torch.manual_seed(cfg.train.seed + 7919 * rank.rank)
    step = 0
    if state is not None:
        ckpt.restore_weights(model, state["model"], run_dir)
        opt.load_state_dict(state["optimizer"])
        batch_gen.set_state(state["batch_rng"])
        dir_gen.set_state(state["dir_rng"])
        _restore_rng(state, rank, device)
        step = state["step"]
        if rank.is_main:
            _truncate_metrics(run_dir / "metrics.jsonl", step)
            # a kill between the two checkpoint files leaves model.safetensors one save
            # behind; the train state is the truth (this also covers the final save)
            ckpt.save_weights(run_dir, model, step)
            ckpt.update_config(run_dir, cfg)  # changed train.* settings, e.g. train.steps
    elif rank.is_main:
        if resume:  # nothing was saved yet: start over with the run's own config
            print(f"note: {run_dir} has no checkpoint yet; starting it over from step 0")
            (run_dir / "metrics.jsonl").unlink(missing_ok=True)
        ckpt.save_config(
            run_dir,
            cfg,
            spec,
            {"data": data_info, "n_params": n_params, "physjepa_version": __version__},
        )
    if cfg.train.compile:
        model.encoder.compile(dynamic=False)
        model.predictor.compile(dynamic=False)
    amp_dtype = torch.bfloat16 if cfg.train.precision == "bf16" else None
    pin = device.type == "cuda"
    if progress:
        where = f"{device}" + (f" x {rank.world_size} processes" if rank.enabled else "")
        how = "streamed from the file" if train_data.streaming else "in memory"
        print(
            f"model: {n_params / 1e6:.2f}M parameters on {where}; {len(train_data)} training "
            f"windows ({how}); config in {run_dir / 'config.json'}"
        )

    def save(step: int) -> None:
        rngs = ddp.gather_objects(_rng_state(device))  # every rank's, for an exact resume
        if rank.is_main and step == cfg.train.steps and cfg.model.cost_metric == "step":
            fit_cost_metric(
                model,
                data_info["path"],
                data_info["obs_key"],
                cfg.data.val_fraction,
                cfg.data.frameskip,
            )
        if rank.is_main:
            ckpt.save_checkpoint(
                run_dir,
                model,
                {
                    "step": step,
                    "optimizer": opt.state_dict(),
                    "batch_rng": batch_gen.get_state(),
                    "dir_rng": dir_gen.get_state(),
                    "rank_rng": rngs,
                },
            )

    # -- loop ------------------------------------------------------------------------------
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    frames_per_step = cfg.train.batch_size * cfg.data.window
    bar = tqdm(
        total=cfg.train.steps, initial=step, disable=not progress, unit="step", dynamic_ncols=True
    )
    tb = TensorBoardWriter(run_dir) if cfg.train.tensorboard and rank.is_main else None
    log = open(run_dir / "metrics.jsonl", "a") if rank.is_main else None
    t_start, t_last, s_last = time.time(), time.time(), step
    try:
        while step < cfg.train.steps:
            index = train_data.draw(cfg.train.batch_size, batch_gen)  # (B,) global batch
            batch = train_data.get(ddp.shard(index, rank))
            if pin:
                batch = {k: v.pin_memory() for k, v in batch.items()}
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            view = augment_windows(
                batch["obs"],
                cfg.data.augment_zoom,
                cfg.data.augment_colour,
                cfg.data.augment_dilate,
            )
            if cfg.loss.invariance_weight > 0:  # the plain windows train, the view is tied
                batch["obs_view"] = view
            else:
                batch["obs"] = view
            directions = random_directions(cfg.model.dim, cfg.loss.sigreg_directions, dir_gen).to(
                device
            )
            for g in opt.param_groups:
                g["lr"] = lr_at(step, cfg)
            loss, stats = compute_loss(
                model, batch, cfg, directions, amp_dtype, gather=ddp.gather_batch
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            global_loss = ddp.average_gradients(params, loss)
            grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.train.grad_clip)
            if not (torch.isfinite(global_loss) and torch.isfinite(grad_norm)):
                what = "loss" if not torch.isfinite(global_loss) else "gradient norm"
                value = float(global_loss if what == "loss" else grad_norm)
                raise TrainError(
                    f"the {what} became {value} at step {step + 1}; stopped, the last good "
                    f"checkpoint is kept in {run_dir}. Lower train.lr or raise loss.sigreg_weight"
                )
            opt.step()
            step += 1
            bar.update(1)

            if step % cfg.train.log_every == 0 or step == cfg.train.steps:
                now = time.time()
                fps = frames_per_step * (step - s_last) / max(now - t_last, 1e-9)
                t_last, s_last = now, step
                floats = ddp.mean_over_ranks({k: float(v) for k, v in stats.items()}, device)
                if rank.is_main:
                    rec = {
                        "step": step,
                        "time_s": round(now - t_start, 3),
                        **floats,
                        "train/lr": lr_at(step - 1, cfg),
                        "train/grad_norm": float(grad_norm),
                        "train/frames_per_s": fps,
                    }
                    log.write(json.dumps(rec) + "\n")
                    log.flush()
                    if tb is not None:
                        tb.write(rec)
                bar.set_postfix(loss=f"{floats['train/loss']:.4f}", fps=f"{fps:.0f}")
            if rank.is_main and (
                (cfg.train.eval_every and step % cfg.train.eval_every == 0)
                or step == cfg.train.steps
            ):
                rec = {
                    "step": step,
                    "eval/loss_pred": validation_loss(model, val_data, cfg, device),
                }
                log.write(json.dumps(rec) + "\n")
                log.flush()
                if tb is not None:
                    tb.write(rec)
            if (
                cfg.train.save_every and step % cfg.train.save_every == 0
            ) or step == cfg.train.steps:
                save(step)
    finally:
        bar.close()
        if log is not None:
            log.close()
        if tb is not None:
            tb.close()
    return run_dir


def _rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """This process's global RNG states (dropout draws from them)."""
    out = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        out["cuda"] = torch.cuda.get_rng_state(device)
    return out


def _restore_rng(state: dict, rank: ddp.Dist, device: torch.device) -> None:
    rngs = state.get("rank_rng") or [{"cpu": state["torch_rng"]}]
    if len(rngs) != rank.world_size:
        # resumed on another number of processes: the data order is unchanged, only the
        # dropout masks of the remaining steps differ from the original run
        if rank.is_main:
            print(
                f"note: the checkpoint was written by {len(rngs)} process(es), this run has "
                f"{rank.world_size}; dropout masks will differ from the original run"
            )
        torch.manual_seed(int(state["step"]) * 7919 + rank.rank)
        return
    mine = rngs[rank.rank]
    torch.set_rng_state(mine["cpu"])
    if device.type == "cuda" and "cuda" in mine:
        torch.cuda.set_rng_state(mine["cuda"], device)


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop metric lines logged after the checkpoint being resumed (they will be logged again)."""
    if path.exists():
        keep = [r for r in read_metrics(path.parent) if r.get("step", 0) <= step]
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in keep))
