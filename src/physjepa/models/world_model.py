"""The JEPA world model: an encoder, a projector and an action-conditioned predictor.

Contract (DESIGN.md):

- ``encode(obs (B, T, ...)) -> z (B, T, D)``
- ``predict(z (B, H, D), a (B, H, A)) -> z_next (B, D)``
- ``rollout(z_hist (B, H, D), actions (B, S, T, A)) -> z (B, S, T, D)``
- ``context_states(z (B, T, D), a (B, T, A)) -> (B, T, F)``: the predictor's state at each
  frame (what the hidden-param probes read, :mod:`physjepa.metrics.params`)

``A`` is the action *block* size (frameskip x raw action size). With proprioception
(``model.proprio``, ``spec.proprio_dim`` = P > 0) ``encode(obs, proprio (B, T, P))`` appends
the standardised proprio to the encoder's embedding, so ``D = dim + P`` and the predictor
predicts both; ``encode_pixels`` and ``cost_part`` give the encoder's part alone (what a
planning cost compares with a goal frame). With a token latent
(``model.latent='tokens'``) ``D`` is ``tokens x dim``, the frame's patch tokens concatenated,
so a squared L2 over ``D`` is the sum over tokens and every user of ``z`` works unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from physjepa.errors import UserError
from physjepa.models.encoders import ConvTokenEncoder, Projector, TokenProjector, build_encoder
from physjepa.models.predictor import Predictor, TokenPredictor


@dataclass(frozen=True)
class ModelSpec:
    """What a model needs to be rebuilt from its weights: saved beside them in config.json."""

    obs_shape: tuple[int, ...]
    action_dim: int
    history: int
    proprio_dim: int = 0
    """Width of the proprio vector appended to each frame's embedding (0: none)."""


class WorldModel(nn.Module):
    def __init__(
        self,
        encoder: nn.Module,
        projector: nn.Module,
        predictor: Predictor | TokenPredictor,
        spec: ModelSpec,
        cost_metric_width: int = 0,
    ):
        super().__init__()
        self.encoder, self.projector, self.predictor, self.spec = (
            encoder,
            projector,
            predictor,
            spec,
        )
        if spec.proprio_dim:  # the training data's moments, set before training, saved
            self.register_buffer("proprio_mean", torch.zeros(spec.proprio_dim))
            self.register_buffer("proprio_std", torch.ones(spec.proprio_dim))
        if cost_metric_width:  # model.cost_metric='step': fitted after training, saved
            self.register_buffer("cost_whitener", torch.eye(cost_metric_width))

    @property
    def history(self) -> int:
        return self.spec.history

    def set_proprio_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Standardise the proprio channels with the training data's moments (a constant
        channel keeps std 1)."""
        self.proprio_mean.copy_(mean)
        self.proprio_std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))

    def encode_pixels(self, obs: torch.Tensor) -> torch.Tensor:
        """The encoder's part of the latent: obs (B, T, *obs_shape) -> (B, T, dim)."""
        b, t = obs.shape[:2]
        if tuple(obs.shape[2:]) != tuple(self.spec.obs_shape):
            raise ValueError(
                f"observations have shape {tuple(obs.shape[2:])}, "
                f"the model expects {tuple(self.spec.obs_shape)}"
            )
        z = self.projector(self.encoder(obs.reshape(b * t, *obs.shape[2:])))  # (B*T, dim)
        return z.view(b, t, -1)

    def encode(self, obs: torch.Tensor, proprio: torch.Tensor | None = None) -> torch.Tensor:
        """obs (B, T, *obs_shape) [, proprio (B, T, P)] -> z (B, T, D)."""
        z = self.encode_pixels(obs)
        p = self.spec.proprio_dim
        if not p:
            return z
        if proprio is None:
            raise UserError(
                "this run was trained with model.proprio=true: give the proprio reading of "
                "every frame beside it (this command does not read proprioception; retrain "
                "without model.proprio to use it)"
            )
        if tuple(proprio.shape) != (*z.shape[:2], p):
            raise UserError(
                f"proprio has shape {tuple(proprio.shape)}, the model expects "
                f"{(*z.shape[:2], p)} (one reading of {p} values per frame)"
            )
        x = (proprio.to(z) - self.proprio_mean.to(z)) / self.proprio_std.to(z)
        return torch.cat([z, x], dim=-1)

    def cost_part(self, z: torch.Tensor) -> torch.Tensor:
        """The encoder's part of a latent (..., D) -> (..., dim): what the camera sees, which
        a planning cost compares with a goal frame's ``encode_pixels``."""
        p = self.spec.proprio_dim
        return z[..., : z.shape[-1] - p] if p else z

    def cost_embed(self, z: torch.Tensor) -> torch.Tensor:
        """The encoder's part of a latent (..., dim) -> the space whose squared Euclidean
        distance is the planning cost: itself, or whitened (``model.cost_metric='step'``)."""
        w = getattr(self, "cost_whitener", None)
        return z if w is None else z @ w.to(z)

    def predict_all(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Teacher-forced: z (B, T, D), a (B, T, A) -> prediction of z[:, t+1] at every t
        (B, T, D)."""
        return self.predictor(z, a)

    def predict(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """z (B, H, D) history, a (B, H, A) action after each -> next embedding (B, D)."""
        return self.predictor(z[:, -self.history :], a[:, -self.history :])[:, -1]

    def context_states(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """The predictor's state at every frame of a sequence of any length: z (B, T, D),
        a (B, T, A) -> (B, T, F) (F = D; ``tokens x dim`` with a token latent).

        Position t holds the last block's output at frame t (what the prediction of frame
        t+1 is read from) with the context the model was trained on: frames
        ``max(0, t - history + 1) .. t`` and their actions. The predictor's learned positions
        stop at ``history``, so a longer sequence is covered by sliding that context along
        it, one window per frame, never by positions it was not trained on."""
        h, t = self.history, z.shape[1]
        first = self.predictor.states(z[:, :h], a[:, :h])  # (B, min(T, h), F)
        if t <= h:
            return first
        b = z.shape[0]
        zs = z.unfold(1, h, 1)[:, 1:].transpose(-1, -2)  # (B, T-h, h, D): windows ending at h..
        acts = a.unfold(1, h, 1)[:, 1:].transpose(-1, -2)  # (B, T-h, h, A)
        last = self.predictor.states(
            zs.reshape(b * (t - h), h, -1), acts.reshape(b * (t - h), h, -1)
        )[:, -1]  # (B*(T-h), F)
        return torch.cat([first, last.view(b, t - h, -1)], dim=1)  # (B, T, F)

    def rollout(
        self, z_hist: torch.Tensor, actions: torch.Tensor, past_actions: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Roll S candidate action sequences forward from one history per batch element.

        z_hist (B, h, D), any h >= 1 (the model uses its last ``history``); actions
        (B, S, T, A), applied after the last history frame and then after each predicted
        frame; past_actions (B, h-1, A), the actions applied after the earlier history frames
        (zeros when unknown). Inference only: the cached path skips dropout. Returns z
        (B, S, T, D): z[:, :, i] is the embedding predicted after actions[:, :, i].
        """
        b, s, t, adim = actions.shape
        h = z_hist.shape[1]
        if past_actions is None:
            past_actions = actions.new_zeros(b, h - 1, adim)
        if past_actions.shape[1] != h - 1:
            raise ValueError(
                f"past_actions holds {past_actions.shape[1]} blocks; a history of {h} frames "
                f"needs {h - 1} (the blocks applied between them)"
            )
        zs = z_hist.unsqueeze(1).expand(b, s, h, -1).reshape(b * s, h, -1)  # (B*S, H, D)
        acts = torch.cat(
            [past_actions.unsqueeze(1).expand(b, s, h - 1, adim), actions], dim=2
        ).reshape(b * s, h - 1 + t, adim)
        zs = zs[:, -self.history :]
        cond = self.predictor.condition(acts)  # action terms of every step, computed once
        out = []
        for i in range(t):
            lo, hi = i + h - zs.shape[1], i + h  # the actions after each context frame
            z_next = self.predictor.next_embedding(zs, [c[:, lo:hi] for c in cond])  # (B*S, D)
            out.append(z_next)
            zs = torch.cat([zs, z_next[:, None]], dim=1)[:, -self.history :]
        return torch.stack(out, dim=1).view(b, s, t, -1)


