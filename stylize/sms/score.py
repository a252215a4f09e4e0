"""The Style Matching Score gradient and the two surrogate losses of an SMS iteration.

With eps_style from the style model (base + style LoRA) and eps_fake from the fake-score model (base +
trained LoRA), both with classifier-free guidance on the prompt "{style}, {caption}",

    g = w(t) * (eps_style - eps_fake),  w(t) = sigma_t^2,     refined: g_R = R * g

and g_R is applied to the latent z through 0.5 * mean((z - stopgrad(z - g_R))^2), whose gradient is
g_R / numel (the authors' ``F.mse_loss`` mean reduction; the PSR L1 is a mean too, so lambda keeps its
meaning). The fake-score LoRA then fits the current latent with the epsilon-prediction loss
mean((abar_t * eps_fake_cond - abar_t * eps)^2) on the conditional prompt, at a fresh t and noise.
"""

from __future__ import annotations

import torch


def cfg(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance: eps_uncond + s * (eps_cond - eps_uncond)."""
    return eps_uncond + scale * (eps_cond - eps_uncond)


def sms_gradient(eps_style: torch.Tensor, eps_fake: torch.Tensor, weight: float) -> torch.Tensor:
    """w(t) * (eps_style - eps_fake), NaNs zeroed so one bad prediction does not poison the latent."""
    return torch.nan_to_num(weight * (eps_style.float() - eps_fake.float()))


def surrogate_loss(latents: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """0.5 * mean((z - stopgrad(z - grad))^2): d loss / d z = grad / numel."""
    target = (latents - grad).detach()
    return 0.5 * ((latents - target) ** 2).mean()


def fake_score_loss(eps_pred: torch.Tensor, noise: torch.Tensor, alpha_bar: float) -> torch.Tensor:
    """mean((abar_t * eps_pred - abar_t * eps)^2), the fake-score LoRA's epsilon-prediction loss."""
    return ((alpha_bar * eps_pred.float() - alpha_bar * noise.float()) ** 2).mean()
