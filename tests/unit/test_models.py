"""World model: shapes, frame causality, identity at init, rollout == stepwise predict, seeding."""

from __future__ import annotations

import json

import pytest
import torch

from physjepa.config import load_preset
from physjepa.models.world_model import ModelSpec, WorldModel, build_world_model

B, T, D, A, H = 3, 5, 16, 2, 3  # batch, frames, embedding, action block, history
IMG = 16
SPECS = {
    "conv": ModelSpec((IMG, IMG, 3), A, H),
    "keypoints": ModelSpec((IMG, IMG, 3), A, H),
    "vit": ModelSpec((IMG, IMG, 3), A, H),
    "mlp": ModelSpec((6,), A, H),
}


def _model(encoder: str, seed: int = 0, history: int = H) -> WorldModel:
    cfg = load_preset(
        "debug",
        [
            f"model.encoder={encoder}",
            f"model.dim={D}",
            "model.conv_widths=4,8",
            "model.keypoints=5",
            "model.vit_patch=8",
            "model.vit_heads=2",
            "model.mlp_hidden=16",
            "model.projector_hidden=16",
            "model.pred_depth=2",
            "model.pred_heads=2",
            "model.pred_mlp_ratio=2",
        ],
    )
    spec = ModelSpec(SPECS[encoder].obs_shape, A, history)
    torch.manual_seed(seed)
    return build_world_model(cfg.model, spec)


