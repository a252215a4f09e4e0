"""The losses of Gatys et al.'s neural style transfer, normalised as in the PyTorch NST tutorial and
jcjohnson/neural-style (the normalisation the usual style weight of 1e6 is tuned for):

- Gram matrix of a layer's features F (C maps of H x W, flattened to C x HW):
  ``G = F Fᵀ / (C·H·W)``
- content loss at a layer: ``mean((F(x) − F(content))²)`` over its C·H·W values
- style loss: ``Σ_l w_l · mean((G_l(x) − A_l)²)`` over each layer's C² Gram entries, where the target
  ``A_l = Σ_i b_i G_l(style_i)`` blends several style images with weights b (summing to 1), as
  neural-style's ``-style_blend_weights`` does
- total variation: ``mean((x[i+1, j] − x[i, j])²) + mean((x[i, j+1] − x[i, j])²)`` over the RGB image
  in [0, 1] (a mean rather than neural-style's sum, so the weight does not depend on the image size)
- total: ``α·content + β·style + γ·tv`` (α ``content_weight``, β ``style_weight``, γ ``tv_weight``)

Gatys et al. (2016) write ``E_l = 1/(4 N_l² M_l²) Σ (G − A)²`` with an unnormalised G, which is
``mean((G/(N M) − A/(N M))²) / 4``: the same loss up to the constant 1/4, i.e. a rescaled β.
"""

from __future__ import annotations

from typing import Mapping

import torch


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C): F Fᵀ / (C·H·W)."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of one layer's activations."""
    return torch.mean((features - target) ** 2)


def style_layer_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between the Gram matrix of ``features`` and the target Gram."""
    return torch.mean((gram_matrix(features) - target_gram) ** 2)


def style_loss(
    features: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor], weights: Mapping[str, float]
) -> torch.Tensor:
    """Σ_l w_l · style_layer_loss over the target layers."""
    return sum(weights[name] * style_layer_loss(features[name], target) for name, target in targets.items())


def blended_gram(grams: list[torch.Tensor], blend: list[float]) -> torch.Tensor:
    """Σ_i b_i G_i with b normalised to sum to 1 (one target for several style images)."""
    total = float(sum(blend))
    return sum((b / total) * g for b, g in zip(blend, grams))


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Squared total variation of (B, 3, H, W): mean vertical plus mean horizontal squared difference."""
    dy = image[:, :, 1:, :] - image[:, :, :-1, :]
    dx = image[:, :, :, 1:] - image[:, :, :, :-1]
    return torch.mean(dy ** 2) + torch.mean(dx ** 2)
