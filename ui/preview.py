"""The instant preview: the classical pixelization (area downsampling + palette) of the uploaded photo.

It is composed from the engine's own steps in the order a run takes them (crop/pad at the run's
preparation size, palette by k-means on the photo at the metric resolution with the run's seed), so the
preview's palette is the palette the run will start from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from pixelart.baselines import pixelize
from pixelart.export import upscale, upscale_factor
from pixelart.palette import indices_to_rgb
from pixelart.preparation import prepare

PREVIEW_METHOD = "area"
DISPLAY_LONG_SIDE = 512  # pixel art is shown upscaled with nearest neighbour to at least this size


@dataclass(frozen=True)
class Preview:
    """The photo as the run will see it and its classical pixelization."""

    photo: Image.Image  # cropped / padded, at the metric resolution
    art: np.ndarray  # (H, W, 3) uint8 at the pixel-art size
    palette: np.ndarray

    @property
    def art_display(self) -> np.ndarray:
        """The pixel art upscaled crisply for the screen."""
        return upscale(self.art, upscale_factor(self.art.shape[:2], DISPLAY_LONG_SIDE))


def classical_preview(
    photo: Image.Image,
    size: tuple[int, int],
    *,
    colors: int = 16,
    palette: np.ndarray | None = None,
    fit: str = "crop",
    seed: int = 0,
) -> Preview:
    """Classical pixel art of ``photo`` at ``size`` (H, W) with ``palette`` or a k-means palette."""
    prep = prepare(photo, size, colors=colors, palette=palette, fit=fit, seed=seed)
    art = indices_to_rgb(pixelize(prep.photo, prep.out_size, prep.palette, PREVIEW_METHOD), prep.palette)
    return Preview(photo=prep.work, art=art, palette=prep.palette)
