"""Configuration: frozen dataclasses, named presets and dotted overrides.

``load_preset("laptop", ["model.dim=256", "train.steps=500"])`` returns a validated
:class:`Config`. Every field has a docstring (the string literal under it) and is checked in
``__post_init__``; a bad value raises :class:`ConfigError` naming the key and what is valid.
Derived values (window length, ...) are properties, never written back.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field, fields, replace
from typing import Any

from physjepa.errors import ConfigError  # noqa: F401  (re-exported)


def _is_int(v: Any) -> bool:
    # bool is an int subclass, but True is no valid history length or dimension
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    # checked before comparing, so a wrong type is a ConfigError, not a TypeError
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_device_name(name: Any) -> bool:
    """'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' (the names ``resolve_device`` accepts)."""
    return isinstance(name, str) and (
        name in ("auto", "cpu", "cuda", "mps") or (name.startswith("cuda:") and name[5:].isdigit())
    )


def _check(cond: bool, key: str, value: Any, expect: str) -> None:
    if not cond:
        raise ConfigError(f"{key}={value!r} is invalid: expected {expect}")


@dataclass(frozen=True)
class DataConfig:
    history: int = 3
    """Frames of context the predictor sees (LeWM uses 3)."""
    rollout: int = 4
    """Future frames per training window: 1 = teacher forcing only; k > 1 adds a (k-1)-step
    autoregressive rollout term. A window holds ``history + rollout`` frames."""
    frameskip: int = 1
    """Environment steps per model step; the frameskip raw actions are concatenated."""
    val_fraction: float = 0.2
    """Share of episodes (the last ones in the file) held out for evaluation and probes."""
    max_memory_mb: float = 2048.0
    """Training windows are loaded into memory when their columns take at most this many MB
    (per process); a larger dataset streams from the HDF5 file with bounded memory."""
    obs: str = "auto"
    """The column the model observes: 'pixels', 'sensors', 'state' or 'proprio'; 'auto' takes
    pixels for the conv/vit encoders and, for 'mlp', sensors when the file has them, else state."""
    augment_zoom: float = 0.0
    """Scale augmentation of pixel training windows (0 = off): each window is zoomed as a whole
    by a factor drawn log-uniformly in [1/(1+x), 1+x] about a random centre, so objects appear
    at sizes outside the data's (``data/augment.py``). Validation windows are never zoomed."""
    augment_colour: float = 0.0
    """Colour augmentation of pixel training windows (0 = off): this share of the windows has
    its RGB channels permuted (one random other order, every frame alike), so objects appear
    in colours outside the data's. Validation windows are never recoloured."""
    augment_dilate: int = 0
    """Object-size augmentation of pixel training windows (0 = off): each window is dilated or
    eroded as a whole by k pixels, k drawn uniformly from -x..x, so every object brighter than
    its surroundings appears a little larger or smaller than in the data, at the same place
    and with the same motion (``data/augment.py``). Validation windows are never dilated."""

    def __post_init__(self) -> None:
        _check(
            self.obs in ("auto", "pixels", "sensors", "state", "proprio"),
            "data.obs",
            self.obs,
            "one of auto, pixels, sensors, state, proprio",
        )
        _check(
            _is_int(self.history) and 1 <= self.history <= 64,
            "data.history",
            self.history,
            "an integer in [1, 64]",
        )
        _check(
            _is_int(self.rollout) and 1 <= self.rollout <= 32,
            "data.rollout",
            self.rollout,
            "an integer in [1, 32]",
        )
        _check(
            _is_int(self.frameskip) and 1 <= self.frameskip <= 32,
            "data.frameskip",
            self.frameskip,
            "an integer in [1, 32]",
        )
        _check(
            _is_num(self.val_fraction) and 0.0 < self.val_fraction < 1.0,
            "data.val_fraction",
            self.val_fraction,
            "a fraction in (0, 1)",
        )
        _check(
            _is_num(self.augment_zoom) and 0.0 <= self.augment_zoom <= 1.0,
            "data.augment_zoom",
            self.augment_zoom,
            "a number in [0, 1] (0 = off; 0.25 zooms by 0.8x to 1.25x)",
        )
        _check(
            _is_num(self.augment_colour) and 0.0 <= self.augment_colour <= 1.0,
            "data.augment_colour",
            self.augment_colour,
            "a share of windows in [0, 1] (0 = off)",
        )
        _check(
            _is_int(self.augment_dilate) and 0 <= self.augment_dilate <= 4,
            "data.augment_dilate",
            self.augment_dilate,
            "a whole number of pixels in 0..4 (0 = off; 1 grows or shrinks objects by a pixel)",
        )
        _check(
            _is_num(self.max_memory_mb) and self.max_memory_mb >= 0.0,
            "data.max_memory_mb",
            self.max_memory_mb,
            "a number of megabytes >= 0 (0 = always stream from the file)",
        )

    @property
    def window(self) -> int:
        """Frames in one training window."""
        return self.history + self.rollout


