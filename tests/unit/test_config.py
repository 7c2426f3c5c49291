"""Config: presets, dotted overrides, validation errors that name the key, round trips."""

from __future__ import annotations

import dataclasses
import json

import pytest

from physjepa.config import (
    PRESETS,
    Config,
    ConfigError,
    DataConfig,
    EvalConfig,
    LossConfig,
    ModelConfig,
    TrainConfig,
    _coerce,
    apply_overrides,
    load_preset,
)


@pytest.mark.parametrize("name", ["debug", "laptop", "gpu"])
def test_presets_load(name):
    cfg = load_preset(name)
    assert isinstance(cfg, Config) and cfg.preset == name
    assert cfg.data.window == cfg.data.history + cfg.data.rollout


def test_presets_are_listed_and_differ():
    assert set(PRESETS) == {"debug", "laptop", "gpu"}
    debug, laptop, gpu = (load_preset(n) for n in ("debug", "laptop", "gpu"))
    assert debug.model.dim < laptop.model.dim < gpu.model.dim
    assert debug.train.steps < laptop.train.steps < gpu.train.steps


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(ConfigError, match="unknown preset 'huge'") as e:
        load_preset("huge")
    for name in ("debug", "laptop", "gpu"):
        assert name in str(e.value)


def test_overrides_parse_ints_floats_tuples_and_strings():
    cfg = load_preset(
        "debug",
        [
            "model.dim=48",
            "train.lr=3e-4",
            "model.conv_widths=8,16",
            "model.encoder=vit",
            "loss.sigreg_weight=0",
            " train.steps = 7 ",
        ],
    )
    assert cfg.model.dim == 48 and type(cfg.model.dim) is int
    assert cfg.train.lr == 3e-4 and type(cfg.train.lr) is float
    assert cfg.model.conv_widths == (8, 16) and isinstance(cfg.model.conv_widths, tuple)
    assert cfg.model.encoder == "vit"
    assert cfg.loss.sigreg_weight == 0.0 and type(cfg.loss.sigreg_weight) is float
    assert cfg.train.steps == 7
    # everything not overridden stays the preset's
    assert cfg.data == load_preset("debug").data
    # a one-element tuple
    assert load_preset("debug", ["model.conv_widths=8"]).model.conv_widths == (8,)


def test_overrides_later_wins_and_base_is_untouched():
    base = load_preset("debug")
    cfg = apply_overrides(base, ["train.steps=5", "train.steps=9"])
    assert cfg.train.steps == 9
    assert base.train.steps == 20


@pytest.mark.parametrize(
    ("text", "expect"),
    [("true", True), ("True", True), ("1", True), ("yes", True)]
    + [("false", False), ("0", False), ("no", False), (False, False)],
)
def test_bool_values_parse(text, expect):
    # No config field is a bool yet; the parser supports them for when one is added.
    assert _coerce(text, bool, "x.flag") is expect


@pytest.mark.parametrize("text", ["maybe", "2", "", 1])
def test_bad_bool_is_a_config_error(text):
    with pytest.raises(ConfigError, match="x.flag"):
        _coerce(text, bool, "x.flag")


def test_unknown_section_names_the_key_and_the_sections():
    with pytest.raises(ConfigError) as e:
        load_preset("debug", ["optim.lr=1"])
    msg = str(e.value)
    assert "optim.lr" in msg
    for section in ("data", "model", "loss", "train", "eval"):
        assert section in msg


def test_unknown_key_names_the_key_and_the_valid_keys():
    with pytest.raises(ConfigError) as e:
        load_preset("debug", ["model.nope=1"])
    msg = str(e.value)
    assert "model.nope" in msg
    for f in dataclasses.fields(ModelConfig):
        assert f.name in msg


@pytest.mark.parametrize("item", ["model.dim", "dim=3", "model.dim.x=3"])
def test_malformed_override(item):
    with pytest.raises(ConfigError, match="model.dim|section.key=value|dim"):
        load_preset("debug", [item])


@pytest.mark.parametrize(
    ("item", "key", "expect"),
    [
        ("model.dim=abc", "model.dim", "int"),
        ("model.dim=3.5", "model.dim", "int"),
        ("train.lr=fast", "train.lr", "float"),
        ("train.lr=nan", "train.lr", "float"),
        ("train.lr=inf", "train.lr", "float"),
        ("model.conv_widths=8,x", "model.conv_widths", "int"),
    ],
)
def test_wrong_type_names_key_and_expected_type(item, key, expect):
    with pytest.raises(ConfigError) as e:
        load_preset("debug", [item])
    assert key in str(e.value) and expect in str(e.value)