def _obs(encoder: str, b: int, t: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    shape = SPECS[encoder].obs_shape
    if encoder == "mlp":
        return torch.randn(b, t, *shape, generator=g)
    return torch.randint(0, 256, (b, t, *shape), generator=g, dtype=torch.uint8)


def _scramble_predictor(model: WorldModel, seed: int = 1) -> WorldModel:
    """Give the zero-initialised AdaLN gates and output layer random values, so the
    predictor is no longer the identity and causality tests have something to detect."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.predictor.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return model


def _za(b: int = B, t: int = T, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, t, D, generator=g), torch.randn(b, t, A, generator=g)


# -- shapes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("encoder", ["conv", "keypoints", "vit", "mlp"])
def test_shapes(encoder):
    model = _model(encoder)
    obs = _obs(encoder, B, T)
    z = model.encode(obs)
    assert z.shape == (B, T, D) and z.dtype == torch.float32
    a = torch.randn(B, T, A)
    assert model.predict_all(z[:, :H], a[:, :H]).shape == (B, H, D)
    assert model.predict(z, a).shape == (B, D)  # a longer history is cut to the last H
    assert model.predict(z[:, :1], a[:, :1]).shape == (B, D)
    s, steps = 4, 6
    out = model.rollout(z[:, :H], torch.randn(B, s, steps, A), torch.randn(B, H - 1, A))
    assert out.shape == (B, s, steps, D)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("encoder", ["conv", "keypoints", "vit", "mlp"])
def test_encode_refuses_the_wrong_observation_shape(encoder):
    model = _model(encoder)
    bad = torch.zeros(B, T, 7, 7, 3) if encoder != "mlp" else torch.zeros(B, T, 5)
    with pytest.raises(ValueError, match="the model expects"):
        model.encode(bad)


@pytest.mark.parametrize(("convs", "field"), [(1, 12), (3, 28)])
def test_keypoint_maps_see_as_far_as_their_conv_stages_reach(convs, field):
    """Each 3x3 stage after the 4x4 stem widens what one map cell sees by 8 pixels
    (``model.keypoint_convs``): a pixel just inside that field changes the centre cell's
    response, one just outside does not."""
    from physjepa.models.encoders import KeypointEncoder, pixels_to_float

    torch.manual_seed(0)
    enc = KeypointEncoder(64, 8, (4, 8), keypoints=3, convs=convs).eval()
    convs3 = [m for m in enc.net if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs3) == convs
    x = torch.full((1, 64, 64, 3), 128.0)
    cell = lambda img: enc.net(pixels_to_float(img))[0, :, 8, 8]  # noqa: E731
    base = cell(x)
    # cell 8 covers pixels 32..35; its field spans (field - 4) / 2 pixels more on each side
    reach = (field - 4) // 2
    inside, outside = x.clone(), x.clone()
    inside[0, 32, 32 + 3 + reach] = 255.0
    outside[0, 32, 32 + 4 + reach] = 255.0
    assert (cell(inside) - base).abs().max() > 1e-6
    assert torch.equal(cell(outside), base)


def test_without_a_projector_the_latent_is_the_encoder_output_and_round_trips(tmp_path):
    """``model.projector=none``: no projector weights, the latent is the encoder's output
    (in train mode too: nothing normalises it by the batch), and a saved run loads back to
    the same latents (config.json carries the field; old runs default to 'mlp')."""
    from physjepa.config import Config
    from physjepa.training.checkpoint import load_run, save_config, save_weights

    cfg = load_preset("debug", ["model.encoder=keypoints", "model.projector=none"])
    spec = ModelSpec((IMG, IMG, 3), A, H)
    torch.manual_seed(0)
    model = build_world_model(cfg.model, spec)
    assert isinstance(model.projector, torch.nn.Identity)
    assert not any(n.startswith("projector.") for n, _ in model.named_parameters())
    obs = _obs("keypoints", B, T)
    flat = obs.reshape(B * T, *obs.shape[2:])
    for mode in (model.train, model.eval):
        mode()
        want = model.encoder(flat).view(B, T, -1)
        assert torch.equal(model.encode(obs), want)
    save_config(tmp_path, cfg, spec, {})
    save_weights(tmp_path, model, 0)
    loaded, lcfg, _ = load_run(tmp_path)
    assert isinstance(lcfg, Config) and lcfg.model.projector == "none"
    assert torch.equal(loaded.eval().encode(obs), model.eval().encode(obs))
    # a run saved before the field existed (no "projector" in its config.json) projects
    old = tmp_path / "old"
    old.mkdir()
    mlp_cfg = load_preset("debug", ["model.encoder=keypoints"])
    with_mlp = build_world_model(mlp_cfg.model, spec)
    save_config(old, mlp_cfg, spec, {})
    meta = json.loads((old / "config.json").read_text())
    del meta["config"]["model"]["projector"]
    (old / "config.json").write_text(json.dumps(meta))
    save_weights(old, with_mlp, 0)
    loaded_old, old_cfg, _ = load_run(old)
    assert old_cfg.model.projector == "mlp"
    assert torch.equal(loaded_old.eval().encode(obs), with_mlp.eval().encode(obs))


def test_the_token_latent_refuses_to_drop_its_projector():
    from physjepa.errors import ConfigError

    with pytest.raises(ConfigError, match="model.projector='none'.*model.latent='tokens'"):
        load_preset("debug", ["model.latent=tokens", "model.projector=none"])


def test_encode_is_per_frame_in_eval_mode():
    """In eval mode a frame's embedding doesn't depend on the other frames in the batch."""
    model = _model("conv").eval()
    obs = _obs("conv", B, T)
    z = model.encode(obs)
    z_one = model.encode(obs[1:2, 2:3])
    torch.testing.assert_close(z_one[0, 0], z[1, 2], rtol=1e-5, atol=1e-5)


def test_uint8_and_float_pixels_encode_alike():
    model = _model("conv").eval()
    obs = _obs("conv", 2, 2)
    torch.testing.assert_close(model.encode(obs), model.encode(obs.float()))


def test_encoding_float_pixels_leaves_the_input_untouched():
    model = _model("conv").eval()
    obs = _obs("conv", 2, 2).float()
    before = obs.clone()
    model.encode(obs)
    torch.testing.assert_close(obs, before)


# -- causality -------------------------------------------------------------------------------
@pytest.mark.parametrize("t", range(T - 1))  # t = T-1 has no future to change
def test_predictor_is_frame_causal(t):
    model = _scramble_predictor(_model("mlp", history=T)).eval()
    z, a = _za()
    z2, a2 = z.clone(), a.clone()
    z2[:, t + 1 :] += torch.randn_like(z2[:, t + 1 :]) * 3
    a2[:, t + 1 :] += torch.randn_like(a2[:, t + 1 :]) * 3
    with torch.no_grad():
        p, p2 = model.predict_all(z, a), model.predict_all(z2, a2)
    torch.testing.assert_close(p[:, : t + 1], p2[:, : t + 1], rtol=1e-5, atol=1e-5)
    # the future did change, and the predictor does see it there
    assert (p[:, t + 1 :] - p2[:, t + 1 :]).abs().max() > 1e-2


def test_action_at_t_changes_prediction_at_t():
    """Position t predicts frame t+1 from the action applied after frame t."""
    model = _scramble_predictor(_model("mlp", history=T)).eval()
    z, a = _za()
    a2 = a.clone()
    a2[:, 2] += 1.0
    with torch.no_grad():
        p, p2 = model.predict_all(z, a), model.predict_all(z, a2)
    torch.testing.assert_close(p[:, :2], p2[:, :2])
    assert (p[:, 2] - p2[:, 2]).abs().max() > 1e-3


@pytest.mark.parametrize("encoder", ["conv", "keypoints", "vit"])
def test_future_frames_never_change_past_predictions_end_to_end(encoder):
    model = _scramble_predictor(_model(encoder, history=T)).eval()
    if encoder == "keypoints":  # at init its readout is flat: sharpen it so frames differ
        with torch.no_grad():
            model.encoder.log_temp.fill_(3.0)
    obs = _obs(encoder, B, T, seed=0)
    obs2 = obs.clone()
    obs2[:, 3:] = _obs(encoder, B, T - 3, seed=9)
    a = torch.randn(B, T, A)
    with torch.no_grad():
        p = model.predict_all(model.encode(obs), a)
        p2 = model.predict_all(model.encode(obs2), a)
    torch.testing.assert_close(p[:, :3], p2[:, :3], rtol=1e-5, atol=1e-5)
    assert (p[:, 3:] - p2[:, 3:]).abs().max() > 1e-3


# -- initial behaviour and rollout -------------------------------------------------------------
@pytest.mark.parametrize("encoder", ["conv", "keypoints", "vit", "mlp"])
def test_untrained_predictor_returns_its_input(encoder):
    model = _model(encoder)  # train mode: dropout on, still the identity
    z, a = _za(t=H)
    torch.testing.assert_close(model.predict_all(z, a), z, rtol=0, atol=0)
    torch.testing.assert_close(model.predict(z, a), z[:, -1], rtol=0, atol=0)
    out = model.rollout(z, torch.randn(B, 2, 4, A))
    torch.testing.assert_close(out, z[:, None, None, -1].expand(B, 2, 4, D), rtol=0, atol=0)


def _stepwise(model, z_hist, actions, past):
    """The rollout written out by hand: one predict call per step and candidate."""
    b, s, t, _ = actions.shape
    out = torch.zeros(b, s, t, z_hist.shape[-1])
    for i in range(b):
        for j in range(s):
            zs = z_hist[i : i + 1]
            acts = torch.cat([past[i : i + 1], actions[i : i + 1, j, :1]], dim=1)
            for k in range(t):
                nxt = model.predict(zs, acts)  # (1, D)
                out[i, j, k] = nxt[0]
                zs = torch.cat([zs, nxt[:, None]], dim=1)[:, -model.history :]
                if k + 1 < t:
                    acts = torch.cat([acts, actions[i : i + 1, j, k + 1 : k + 2]], dim=1)
                    acts = acts[:, -model.history :]
    return out


def test_rollout_equals_stepwise_predict():
    model = _scramble_predictor(_model("mlp")).eval()
    g = torch.Generator().manual_seed(3)
    z_hist = torch.randn(2, H, D, generator=g)
    actions = torch.randn(2, 3, 4, A, generator=g)
    past = torch.randn(2, H - 1, A, generator=g)
    with torch.no_grad():
        got = model.rollout(z_hist, actions, past)
        expect = _stepwise(model, z_hist, actions, past)
    torch.testing.assert_close(got, expect, rtol=1e-4, atol=1e-5)
    # the candidates are rolled independently: different actions, different futures
    assert (got[:, 0] - got[:, 1]).abs().max() > 1e-3


def test_rollout_without_past_actions_uses_zeros():
    model = _scramble_predictor(_model("mlp")).eval()
    z_hist, _ = _za(b=2, t=H)
    actions = torch.randn(2, 2, 3, A)
    with torch.no_grad():
        torch.testing.assert_close(
            model.rollout(z_hist, actions), model.rollout(z_hist, actions, torch.zeros(2, H - 1, A))
        )


@pytest.mark.parametrize("h", [1, 2, 5])
def test_rollout_from_a_shorter_history_equals_stepwise_predict(h):
    model = _scramble_predictor(_model("mlp")).eval()  # history H = 3
    z_hist, _ = _za(b=2, t=h)
    actions = torch.randn(2, 2, 4, A)
    past = torch.randn(2, h - 1, A)
    with torch.no_grad():
        got = model.rollout(z_hist, actions, past)
        expect = _stepwise(model, z_hist, actions, past)
    torch.testing.assert_close(got, expect, rtol=1e-4, atol=1e-5)


def test_rollout_refuses_past_actions_of_the_wrong_length():
    model = _model("mlp").eval()
    z_hist, _ = _za(b=2, t=2)
    with pytest.raises(ValueError, match="needs 1"):
        model.rollout(z_hist, torch.randn(2, 2, 3, A), torch.randn(2, H - 1, A))


# -- seeding ---------------------------------------------------------------------------------
@pytest.mark.parametrize("encoder", ["conv", "keypoints", "vit", "mlp"])
def test_same_seed_same_init(encoder):
    a, b, c = _model(encoder, seed=0), _model(encoder, seed=0), _model(encoder, seed=1)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    assert any(not torch.equal(sa[k], sc[k]) for k in sa if sa[k].is_floating_point())


def test_build_refuses_mismatched_encoder_and_observations():
    cfg = load_preset("debug")
    with pytest.raises(ValueError, match="model.encoder=mlp"):
        build_world_model(cfg.model, ModelSpec((6,), A, H))
    cfg = load_preset("debug", ["model.encoder=mlp"])
    with pytest.raises(ValueError, match="model.encoder=conv"):
        build_world_model(cfg.model, ModelSpec((IMG, IMG, 3), A, H))
    cfg = load_preset("debug", ["model.encoder=vit", "model.vit_patch=5"])
    with pytest.raises(ValueError, match="vit_patch=5"):
        build_world_model(cfg.model, ModelSpec((IMG, IMG, 3), A, H))


def test_predictor_refuses_a_context_longer_than_it_was_built_for():
    model = _model("mlp")
    z, a = _za(t=H + 1)
    with pytest.raises(ValueError, match="exceeds its maximum"):
        model.predict_all(z, a)


# -- the keypoint encoder's readout ------------------------------------------------------------
class _Maps(torch.nn.Module):
    """Stands in for the keypoint encoder's convs: returns fixed maps (N, K, s, s)."""

    def __init__(self, maps: torch.Tensor):
        super().__init__()
        self.maps = maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maps.expand(len(x), -1, -1, -1)


def _disc(side: int, cx: float, cy: float, r: float) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(side) + 0.5, torch.arange(side) + 0.5, indexing="ij")
    return (((x - cx) ** 2 + (y - cy) ** 2) <= r * r).float()


