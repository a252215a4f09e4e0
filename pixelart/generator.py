"""The SD-piXL image generator: one vector of logits over the palette per output pixel.

Rendering turns logits into colours by softmax or Gumbel-softmax with a temperature, optionally with
a straight-through argmax so the forward image is exactly palette colours while gradients flow
through the soft probabilities. The recorded ("hard") frame is always the argmax of the logits.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from workbench.errors import ConfigError

RENDER_MODES = ("gumbel", "softmax")
INIT_DISTANCES = ("l1", "l2")


class PixelGenerator(nn.Module):
    """Logits (H, W, K) over a fixed palette (K, 3) in [0, 1]; only the logits are optimised."""

    def __init__(self, logits: torch.Tensor, palette: torch.Tensor) -> None:
        super().__init__()
        if logits.ndim != 3 or logits.shape[-1] != palette.shape[0]:
            raise ValueError(f"logits {tuple(logits.shape)} do not match palette {tuple(palette.shape)}")
        self.logits = nn.Parameter(logits.detach().clone().float())
        self.register_buffer("palette", palette.detach().clone().float())

    @classmethod
    def from_image(
        cls, small_rgb: np.ndarray, palette: np.ndarray, *, distance: str = "l1"
    ) -> "PixelGenerator":
        """Initialise from the photo downsampled to the output size (uint8, or float in [0, 1]), as SD-piXL does.

        Each pixel's logits are its negative distance to every palette colour (times sqrt(K)); the
        logits are then centred ("balanced") and every pixel's vector is scaled to the mean norm, so
        no pixel starts out saturated while the nearest colour still wins the argmax.
        """
        if distance not in INIT_DISTANCES:
            raise ConfigError(f"unknown init distance '{distance}'; choose one of {INIT_DISTANCES}")
        small = np.asarray(small_rgb)
        scale = 255.0 if small.dtype == np.uint8 else 1.0
        img = torch.as_tensor(small.astype(np.float32) / scale)
        pal = torch.as_tensor(np.asarray(palette, dtype=np.float32) / 255.0)
        diff = img[:, :, None, :] - pal[None, None, :, :]
        dist = diff.abs().sum(-1) if distance == "l1" else diff.norm(dim=-1)
        logits = -dist * math.sqrt(pal.shape[0])
        gen = cls(logits, pal)
        with torch.no_grad():
            gen.balance()
            norms = gen.logits.norm(dim=-1, keepdim=True)
            gen.logits.mul_(norms.mean() / norms.clamp_min(1e-8))
        return gen

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the pixel art."""
        return int(self.logits.shape[0]), int(self.logits.shape[1])

    @torch.no_grad()
    def balance(self) -> None:
        """Centre each pixel's logits; softmax is unchanged, but logits cannot drift without bound."""
        self.logits.sub_(self.logits.mean(dim=-1, keepdim=True))

    def probabilities(
        self, *, mode: str = "gumbel", tau: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Per-pixel colour probabilities (H, W, K); Gumbel noise is drawn from ``generator``."""
        if mode == "softmax":
            return F.softmax(self.logits / tau, dim=-1)
        if mode == "gumbel":
            u = torch.rand(self.logits.shape, generator=generator, device=self.logits.device)
            gumbel = -torch.log(-torch.log(u.clamp(1e-10, 1.0 - 1e-7)))
            return F.softmax((self.logits + gumbel) / tau, dim=-1)
        raise ConfigError(f"unknown render mode '{mode}'; choose one of {RENDER_MODES}")

    def forward(
        self,
        *,
        mode: str = "gumbel",
        tau: float = 1.0,
        hard: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Render an (H, W, 3) image in [0, 1]; ``hard`` uses a straight-through argmax."""
        probs = self.probabilities(mode=mode, tau=tau, generator=generator)
        if hard:
            one_hot = F.one_hot(probs.argmax(dim=-1), probs.shape[-1]).to(probs.dtype)
            probs = one_hot + probs - probs.detach()
        return probs @ self.palette

    @torch.no_grad()
    def hard_indices(self) -> np.ndarray:
        """The current pixel art as palette indices (H, W) uint8: argmax of the logits, no noise."""
        return self.logits.argmax(dim=-1).to(torch.uint8).cpu().numpy()
