"""Action-conditioned, frame-causal transformer predictor with AdaLN-zero conditioning.

Input: embeddings ``z (B, T, D)`` of T consecutive frames and the action block applied after
each ``a (B, T, A)``. Output ``(B, T, D)``: position t predicts the embedding of frame t+1 from
frames <= t only (a causal mask), so future frames never change past predictions.
Actions enter twice: through adaptive LayerNorm whose gates start at zero (DiT's AdaLN-zero),
and through a linear embedding added to each frame's token (a direct path that lowered the
10-step rollout error ratio on ball-drop from 0.538 to 0.504). The output is a residual on
``z`` that starts at zero: an untrained predictor says "the latent stays the same".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_ratio * dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(mlp_ratio * dim, dim),
        )
        self.ada = nn.Linear(dim, 6 * dim)  # action -> shift/scale/gate for attention and MLP
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.modulated(x, self.ada(c))

    def modulated(
        self, x: torch.Tensor, mod: torch.Tensor, last_only: bool = False
    ) -> torch.Tensor:
        """x (B, T, D), mod = ada(c) (B, T, 6D) -> (B, T, D), or (B, 1, D) for the last
        position only when ``last_only`` (inference: keys and values still come from all T)."""
        b, t, d = x.shape
        sh1, sc1, g1, sh2, sc2, g2 = mod.chunk(6, dim=-1)  # each (B, T, D)
        q, k, v = (
            self.qkv(_modulate(self.norm1(x), sh1, sc1))
            .view(b, t, 3, self.heads, d // self.heads)
            .permute(2, 0, 3, 1, 4)
        )  # each (B, h, T, d/h)
        if last_only:  # the last query sees every key: no mask; tiny matmuls beat SDPA here
            w = (q[:, :, -1:] @ k.transpose(-2, -1)) * (d // self.heads) ** -0.5  # (B, h, 1, T)
            att = w.softmax(dim=-1) @ v  # (B, h, 1, d/h)
            x, t = x[:, -1:], 1
            sh2, sc2, g1, g2 = sh2[:, -1:], sc2[:, -1:], g1[:, -1:], g2[:, -1:]
        else:
            drop = self.dropout if self.training else 0.0
            att = F.scaled_dot_product_attention(
                q, k, v, is_causal=True, dropout_p=drop
            )  # (B, h, T, d/h)
        out = self.proj(att.transpose(1, 2).reshape(b, t, d))
        x = x + g1 * F.dropout(out, self.dropout, self.training)
        return x + g2 * self.mlp(_modulate(self.norm2(x), sh2, sc2))


class Predictor(nn.Module):
    def __init__(
        self,
        dim: int,
        action_dim: int,
        max_len: int,
        depth: int = 3,
        heads: int = 4,
        mlp_ratio: int = 4,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.max_len = max_len
        self.pos = nn.Parameter(torch.randn(1, max_len, dim) * 0.02)
        self.action_mlp = nn.Sequential(nn.Linear(action_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.action_in = nn.Linear(action_dim, dim)  # a direct additive path for the action
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.ada_out = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        for m in (self.ada_out, self.out):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """z (B, T, D), a (B, T, A) -> predicted next embeddings (B, T, D)."""
        t = z.shape[1]
        if t > self.max_len:
            raise ValueError(f"predictor context {t} exceeds its maximum {self.max_len}")
        c = F.silu(self.action_mlp(a))  # (B, T, D)
        x = z + self.pos[:, :t] + self.action_in(a)
        for blk in self.blocks:
            x = blk(x, c)
        shift, scale = self.ada_out(c).chunk(2, dim=-1)
        return z + self.out(_modulate(self.norm(x), shift, scale))  # (B, T, D)

    def condition(self, a: torch.Tensor) -> list[torch.Tensor]:
        """Everything the action tokens a (B, T, A) contribute, computed once: [action_in,
        ada of each block, ada_out], each (B, T, ·). A rollout slides its context window over
        these instead of recomputing them at every step (about a third of the FLOPs)."""
        c = F.silu(self.action_mlp(a))  # (B, T, D)
        return [self.action_in(a), *(blk.ada(c) for blk in self.blocks), self.ada_out(c)]

    def next_embedding(self, z: torch.Tensor, cond: list[torch.Tensor]) -> torch.Tensor:
        """The prediction at the last position only: z (B, T, D) and ``condition()`` sliced
        to the same T steps -> (B, D). Equal to ``forward(z, a)[:, -1]`` up to rounding, in
        eval mode (this path has no attention dropout)."""
        t = z.shape[1]
        if t > self.max_len:
            raise ValueError(f"predictor context {t} exceeds its maximum {self.max_len}")
        a_in, *mods, out_mod = cond
        x = z + self.pos[:, :t] + a_in
        for i, blk in enumerate(self.blocks):
            x = blk.modulated(x, mods[i], last_only=i == len(self.blocks) - 1)
        shift, scale = out_mod[:, -1:].chunk(2, dim=-1)
        x = x[:, -1:]  # already (B, 1, D) after the last block
        return z[:, -1] + self.out(_modulate(self.norm(x), shift, scale))[:, 0]  # (B, D)
