"""``SMSRun``: one SMS stylization as a run of the workbench (one ``RunStart``, then ``StepRecord``s).

Step 0 is the content image through the VAE (its latent is the start and the source); step k is the
state after iteration k: the latent's AdamW step on the SMS + PSR loss, then the fake-score LoRA's
step. Frames (the decoded latent, RGB uint8 at the working size) and the L2 distance to the content
image that needs them are recorded every ``record_every`` steps and at the last one; every other
metric at every step. Every step also carries the SAGR map R of its iteration as a side image
(``R_MAP``: viridis colours at the latent's resolution, dark = 0, yellow = 1), which the app shows live
beside the frame. Closing the iterator ends the run and frees its fake-score UNet.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from PIL import Image

from stylize.sms.config import AUTO_PROMPT, R_MAP, SIDE_LABELS, SMSConfig
from stylize.sms.models import SMSModels, load_sms_models
from stylize.sms.objective import StyleMatchingScore, encode_prompts
from stylize.sms.schedule import Draw, TimestepSampler
from workbench.errors import ImageInputError, ModelNotAvailableError
from workbench.colormap import colorize
from workbench.drift import norm_curves
from workbench.hub import library_versions
from workbench.records import Curve, RunStart, StepRecord

FALLBACK_CAPTION = "a photo"
KIND = "sms"

CURVES = (
    *norm_curves(panel=0),  # d_t and r_t to the content image, as every back end
    Curve("loss_sms", "SMS surrogate", panel=1, axis_title="loss", log=True, fmt="{:.3g}"),
    Curve("loss_psr", "λ · PSR L1", panel=1, log=True, fmt="{:.3g}"),
    Curve("loss_lora", "fake-LoRA ε loss", panel=1, log=True, fmt="{:.3g}"),
    Curve("psr_l1", "PSR L1 (unweighted)", panel=2, axis_title="L1 of low-pass DCT", fmt="{:.4f}"),
    Curve("latent_l2", "latent L2 to source", panel=2, right=True, axis_title="latent L2", fmt="{:.3f}",
          dash="dot"),
    Curve("t", "timestep t", panel=3, axis_title="t", fmt="{:.0f}"),
    Curve("r_mean", "mean SAGR R", panel=3, right=True, axis_title="mean R", fmt="{:.3f}", dash="dot"),
)


def working_size(size: tuple[int, int], short_side: int, multiple: int) -> tuple[int, int]:
    """(H, W) with the short side ~``short_side`` and the aspect ratio kept, each a multiple of ``multiple``."""
    w, h = size
    scale = short_side / min(w, h)
    return (max(multiple, round(h * scale / multiple) * multiple),
            max(multiple, round(w * scale / multiple) * multiple))



class SMSRun:
    """A prepared SMS run; iterate it for records. Frozen models load (once per process) on creation."""

    def __init__(
        self,
        content: Image.Image,
        config: SMSConfig,
        *,
        models: SMSModels | None = None,
        captioner: Callable[[Image.Image], str] | None = None,
        content_name: str = "",
    ) -> None:
        # 1. Check inputs, before any model loads
        config.check()
        if not isinstance(content, Image.Image):
            raise ImageInputError(f"the content image must be a PIL image, got {type(content).__name__}")
        self.config = config
        notes: list[str] = []

        # 2. Models (frozen parts cached per process)
        self.models = models if models is not None else load_sms_models(config)
        m = self.models
        if m.tiny:
            notes.append("tiny test model with random weights: its images are not meaningful")
        self.device = m.device

        # 3. Content at the working size (short side = resolution, sides multiples of the VAE factor)
        short = config.resolution or m.default_resolution
        self.size = working_size(content.size, short, m.vae_scale_factor)
        rgb = content.convert("RGB").resize(self.size[::-1], Image.Resampling.LANCZOS)
        self.content = np.asarray(rgb, dtype=np.uint8).copy()

        # 4. Prompts: "{style}, {caption}" for both scores, "Turn into {style}" for SAGR
        caption = config.prompt.strip()
        if caption == AUTO_PROMPT:
            caption = self._caption(rgb, captioner, notes)
        style = config.style.strip()
        self.caption = caption
        self.target_prompt = f"{style}, {caption}"
        self.edit_prompt = config.edit_prompt.format(style=style)
        embeds = encode_prompts(m.tokenizer, m.text_encoder, [self.target_prompt, self.edit_prompt, ""], m.device)
        target, edit, null = embeds.float().chunk(3)

        # 5. Source latent: a seeded sample of the VAE posterior (as the authors encode)
        gen = torch.Generator(device=m.device).manual_seed(config.seed + 2)
        with torch.no_grad():
            pixels = torch.from_numpy(self.content).permute(2, 0, 1)[None].float().div(255.0).to(m.device)
            posterior = m.vae.encode(2.0 * pixels - 1.0).latent_dist
            self.source = (posterior.sample(generator=gen) * m.vae.config.scaling_factor).float()

        # 6. Timesteps (CPU generator) and noise (device generator), seeded independently
        self.sampler = TimestepSampler(m.scheduler_config, n=config.num_timesteps, min_ratio=config.min_step_ratio,
                                       max_ratio=config.max_step_ratio, seed=config.seed)
        self.alphas_cumprod = self.sampler.alphas_cumprod.float().to(m.device)
        self.noise_generator = torch.Generator(device=m.device).manual_seed(config.seed + 1)
        self._embeddings = (target, edit, null)
        self.notes = notes
        self.run_config = {
            "run": config.to_dict(),
            "caption": caption,
            "target_prompt": self.target_prompt,
            "edit_prompt": self.edit_prompt,
            "model_id": m.model_id,
            "style_lora": m.style_lora_id,
            "tiny_model": m.tiny,
            "device": str(m.device),
            "dtype": str(m.dtype).replace("torch.", ""),
            "working_size": list(self.size),
            "latent_size": list(self.source.shape[-2:]),
            "norm_resolution": list(self.size),
            "content_name": content_name,
            "versions": library_versions(("torch", "diffusers", "transformers", "peft", "numpy")),
            "notes": notes,
        }
        self.latest_r_map: np.ndarray | None = None  # (h, w) float32 of the last iteration
        self.fake_unet: Any = None  # the trained fake-score UNet, while iterating

    def _caption(self, image: Image.Image, captioner: Callable[[Image.Image], str] | None, notes: list[str]) -> str:
        try:
            if captioner is None:
                from pixelart.models.loading import load_captioner

                captioner = load_captioner(tiny=self.models.tiny, device=self.device, dtype=torch.float32)
            caption = captioner(image).strip() or FALLBACK_CAPTION
            notes.append(f'caption from the captioning model: "{caption}"')
        except ModelNotAvailableError as exc:
            caption = FALLBACK_CAPTION
            notes.append(f'no captioning model ({exc}); using "{caption}"')
        return caption

    # -------------------------------------------------------------------------------------------

    def _noise(self) -> torch.Tensor:
        return torch.randn(self.source.shape, generator=self.noise_generator, device=self.device)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """Latent -> RGB uint8 (H, W, 3) at the working size."""
        vae = self.models.vae
        x = vae.decode(latents.float() / vae.config.scaling_factor).sample
        x = (x / 2 + 0.5).clamp(0, 1)[0].permute(1, 2, 0)
        return (x * 255.0).round().to(torch.uint8).cpu().numpy()

    def _distance(self, frame: np.ndarray) -> float:
        diff = frame.astype(np.float32) / 255.0 - self.content.astype(np.float32) / 255.0
        return float(np.linalg.norm(diff.ravel()))

    def _frame_due(self, step: int) -> bool:
        return step % self.config.record_every == 0 or step == self.config.steps

    def __iter__(self) -> Iterator[RunStart | StepRecord]:
        cfg, m = self.config, self.models
        start = time.perf_counter()
        fake = m.new_fake_unet(rank=cfg.lora_rank, alpha=cfg.lora_alpha, targets=cfg.lora_targets, seed=cfg.seed)
        self.fake_unet = fake  # visible while the run goes on (tests, inspection)
        try:
            target, edit, null = self._embeddings
            objective = StyleMatchingScore(
                style_unet=m.style_unet, base_unet=m.base_unet, fake_unet=fake,
                alphas_cumprod=self.alphas_cumprod, target_embedding=target, edit_embedding=edit,
                null_embedding=null, guidance_scale=cfg.guidance_scale, lambda_psr=cfg.lambda_psr,
                psr_t_scale=cfg.psr_t_scale, sagr=cfg.sagr, dtype=m.dtype,
            )
            latents = self.source.clone().requires_grad_(True)
            optimizer = torch.optim.AdamW([latents], lr=cfg.lr, weight_decay=cfg.weight_decay)
            from diffusers.optimization import get_cosine_schedule_with_warmup

            schedule = get_cosine_schedule_with_warmup(optimizer, cfg.warmup_steps, int(cfg.steps * 1.5))
            lora_params = [p for p in fake.parameters() if p.requires_grad]
            lora_optimizer = torch.optim.AdamW(lora_params, lr=cfg.lora_lr, betas=(0.9, 0.999),
                                               weight_decay=0.0, eps=1e-8)

            yield RunStart(
                kind=KIND, total=cfg.steps, input_image=self.content, frame_size=self.size, curves=CURVES,
                config=self.run_config, notes=list(self.notes), record_every=cfg.record_every,
                frame_label="Stylized", side_labels=dict(SIDE_LABELS),
            )
            frame = self.decode(latents)
            d0 = self._distance(frame)
            self._d0 = d0
            yield StepRecord(step=0, total=cfg.steps, frame=frame,
                             metrics={"norm": d0, "rate": 0.0, "latent_l2": 0.0},
                             elapsed_s=time.perf_counter() - start, status="start")

            for i in range(cfg.steps):
                step_start = time.perf_counter()
                # 1. the latent: SMS score (refined by R) + PSR, one AdamW step
                draw = self.sampler.draw(i / cfg.steps)
                terms = objective.latent_terms(latents, self.source, draw, self._noise())
                optimizer.zero_grad(set_to_none=True)
                terms.loss.backward()
                lr = optimizer.param_groups[0]["lr"]
                optimizer.step()
                schedule.step()
                # 2. the fake score: fit the updated latent
                lora_draw = self.sampler.draw(None)
                loss_lora = objective.fake_loss(latents, lora_draw, self._noise())
                lora_optimizer.zero_grad(set_to_none=True)
                loss_lora.backward()
                lora_optimizer.step()
                yield self._record(i + 1, latents, terms, float(loss_lora.detach()), draw, lr, start, step_start)
        finally:
            # closing the generator (Stop, a stop rule, Ctrl-C) lands here: free the trained copy
            self.fake_unet = None
            del fake

    def _record(self, step: int, latents: torch.Tensor, terms: Any, loss_lora: float, draw: Draw, lr: float,
                start: float, step_start: float) -> StepRecord:
        cfg = self.config
        r = terms.r_map.detach()[0, 0]
        self.latest_r_map = r.float().cpu().numpy()
        metrics = {
            "loss_sms": float(terms.loss_sms.detach()),
            "psr_l1": float(terms.psr_l1.detach()),
            "loss_psr": float(cfg.lambda_psr * terms.psr_l1.detach()),
            "loss_lora": loss_lora,
            "t": float(draw.t),
            "weight": draw.weight,
            "r_mean": float(r.mean()),
            "lr": lr,
            "latent_l2": float(torch.linalg.vector_norm((latents.detach() - self.source).float())),
        }
        frame = None
        if self._frame_due(step):
            frame = self.decode(latents.detach())
            d = self._distance(frame)
            metrics["norm"] = d
            metrics["rate"] = (d - self._d0) / (self._d0 if self._d0 != 0 else np.finfo(np.float64).eps)
        else:
            metrics["norm"] = metrics["rate"] = math.nan
        now = time.perf_counter()
        return StepRecord(step=step, total=cfg.steps, frame=frame, metrics=metrics,
                          timings_ms={"step": (now - step_start) * 1000.0}, elapsed_s=now - start,
                          status=f"t={draw.t}", side_images={R_MAP: colorize(self.latest_r_map)})
