"""Run directories and checkpoints: safetensors weights, a weights-only train state, JSON config.

``runs/<name>/``: ``config.json`` (resolved config + model spec + data summary),
``model.safetensors`` (weights only, never pickle), ``train_state.pt`` (optimizer, step, RNG
states; loadable with ``torch.load(weights_only=True)``), ``metrics.jsonl``.
Every file is written to a temporary name and renamed, so a crash never leaves a half file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

from physjepa.config import Config, ConfigError
from physjepa.fileio import atomic_write_bytes, atomic_write_text
from physjepa.models.world_model import ModelSpec, WorldModel, build_world_model

RUN_FILES = (
    "config.json",
    "model.safetensors",
    "train_state.pt",
    "metrics.jsonl",
    "eval.json",
    "report.html",
    "rollout_strip.png",
    "plan.json",
)


class CheckpointError(ValueError):
    """A run directory or checkpoint is missing, corrupt or unsafe."""


def save_config(run_dir: Path, cfg: Config, spec: ModelSpec, extra: dict[str, Any]) -> None:
    payload = {
        "config": cfg.to_dict(),
        "spec": {
            "obs_shape": list(spec.obs_shape),
            "action_dim": spec.action_dim,
            "history": spec.history,
        },
        **extra,
    }
    atomic_write_text(run_dir / "config.json", json.dumps(payload, indent=2, default=list))


def read_run_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The parsed ``config.json`` of a run, with a clear error when it is missing or corrupt."""
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise CheckpointError(
            f"{run_dir} is not a run directory (no config.json); train one with 'physjepa train --out {run_dir} ...'"
        )
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is corrupt ({e}); restore it or retrain") from None


def save_weights(run_dir: Path, model: torch.nn.Module, step: int) -> None:
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write_bytes(
        run_dir / "model.safetensors",
        save(state, metadata={"step": str(step), "format": "physjepa"}),
    )


def save_train_state(run_dir: Path, state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(run_dir / "train_state.pt", buf.getvalue())


def load_train_state(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "train_state.pt"
    if not path.exists():
        raise CheckpointError(
            f"{path} not found: the run has no checkpoint to resume from; train without --resume"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure here means an unusable file
        raise CheckpointError(
            f"{path} cannot be loaded safely ({str(e).splitlines()[0][:160]}); it is corrupt or not a physjepa train state"
        ) from None


def load_weights(model: torch.nn.Module, run_dir: Path) -> int:
    """Load ``model.safetensors`` into ``model``; returns the step it was saved at."""
    path = run_dir / "model.safetensors"
    if not path.exists():
        raise CheckpointError(f"{path} not found; train the run first")
    try:
        state = load_file(str(path))
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(
            f"{path} is not a valid safetensors file ({str(e)[:160]}); retrain or restore it"
        ) from None
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatch
        raise CheckpointError(
            f"{path} does not match the model in config.json ({str(e).splitlines()[-1].strip()[:160]})"
        ) from None
    if missing or unexpected:
        raise CheckpointError(
            f"{path} does not match the model in config.json (missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]})"
        )
    return int(meta.get("step", -1))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_run(
    run_dir: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[WorldModel, Config, dict[str, Any]]:
    """Rebuild a trained model from a run directory: (model in eval mode, config, config.json)."""
    run_dir = Path(run_dir)
    meta = read_run_config(run_dir)
    try:
        cfg = Config.from_dict(meta["config"])
        s = meta["spec"]
        spec = ModelSpec(tuple(s["obs_shape"]), int(s["action_dim"]), int(s["history"]))
    except (KeyError, TypeError, ConfigError) as e:
        raise CheckpointError(f"{run_dir}/config.json is not a physjepa run config ({e})") from None
    model = build_world_model(cfg.model, spec)
    meta["step"] = load_weights(model, run_dir)
    return model.to(device).eval(), cfg, meta
