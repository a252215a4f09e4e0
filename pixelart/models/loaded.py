"""Loaded-model containers shared by the loader (``loading.py``) and the engine that uses them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from pixelart.models.registry import DiffusionSpec, EncoderSpec


@dataclass
class GuidanceModels:
    """Everything score distillation needs, loaded once per process and reused across runs.

    ``pipe`` is a diffusers ``StableDiffusionPipeline`` (family "sd") or ``StableDiffusionXLPipeline``
    (family "sdxl") whose scheduler is a ``DDPMScheduler`` built from the model's own scheduler config;
    its ``encode_prompt`` turns prompts into embeddings. ``encoder_vae`` is what the rendered image is
    encoded with (the pipeline's VAE, or TAESD when asked for), the only network the gradient passes
    through. ``controlnets`` follow ``spec.controlnets`` in order. ``depth_estimator`` maps a PIL image
    to a PIL depth map of the same size and is set when a "depth" ControlNet is used.
    """

    spec: DiffusionSpec
    pipe: Any
    encoder_vae: Any
    controlnets: list[Any] = field(default_factory=list)
    depth_estimator: Callable[[Any], Any] | None = None
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32


@dataclass
class SemanticEncoder:
    """An image encoder plus its preprocessing; ``embed`` returns L2-normalised embeddings."""

    spec: EncoderSpec
    model: Any
    processor: Any
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32

    @torch.no_grad()
    def embed(self, images: list[Any]) -> torch.Tensor:
        """Embed a batch of RGB images (PIL or HxWx3 uint8 arrays) -> (B, D) float32, unit norm."""
        inputs = self.processor(images=images, return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.device, self.dtype)
        if self.spec.kind == "clip":
            out = self.model.get_image_features(pixel_values=pixels)
            feats = out if isinstance(out, torch.Tensor) else out.pooler_output
        elif self.spec.kind == "dinov2":
            # pooler_output is the CLS token of the last layer after the final layer norm
            feats = self.model(pixel_values=pixels).pooler_output
        else:  # pragma: no cover - registry only has the two kinds
            raise ValueError(f"unknown encoder kind {self.spec.kind}")
        feats = feats.float()
        return feats / feats.norm(dim=-1, keepdim=True).clamp_min(1e-12)
