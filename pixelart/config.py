"""Typed configuration of a pixel-art run; defaults follow SD-piXL and seed 000 §4.2.

Plain dataclasses with no torch import, so that the CLI's parsing and help stay fast.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from pixelart.guidance.schedules import TimestepRange

AUTO_PROMPT = "auto"
PARTS_MODES = ("auto", "on", "off")
FALLBACK_PROMPT = "a full-body photo of a person wearing fashionable clothes"


WEIGHTINGS = ("one_minus_alpha_bar", "constant")
DTYPES = ("fp32", "bf16", "fp16")  # SD-piXL runs in fp32; the half precisions are faster on a GPU
LATENT_ENCODERS = ("taesd", "vae")  # the differentiable encoder: TAESD(XL) as in SD-piXL, or the model's VAE


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities of each augmentation (SD-piXL's defaults); ``enabled=False`` turns all off."""

    enabled: bool = True
    grayscale_prob: float = 0.2
    hflip_prob: float = 0.5
    perspective_prob: float = 0.5
    perspective_scale: float = 0.3


@dataclass(frozen=True)
class SDSConfig:
    """Guidance settings (defaults follow SD-piXL's config)."""

    # SD-piXL's gradient is (eps_pos - eps) + s * (eps_pos - eps_neg) with s = 40, which is classifier-free
    # guidance eps_neg + (s + 1) * (eps_pos - eps_neg) minus eps: this engine's scale is SD-piXL's s + 1
    guidance_scale: float = 41.0
    # an empty negative prompt is encoded as "" like any text (SD-piXL); True: zero embeddings instead,
    # what diffusers' SDXL pipelines substitute for a missing one (force_zeros_for_empty_prompt)
    negative_zeros: bool = False
    schedule: str = "bounded_max"
    t_range: TimestepRange = field(default_factory=TimestepRange)
    weighting: str = "one_minus_alpha_bar"
    use_controlnets: bool = True
    controlnet_scale: float | None = None  # None: each ControlNet's registry scale
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass(frozen=True)
class GeneratorConfig:
    """How logits are initialised and rendered."""

    # "sdpixl": torch bilinear (no antialiasing) from the 1024 photo, in float, as SD-piXL; or one of
    # pixelart.baselines.DOWNSAMPLERS (PIL, antialiased, on uint8)
    init_method: str = "sdpixl"
    init_distance: str = "l1"
    render: str = "gumbel"  # "gumbel" (Gumbel-softmax) or "softmax"
    hard: bool = False  # straight-through argmax in the forward pass
    tau: float = 1.0
    random_tau: bool = True  # SD-piXL draws tau uniformly in [tau_min, tau_max] each step
    tau_min: float = 0.5
    tau_max: float = 1.5
    upsample: str = "bilinear"  # torch interpolate mode from pixel-art size to model size


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with a warm-up, gradient clipping and the FFT regularizer weight."""

    lr: float = 0.025
    warmup_steps: int = 250
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    fft_scale: float = 20.0


@dataclass(frozen=True)
class MetricsConfig:
    """Which semantic encoders run, and every how many steps (in one batch)."""

    encoders: tuple[str, ...] = ("clip", "dino")
    semantic_every: int = 10
    # per-part norm series from a clothes segmenter: "auto" = when one is here (the tiny one for tiny
    # models, the real one only if already cached, never downloaded), "on" = required, "off" = never
    parts: str = "auto"


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run; saved in the trajectory bundle."""

    model: str = "sdxl"
    prompt: str = AUTO_PROMPT
    negative_prompt: str = ""
    size: tuple[int, int] = (64, 64)  # pixel-art (H, W)
    colors: int = 16
    palette_hex: tuple[str, ...] | None = None  # a fixed palette ("rrggbb" strings) instead of k-means
    steps: int = 10_000
    seed: int = 0
    fit: str = "crop"
    device: str = "auto"
    tiny_vae: bool = True  # encode with TAESD(XL), SD-piXL's default and much cheaper; False: the model's VAE
    dtype: str = "fp32"  # one of DTYPES: SD-piXL's fp32 by default; bf16 / fp16 are faster on a GPU
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    guidance: SDSConfig = field(default_factory=SDSConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)

    def replace(self, **changes: Any) -> "RunConfig":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (nested), as stored in a bundle's manifest."""
        return dataclasses.asdict(self)
