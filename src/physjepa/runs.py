"""A trained run, typed: its config, what it was trained on, its model, its result files.

``Run.open("runs/ball")`` reads ``config.json`` (no torch needed); ``run.load_model(device)``
rebuilds the model from ``model.safetensors``; ``run.check_data(file)`` refuses data from
another world or with another observation spec; ``run.write_result("eval.json", payload)``
writes a result atomically into the run. Every command that reads a run goes through here,
so the layout of ``config.json`` is known in one place.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from physjepa.config import Config
from physjepa.errors import CheckpointError, ConfigError, DataError
from physjepa.fileio import atomic_write_text, sha256_file

if TYPE_CHECKING:
    import torch

    from physjepa.data.episodes import EpisodeFile
    from physjepa.models.world_model import WorldModel


def read_run_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The parsed ``config.json`` of a run, with a clear error when it is missing or corrupt."""
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise CheckpointError(
            f"{run_dir} is not a run directory (no config.json); train one with "
            f"'physjepa train --out {run_dir} ...'"
        )
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is corrupt ({e}); restore it or retrain") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path} is not a physjepa run config; restore it or retrain")
    return raw


@dataclass(frozen=True)
class DataSpec:
    """What a run was trained on (``config.json``'s ``data``)."""

    path: str
    """The episode file, as given to ``train``."""
    world: str | None
    """The world the file came from (``None`` for imported data without one)."""
    obs_key: str = "pixels"
    """The column the model observes: pixels, sensors, state or proprio."""
    params: dict[str, Any] = field(default_factory=dict)
    """The world params the data was collected with."""
    state_spec: list = field(default_factory=list)
    """[(name, shape), ...] of the file's state column (what probes read)."""
    obs_names: list[str] | None = None
    """Channel names of a vector observation (``None`` for pixels or old runs)."""
    action_names: list[str] | None = None
    """Names of the raw action channels (``None`` for old runs)."""
    fps: float | None = None
    train_episodes: int | None = None
    val_episodes: int | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        known = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in d.items() if k in known}
        kw.setdefault("obs_key", "pixels")
        kw["params"] = kw.get("params") or {}
        kw["state_spec"] = kw.get("state_spec") or []
        return cls(**kw)


@dataclass(frozen=True)
class ModelShape:
    """What the model was built for (``config.json``'s ``spec``): one frame's observation
    shape, the action *block* size (frameskip x raw action size) and the history."""

    obs_shape: tuple[int, ...]
    action_dim: int
    history: int
    proprio_dim: int = 0
    """Width of the proprio reading fed beside each frame (``model.proprio``; 0: none)."""


@dataclass
class Run:
    """A run directory and its parsed ``config.json``."""

    dir: Path
    config: Config
    shape: ModelShape
    data: DataSpec
    raw: dict[str, Any]
    """``config.json`` as read (for fields this class does not name, e.g. ``obs_mean``)."""
    step: int | None = None
    """The checkpoint step, once :meth:`load_model` has run."""

    @classmethod
    def open(cls, run_dir: str | os.PathLike) -> Run:
        raw = read_run_config(run_dir)
        path = Path(run_dir) / "config.json"
        try:
            cfg = Config.from_dict(raw["config"])
            s = raw["spec"]
            shape = ModelShape(
                tuple(s["obs_shape"]),
                int(s["action_dim"]),
                int(s["history"]),
                int(s.get("proprio_dim", 0)),
            )
            data = DataSpec.from_dict(raw.get("data") or {"path": "", "world": None})
        except (KeyError, TypeError, ConfigError) as e:
            raise CheckpointError(f"{path} is not a physjepa run config ({e})") from None
        return cls(Path(run_dir), cfg, shape, data, raw)

    # -- the model -------------------------------------------------------------------------
    def load_model(self, device: str | torch.device = "cpu") -> WorldModel:
        """The trained model, in eval mode on ``device``; sets :attr:`step`."""
        from physjepa.models.world_model import ModelSpec, build_world_model
        from physjepa.training.checkpoint import load_weights

        s = self.shape
        model = build_world_model(
            self.config.model, ModelSpec(s.obs_shape, s.action_dim, s.history, s.proprio_dim)
        )
        self.step = load_weights(model, self.dir)
        return model.to(device).eval()

    @property
    def frameskip(self) -> int:
        return self.config.data.frameskip

    @property
    def raw_action_dim(self) -> int:
        """Width of one raw action (the model sees ``frameskip`` of them per block)."""
        return self.shape.action_dim // self.frameskip

    def checkpoint_sha256(self) -> str:
        return sha256_file(self.dir / "model.safetensors")

    # -- data ------------------------------------------------------------------------------
    def check_data(self, file: EpisodeFile) -> None:
        """Refuse, in one line, an episode file that is not data for this run: another
        world, no column of the observed kind, another frame or vector shape, other channel
        names, another action width."""
        flag = f"{file.path} is not data for the run {self.dir}"
        if self.data.world and file.world and file.world != self.data.world:
            raise DataError(
                f"{flag}: it holds {file.world!r} episodes, the run was trained on "
                f"{self.data.world!r}; pass a file of that world"
            )
        key = self.data.obs_key
        if not file.has(key):
            raise DataError(f"{flag}: it has no {key!r} column, which the model observes")
        shape = tuple(file.columns[key][0][1:])
        if shape != self.shape.obs_shape:
            raise DataError(
                f"{flag}: its {key} are {shape}, the model takes {self.shape.obs_shape}; "
                "collect it with the run's settings (e.g. --image-size)"
            )
        if key != "pixels" and self.data.obs_names is not None:
            names = file.channel_names(key)
            if list(names) != list(self.data.obs_names):
                raise DataError(
                    f"{flag}: its {key} channels are {names}, the run's are {self.data.obs_names}"
                )
        width = int(file.columns["action"][0][1]) if file.has("action") else 0
        if width != self.raw_action_dim:
            raise DataError(
                f"{flag}: its actions have {width} channels, the run's have {self.raw_action_dim}"
            )

    # -- results ---------------------------------------------------------------------------
    def write_result(self, name: str, payload: dict[str, Any], indent: int | None = 2) -> Path:
        """Write ``payload`` as JSON to ``<run>/<name>`` atomically; returns the path."""
        path = self.dir / name
        text = json.dumps(payload, indent=indent, default=_json_default)
        atomic_write_text(path, text + ("\n" if indent else ""))
        return path


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):  # numpy arrays and scalars, tensors
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")
