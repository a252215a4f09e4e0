"""Semantic-Aware Gradient Refinement (SAGR): where the style edit matters, per latent pixel.

The source latent is noised at the step's t with the step's noise, and the base UNet (no LoRA at all)
predicts the noise for the edit prompt ("Turn into {style}") and for the empty prompt. As in the
authors' code the map is the absolute value of the channel mean of their difference,

    R = | mean_c (eps(z_t^src; edit) - eps(z_t^src; "")) |,

min-max normalised to [0, 1] (all ones when it is flat), and it multiplies the score gradient of every
channel. It depends on t and the noise, so it is recomputed at every iteration.
"""

from __future__ import annotations

import torch


def refinement_map(eps_edit: torch.Tensor, eps_null: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) predictions -> (B, 1, H, W) map in [0, 1], per image."""
    raw = (eps_edit.float() - eps_null.float()).mean(dim=1, keepdim=True).abs()
    lo = raw.amin(dim=(-2, -1), keepdim=True)
    hi = raw.amax(dim=(-2, -1), keepdim=True)
    span = hi - lo
    return torch.where(span > 0, (raw - lo) / span.clamp_min(torch.finfo(raw.dtype).tiny), torch.ones_like(raw))
