"""Run directories and checkpoints: safetensors weights, a weights-only train state, JSON config.

``runs/<name>/``: ``config.json`` (resolved config + model spec + data summary),
``model.safetensors`` (weights only, never pickle), ``train_state.pt`` (weights, optimizer,
step, every process's RNG states; loadable with ``torch.load(weights_only=True)``; the
resumable checkpoint), ``metrics.jsonl`` (appended; a torn last line is skipped on reading
and dropped on resume). Every other file is written to a temporary name and renamed, so a
crash never leaves a half file.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

from physjepa.config import Config
from physjepa.errors import CheckpointError  # noqa: F401  (re-exported)
from physjepa.fileio import atomic_write_bytes, atomic_write_text
from physjepa.models.world_model import ModelSpec, WorldModel
from physjepa.runs import Run, read_run_config

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


def save_config(run_dir: Path, cfg: Config, spec: ModelSpec, extra: dict[str, Any]) -> None:
    payload = {
        "config": cfg.to_dict(),
        "spec": {
            "obs_shape": list(spec.obs_shape),
            "action_dim": spec.action_dim,
            "history": spec.history,
            **({"proprio_dim": spec.proprio_dim} if spec.proprio_dim else {}),
        },
        **extra,
    }
    atomic_write_text(run_dir / "config.json", json.dumps(payload, indent=2, default=list))


def update_config(run_dir: Path, cfg: Config) -> None:
    """Record a resumed run's config (only ``train.*`` settings may have changed)."""
    meta = read_run_config(run_dir)
    meta["config"] = cfg.to_dict()
    atomic_write_text(run_dir / "config.json", json.dumps(meta, indent=2, default=list))


def _cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}


def save_weights(run_dir: Path, model: torch.nn.Module, step: int) -> None:
    atomic_write_bytes(
        run_dir / "model.safetensors",
        # one metadata key: safetensors writes metadata in hash-map order, which differs
        # from process to process, so two keys would make identical weights hash differently
        save(_cpu_state(model), metadata={"step": str(step)}),
    )


def save_checkpoint(run_dir: Path, model: torch.nn.Module, state: dict[str, Any]) -> None:
    """Write a resumable checkpoint: ``train_state.pt`` (weights + optimizer + step + RNG), then
    the user-facing ``model.safetensors``.

    ``train_state.pt`` alone is a complete, self-consistent checkpoint and replaces the
    previous one in a single atomic rename, so a kill at any moment leaves the last good one.
    """
    buf = io.BytesIO()
    torch.save({**state, "model": _cpu_state(model)}, buf)
    atomic_write_bytes(run_dir / "train_state.pt", buf.getvalue())
    save_weights(run_dir, model, int(state["step"]))


def load_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    """The last complete checkpoint of a run (``None`` when it was never saved).

    Loaded with ``torch.load(weights_only=True)``: a file carrying a pickled object is refused
    without running it. Checkpoints written before the weights moved into the train state
    take them from ``model.safetensors`` (whose step must match).
    """
    path = run_dir / "train_state.pt"
    if not path.exists():
        return None
    state = load_train_state(run_dir)
    keys = {"step", "optimizer", "batch_rng", "dir_rng"}
    if (
        not isinstance(state, dict)
        or not keys <= set(state)
        or not ({"rank_rng", "torch_rng"} & set(state))
        or not isinstance(state.get("model", {}), dict)
    ):
        raise CheckpointError(f"{path} is not a physjepa train state; retrain or restore it")
    if "model" not in state:
        weights, step = _read_safetensors(run_dir / "model.safetensors")
        if step != state["step"]:
            raise CheckpointError(
                f"{run_dir}: weights are from step {step} but the train state from step "
                f"{state['step']}; the checkpoint is inconsistent"
            )
        state["model"] = weights
    return state


def restore_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor], source: Path) -> None:
    """Load a state dict into ``model``, with a clear error when it does not fit."""
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as e:  # shape mismatch
        raise CheckpointError(
            f"{source} does not match the model in config.json "
            f"({str(e).splitlines()[-1].strip()[:160]})"
        ) from None
    # runs from before the MLP encoder standardised its inputs: identity, as they were trained
    missing = [k for k in missing if not k.endswith(("encoder.obs_mean", "encoder.obs_std"))]
    # add_cost_metric writes the weights before config.json: a run stopped between the two
    # loads as the plain-distance run it still is
    unexpected = [k for k in unexpected if k != "cost_whitener"]
    if missing or unexpected:
        raise CheckpointError(
            f"{source} does not match the model in config.json (missing {list(missing)[:3]}, "
            f"unexpected {list(unexpected)[:3]})"
        )


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
            f"{path} cannot be loaded safely ({str(e).splitlines()[0][:160]}); it is corrupt or "
            "not a physjepa train state"
        ) from None


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], int]:
    if not path.exists():
        raise CheckpointError(f"{path} not found; train the run first")
    try:
        state = load_file(str(path))
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        step = int(meta.get("step", -1))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(
            f"{path} is not a valid safetensors file ({str(e)[:160]}); retrain or restore it"
        ) from None
    return state, step


def load_weights(model: torch.nn.Module, run_dir: Path) -> int:
    """Load ``model.safetensors`` into ``model``; returns the step it was saved at."""
    path = run_dir / "model.safetensors"
    state, step = _read_safetensors(path)
    restore_weights(model, state, path)
    return step


def load_run(
    run_dir: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[WorldModel, Config, Run]:
    """Rebuild a trained model from a run directory: (model in eval mode, config, the typed
    :class:`~physjepa.runs.Run`, whose ``step`` is the checkpoint's)."""
    run = Run.open(run_dir)
    return run.load_model(device), run.config, run
