"""DCNN content features for clustering a word's images (seed 002: "DCNN特徴 (VGG19 fc6の出力) と Neural
Style Vector を使用"), and their combination with the style vector.

Content vector: VGG19's fc6 activations of the image (the first fully connected layer, 4096 values,
over conv5's maps after pool5 and torchvision's 7x7 average pool), taken after relu6 by default: the
seed's "fc6 output" is Caffe's ``fc6`` blob, which the in-place relu6 rectifies (the same reading as
the style vector's ``conv5_1``); then L2-normalised.

Combined vector, for a content weight w in [0, 1]:

    v = [√(1−w)·style, √w·content]      ‖v‖ = 1 when both parts are unit vectors

so ‖v_a − v_b‖² = (1−w)·‖s_a − s_b‖² + w·‖c_a − c_b‖²: w is the content's share of every squared
distance k-means sees, whatever the two parts' dimensions. w = 0 is the style vector alone (as before).
"""

from __future__ import annotations

import math
import numbers
from typing import Iterable

import numpy as np
from PIL import Image

from stylize.style_vector import DEFAULT_SIZE, image_vectors
from workbench.errors import ConfigError

CONTENT_FEATURE = "fc6"


def check_content_weight(weight: float) -> float:
    """The weight as a float, or a one-line ConfigError when it is not a number in [0, 1]."""
    if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not math.isfinite(weight) \
            or not 0.0 <= weight <= 1.0:
        raise ConfigError(f"content weight must be a number between 0 (style only) and 1 (content only), got {weight!r}")
    return float(weight)


def content_vectors(images: Iterable[Image.Image], vgg, *, size: int = DEFAULT_SIZE, after_relu: bool = True,
                    batch_size: int = 16) -> np.ndarray:
    """(N, D) L2-normalised fc6 vectors of PIL images."""
    return image_vectors(images, vgg, size=size, after_relu=after_relu, batch_size=batch_size, content=True)[1]


def combine_vectors(style: np.ndarray, content: np.ndarray | None, weight: float) -> np.ndarray:
    """[√(1−w)·style, √w·content] row by row; the style vectors unchanged when w = 0."""
    weight = check_content_weight(weight)
    style = np.asarray(style, dtype=np.float32)
    if weight == 0.0:
        return style
    if content is None or len(content) != len(style):
        raise ConfigError("content vectors are missing for a content weight above 0; index with content features")
    return np.concatenate([np.sqrt(1.0 - weight) * style, np.sqrt(weight) * np.asarray(content, np.float32)],
                          axis=1).astype(np.float32)


def combined_vector(image: Image.Image, vgg, weight: float, **options) -> np.ndarray:
    """The combined vector of one image (the query of a retrieval)."""
    weight = check_content_weight(weight)
    style, content = image_vectors([image], vgg, content=weight > 0, **options)
    return combine_vectors(style, content, weight)[0]