@pytest.mark.parametrize(
    ("item", "key", "valid"),
    [
        ("model.dim=2", "model.dim", "[4, 4096]"),
        ("model.encoder=resnet", "model.encoder", "'conv', 'keypoints', 'vit', 'mlp'"),
        ("model.keypoints=0", "model.keypoints", "[1, 256]"),
        ("model.keypoint_convs=0", "model.keypoint_convs", "[1, 8]"),
        ("model.projector=linear", "model.projector", "'mlp' or 'none'"),
        ("model.pred_heads=5", "model.pred_heads", "divisor of model.dim=32"),
        ("model.conv_widths=8,-16", "model.conv_widths", "positive integers"),
        ("model.conv_widths=", "model.conv_widths", "positive integers"),
        ("model.pred_dropout=1.0", "model.pred_dropout", "[0, 1)"),
        ("data.history=0", "data.history", "[1, 64]"),
        ("data.val_fraction=1", "data.val_fraction", "(0, 1)"),
        ("data.augment_zoom=1.5", "data.augment_zoom", "[0, 1]"),
        ("data.augment_colour=-0.1", "data.augment_colour", "[0, 1]"),
        ("data.augment_dilate=5", "data.augment_dilate", "0..4"),
        ("train.batch_size=1", "train.batch_size", ">= 2"),
        ("train.lr=0", "train.lr", "(0, 1)"),
        ("train.device=tpu", "train.device", "'cuda:N'"),
        ("train.device=cuda:x", "train.device", "'cuda:N'"),
        ("loss.sigreg_weight=-0.1", "loss.sigreg_weight", ">= 0"),
        ("loss.sigreg_knots=2", "loss.sigreg_knots", ">= 3"),
        ("loss.invariance_weight=-1", "loss.invariance_weight", ">= 0"),
        ("eval.horizon=201", "eval.horizon", "[1, 200]"),
    ],
)
def test_out_of_range_names_key_and_valid_range(item, key, valid):
    with pytest.raises(ConfigError) as e:
        load_preset("debug", [item])
    msg = str(e.value)
    assert key in msg and valid in msg, msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    "build",
    [
        lambda: DataConfig(history=True),
        lambda: DataConfig(val_fraction=None),
        lambda: TrainConfig(lr="0.1"),
        lambda: TrainConfig(device=3),
        lambda: ModelConfig(pred_dropout="x"),
        lambda: ModelConfig(conv_widths=[8, 16]),  # a list would make the config unhashable
        lambda: LossConfig(sigreg_weight=None),
        lambda: EvalConfig(horizon="3"),
    ],
)
def test_direct_construction_with_wrong_types_is_a_config_error(build):
    with pytest.raises(ConfigError):
        build()


@pytest.mark.parametrize("name", ["debug", "laptop", "gpu"])
def test_round_trip_through_dict_and_json(name):
    cfg = load_preset(name, ["model.conv_widths=8,16,32", "train.lr=2.5e-4"])
    assert Config.from_dict(cfg.to_dict()) == cfg
    back = Config.from_dict(json.loads(cfg.to_json()))  # tuples become JSON lists and back
    assert back == cfg
    assert isinstance(back.model.conv_widths, tuple)
    assert hash(back) == hash(cfg)


def test_from_dict_partial_fills_defaults_and_refuses_unknown_keys():
    cfg = Config.from_dict({"model": {"dim": 64}})
    assert cfg.model.dim == 64 and cfg.train == TrainConfig()
    with pytest.raises(ConfigError, match=r"model\.nope"):
        Config.from_dict({"model": {"nope": 1}})
    with pytest.raises(ConfigError, match="bogus"):
        Config.from_dict({"bogus": {}})
    with pytest.raises(ConfigError, match="model"):
        Config.from_dict({"model": 3})
    with pytest.raises(ConfigError, match="JSON object"):
        Config.from_dict([1, 2])
    with pytest.raises(ConfigError, match="data.history"):
        Config.from_dict({"data": {"history": True}})  # JSON true is not an int


def test_configs_are_frozen():
    cfg = load_preset("debug")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.steps = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.model = ModelConfig()  # type: ignore[misc]
    assert cfg.train.steps == 20


def test_derived_values_are_not_written_back():
    cfg = load_preset("debug", ["data.history=4", "data.rollout=5"])
    assert cfg.data.window == 9
    assert "window" not in cfg.to_dict()["data"]
