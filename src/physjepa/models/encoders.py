"""Observation encoders: one embedding vector per frame (or a grid of patch tokens).

Every encoder maps a batch of single observations to features ``(N, D)``; the world model
adds the BatchNorm projector (LeWM reports it important for stability) and handles time.
Pixel encoders take ``uint8`` frames ``(N, H, W, 3)`` and normalise them themselves, so
callers pass raw observations.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: Encoders that read pixels (the others read vectors).
PIXEL_ENCODERS = ("conv", "keypoints", "vit")


def pixels_to_float(x: torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) uint8 or float in [0, 255] -> (N, 3, H, W) float in [-0.5, 0.5].

    The result is a channels-last view (no copy), which the CPU convolutions prefer.
    """
    y = x.to(torch.get_default_dtype())  # float32 unless a float64 check asked for more
    y = y.mul_(1.0 / 255.0) if y is not x else y * (1.0 / 255.0)  # never modify the caller's tensor
    return y.sub_(0.5).permute(0, 3, 1, 2)


class ConvEncoder(nn.Module):
    """Small conv net: a 4x4 patchify stem, stride-2 stages, then a linear map to ``dim``.

    Cheap enough to train at thousands of frames per second on two CPU cores at 64x64.
    """

    def __init__(self, image_size: int, dim: int, widths: tuple[int, ...] = (32, 64, 128)):
        super().__init__()
        if image_size % (4 * 2 ** (len(widths) - 1)) != 0:
            raise ValueError(
                f"image size {image_size} must be divisible by {4 * 2 ** (len(widths) - 1)} "
                f"for {len(widths)} conv stages"
            )
        layers: list[nn.Module] = [
            nn.Conv2d(3, widths[0], 4, stride=4),
            nn.BatchNorm2d(widths[0]),
            nn.GELU(),
        ]
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [
                nn.Conv2d(cin, cout, 3, stride=2, padding=1),
                nn.BatchNorm2d(cout),
                nn.GELU(),
            ]
        self.net = nn.Sequential(*layers)
        side = image_size // (4 * 2 ** (len(widths) - 1))
        self.head = nn.Linear(widths[-1] * side * side, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.net(pixels_to_float(x))  # (N, C, s, s)
        return self.head(h.flatten(1))  # (N, D)


class ConvTokenEncoder(nn.Module):
    """The conv encoder's feature map as a ``grid x grid`` set of patch tokens: (N, grid², dim).

    Each token is a linear map of one cell of the last stage (average-pooled when the map is
    finer than the grid), so it describes its own region of the frame: an object that the
    action does not move still owns tokens of its own.
    """

    def __init__(
        self, image_size: int, dim: int, widths: tuple[int, ...] = (32, 64, 128), grid: int = 4
    ):
        super().__init__()
        conv = ConvEncoder(image_size, dim, widths)  # checks the image size
        self.net = conv.net
        side = image_size // (4 * 2 ** (len(widths) - 1))
        if side % grid != 0:
            raise ValueError(
                f"the conv encoder's {side}x{side} feature map does not divide into a "
                f"{grid}x{grid} token grid; choose model.token_grid dividing {side}"
            )
        self.pool, self.grid = side // grid, grid
        self.head = nn.Linear(widths[-1], dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.net(pixels_to_float(x))  # (N, C, s, s)
        if self.pool > 1:
            h = F.avg_pool2d(h, self.pool)  # (N, C, grid, grid)
        return self.head(h.flatten(2).transpose(1, 2))  # (N, grid², dim)


class KeypointEncoder(nn.Module):
    """Spatial-softmax keypoints (Levine et al. 2016): where things are, not how big they look.

    The conv encoder's 4x4 patchify stem and stride-1 3x3 conv stages (``widths[1:]``, then
    ``convs - 1`` more) keep an ``image_size / 4`` feature map; a 1x1 conv gives ``keypoints``
    maps, and a softmax over each map's pixels (a learned temperature) turns it into the
    expected (x, y) of what that map responds to, in [-1, 1]. An MLP maps the
    ``2 * keypoints`` coordinates to ``dim``. A blob drawn bigger or smaller activates more or
    fewer pixels around the same centre, so its keypoint stays put: the features that reach
    the predictor carry positions, not drawn sizes (the size gap of the VoE suite's OOD split).
    """

    def __init__(
        self,
        image_size: int,
        dim: int,
        widths: tuple[int, ...] = (16, 32),
        keypoints: int = 32,
        hidden: int = 256,
        convs: int = 1,
    ):
        super().__init__()
        if image_size % 4 != 0:
            raise ValueError(f"image size {image_size} must be divisible by 4 for keypoints")
        layers: list[nn.Module] = [
            nn.Conv2d(3, widths[0], 4, stride=4),
            nn.BatchNorm2d(widths[0]),
            nn.GELU(),
        ]
        # the widths' stages, then ``convs - 1`` more of the last width (convs=1: as before)
        chans = list(widths) + [widths[-1]] * (convs - 1)
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.GELU()]
        layers.append(nn.Conv2d(chans[-1], keypoints, 1))
        self.net = nn.Sequential(*layers)
        side = image_size // 4
        grid = (torch.arange(side, dtype=torch.float32) + 0.5) / side * 2 - 1  # cell centres
        self.register_buffer("grid", grid, persistent=False)
        self.log_temp = nn.Parameter(torch.zeros(()))
        self.head = nn.Sequential(
            nn.Linear(2 * keypoints, hidden), nn.GELU(), nn.Linear(hidden, dim)
        )

    def keypoints(self, x: torch.Tensor) -> torch.Tensor:
        """(N, H, W, 3) frames -> (N, K, 2) expected (x, y) per keypoint map, in [-1, 1]."""
        h = self.net(pixels_to_float(x))  # (N, K, s, s)
        n, k, s, _ = h.shape
        p = torch.softmax(h.flatten(2) * self.log_temp.exp(), dim=-1).view(n, k, s, s)
        g = self.grid.to(p.dtype)
        return torch.stack([(p.sum(2) * g).sum(-1), (p.sum(3) * g).sum(-1)], dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.keypoints(x).flatten(1))  # (N, D)


class ViTEncoder(nn.Module):
    """A small ViT with a CLS token; the CLS output is the frame embedding (as in LeWM)."""

    def __init__(self, image_size: int, dim: int, patch: int = 8, depth: int = 4, heads: int = 4):
        super().__init__()
        if image_size % patch != 0:
            raise ValueError(
                f"image size {image_size} must be divisible by model.vit_patch={patch}"
            )
        n = (image_size // patch) ** 2
        self.patch = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            dim, heads, 4 * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch(pixels_to_float(x)).flatten(2).transpose(1, 2)  # (N, P, D)
        tokens = torch.cat([self.cls.expand(len(p), -1, -1), p], dim=1) + self.pos  # (N, P+1, D)
        return self.norm(self.blocks(tokens)[:, 0])  # (N, D)


class MLPEncoder(nn.Module):
    """For vector observations (sensor readings, states): (N, S) -> (N, D).

    Channels are standardised first with ``obs_mean`` / ``obs_std`` (buffers saved with the
    weights; training sets them from its training episodes), so gauges reading 1e-3 and
    counters reading 10 weigh alike."""

    def __init__(self, in_dim: int, dim: int, hidden: int = 256):
        super().__init__()
        self.register_buffer("obs_mean", torch.zeros(in_dim))
        self.register_buffer("obs_std", torch.ones(in_dim))
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden),
            nn.GELU(),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Linear(hidden, dim),
        )

    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Standardise inputs with these per-channel moments; a channel that barely varies
        (std below 1e-6 of its size) keeps scale 1 rather than blowing float noise up."""
        mean = torch.as_tensor(mean, dtype=self.obs_mean.dtype)
        std = torch.as_tensor(std, dtype=self.obs_std.dtype)
        self.obs_mean.copy_(mean)
        self.obs_std.copy_(torch.where(std > 1e-6 * (mean.abs() + 1), std, torch.ones_like(std)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.obs_mean.dtype)
        return self.net((x - self.obs_mean) / self.obs_std)


class Projector(nn.Module):
    """MLP with BatchNorm from encoder features to the embedding SIGReg shapes (LeWM)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.bn, self.fc2 = (
            nn.Linear(dim, hidden),
            nn.BatchNorm1d(hidden),
            nn.Linear(hidden, dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.bn(self.fc1(x))))


