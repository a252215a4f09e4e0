"""SD-piXL's FFT regularizer: penalise the high-frequency part of the rendered image's spectrum."""

from __future__ import annotations

import math

import torch


def high_frequency_mask(height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """1 outside a disc of radius min(H, W) / (4 sqrt 2) around the centred zero frequency, else 0."""
    ys = torch.arange(height, device=device, dtype=torch.float32) - height / 2.0
    xs = torch.arange(width, device=device, dtype=torch.float32) - width / 2.0
    dist = torch.sqrt(ys[:, None] ** 2 + xs[None, :] ** 2)
    return (dist >= min(height, width) / (4 * math.sqrt(2))).float()


def fft_high_frequency_loss(image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean magnitude of the masked (high) frequencies of an (H, W, 3) image, over all channels."""
    h, w = image.shape[0], image.shape[1]
    if mask is None:
        mask = high_frequency_mask(h, w, image.device)
    spectrum = torch.fft.fftshift(torch.fft.fft2(image.permute(2, 0, 1).float()), dim=(-2, -1))
    return (spectrum.abs() * mask).sum() / (mask.sum() * image.shape[2] + 1e-8)
