"""SMS run options as one typed, torch-free dataclass, checked in full before any model loads.

Defaults follow the authors' code (showlab/SMS ``stylize.py`` / ``sms.py`` and its scripts): CFG 4.5,
500 iterations, AdamW lr 0.1 on the latent with a 100-step warm-up and a cosine decay over 1.5x the
iterations, PSR weight 5e-4, fake-score LoRA rank 8 / alpha 32 on ``to_q`` and ``to_v`` trained with
AdamW lr 1e-3, style LoRA strength 0.8, timesteps on a 500-step DDIM grid between 2 % and 50 %.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError

AUTO_PROMPT = "auto"  # caption the content image (BLIP) instead of a typed description
TINY_LORA = "tiny"  # a seeded random style LoRA built in-process (tiny models only)
MODELS = {"sd15": "stable-diffusion-v1-5/stable-diffusion-v1-5", "tiny-sd": "pixelart-tiny/sd"}
TINY_MODELS = {"tiny-sd"}
LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")  # the attention projections a LoRA may adapt
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float32", "bfloat16")
LORA_SUFFIXES = (".safetensors", ".bin")
_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
MAX_STEPS = 100_000
R_MAP = "r_map"  # the key of the side image every step carries: the SAGR map R, viridis at latent resolution
SIDE_LABELS = {R_MAP: "Map R (SAGR): yellow where the style acts"}  # short: it labels an image beside the frame


@dataclass
class SMSConfig:
    """Every option of one SMS stylization run (see the module docstring for where defaults come from)."""

    style_lora: str = ""  # .safetensors file, folder, hub id ("org/name" or "org/name:file.safetensors"), or "tiny"
    style: str = "ghibli style"  # the style words: prompt "{style}, {caption}", SAGR prompt "Turn into {style}"
    prompt: str = AUTO_PROMPT  # the content caption, or "auto"
    model: str = "sd15"  # base SD 1.5: registry name, local pipeline folder or hub id
    style_model: str = ""  # a different SD 1.5 fine-tune whose UNet carries the style LoRA ("" = model)
    lora_strength: float = 0.8
    lambda_psr: float = 5e-4
    steps: int = 500
    lr: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.01  # torch's AdamW default, which the authors keep
    guidance_scale: float = 4.5
    lora_rank: int = 8
    lora_alpha: float = 32.0
    lora_targets: tuple[str, ...] = ("to_q", "to_v")
    lora_lr: float = 1e-3
    num_timesteps: int = 500  # the DDIM grid timesteps are drawn from
    min_step_ratio: float = 0.02
    max_step_ratio: float = 0.5
    psr_t_scale: float = 500.0  # mask cutoff u + v <= t / psr_t_scale * (h + w - 2)
    edit_prompt: str = "Turn into {style}"
    sagr: bool = True
    resolution: int = 0  # short side in pixels (0 = the model's: 512 for SD 1.5)
    seed: int = 0
    record_every: int = 10
    device: str = "auto"
    dtype: str = "float32"
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes carried into the bundle

    def check(self) -> "SMSConfig":
        """Raise a one-line ``ConfigError`` for the first bad option; no file is read but paths' existence."""
        _check_int("steps", self.steps, 1, MAX_STEPS)
        _check_int("warmup_steps", self.warmup_steps, 0, MAX_STEPS)
        _check_int("lora_rank", self.lora_rank, 1, 1024)
        _check_int("num_timesteps", self.num_timesteps, 2, 1000)
        _check_int("record_every", self.record_every, 1, MAX_STEPS)
        _check_int("seed", self.seed, 0, 2**63 - 1)
        _check_float("lr", self.lr, lo=0.0, lo_open=True)
        _check_float("lora_lr", self.lora_lr, lo=0.0)
        _check_float("lambda_psr", self.lambda_psr, lo=0.0)
        _check_float("weight_decay", self.weight_decay, lo=0.0)
        _check_float("guidance_scale", self.guidance_scale, lo=0.0)
        _check_float("lora_alpha", self.lora_alpha, lo=0.0, lo_open=True)
        _check_float("lora_strength", self.lora_strength, lo=-4.0, hi=4.0)
        _check_float("psr_t_scale", self.psr_t_scale, lo=0.0, lo_open=True)
        _check_float("min_step_ratio", self.min_step_ratio, lo=0.0, hi=1.0)
        _check_float("max_step_ratio", self.max_step_ratio, lo=0.0, hi=1.0)
        if self.min_step_ratio >= self.max_step_ratio:
            raise ConfigError(
                f"min_step_ratio ({self.min_step_ratio}) must be below max_step_ratio ({self.max_step_ratio})"
            )
        if self.resolution != 0:
            _check_int("resolution", self.resolution, 32, 2048)
        if not self.style.strip():
            raise ConfigError("style is empty; give the style words, e.g. --style 'ghibli style'")
        if not self.prompt.strip():
            raise ConfigError(f"prompt is empty; describe the content image or use '{AUTO_PROMPT}'")
        if "{style}" not in self.edit_prompt:
            raise ConfigError("edit_prompt must contain '{style}', e.g. 'Turn into {style}'")
        if not self.lora_targets or any(t not in LORA_TARGETS for t in self.lora_targets):
            raise ConfigError(f"lora_targets {list(self.lora_targets)} must be a non-empty subset of {list(LORA_TARGETS)}")
        if self.device not in DEVICES:
            raise ConfigError(f"unknown device '{self.device}'; choose one of: {', '.join(DEVICES)}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"unknown dtype '{self.dtype}'; choose one of: {', '.join(DTYPES)}")
        _check_model("model", self.model)
        if self.style_model:
            _check_model("style_model", self.style_model)
        self._check_lora()
        return self

    def _check_lora(self) -> None:
        spec = self.style_lora.strip()
        if not spec:
            raise ConfigError("no style LoRA given; pass --style-lora FILE.safetensors (or a hub id)")
        if spec == TINY_LORA:
            if not self.is_tiny:
                raise ConfigError(f"style LoRA '{TINY_LORA}' (random weights) only goes with a tiny model, e.g. tiny-sd")
            return
        path = Path(spec).expanduser()
        if path.is_dir():
            return
        if path.is_file():
            if not path.name.endswith(LORA_SUFFIXES):
                raise ConfigError(f"style LoRA '{spec}' is not a .safetensors or .bin file")
            return
        repo, _, filename = spec.partition(":")
        if _REPO_ID.match(repo) and not Path(repo).suffix and (not filename or filename.endswith(LORA_SUFFIXES)):
            return  # a hub id: resolved (cache first) when models load
        raise ConfigError(f"style LoRA '{spec}' not found: give a .safetensors file, a folder or a hub id")

    @property
    def is_tiny(self) -> bool:
        """Whether the base model is an in-process tiny test model (images are not meaningful)."""
        return self.model in TINY_MODELS

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the bundle's manifest."""
        data = dataclasses.asdict(self)
        data["lora_targets"] = list(self.lora_targets)
        return data


def _check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")


def _check_float(name: str, value: Any, *, lo: float | None = None, hi: float | None = None,
                 lo_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value <= hi
    if not ok:
        bound = f"{'>' if lo_open else '>='} {lo}" if lo is not None else "finite"
        if hi is not None:
            bound += f" and <= {hi}"
        raise ConfigError(f"{name} must be a finite number {bound}, got {value!r}")


def _check_model(name: str, value: str) -> None:
    if value in MODELS or Path(value).expanduser().is_dir() or _REPO_ID.match(value):
        return
    raise ConfigError(
        f"unknown {name} '{value}'; choose one of: {', '.join(MODELS)}, a local pipeline folder or a hub id"
    )
