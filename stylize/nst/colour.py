"""Keeping the content image's colours: luminance-only transfer by a YIQ channel swap.

As neural-style's ``-original_colors 1`` does (and the luminance option of Gatys et al., "Preserving
Color in Neural Artistic Style Transfer", 2016, which uses YIQ), the result keeps the luminance Y of
the stylised image and takes the chroma I, Q of the content image. Applied to every recorded frame,
so the optimisation itself is unchanged and the loss curves stay those of the colour transfer.
"""

from __future__ import annotations

import numpy as np

# NTSC YIQ (the matrix of colorsys / Gatys et al. 2016).
RGB_TO_YIQ = np.array([
    [0.299, 0.587, 0.114],
    [0.596, -0.274, -0.322],
    [0.211, -0.523, 0.312],
])
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)


def rgb_to_yiq(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB in [0, 1] -> (..., 3) YIQ."""
    return np.asarray(rgb, dtype=np.float64) @ RGB_TO_YIQ.T


def yiq_to_rgb(yiq: np.ndarray) -> np.ndarray:
    """(..., 3) YIQ -> (..., 3) RGB (not clipped)."""
    return np.asarray(yiq, dtype=np.float64) @ YIQ_TO_RGB.T


def keep_colours(stylised: np.ndarray, content: np.ndarray) -> np.ndarray:
    """uint8 RGB with the luminance of ``stylised`` and the chroma of ``content`` (same size, uint8)."""
    y = rgb_to_yiq(stylised / 255.0)[..., :1]
    iq = rgb_to_yiq(content / 255.0)[..., 1:]
    rgb = yiq_to_rgb(np.concatenate([y, iq], axis=-1))
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