@dataclass(frozen=True)
class ModelConfig:
    encoder: str = "conv"
    """Observation encoder: 'conv' (pixels, default), 'keypoints' (pixels: spatial-softmax
    keypoints, positions that do not change with an object's drawn size), 'vit' (pixels),
    'mlp' (vectors)."""
    dim: int = 128
    """Embedding size: one vector of this size per frame (per token with latent='tokens')."""
    conv_widths: tuple[int, ...] = (16, 32, 64)
    """Channels of the conv encoder's stride-2 stages (after a stride-2 stem)."""
    vit_patch: int = 8
    """ViT patch size in pixels (must divide the image size)."""
    vit_depth: int = 4
    """ViT transformer blocks."""
    vit_heads: int = 4
    """ViT attention heads."""
    mlp_hidden: int = 256
    """Hidden width of the MLP encoder for vector observations."""
    projector_hidden: int = 512
    """Hidden width of the BatchNorm projector after the encoder (LeWM: 2048)."""
    projector: str = "mlp"
    """'mlp': the BatchNorm MLP projector between the encoder and the latent (LeWM).
    'none': the encoder's output is the latent (vector latents only): the planning cost
    then measures distances in the encoder's own space, e.g. between the 'keypoints'
    encoder's readouts of where things are, unwarped by a second network."""
    cost_metric: str = "l2"
    """How the planning cost measures the distance between a predicted latent and the goal's.
    'l2': squared Euclidean. 'step': squared Euclidean after whitening by the covariance of
    the latent's change over one action block (``data.frameskip`` frames) in the training
    data, fitted after training and saved with the weights (vector latents only): every
    direction counts in units of how far it moves per step, so what the agent moves fast
    (its own body) counts less and what moves rarely (a pushed object, its turn) more."""
    pred_depth: int = 3
    """Predictor transformer blocks."""
    pred_heads: int = 4
    """Predictor attention heads (must divide ``dim``)."""
    pred_mlp_ratio: int = 4
    """Predictor MLP width as a multiple of ``dim``."""
    pred_dropout: float = 0.1
    """Predictor dropout (LeWM: 0 → 78%, 0.1 → 96%, 0.5 → 67% success)."""
    latent: str = "vector"
    """'vector': one embedding of ``dim`` per frame. 'tokens' (conv encoder): a ``token_grid``
    x ``token_grid`` grid of ``dim``-wide patch tokens per frame, predicted token-wise and
    regularised per token; the latent is their concatenation, so costs sum over tokens."""
    token_grid: int = 4
    """Tokens per side of the grid when ``latent='tokens'`` (4 -> 16 tokens per frame)."""
    keypoints: int = 32
    """Keypoint maps of the 'keypoints' encoder (each gives an expected x, y); its conv
    stages are the first two ``conv_widths``, at a quarter of the image's resolution."""
    keypoint_convs: int = 1
    """3x3 conv stages of the 'keypoints' encoder at a quarter of the image's resolution
    (each of the second ``conv_widths`` channels). Each stage widens what one keypoint map
    sees by 8 pixels: 1 -> 12, 3 -> 28. An object's orientation needs maps that see its
    parts (push-t's T is about 15 pixels wide at 64x64)."""
    proprio: bool = False
    """Feed the data's ``proprio`` column (the agent's own position, velocity or joint
    angles, as a robot's encoders read them) beside each frame: its standardised values are
    appended to the frame's latent, the predictor predicts them with it, and planning reads
    them from the world or robot at every step. The planning cost and latent visibility
    compare the encoder's part only (LeWM and DINO-WM feed proprioception the same way)."""

    def __post_init__(self) -> None:
        _check(
            self.encoder in ("conv", "keypoints", "vit", "mlp"),
            "model.encoder",
            self.encoder,
            "one of 'conv', 'keypoints', 'vit', 'mlp'",
        )
        _check(
            _is_int(self.keypoints) and 1 <= self.keypoints <= 256,
            "model.keypoints",
            self.keypoints,
            "an integer in [1, 256]",
        )
        _check(
            _is_int(self.keypoint_convs) and 1 <= self.keypoint_convs <= 8,
            "model.keypoint_convs",
            self.keypoint_convs,
            "an integer in [1, 8]",
        )
        _check(
            _is_int(self.dim) and 4 <= self.dim <= 4096,
            "model.dim",
            self.dim,
            "an integer in [4, 4096]",
        )
        _check(
            isinstance(self.conv_widths, tuple)
            and len(self.conv_widths) >= 1
            and all(_is_int(w) and w > 0 for w in self.conv_widths),
            "model.conv_widths",
            self.conv_widths,
            "a tuple of positive integers, e.g. 32,64,128",
        )
        _check(
            _is_int(self.vit_patch) and self.vit_patch >= 2,
            "model.vit_patch",
            self.vit_patch,
            "an integer >= 2",
        )
        _check(
            _is_int(self.vit_depth) and self.vit_depth >= 1,
            "model.vit_depth",
            self.vit_depth,
            "an integer >= 1",
        )
        _check(
            _is_int(self.vit_heads) and self.vit_heads >= 1 and self.dim % self.vit_heads == 0,
            "model.vit_heads",
            self.vit_heads,
            f"a divisor of model.dim={self.dim}",
        )
        _check(
            _is_int(self.mlp_hidden) and self.mlp_hidden >= 1,
            "model.mlp_hidden",
            self.mlp_hidden,
            "an integer >= 1",
        )
        _check(
            self.projector in ("mlp", "none"),
            "model.projector",
            self.projector,
            "'mlp' or 'none'",
        )
        _check(
            self.projector == "mlp" or self.latent == "vector",
            "model.projector",
            self.projector,
            "'mlp' with model.latent='tokens' (the token latent always projects)",
        )
        _check(
            self.cost_metric in ("l2", "step"),
            "model.cost_metric",
            self.cost_metric,
            "'l2' or 'step'",
        )
        _check(
            self.cost_metric == "l2" or self.latent == "vector",
            "model.cost_metric",
            self.cost_metric,
            "'l2' with model.latent='tokens' (the step metric whitens vector latents)",
        )
        _check(
            _is_int(self.projector_hidden) and self.projector_hidden >= 1,
            "model.projector_hidden",
            self.projector_hidden,
            "an integer >= 1",
        )
        _check(
            _is_int(self.pred_depth) and self.pred_depth >= 1,
            "model.pred_depth",
            self.pred_depth,
            "an integer >= 1",
        )
        _check(
            _is_int(self.pred_heads) and self.pred_heads >= 1 and self.dim % self.pred_heads == 0,
            "model.pred_heads",
            self.pred_heads,
            f"a divisor of model.dim={self.dim}",
        )
        _check(
            _is_int(self.pred_mlp_ratio) and self.pred_mlp_ratio >= 1,
            "model.pred_mlp_ratio",
            self.pred_mlp_ratio,
            "an integer >= 1",
        )
        _check(
            _is_num(self.pred_dropout) and 0.0 <= self.pred_dropout < 1.0,
            "model.pred_dropout",
            self.pred_dropout,
            "a value in [0, 1)",
        )
        _check(
            isinstance(self.proprio, bool)
            and not (self.proprio and (self.latent != "vector" or self.encoder == "mlp")),
            "model.proprio",
            self.proprio,
            "true or false; true needs a pixel encoder and model.latent=vector",
        )
        _check(
            self.latent == "vector" or (self.latent == "tokens" and self.encoder == "conv"),
            "model.latent",
            self.latent,
            "'vector', or 'tokens' with model.encoder=conv",
        )
        _check(
            _is_int(self.token_grid) and 1 <= self.token_grid <= 16,
            "model.token_grid",
            self.token_grid,
            "an integer in [1, 16]",
        )