class TokenProjector(Projector):
    """The projector applied to every token alike: (N, K, dim) -> (N, K * dim)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, k, d = x.shape
        return super().forward(x.reshape(n * k, d)).view(n, k * d)


def build_encoder(kind: str, obs_shape: tuple[int, ...], dim: int, **kw) -> nn.Module:
    """Encoder ``kind`` ('conv', 'keypoints', 'vit', 'mlp') for observations of shape
    ``obs_shape``."""
    if kind in PIXEL_ENCODERS:
        if len(obs_shape) != 3 or obs_shape[-1] != 3 or obs_shape[0] != obs_shape[1]:
            raise ValueError(
                f"encoder {kind!r} needs square (H, W, 3) pixels, got observations of shape "
                f"{obs_shape}; use model.encoder=mlp for vectors"
            )
        if kind == "conv":
            return ConvEncoder(obs_shape[0], dim, kw.get("conv_widths", (16, 32, 64)))
        if kind == "keypoints":
            return KeypointEncoder(
                obs_shape[0],
                dim,
                kw.get("conv_widths", (16, 32))[:2],
                kw.get("keypoints", 32),
                convs=kw.get("keypoint_convs", 1),
            )
        return ViTEncoder(
            obs_shape[0],
            dim,
            kw.get("vit_patch", 8),
            kw.get("vit_depth", 4),
            kw.get("vit_heads", 4),
        )
    if kind == "mlp":
        if len(obs_shape) != 1:
            raise ValueError(
                f"encoder 'mlp' needs vector observations, got shape {obs_shape}; "
                "use model.encoder=conv for pixels"
            )
        return MLPEncoder(obs_shape[0], dim, kw.get("mlp_hidden", 256))
    raise ValueError(f"unknown encoder {kind!r}; valid: conv, keypoints, vit, mlp")