def build_world_model(model_cfg, spec: ModelSpec) -> WorldModel:
    """A fresh model from a :class:`physjepa.config.ModelConfig` and a :class:`ModelSpec`."""
    c = model_cfg
    if spec.proprio_dim and c.latent != "vector":
        raise ValueError("proprioception needs model.latent='vector'")
    if c.latent == "tokens":
        if len(spec.obs_shape) != 3 or spec.obs_shape[0] != spec.obs_shape[1]:
            raise ValueError(
                f"model.latent='tokens' needs square (H, W, 3) pixels, got {tuple(spec.obs_shape)}"
            )
        grid = c.token_grid
        tok_pred = TokenPredictor(
            c.dim,
            grid * grid,
            spec.action_dim,
            spec.history,
            c.pred_depth,
            c.pred_heads,
            c.pred_mlp_ratio,
            c.pred_dropout,
        )
        return WorldModel(
            ConvTokenEncoder(spec.obs_shape[0], c.dim, tuple(c.conv_widths), grid),
            TokenProjector(c.dim, c.projector_hidden),
            tok_pred,
            spec,
        )
    enc = build_encoder(
        c.encoder,
        tuple(spec.obs_shape),
        c.dim,
        conv_widths=tuple(c.conv_widths),
        vit_patch=c.vit_patch,
        vit_depth=c.vit_depth,
        vit_heads=c.vit_heads,
        mlp_hidden=c.mlp_hidden,
        keypoints=c.keypoints,
        keypoint_convs=c.keypoint_convs,
    )
    pred = Predictor(
        c.dim,
        spec.action_dim,
        spec.history,
        c.pred_depth,
        c.pred_heads,
        c.pred_mlp_ratio,
        c.pred_dropout,
        in_dim=c.dim + spec.proprio_dim,
    )
    proj = Projector(c.dim, c.projector_hidden) if c.projector == "mlp" else nn.Identity()
    return WorldModel(enc, proj, pred, spec, c.dim if c.cost_metric == "step" else 0)
