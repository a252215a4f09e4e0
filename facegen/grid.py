"""Sample grids (the training run's frames): one row per face: the input, each member's translation,
then each member's mask (mean over its K mask channels, white = translated, black = input kept)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def mask_to_rgb(masks: torch.Tensor) -> torch.Tensor:
    """(B, K, H, W) in [0, 1] → (B, 3, H, W) in [−1, 1], grey levels (K = 3 is also averaged)."""
    m = masks.mean(1, keepdim=True)
    return (m * 2 - 1).expand(-1, 3, -1, -1)


def sample_grid(faces: torch.Tensor, results: list[tuple[torch.Tensor, torch.Tensor]], tile: int) -> np.ndarray:
    """(rows · tile, (1 + 2N) · tile, 3) uint8 grid for N members' (images, masks)."""
    columns = [faces] + [img for img, _ in results] + [mask_to_rgb(m) for _, m in results]
    resized = [F.interpolate(c.detach().float().cpu(), size=(tile, tile), mode="bilinear", align_corners=False,
                             antialias=True) if c.shape[-1] != tile else c.detach().float().cpu() for c in columns]
    stacked = torch.stack(resized, 1)  # (B, cols, 3, t, t)
    b, cols = stacked.shape[:2]
    grid = stacked.permute(0, 3, 1, 4, 2).reshape(b * tile, cols * tile, 3)
    return ((grid.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
