"""Conditioning images for the ControlNets, made once per run from the (square, model-sized) photo."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from workbench.errors import ConfigError

CONTROL_KINDS = ("canny", "depth")

# SD-piXL's edge map: PIL Gaussian blur (radius 1), then OpenCV's Canny 100/200 with the L1 gradient on
# the RGB image (OpenCV takes, per pixel, the channel with the largest gradient)
CANNY_BLUR_RADIUS = 1
CANNY_LOW, CANNY_HIGH = 100, 200


def canny_image(photo: Image.Image) -> Image.Image:
    """White-on-black Canny edges of ``photo`` as a 3-channel image of the same size."""
    import cv2  # opencv-python-headless: imported here, only a run with a canny ControlNet needs it

    blurred = photo.convert("RGB").filter(ImageFilter.GaussianBlur(radius=CANNY_BLUR_RADIUS))
    edges = cv2.Canny(np.ascontiguousarray(np.asarray(blurred, dtype=np.uint8)), CANNY_LOW, CANNY_HIGH,
                      L2gradient=False)
    return Image.fromarray(np.repeat(edges[:, :, None], 3, axis=2))


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