@dataclass(frozen=True)
class LossConfig:
    sigreg_weight: float = 0.03
    """λ of SIGReg, the one knob against collapse (LeWM: 0.01–0.2 works, 0.5 degrades; on
    ball-drop 0.03 gave a lower 10-step rollout error than 0.1 or 0.01)."""
    sigreg_directions: int = 256
    """Random unit directions per step on which SIGReg compares to a standard normal."""
    sigreg_knots: int = 17
    """Quadrature knots of the Epps–Pulley integral over t in [0, t_max]."""
    rollout_weight: float = 1.0
    """Weight of the multi-step rollout term relative to the teacher-forced term."""
    temporal_weight: float = 0.0
    """Weight of a temporal-smoothness term, the mean squared step between consecutive
    embeddings of a window (PLDM's and EB-JEPA's temporal similarity). Against SIGReg's
    spread it asks states a few steps apart to lie close, so latent distance follows how far
    apart two states are in time: a smoother planning cost. 0 (default): off."""
    invariance_weight: float = 0.0
    """Weight of an invariance term for pixel runs trained with augmentation (issue 16): the
    augmented view of each window is encoded beside the plain one, and its embeddings are
    pulled (mean squared error) onto the plain view's, held fixed as the target. The JEPA
    terms then train on the plain windows alone, so augmentation shows the encoder objects at
    new sizes or colours and asks it to map them where the data's own objects lie, instead of
    spending its latent on a new factor (BatchNorm layers normalise the view's batch by its
    own statistics and fold them into their running ones, as an untied augmented run does).
    A per-window term, like the temporal one: under torchrun each process ties its own shard.
    Needs a ``data.augment_*`` > 0. 0 (default): off, and augmented windows are trained on
    directly."""

    def __post_init__(self) -> None:
        _check(
            _is_num(self.sigreg_weight) and self.sigreg_weight >= 0.0,
            "loss.sigreg_weight",
            self.sigreg_weight,
            "a value >= 0",
        )
        _check(
            _is_int(self.sigreg_directions) and self.sigreg_directions >= 1,
            "loss.sigreg_directions",
            self.sigreg_directions,
            "an integer >= 1",
        )
        _check(
            _is_int(self.sigreg_knots) and self.sigreg_knots >= 3,
            "loss.sigreg_knots",
            self.sigreg_knots,
            "an integer >= 3",
        )
        _check(
            _is_num(self.rollout_weight) and self.rollout_weight >= 0.0,
            "loss.rollout_weight",
            self.rollout_weight,
            "a value >= 0",
        )
        _check(
            _is_num(self.temporal_weight) and self.temporal_weight >= 0.0,
            "loss.temporal_weight",
            self.temporal_weight,
            "a value >= 0",
        )
        _check(
            _is_num(self.invariance_weight) and self.invariance_weight >= 0.0,
            "loss.invariance_weight",
            self.invariance_weight,
            "a value >= 0",
        )


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1200
    """Optimizer steps."""
    batch_size: int = 128
    """Windows per step (global batch)."""
    lr: float = 1e-3
    """Peak AdamW learning rate (linear warm-up, cosine decay)."""
    weight_decay: float = 1e-3
    """AdamW weight decay."""
    warmup_steps: int = 100
    """Linear learning-rate warm-up steps."""
    grad_clip: float = 1.0
    """Gradient-norm clip."""
    seed: int = 0
    """Seed of the model init and every sampler."""
    device: str = "auto"
    """'auto' (cuda, then mps, then cpu), 'cpu', 'cuda', 'cuda:N' or 'mps'. Chosen once."""
    threads: int = 0
    """CPU threads for torch; 0 leaves torch's default."""
    precision: str = "fp32"
    """'fp32' (default, and the CPU reference) or 'bf16' (autocast of the encoder and
    predictor; losses and SIGReg stay in fp32)."""
    compile: bool = False
    """torch.compile the encoder and predictor (opt-in; pays a compile time up front)."""
    log_every: int = 25
    """Steps between metrics.jsonl lines (>= 1)."""
    eval_every: int = 400
    """Steps between held-out evaluations (0 = only at the end)."""
    save_every: int = 400
    """Steps between checkpoints (always at the end)."""
    tensorboard: bool = False
    """Also write every metrics.jsonl record to TensorBoard event files in ``<run>/tb``
    (needs the optional ``tensorboard`` package: ``pip install 'physjepa[tensorboard]'``)."""

    def __post_init__(self) -> None:
        _check(
            _is_int(self.steps) and self.steps >= 1,
            "train.steps",
            self.steps,
            "an integer >= 1",
        )
        _check(
            _is_int(self.batch_size) and self.batch_size >= 2,
            "train.batch_size",
            self.batch_size,
            "an integer >= 2 (SIGReg is a batch statistic)",
        )
        _check(_is_num(self.lr) and 0.0 < self.lr < 1.0, "train.lr", self.lr, "a value in (0, 1)")
        _check(
            _is_num(self.weight_decay) and self.weight_decay >= 0.0,
            "train.weight_decay",
            self.weight_decay,
            "a value >= 0",
        )
        _check(
            _is_int(self.warmup_steps) and self.warmup_steps >= 0,
            "train.warmup_steps",
            self.warmup_steps,
            "an integer >= 0",
        )
        _check(
            _is_num(self.grad_clip) and self.grad_clip > 0.0,
            "train.grad_clip",
            self.grad_clip,
            "a value > 0",
        )
        _check(
            _is_int(self.seed) and self.seed >= 0,
            "train.seed",
            self.seed,
            "an integer >= 0",
        )
        _check(
            is_device_name(self.device),
            "train.device",
            self.device,
            "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'",
        )
        _check(
            _is_int(self.threads) and self.threads >= 0,
            "train.threads",
            self.threads,
            "an integer >= 0",
        )
        _check(
            self.precision in ("fp32", "bf16"),
            "train.precision",
            self.precision,
            "'fp32' or 'bf16'",
        )
        _check(isinstance(self.compile, bool), "train.compile", self.compile, "true or false")
        _check(
            isinstance(self.tensorboard, bool),
            "train.tensorboard",
            self.tensorboard,
            "true or false",
        )
        _check(
            _is_int(self.log_every) and self.log_every >= 1,
            "train.log_every",
            self.log_every,
            "an integer >= 1",
        )
        for key in ("eval_every", "save_every"):
            v = getattr(self, key)
            _check(
                _is_int(v) and v >= 0, f"train.{key}", v, "an integer >= 0 (0 = only at the end)"
            )


