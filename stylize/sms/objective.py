"""One SMS iteration's objective, as a guidance module: frozen style and base UNets beside the trained
fake-score UNet, each term returned by name (see ``score``, ``spectrum``, ``sagr`` for the formulas).

Per iteration (authors' ``sms.py``, method "sms" then "diffusion"):
1. latent update: draw t on the narrowing schedule and a noise eps; z_t = sqrt(abar_t) z + sqrt(1 - abar_t) eps;
   g = w(t) (eps_style - eps_fake) with CFG on "{style}, {caption}" vs ""; R from the base UNet on the
   noised *source* latent ("Turn into {style}" vs ""); loss = surrogate(z, R g) + lambda * PSR L1(z, z_src, t).
2. fake-score update: a fresh t (full range) and eps on the updated latent, LoRA on, the conditional
   prompt only: loss = mean((abar_t eps_fake - abar_t eps)^2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from stylize.sms.sagr import refinement_map
from stylize.sms.schedule import Draw
from stylize.sms.score import cfg, fake_score_loss, sms_gradient, surrogate_loss
from stylize.sms.spectrum import psr_l1


@dataclass
class LatentTerms:
    """The latent update's loss and what made it (``loss`` is the one to backpropagate)."""

    loss: torch.Tensor
    loss_sms: torch.Tensor
    psr_l1: torch.Tensor
    grad: torch.Tensor  # w(t) (eps_style - eps_fake), before R
    r_map: torch.Tensor  # (B, 1, h, w) in [0, 1]; ones when SAGR is off
    draw: Draw


def encode_prompts(tokenizer: Any, text_encoder: Any, prompts: list[str], device: torch.device) -> torch.Tensor:
    """CLIP hidden states of ``prompts`` padded to the tokenizer's max length (as SD 1.5 pipelines do)."""
    ids = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids.to(device)
    with torch.no_grad():
        return text_encoder(ids)[0]


class StyleMatchingScore:
    """The SMS objective for one run: prompt embeddings cached, scores from three UNets."""

    def __init__(
        self, *, style_unet: Any, base_unet: Any, fake_unet: Any, alphas_cumprod: torch.Tensor,
        target_embedding: torch.Tensor, edit_embedding: torch.Tensor, null_embedding: torch.Tensor,
        guidance_scale: float, lambda_psr: float, psr_t_scale: float = 500.0, sagr: bool = True,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.style_unet, self.base_unet, self.fake_unet = style_unet, base_unet, fake_unet
        self.alphas_cumprod = alphas_cumprod.float()
        self.dtype = dtype
        # [cond, uncond] batches, as the authors order them
        self.target_pair = torch.cat([target_embedding, null_embedding]).to(dtype)
        self.edit_pair = torch.cat([edit_embedding, null_embedding]).to(dtype)
        self.target_embedding = target_embedding.to(dtype)
        self.guidance_scale, self.lambda_psr = guidance_scale, lambda_psr
        self.psr_t_scale, self.sagr = psr_t_scale, sagr

    def add_noise(self, latents: torch.Tensor, noise: torch.Tensor, t: int) -> torch.Tensor:
        """z_t = sqrt(abar_t) z + sqrt(1 - abar_t) eps (DDPM forward process)."""
        abar = self.alphas_cumprod[t]
        return abar.sqrt() * latents + (1.0 - abar).sqrt() * noise

    def _pair(self, unet: Any, noisy: torch.Tensor, t: int, embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sample = torch.cat([noisy] * 2).to(self.dtype)
        timestep = torch.full((2,), t, device=noisy.device, dtype=torch.long)
        eps = unet(sample, timestep, encoder_hidden_states=embeddings).sample.float()
        cond, uncond = eps.chunk(2)
        return cond, uncond

    @torch.no_grad()
    def score_gradient(self, latents: torch.Tensor, draw: Draw, noise: torch.Tensor) -> torch.Tensor:
        """g = w(t) (eps_style - eps_fake), both with CFG on the target prompt."""
        noisy = self.add_noise(latents.detach(), noise, draw.t)
        eps_style = cfg(*self._pair(self.style_unet, noisy, draw.t, self.target_pair), self.guidance_scale)
        eps_fake = cfg(*self._pair(self.fake_unet, noisy, draw.t, self.target_pair), self.guidance_scale)
        return sms_gradient(eps_style, eps_fake, draw.weight)

    @torch.no_grad()
    def r_map(self, source: torch.Tensor, draw: Draw, noise: torch.Tensor) -> torch.Tensor:
        """SAGR map from the base UNet (no LoRA) on the noised source latent."""
        noisy = self.add_noise(source, noise, draw.t)
        eps_edit, eps_null = self._pair(self.base_unet, noisy, draw.t, self.edit_pair)
        return refinement_map(eps_edit, eps_null)

    def latent_terms(self, latents: torch.Tensor, source: torch.Tensor, draw: Draw, noise: torch.Tensor) -> LatentTerms:
        """Step 1: the latent's loss at timestep ``draw`` with noise ``noise``."""
        grad = self.score_gradient(latents, draw, noise)
        r = self.r_map(source, draw, noise) if self.sagr else torch.ones_like(grad[:, :1])
        loss_sms = surrogate_loss(latents.float(), grad * r)
        l1 = psr_l1(latents.float(), source.float(), draw.t, self.psr_t_scale)
        return LatentTerms(loss=loss_sms + self.lambda_psr * l1, loss_sms=loss_sms, psr_l1=l1, grad=grad,
                           r_map=r, draw=draw)

    def fake_loss(self, latents: torch.Tensor, draw: Draw, noise: torch.Tensor) -> torch.Tensor:
        """Step 2: the fake-score LoRA's epsilon-prediction loss on the (updated) latent.

        Only the conditional half is run: the authors compute the unconditional half too and drop it."""
        noisy = self.add_noise(latents.detach().float(), noise, draw.t).to(self.dtype)
        timestep = torch.full((noisy.shape[0],), draw.t, device=noisy.device, dtype=torch.long)
        eps = self.fake_unet(noisy, timestep, encoder_hidden_states=self.target_embedding).sample
        return fake_score_loss(eps, noise, float(self.alphas_cumprod[draw.t]))
