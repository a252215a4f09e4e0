"""Score distillation sampling (SDS, DreamFusion) through a diffusers SD / SDXL pipeline.

At each step the rendered image is encoded to latents (the only differentiable path: the VAE or TAESD
encoder), noised at a random timestep t, and the frozen UNet (with optional ControlNets conditioned on
the photo) predicts the noise with and without the prompt. The SDS gradient on the latents is

    grad = w(t) * (eps_hat - eps),   eps_hat = eps_neg + s * (eps_pos - eps_neg),   w(t) = 1 - alpha_bar_t

With s = 41 (the default) this is SD-piXL's ``(eps_pos - eps) + 40 * (eps_pos - eps_neg)``. It is
injected with the surrogate loss 0.5 * ||z - stopgrad(z - grad)||^2, whose gradient with
respect to z is exactly ``grad``: the UNet is never backpropagated through.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from workbench.errors import ConfigError
from pixelart.config import WEIGHTINGS, SDSConfig
from pixelart.guidance.augment import augment_same
from pixelart.guidance.controls import control_images
from pixelart.guidance.schedules import timestep_bounds
from pixelart.models.loaded import GuidanceModels
from workbench.timing import NULL_TIMER, StepTimer

@dataclass
class SDSOutput:
    """One SDS evaluation: the surrogate loss to backpropagate and what produced it."""

    loss: torch.Tensor
    timestep: int
    weight: float
    latents: torch.Tensor  # requires grad; its .grad after backward equals ``grad``
    grad: torch.Tensor
    noise: torch.Tensor
    eps_hat: torch.Tensor


def sds_gradient(eps_hat: torch.Tensor, noise: torch.Tensor, weight: float) -> torch.Tensor:
    """w(t) * (eps_hat - eps), with NaNs (from fp16 overflow) zeroed rather than poisoning the logits."""
    return torch.nan_to_num(weight * (eps_hat.float() - noise.float()))


def sds_surrogate_loss(latents: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """0.5 * ||z - stopgrad(z - grad)||^2 summed: d loss / d z == grad."""
    target = (latents.float() - grad).detach()
    return 0.5 * ((latents.float() - target) ** 2).sum()


def cfg(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance: eps_uncond + s * (eps_cond - eps_uncond)."""
    return eps_uncond + scale * (eps_cond - eps_uncond)


