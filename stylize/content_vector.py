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
import torch
from PIL import Image

from stylize.style_vector import DEFAULT_LAYER, DEFAULT_SIZE, image_batch, style_vectors_from_features
from workbench.errors import ConfigError

CONTENT_FEATURE = "fc6"


def check_content_weight(weight: float) -> float:
    """The weight as a float, or a one-line ConfigError when it is not a number in [0, 1]."""
    if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not math.isfinite(weight) \
            or not 0.0 <= weight <= 1.0:
        raise ConfigError(f"content weight must be a number between 0 (style only) and 1 (content only), got {weight!r}")
    return float(weight)


def unit_rows(x: torch.Tensor) -> torch.Tensor:
    """Rows divided by their L2 norm (an all-zero row stays zero)."""
    return x / torch.clamp(torch.linalg.vector_norm(x, dim=1, keepdim=True), min=1e-12)


def check_has_fc6(vgg) -> None:
    """One-line ConfigError when a network passed in has no fc6 (content features need it)."""
    if getattr(vgg, "pre_logits", None) is None:
        raise ConfigError(f"the VGG19 '{getattr(vgg, 'label', '?')}' was loaded without fc6; "
                          "load it with load_vgg(model, fc6=True) for content features")


@torch.no_grad()
def image_vectors(images: Iterable[Image.Image], vgg, *, layer: str = DEFAULT_LAYER, size: int = DEFAULT_SIZE,
                  after_relu: bool = True, batch_size: int = 16,
                  content: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """(style (N, Ds), content (N, Dc) or None) float32 vectors of PIL images, from one forward pass per
    batch: the style vector at ``layer`` and, with ``content``, the L2-normalised fc6 vector."""
    from stylize.nst.layers import check_layer

    check_layer(layer, "style-vector layer")
    if content:
        check_has_fc6(vgg)
    device = next(vgg.parameters()).device
    styles: list[np.ndarray] = []
    contents: list[np.ndarray] = []
    pending: list[Image.Image] = []

    def flush() -> None:
        wanted = [layer, "pool5"] if content else [layer]
        feats = vgg.extract(image_batch(pending, size, device), wanted, after_relu=after_relu)
        styles.append(style_vectors_from_features(feats[layer]).cpu().numpy().astype(np.float32))
        if content:
            fc6 = vgg.fc6(feats["pool5"], after_relu=after_relu)
            contents.append(unit_rows(fc6.float()).cpu().numpy().astype(np.float32))
        pending.clear()

    for image in images:
        pending.append(image)
        if len(pending) == batch_size:
            flush()
    if pending:
        flush()
    from stylize.style_vector import vector_length

    style = np.concatenate(styles) if styles else np.zeros((0, vector_length(vgg.channels(layer))), np.float32)
    if not content:
        return style, None
    width = vgg.pre_logits.fc1.out_channels
    return style, (np.concatenate(contents) if contents else np.zeros((0, width), np.float32))


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
