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


SDPIXL_INIT = "sdpixl"
INIT_METHODS = (SDPIXL_INIT, *DOWNSAMPLERS)  # what a run's generator can be initialised from


def sdpixl_downsample(photo: Image.Image, out_size: tuple[int, int]) -> np.ndarray:
    """SD-piXL's initial image: the photo as floats in [0, 1], resized to (H, W) by torch's bilinear
    interpolation without antialiasing -> (H, W, 3) float32, not quantised to uint8."""
    import torch  # here: the CLI's parsing and the baselines need no torch
    import torch.nn.functional as F

    rgb = torch.from_numpy(np.asarray(photo.convert("RGB"), dtype=np.float32) / 255.0)
    small = F.interpolate(rgb.permute(2, 0, 1)[None], size=tuple(out_size), mode="bilinear", align_corners=False)
    return small[0].permute(1, 2, 0).numpy()


def initial_image(photo: Image.Image, out_size: tuple[int, int], method: str = SDPIXL_INIT) -> np.ndarray:
    """The image a run's generator starts from: float32 in [0, 1] for "sdpixl", else uint8 (``downsample``)."""
    if method == SDPIXL_INIT:
        return sdpixl_downsample(photo, out_size)
    return downsample(photo, out_size, method)


def initial_frame(prep: PreparedPhoto, method: str = SDPIXL_INIT, distance: str = "l1") -> np.ndarray:
    """The frame a run with this initialisation starts from: palette indices (H, W) uint8, the argmax
    of the generator's initial logits (what the app's preview compares between methods)."""
    from pixelart.generator import PixelGenerator  # torch: only when a frame is asked for

    small = initial_image(prep.photo, prep.out_size, method)
    return PixelGenerator.from_image(small, prep.palette, distance=distance).hard_indices()


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