def test_keypoints_read_where_a_blob_is_whatever_its_size():
    """A map that lights up a disc reads out the disc's centre, x then y, in [-1, 1] across
    the map, and a disc twice as wide at the same place reads the same; a disc elsewhere
    reads elsewhere. (The convs are replaced by fixed maps: this checks the readout.)"""
    from physjepa.models.encoders import KeypointEncoder

    enc = KeypointEncoder(64, 8, (4, 8), keypoints=3).eval()  # a 16 x 16 feature map
    with torch.no_grad():
        enc.log_temp.fill_(float(torch.log(torch.tensor(30.0))))  # sharp: ~all mass on the disc
    small, big = _disc(16, 4.0, 10.0, 1.5), _disc(16, 4.0, 10.0, 3.2)
    moved = _disc(16, 12.0, 5.0, 1.5)
    enc.net = _Maps(torch.stack([small, big, moved])[None])
    kp = enc.keypoints(torch.zeros(1, 64, 64, 3, dtype=torch.uint8))[0]  # (3, 2)
    expect = torch.tensor([4.0 / 16 * 2 - 1, 10.0 / 16 * 2 - 1])  # (-0.5, 0.25)
    torch.testing.assert_close(kp[0], expect, atol=0.01, rtol=0)
    torch.testing.assert_close(kp[1], expect, atol=0.01, rtol=0)
    torch.testing.assert_close(kp[2], torch.tensor([0.5, -0.375]), atol=0.01, rtol=0)
    assert enc(torch.zeros(2, 64, 64, 3, dtype=torch.uint8)).shape == (2, 8)


def test_keypoint_encoder_refuses_a_size_it_cannot_patchify():
    from physjepa.models.encoders import KeypointEncoder

    with pytest.raises(ValueError, match="divisible by 4"):
        KeypointEncoder(30, 8)