@dataclass(frozen=True)
class EvalConfig:
    horizon: int = 10
    """Steps of latent rollout error reported (model vs 'latent stays the same')."""
    probe_window: int = 3
    """Frames of latents concatenated as probe features (the predictor's context length by
    default; >= 2 lets a linear probe read velocities)."""
    max_windows: int = 2000
    """Most held-out windows used for rollout error (bounds eval time)."""
    viewer_steps: int = 400
    """Training steps of the viewer decoder (frozen latents -> frames) for the report strip."""

    def __post_init__(self) -> None:
        _check(
            _is_int(self.viewer_steps) and self.viewer_steps >= 1,
            "eval.viewer_steps",
            self.viewer_steps,
            "an integer >= 1",
        )
        _check(
            _is_int(self.horizon) and 1 <= self.horizon <= 200,
            "eval.horizon",
            self.horizon,
            "an integer in [1, 200]",
        )
        _check(
            _is_int(self.probe_window) and 1 <= self.probe_window <= 16,
            "eval.probe_window",
            self.probe_window,
            "an integer in [1, 16]",
        )
        _check(
            _is_int(self.max_windows) and self.max_windows >= 1,
            "eval.max_windows",
            self.max_windows,
            "an integer >= 1",
        )


@dataclass(frozen=True)
class Config:
    preset: str = "laptop"
    """Name of the preset this config started from (informational)."""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        """Rebuild a config from ``to_dict()`` output, refusing unknown keys."""
        if not isinstance(d, dict):
            raise ConfigError(f"a config must be a JSON object, got {type(d).__name__}")
        return _build(cls, d, "")