class ScoreDistillation:
    """SDS for one photo and prompt: prompt embeddings and control images are computed once."""

    def __init__(
        self,
        models: GuidanceModels,
        *,
        prompt: str,
        negative_prompt: str,
        photo: Image.Image,
        size: tuple[int, int],
        config: SDSConfig,
        seed: int,
    ) -> None:
        if config.weighting not in WEIGHTINGS:
            raise ConfigError(f"unknown SDS weighting '{config.weighting}'; choose one of {WEIGHTINGS}")
        self.models = models
        self.config = config
        self.size = size  # (H, W) the image is rendered at for the diffusion model
        self.device, self.dtype = models.device, models.dtype
        pipe = models.pipe
        self.scheduler = pipe.scheduler
        self.num_train_timesteps = int(self.scheduler.config.num_train_timesteps)
        self.alphas_cumprod = self.scheduler.alphas_cumprod.to(self.device, torch.float32)
        # augmentation and timesteps on a CPU generator, noise on the device: both seeded
        self.cpu_generator = torch.Generator().manual_seed(seed)
        self.noise_generator = torch.Generator(device=self.device).manual_seed(seed + 1)
        self._encode_prompt(prompt, negative_prompt)
        self._prepare_controls(photo)

    # 1. Prompt embeddings: batch [negative, conditional]. SD-piXL also computes a third branch
    # (zero embeddings) that its SDS gradient never uses.
    def _encode_prompt(self, prompt: str, negative_prompt: str) -> None:
        pipe = self.models.pipe
        zeros = self.config.negative_zeros and not negative_prompt
        with torch.no_grad():
            if self.models.spec.family == "sdxl":
                # a negative prompt given (even "") is encoded: diffusers zeroes only a missing one
                cond, uncond, pooled, uncond_pooled = pipe.encode_prompt(
                    prompt=prompt, device=self.device, num_images_per_prompt=1,
                    do_classifier_free_guidance=True, negative_prompt=negative_prompt,
                )
                if zeros:
                    uncond, uncond_pooled = torch.zeros_like(cond), torch.zeros_like(pooled)
                h, w = self.size
                time_ids = pipe._get_add_time_ids(
                    (h, w), (0, 0), (h, w), dtype=cond.dtype,
                    text_encoder_projection_dim=pipe.text_encoder_2.config.projection_dim,
                ).to(self.device)
                self.added_cond = {
                    "text_embeds": torch.cat([uncond_pooled, pooled]).to(self.dtype),
                    "time_ids": time_ids.repeat(2, 1).to(self.dtype),
                }
            else:
                cond, uncond = pipe.encode_prompt(prompt, self.device, 1, True, negative_prompt=negative_prompt)
                if zeros:
                    uncond = torch.zeros_like(cond)
                self.added_cond = None
        self.text_embeddings = torch.cat([uncond, cond]).to(self.dtype)

    # 2. Conditioning images for the ControlNets, made once from the photo at the model resolution
    def _prepare_controls(self, photo: Image.Image) -> None:
        self.controlnets = list(self.models.controlnets) if self.config.use_controlnets else []
        self.control_tensors: list[torch.Tensor] = []
        self.control_scales: list[float] = []
        if not self.controlnets:
            return
        h, w = self.size
        kinds = [c.kind for c in self.models.spec.controlnets]
        images = control_images(photo.resize((w, h), Image.Resampling.BICUBIC), kinds,
                                self.models.depth_estimator)
        self.control_images = images
        for img in images:
            arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
            self.control_tensors.append(torch.from_numpy(arr).permute(2, 0, 1)[None].to(self.device))
        scales = [c.scale for c in self.models.spec.controlnets]
        if self.config.controlnet_scale is not None:
            scales = [self.config.controlnet_scale] * len(scales)
        self.control_scales = scales

    def sample_timestep(self, step: int, total: int) -> int:
        """Draw t uniformly from the schedule's range at this step."""
        lo, hi = timestep_bounds(self.config.schedule, step, total, self.config.t_range)
        lo_i = int(self.num_train_timesteps * lo)
        hi_i = max(lo_i, int(self.num_train_timesteps * hi))
        return int(torch.randint(lo_i, hi_i + 1, (1,), generator=self.cpu_generator).item())

    def weight(self, t: int) -> float:
        """w(t): 1 - alpha_bar_t by default (SD-piXL's "cumprod" mode)."""
        if self.config.weighting == "constant":
            return 1.0
        return float(1.0 - self.alphas_cumprod[t])

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """(1, 3, H, W) image in [0, 1] -> scaled latents, differentiable."""
        vae = self.models.encoder_vae
        x = (2.0 * image - 1.0).clamp(-1.0, 1.0).to(self.dtype)
        out = vae.encode(x)
        latents = out.latents if hasattr(out, "latents") else out.latent_dist.mean
        return latents * vae.config.scaling_factor

    @torch.no_grad()
    def predict_noise(
        self, latents_noisy: torch.Tensor, t: int, controls: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """UNet (+ ControlNets) noise predictions (uncond, cond) for a batch of two."""
        sample = torch.cat([latents_noisy] * 2).to(self.dtype)
        sample = self.scheduler.scale_model_input(sample, t)
        timestep = torch.tensor(t, device=self.device)
        down_res, mid_res = None, None
        for net, cond_img, scale in zip(self.controlnets, controls, self.control_scales):
            d, m = net(
                sample, timestep, encoder_hidden_states=self.text_embeddings,
                controlnet_cond=torch.cat([cond_img] * 2).to(self.dtype), conditioning_scale=scale,
                added_cond_kwargs=self.added_cond, return_dict=False,
            )
            # several ControlNets add their residuals, as diffusers' MultiControlNetModel does
            down_res = d if down_res is None else [a + b for a, b in zip(down_res, d)]
            mid_res = m if mid_res is None else mid_res + m
        eps = self.models.pipe.unet(
            sample, timestep, encoder_hidden_states=self.text_embeddings,
            added_cond_kwargs=self.added_cond, down_block_additional_residuals=down_res,
            mid_block_additional_residual=mid_res, return_dict=False,
        )[0]
        eps_uncond, eps_cond = eps.chunk(2)
        return eps_uncond, eps_cond

    def __call__(
        self, image: torch.Tensor, step: int, total: int, timer: StepTimer = NULL_TIMER
    ) -> SDSOutput:
        """SDS loss for a (1, 3, H, W) image at the model size; ``timer`` splits encode / UNet times."""
        images = augment_same([image] + self.control_tensors, self.config.augment, self.cpu_generator)
        image_aug, controls = images[0], images[1:]
        with timer.section("vae_encode"):
            latents = self.encode(image_aug)
        t = self.sample_timestep(step, total)
        noise = torch.randn(latents.shape, generator=self.noise_generator, device=self.device,
                            dtype=torch.float32).to(latents.dtype)
        with timer.section("unet"):
            noisy = self.scheduler.add_noise(latents.detach(), noise, torch.tensor([t], device=self.device))
            eps_uncond, eps_cond = self.predict_noise(noisy, t, controls)
            eps_hat = cfg(eps_uncond.float(), eps_cond.float(), self.config.guidance_scale)
        w = self.weight(t)
        grad = sds_gradient(eps_hat, noise, w)
        loss = sds_surrogate_loss(latents, grad)
        return SDSOutput(loss=loss, timestep=t, weight=w, latents=latents, grad=grad, noise=noise,
                         eps_hat=eps_hat)
