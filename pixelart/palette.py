"""Choosing a palette for pixel art: k-means on a photo's pixels, and mapping pixels to a palette.

``.hex`` files and index-to-RGB live in ``workbench.palette``.

A palette is a ``(K, 3)`` uint8 array of RGB colours. Every pixel-art image in this project is stored
as palette indices, so every output uses palette colours only.
"""

from __future__ import annotations

import numpy as np

from workbench.errors import PaletteError

MIN_KMEANS_COLORS = 2
MAX_KMEANS_COLORS = 64
_KMEANS_SAMPLE = 100_000  # pixels: k-means on more adds time, not colours


def kmeans_palette(image: np.ndarray, colors: int = 16, *, seed: int = 0) -> np.ndarray:
    """K colours of an (H, W, 3) uint8 image by k-means in RGB, sorted dark to light.

    Fewer colours are returned when the image has fewer distinct colours than asked for.
    """
    if not MIN_KMEANS_COLORS <= colors <= MAX_KMEANS_COLORS:
        raise PaletteError(
            f"palette size {colors} is out of range: choose {MIN_KMEANS_COLORS} to "
            f"{MAX_KMEANS_COLORS} colours, or give a .hex palette file"
        )
    pixels = np.asarray(image, dtype=np.uint8).reshape(-1, 3)
    rng = np.random.default_rng(seed)
    if len(pixels) > _KMEANS_SAMPLE:
        pixels = pixels[rng.choice(len(pixels), _KMEANS_SAMPLE, replace=False)]
    distinct = np.unique(pixels, axis=0)
    if len(distinct) <= colors:
        return sort_palette(distinct)
    from sklearn.cluster import KMeans  # imported here: sklearn costs ~1.5 s to import

    km = KMeans(n_clusters=colors, n_init=4, random_state=seed).fit(pixels.astype(np.float32))
    centres = np.clip(np.rint(km.cluster_centers_), 0, 255).astype(np.uint8)
    return sort_palette(np.unique(centres, axis=0))


def sort_palette(palette: np.ndarray) -> np.ndarray:
    """Order colours by luminance so that the same colours always get the same indices."""
    palette = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    luma = palette.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    order = np.lexsort((palette[:, 2], palette[:, 1], palette[:, 0], luma))
    return palette[order]


def map_to_palette(image: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Indices (H, W) uint8 of the nearest palette colour (Euclidean RGB) of each pixel."""
    img = np.asarray(image, dtype=np.float32)[..., :3]
    pal = np.asarray(palette, dtype=np.float32)
    # ||a-b||^2 = |a|^2 - 2ab + |b|^2; |a|^2 is the same for every palette entry, so it is dropped
    scores = img.reshape(-1, 3) @ pal.T * -2.0 + (pal**2).sum(axis=1)
    return scores.argmin(axis=1).astype(np.uint8).reshape(img.shape[:2])
