"""Scalar maps as pictures: a viridis-like colour map (no plotting library) and a nearest-neighbour
enlargement that keeps each cell of a coarse map (e.g. one latent pixel) visible as a block."""

from __future__ import annotations

import numpy as np

# matplotlib's viridis at 0, 0.1, ..., 1 (perceptually uniform, readable in grey, colour-blind safe);
# linear interpolation between these 11 anchors stays within a few levels of the full 256-entry table
VIRIDIS = np.array([
    (68, 1, 84), (72, 36, 117), (65, 68, 135), (53, 95, 141), (42, 120, 142), (33, 145, 140),
    (34, 168, 132), (68, 191, 112), (122, 209, 81), (189, 223, 38), (253, 231, 37),
], dtype=np.float64)


def colorize(values: np.ndarray, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """(h, w) values -> (h, w, 3) uint8 viridis colours, ``lo`` dark purple to ``hi`` yellow (NaN: black)."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"colorize takes a 2-D map, got shape {v.shape}")
    span = hi - lo if hi > lo else 1.0
    t = np.clip((np.nan_to_num(v, nan=lo) - lo) / span, 0.0, 1.0) * (len(VIRIDIS) - 1)
    i = np.minimum(t.astype(np.int64), len(VIRIDIS) - 2)
    frac = (t - i)[..., None]
    rgb = VIRIDIS[i] * (1.0 - frac) + VIRIDIS[i + 1] * frac
    rgb[np.isnan(v)] = 0.0
    return np.round(rgb).astype(np.uint8)


def enlarge_nearest(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An (h, w[, c]) image at ``size`` = (H, W) by nearest neighbour: each source cell a solid block."""
    image = np.asarray(image)
    h, w = image.shape[:2]
    rows = np.minimum(np.arange(size[0]) * h // max(1, size[0]), h - 1)
    cols = np.minimum(np.arange(size[1]) * w // max(1, size[1]), w - 1)
    return image[rows][:, cols]
