"""The photo and palette every pixel-art path starts from: a run, the classical baselines, the app's preview.

One function so that the preview's palette is the palette a run starts from, and the CLI's baselines
are the run's initial frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from workbench.images import prepare_photo, validate_out_size, working_size
from pixelart.metrics import NORM_LONG_SIDE
from pixelart.palette import kmeans_palette

PREPARE_LONG_SIDE = 1024  # the photo is brought to this size once; everything else derives from it


@dataclass(frozen=True)
class PreparedPhoto:
    """The photo cropped/padded to the output's aspect ratio, at two sizes, and its palette."""

    out_size: tuple[int, int]  # pixel-art (H, W)
    photo: Image.Image  # PREPARE_LONG_SIDE on the long side: source for downsampling and the model
    work: Image.Image  # NORM_LONG_SIDE on the long side: the metrics' working resolution
    palette: np.ndarray  # (K, 3) uint8

    @property
    def work_array(self) -> np.ndarray:
        """The working-resolution photo as (H, W, 3) uint8."""
        return np.asarray(self.work, dtype=np.uint8)


def prepare(
    photo: Image.Image,
    out_size: tuple[int, int],
    *,
    colors: int = 16,
    palette: np.ndarray | None = None,
    fit: str = "crop",
    seed: int = 0,
) -> PreparedPhoto:
    """Crop/pad and resize the photo; k-means palette of ``colors`` unless ``palette`` is given."""
    out = validate_out_size(out_size)
    prepared = prepare_photo(photo, out, working_size(out, PREPARE_LONG_SIDE), fit=fit)
    work = prepared.resize(working_size(out, NORM_LONG_SIDE)[::-1], Image.Resampling.LANCZOS)
    if palette is None:
        palette = kmeans_palette(np.asarray(work, dtype=np.uint8), colors, seed=seed)
    return PreparedPhoto(out, prepared, work, np.asarray(palette, dtype=np.uint8))
