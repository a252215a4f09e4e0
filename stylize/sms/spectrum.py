"""Progressive Spectrum Regularization (PSR): an L1 penalty on the low frequencies of the latent.

The 2-D DCT-II (orthonormal) of the current and source latents is masked to the coefficients (u, v)
with u + v <= c(t), c(t) = int(t / 500 * (h + w - 2)) as in the authors' code, so a large t keeps
most of the spectrum close to the source and a small t only its coarsest layout. The loss is
lambda * mean(|M * DCT(z) - M * DCT(z_src)|) over all coefficients (masked ones count as zeros, as
``torch.nn.L1Loss`` on the masked tensors does there). h and w are the latent's own height and width,
so non-square latents get a mask that spans their full spectrum.
"""

from __future__ import annotations

import math

import torch


def dct_matrix(n: int, *, device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The orthonormal DCT-II matrix C (n, n): X = C @ x transforms a length-n signal."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    c = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    c[0] /= math.sqrt(2.0)
    return c.to(device=device, dtype=dtype)


def dct_2d(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal 2-D DCT-II over the last two dimensions (any height and width), differentiable."""
    h, w = x.shape[-2:]
    ch = dct_matrix(h, device=x.device, dtype=x.dtype)
    cw = dct_matrix(w, device=x.device, dtype=x.dtype)
    return ch @ x @ cw.T


def cutoff(t: int, h: int, w: int, t_scale: float = 500.0) -> int:
    """c(t) = int(t / t_scale * (h + w - 2)), clipped to the largest u + v."""
    return min(int(t / t_scale * (h + w - 2)), h + w - 2)


def low_pass_mask(h: int, w: int, threshold: int, *, device: torch.device | None = None) -> torch.Tensor:
    """(h, w) float mask: 1 where u + v <= threshold (u the row frequency, v the column one)."""
    u = torch.arange(h, device=device)[:, None]
    v = torch.arange(w, device=device)[None, :]
    return (u + v <= threshold).float()


def psr_l1(latents: torch.Tensor, source: torch.Tensor, t: int, t_scale: float = 500.0) -> torch.Tensor:
    """mean |M(t) * (DCT(z) - DCT(z_src))| (unweighted: the loss adds lambda times this)."""
    h, w = latents.shape[-2:]
    mask = low_pass_mask(h, w, cutoff(t, h, w, t_scale), device=latents.device).to(latents.dtype)
    return ((dct_2d(latents) - dct_2d(source.to(latents.dtype))) * mask).abs().mean()
