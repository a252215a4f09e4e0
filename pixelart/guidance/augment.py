"""SD-piXL's input augmentation, applied identically to the rendered image and the control images.

Random grayscale, random perspective distortion and random horizontal flip keep the optimisation
from overfitting one view of the image. Written with plain torch ops (no torchvision) so that it
runs wherever torch does and stays differentiable for the rendered image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pixelart.config import AugmentConfig


def _grayscale(x: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True).expand_as(x)


def _homography(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """3x3 matrix H with H @ [dst, 1] ~ [src, 1] for four point pairs (normalised coordinates)."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst.tolist(), src.tolist()):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    a = torch.tensor(rows, dtype=torch.float64)
    b = torch.tensor(rhs, dtype=torch.float64)
    h = torch.linalg.solve(a, b)
    return torch.cat([h, torch.ones(1, dtype=torch.float64)]).view(3, 3)


def _perspective_grid(
    height: int, width: int, scale: float, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Sampling grid for a random perspective warp: each corner moves inwards by up to ``scale``/2."""
    corners = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], dtype=torch.float64)
    jitter = torch.rand(4, 2, generator=generator, dtype=torch.float64) * scale
    moved = corners - torch.sign(corners) * jitter
    hmat = _homography(corners, moved).to(device=device, dtype=torch.float32)
    ys = torch.linspace(-1 + 1 / height, 1 - 1 / height, height, device=device)
    xs = torch.linspace(-1 + 1 / width, 1 - 1 / width, width, device=device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx, gy, torch.ones_like(gx)], dim=-1) @ hmat.T
    return (pts[..., :2] / pts[..., 2:3]).unsqueeze(0)


def augment_same(
    images: list[torch.Tensor], config: AugmentConfig, generator: torch.Generator
) -> list[torch.Tensor]:
    """Apply one random draw of the augmentations to every (B, 3, H, W) image in the list.

    Random numbers come from ``generator`` (a CPU generator) so a seeded run repeats exactly.
    """
    if not config.enabled:
        return images
    draws = torch.rand(3, generator=generator).tolist()
    out = list(images)
    if draws[0] < config.grayscale_prob:
        out = [_grayscale(x) for x in out]
    if draws[1] < config.perspective_prob:
        h, w = out[0].shape[-2:]
        grid = _perspective_grid(h, w, config.perspective_scale, generator, out[0].device)
        out = [
            F.grid_sample(x, grid.to(x.dtype).expand(x.shape[0], -1, -1, -1), mode="bilinear",
                          padding_mode="zeros", align_corners=False)
            for x in out
        ]
    if draws[2] < config.hflip_prob:
        out = [x.flip(-1) for x in out]
    return out
