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
_COARSE_BITS, _FINE_BITS = 5, 6  # histogram bins per channel for the k-means starts / the final fit
_KMEANS_INITS = 8  # greedy k-means++ starts, each refined briefly; the lowest weighted squared error wins
_KMEANS_START_ITERS = 10
_KMEANS_MAX_ITERS = 300
_KMEANS_RTOL = 1e-4  # stop once an iteration lowers the weighted squared error by less than this fraction


def kmeans_palette(image: np.ndarray, colors: int = 16, *, seed: int = 0) -> np.ndarray:
    """K colours of an (H, W, 3) uint8 image by k-means in RGB, sorted dark to light.

    Fewer colours are returned when the image has fewer distinct colours than asked for. The k-means
    runs on the image's colour histogram (each occupied bin at the mean colour of its pixels, weighted
    by their count): a few thousand points instead of every pixel, so the app's preview is instant.
    Eight greedy k-means++ starts (scikit-learn's seeding) are tried on a coarse histogram; the best is
    fitted on a finer one. The palette maps the photo with the same colour error as scikit-learn's
    k-means with 4 inits on every pixel, or a lower one (bench/bench_preview.py).
    """
    if not MIN_KMEANS_COLORS <= colors <= MAX_KMEANS_COLORS:
        raise PaletteError(
            f"palette size {colors} is out of range: choose {MIN_KMEANS_COLORS} to "
            f"{MAX_KMEANS_COLORS} colours, or give a .hex palette file"
        )
    pixels = np.asarray(image, dtype=np.uint8).reshape(-1, 3)
    packed = (pixels[:, 0].astype(np.int32) << 16) | (pixels[:, 1].astype(np.int32) << 8) | pixels[:, 2]
    distinct = np.unique(packed)
    if len(distinct) <= colors:
        return sort_palette(np.stack([distinct >> 16, (distinct >> 8) & 255, distinct & 255], 1))
    rng = np.random.default_rng(seed)
    points, weights = colour_histogram(pixels, _COARSE_BITS)
    starts = [_lloyd(points, weights, _greedy_kmeans_pp(points, weights, colors, rng), _KMEANS_START_ITERS)
              for _ in range(_KMEANS_INITS)]
    best = min(starts, key=lambda fit: fit[1])[0]
    centres, _ = _lloyd(*colour_histogram(pixels, _FINE_BITS), best, _KMEANS_MAX_ITERS)
    return sort_palette(np.unique(np.clip(np.rint(centres), 0, 255).astype(np.uint8), axis=0))


def colour_histogram(pixels: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean colour, pixel count) of every occupied ``bits``-per-channel bin of (N, 3) uint8 pixels."""
    q = pixels >> (8 - bits)
    bins = (q[:, 0].astype(np.int64) << (2 * bits)) | (q[:, 1].astype(np.int64) << bits) | q[:, 2]
    _, inverse, counts = np.unique(bins, return_inverse=True, return_counts=True)
    sums = np.stack([np.bincount(inverse, weights=pixels[:, c], minlength=len(counts)) for c in range(3)], 1)
    return sums / counts[:, None], counts.astype(np.float64)


def _lloyd(points: np.ndarray, weights: np.ndarray, centres: np.ndarray, iters: int) -> tuple[np.ndarray, float]:
    """Lloyd's iterations on weighted points -> (centres, weighted squared error); an empty cluster
    keeps its centre."""
    centres = centres.copy()
    k, error, previous = len(centres), np.inf, np.inf
    for _ in range(iters):
        d2 = _sq_dist(points, centres)
        labels = d2.argmin(1)
        error = float((d2[np.arange(len(points)), labels] * weights).sum())
        if previous - error <= _KMEANS_RTOL * error:
            break
        previous = error
        mass = np.bincount(labels, weights=weights, minlength=k)
        filled = mass > 0
        for c in range(3):
            centres[filled, c] = np.bincount(labels, weights=weights * points[:, c], minlength=k)[filled] / mass[filled]
    return centres, error


def _greedy_kmeans_pp(points: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy k-means++ seeding (scikit-learn's): each new centre is the best of 2 + ln(k) candidates
    drawn in proportion to weight x squared distance."""
    trials = 2 + int(np.log(k))
    centres = [points[rng.choice(len(points), p=weights / weights.sum())]]
    d2 = np.square(points - centres[0]).sum(1)
    for _ in range(1, k):
        p = d2 * weights
        if p.sum() <= 0:  # every point already is a centre
            break
        candidates = rng.choice(len(points), size=trials, p=p / p.sum())
        options = np.minimum(d2[None, :], _sq_dist(points, points[candidates]).T)
        best = int((options * weights).sum(1).argmin())
        centres.append(points[candidates[best]])
        d2 = options[best]
    return np.array(centres, dtype=np.float64)


def _sq_dist(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(N, K) squared distances."""
    return (np.square(points).sum(1)[:, None] - 2.0 * points @ centres.T + np.square(centres).sum(1)[None, :]).clip(0)


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
