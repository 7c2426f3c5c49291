"""A small viewer decoder: embedding (N, D) -> frame (N, H, W, 3) in [0, 1].

Trained afterwards on *frozen* latents, for viewing predicted rollouts only; it never
changes the encoder (LeWM reports that a pixel loss in training hurts planning).
"""

from __future__ import annotations

import torch
from torch import nn


class Decoder(nn.Module):
    def __init__(self, dim: int, image_size: int, width: int = 32):
        super().__init__()
        ups = 0
        while 4 * 2**ups < image_size:
            ups += 1
        if 4 * 2**ups != image_size:
            raise ValueError(
                f"the viewer decoder needs a power-of-two image size >= 4, got {image_size}"
            )
        self.width = width
        self.fc = nn.Linear(dim, width * 4 * 4 * 2)
        layers: list[nn.Module] = []
        c = width * 2
        for i in range(ups):
            cout = 3 if i == ups - 1 else max(width // 2, 8)
            layers.append(nn.ConvTranspose2d(c, cout, 4, stride=2, padding=1))
            if i < ups - 1:
                layers.append(nn.GELU())
            c = cout
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(len(z), self.width * 2, 4, 4)  # (N, C, 4, 4)
        return torch.sigmoid(self.net(h)).permute(0, 2, 3, 1)  # (N, H, W, 3)
