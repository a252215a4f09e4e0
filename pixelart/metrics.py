"""Per-step metrics of seed 000 §3: L2 norm to the photo, its increase rate, semantic similarity.

Both images are compared at one fixed working resolution in RGB [0, 1]: the pixel art upscaled with
nearest neighbour, the photo resized with a high-quality filter, both to ``NORM_LONG_SIDE`` pixels on
the long side with the pixel art's aspect ratio (256 x 256 for square output).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import numpy as np

if TYPE_CHECKING:  # torch is only needed once an encoder is used
    from pixelart.models.loaded import SemanticEncoder

NORM_LONG_SIDE = 256


def nearest_upscale(indices: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an (H, W[, C]) array to ``size`` (H', W')."""
    h, w = indices.shape[:2]
    rows = (np.arange(size[0]) * h) // size[0]
    cols = (np.arange(size[1]) * w) // size[1]
    return indices[rows][:, cols]


def art_at_working(indices: np.ndarray, palette: np.ndarray, work_size: tuple[int, int]) -> np.ndarray:
    """Pixel art (indices) as float32 RGB in [0, 1] at the working resolution."""
    rgb = np.asarray(palette, dtype=np.float32)[nearest_upscale(indices, work_size)] / 255.0
    return rgb


def l2_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b||_2 over all pixels and channels."""
    return float(np.linalg.norm((np.asarray(a, np.float32) - np.asarray(b, np.float32)).ravel()))


def increase_rate(norms: np.ndarray) -> np.ndarray:
    """r_t = (d_t - d_0) / d_0 for a norm series (d_0 = the first value)."""
    norms = np.asarray(norms, dtype=np.float64)
    if norms.size == 0:
        return norms
    d0 = norms[0] if norms[0] != 0 else np.finfo(np.float64).eps
    return (norms - d0) / d0


class SemanticScorer:
    """Cosine similarity of images to the photo under each encoder (embeddings of the photo cached)."""

    def __init__(self, encoders: Mapping[str, "SemanticEncoder"], photo: np.ndarray) -> None:
        self.encoders = dict(encoders)
        self.reference = {name: enc.embed([photo])[0] for name, enc in self.encoders.items()}

    def similarities(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        """{encoder name: (B,) cosine similarities} for a batch of uint8 RGB images."""
        out = {}
        for name, enc in self.encoders.items():
            feats = enc.embed(images)
            out[name] = (feats @ self.reference[name].to(feats.device)).cpu().numpy().astype(np.float64)
        return out