_SECTIONS = {k: v for k, v in typing.get_type_hints(Config).items() if dataclasses.is_dataclass(v)}


def _build(cls: type, d: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    valid = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - valid)
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {[prefix + k for k in unknown]}; valid: "
            f"{sorted(prefix + k for k in valid)}"
        )
    kwargs = {}
    for k, v in d.items():
        t = hints[k]
        if dataclasses.is_dataclass(t):
            if not isinstance(v, dict):
                raise ConfigError(f"{prefix}{k} must be a section (object), got {v!r}")
            kwargs[k] = _build(t, v, f"{prefix}{k}.")
        else:
            kwargs[k] = _coerce(v, t, prefix + k)
    return cls(**kwargs)


def _coerce(value: Any, typ: Any, key: str) -> Any:
    """Convert ``value`` (from JSON or a command-line string) to field type ``typ``."""
    origin = typing.get_origin(typ)
    try:
        if typ is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
                return value.lower() in ("true", "1", "yes")
            raise ValueError
        if typ is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if typ is float:
            if isinstance(value, bool):
                raise ValueError
            out = float(value)
            if out != out or out in (float("inf"), float("-inf")):
                raise ValueError
            return out
        if typ is str:
            if not isinstance(value, str):
                raise ValueError
            return value
        if origin is tuple:
            items = value.split(",") if isinstance(value, str) else list(value)
            (inner, _) = typing.get_args(typ)
            return tuple(
                _coerce(x.strip() if isinstance(x, str) else x, inner, key)
                for x in items
                if x != ""
            )
    except (ValueError, TypeError, AttributeError):
        pass
    else:
        raise ConfigError(f"{key}: unsupported field type {typ}")
    # tuple[int, ...] has a __name__ of "tuple": show the whole type, e.g. "tuple[int, ...]"
    name = typ.__name__ if isinstance(typ, type) else str(typ)
    raise ConfigError(f"{key}={value!r} has the wrong type: expected {name}")


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Apply ``section.key=value`` strings, e.g. ``["model.dim=256", "train.lr=3e-4"]``."""
    d = cfg.to_dict()
    for item in overrides:
        if "=" not in item:
            raise ConfigError(
                f"override {item!r} must look like section.key=value, e.g. model.dim=256"
            )
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        if len(parts) != 2 or parts[0] not in _SECTIONS:
            raise ConfigError(
                f"unknown config key {key!r}; sections: {sorted(_SECTIONS)}, e.g. model.dim=256"
            )
        section, name = parts
        valid = {f.name for f in fields(_SECTIONS[section])}
        if name not in valid:
            raise ConfigError(
                f"unknown config key {key!r}; valid keys in {section}: {sorted(valid)}"
            )
        d[section][name] = value.strip()
    return Config.from_dict(d)


def _presets() -> dict[str, Config]:
    debug = Config(
        preset="debug",
        data=DataConfig(history=2, rollout=2),
        model=ModelConfig(
            dim=32,
            conv_widths=(8, 16),
            vit_depth=1,
            vit_heads=2,
            mlp_hidden=32,
            projector_hidden=64,
            pred_depth=1,
            pred_heads=2,
        ),
        loss=LossConfig(sigreg_directions=32),
        train=TrainConfig(
            steps=20, batch_size=16, warmup_steps=2, log_every=5, eval_every=10, save_every=10
        ),
        eval=EvalConfig(horizon=4, max_windows=200, viewer_steps=50),
    )
    laptop = Config(preset="laptop")
    gpu = Config(
        preset="gpu",
        model=ModelConfig(
            dim=192, conv_widths=(64, 128, 256), projector_hidden=2048, pred_depth=6, pred_heads=8
        ),
        train=TrainConfig(
            steps=20000, batch_size=256, lr=5e-4, warmup_steps=500, eval_every=2000, save_every=2000
        ),
    )
    return {"debug": debug, "laptop": laptop, "gpu": gpu}


PRESETS = tuple(_presets())


def load_preset(name: str, overrides: list[str] | None = None) -> Config:
    """The named preset with ``overrides`` applied."""
    presets = _presets()
    if name not in presets:
        raise ConfigError(f"unknown preset {name!r}; valid: {', '.join(presets)}")
    return apply_overrides(presets[name], overrides or [])


__all__ = [
    "Config",
    "ConfigError",
    "DataConfig",
    "EvalConfig",
    "LossConfig",
    "ModelConfig",
    "TrainConfig",
    "PRESETS",
    "apply_overrides",
    "load_preset",
    "replace",
]
