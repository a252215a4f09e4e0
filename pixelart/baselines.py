"""Classical pixelization: downsample the photo, then map every pixel to the nearest palette colour.

These are the seed's "simple downsampling" comparison (seed 000 §2.1) and the starting point of the
SD-piXL generator, which is initialised from one of them.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from workbench.errors import ConfigError
from pixelart.palette import map_to_palette
from pixelart.preparation import PreparedPhoto, prepare

DOWNSAMPLERS: dict[str, Image.Resampling] = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "area": Image.Resampling.BOX,
    "lanczos": Image.Resampling.LANCZOS,
}


def downsample(photo: Image.Image, out_size: tuple[int, int], method: str = "area") -> np.ndarray:
    """The photo resized to the pixel-art size (H, W) -> (H, W, 3) uint8, before palette mapping."""
    try:
        resample = DOWNSAMPLERS[method]
    except KeyError:
        raise ConfigError(
            f"unknown downsampling method '{method}'; choose one of: {', '.join(DOWNSAMPLERS)}"
        ) from None
    height, width = out_size
    return np.asarray(photo.convert("RGB").resize((width, height), resample), dtype=np.uint8)


def pixelize(
    photo: Image.Image, out_size: tuple[int, int], palette: np.ndarray, method: str = "area"
) -> np.ndarray:
    """Classical pixel art: downsample with ``method`` and map to ``palette`` -> (H, W) uint8 indices."""
    return map_to_palette(downsample(photo, out_size, method), palette)


def classical_pixel_art(
    photo: Image.Image,
    size: tuple[int, int],
    *,
    colors: int = 16,
    palette: np.ndarray | None = None,
    fit: str = "crop",
    seed: int = 0,
    method: str = "area",
) -> tuple[PreparedPhoto, np.ndarray]:
    """The photo prepared as a run would (crop/pad, k-means palette with the run's seed) and its
    classical pixel art (indices): the app's instant preview and ``pixelart baseline``."""
    prep = prepare(photo, size, colors=colors, palette=palette, fit=fit, seed=seed)
    return prep, pixelize(prep.photo, prep.out_size, prep.palette, method)
