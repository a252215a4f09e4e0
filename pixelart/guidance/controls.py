"""Conditioning images for the ControlNets, made once per run from the (square, model-sized) photo."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from workbench.errors import ConfigError

CONTROL_KINDS = ("canny", "depth")

# SD-piXL: Gaussian blur (radius 1) then OpenCV Canny 100/200 on uint8. skimage's canny blurs with
# ``sigma`` itself and divides thresholds given for a uint8 image by 255, so the same numbers apply;
# it measures the gradient with the L2 norm, which OpenCV only uses with L2gradient=True.
CANNY_SIGMA = 1.0
CANNY_LOW, CANNY_HIGH = 100, 200


def canny_image(photo: Image.Image) -> Image.Image:
    """White-on-black Canny edges of ``photo`` as a 3-channel image of the same size."""
    from skimage.feature import canny

    gray = np.asarray(photo.convert("L"), dtype=np.uint8)
    edges = canny(gray, sigma=CANNY_SIGMA, low_threshold=CANNY_LOW, high_threshold=CANNY_HIGH)
    mask = edges.astype(np.uint8) * 255
    return Image.fromarray(np.repeat(mask[:, :, None], 3, axis=2))


def control_images(
    photo: Image.Image, kinds: list[str], depth_estimator: Callable[[Any], Any] | None
) -> list[Image.Image]:
    """One conditioning image per ControlNet kind, in order: "canny" edges or "depth" map."""
    out = []
    for kind in kinds:
        if kind == "canny":
            out.append(canny_image(photo))
        elif kind == "depth":
            if depth_estimator is None:
                raise ConfigError("a depth ControlNet needs a depth estimator, and none was loaded")
            out.append(depth_estimator(photo.convert("RGB")).convert("RGB"))
        else:
            raise ConfigError(f"unknown control kind '{kind}'; choose from: {', '.join(CONTROL_KINDS)}")
    return out
