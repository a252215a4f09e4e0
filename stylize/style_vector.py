"""The Neural Style Vector (Matsuo & Yanai, "CNN-based style vector for style image retrieval",
ICMR 2016; seed 002): a style image's Gram matrix at one VGG19 layer, flattened without repeats.

    G^l = F^l F^lᵀ                                   (N_l x N_l, F^l: N_l maps flattened)
    V^l = [G_11, G_21, G_22, G_31, G_32, G_33, …, G_{N,N}]   (lower triangle row by row, which is the
                                                      upper triangle plus the diagonal: N(N+1)/2 values)
    V^l_sgnsqrt = sgn(V^l)·√|V^l| / ‖sgn(V^l)·√|V^l|‖₂

At conv5_1 (N = 512) that is 131,328 values. The seed leaves G unnormalised; dividing it by H·W
(done here, so that values stay in a comfortable float32 range) changes nothing after the L2
normalisation, since the signed square root is homogeneous. Features are taken after the ReLU by
default, as in the Caffe VGG19 the authors used (its ReLUs are in place, so the blob ``conv5_1`` is
rectified); then every entry is ≥ 0. ``after_relu=False`` takes the raw conv output, where entries
have both signs.

Images are brought to ``size`` x ``size`` (short side resized to ``size``, centre crop) so that a
batch is one tensor. ``image_vectors`` is the one batched pass through the network: the style vector,
and on request the fc6 content vector from the same pass (``stylize.content_vector`` combines them).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import torch
from PIL import Image

from workbench.errors import ConfigError

DEFAULT_LAYER = "conv5_1"
DEFAULT_SIZE = 224


def vector_length(channels: int) -> int:
    """N(N+1)/2: the style vector's dimension for a layer with N maps."""
    return channels * (channels + 1) // 2


def style_vectors_from_features(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) activations -> (B, C(C+1)/2) signed-sqrt, L2-normalised style vectors."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w).float()
    gram = torch.bmm(flat, flat.transpose(1, 2)) / (h * w)
    rows, cols = torch.tril_indices(c, c, device=features.device)  # (0,0), (1,0), (1,1), (2,0), …
    v = gram[:, rows, cols]
    v = torch.sign(v) * torch.sqrt(torch.abs(v))
    norm = torch.linalg.vector_norm(v, dim=1, keepdim=True)
    return v / torch.clamp(norm, min=1e-12)  # an all-zero Gram stays the zero vector


def square_crop(image: Image.Image, size: int = DEFAULT_SIZE,
                resample: Image.Resampling = Image.Resampling.LANCZOS) -> Image.Image:
    """Resize the short side to ``size`` (Lanczos unless ``resample``) and crop the centre ``size`` x ``size``."""
    image = image.convert("RGB")
    w, h = image.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    image = image.resize((nw, nh), resample)
    left, top = (nw - size) // 2, (nh - size) // 2
    return image.crop((left, top, left + size, top + size))


def image_batch(images: Sequence[Image.Image], size: int, device: torch.device) -> torch.Tensor:
    """(B, 3, size, size) tensor in [0, 1] of centre-cropped PIL images."""
    arrays = np.stack([np.asarray(square_crop(im, size), dtype=np.float32) / 255.0 for im in images])
    return torch.from_numpy(arrays).permute(0, 3, 1, 2).contiguous().to(device)


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
    style = np.concatenate(styles) if styles else np.zeros((0, vector_length(vgg.channels(layer))), np.float32)
    if not content:
        return style, None
    width = vgg.pre_logits.fc1.out_channels
    return style, (np.concatenate(contents) if contents else np.zeros((0, width), np.float32))


def style_vectors(
    images: Iterable[Image.Image], vgg, *, layer: str = DEFAULT_LAYER, size: int = DEFAULT_SIZE,
    after_relu: bool = True, batch_size: int = 16,
) -> np.ndarray:
    """(N, D) float32 style vectors of PIL images, computed ``batch_size`` images at a time."""
    return image_vectors(images, vgg, layer=layer, size=size, after_relu=after_relu, batch_size=batch_size)[0]


def style_vector(image: Image.Image, vgg, **options) -> np.ndarray:
    """The style vector of one image (D,)."""
    return style_vectors([image], vgg, **options)[0]
