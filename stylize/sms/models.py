"""The three score models of SMS, loaded for this engine only (never a pipeline another engine caches).

* base: SD 1.5's UNet, frozen. It gives the SAGR map (no LoRA at all) and is copied for the fake score.
* style: a second copy of an SD 1.5 UNet (the base, or ``style_model``) with the style LoRA fused in.
* fake: a per-run copy of the base UNet with a trainable peft LoRA (``new_fake_unet``).

Text encoder, tokenizer and VAE come from the base pipeline. The frozen parts are loaded once per
process (the style UNet for one LoRA at a time, so switching styles does not pile up UNets); the
fake UNet is built per run because its LoRA trains.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from stylize.sms.config import MODELS, TINY_LORA, SMSConfig
from stylize.sms.style_lora import PACKAGE, TINY_HINT, fuse_style_lora, random_lora_state, resolve_lora
from workbench import hub
from workbench.errors import ModelNotAvailableError

_STYLE_LOCK = threading.Lock()
_STYLE_SLOT: dict[tuple, Any] = {}  # one style UNet at a time: {key: unet}


@dataclass
class SMSModels:
    """Everything an SMS run computes with. Frozen modules only; the fake UNet is made per run."""

    tokenizer: Any
    text_encoder: Any
    vae: Any
    base_unet: Any
    style_unet: Any
    scheduler_config: dict
    device: torch.device
    dtype: torch.dtype
    model_id: str
    style_lora_id: str
    tiny: bool = False

    @property
    def vae_scale_factor(self) -> int:
        """Pixels per latent pixel (8 for SD 1.5)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def default_resolution(self) -> int:
        """The model's native short side in pixels (512 for SD 1.5)."""
        size = self.base_unet.config.sample_size
        size = size[0] if isinstance(size, (list, tuple)) else size
        return int(size) * self.vae_scale_factor

    def new_fake_unet(self, *, rank: int, alpha: float, targets: tuple[str, ...], seed: int) -> Any:
        """A copy of the base UNet with a fresh trainable LoRA (B = 0, so it starts as the base model).

        The LoRA parameters are float32 whatever the UNet's dtype, so AdamW updates stay exact."""
        from peft import LoraConfig

        unet = copy.deepcopy(self.base_unet)
        unet.requires_grad_(False)
        with torch.random.fork_rng(devices=[]):  # peft draws lora_A from the global RNG
            torch.manual_seed(seed)
            unet.add_adapter(LoraConfig(r=rank, lora_alpha=alpha, target_modules=list(targets),
                                        init_lora_weights=True), adapter_name="fake")
        for param in unet.parameters():
            if param.requires_grad:
                param.data = param.data.float()
        unet.train()  # as the authors' code; SD 1.5's UNet has no dropout, so it changes nothing
        return unet


def resolve_model(name: str) -> tuple[str, Path]:
    """(repo id, local pipeline folder) for a registry name, a local folder or a hub id."""
    import pixelart.models.loading  # noqa: F401  registers the "pixelart-tiny/" builds (tiny-sd)

    repo_id = MODELS.get(name, name)
    try:
        path = hub.resolve_local(repo_id, kind=hub.PIPELINE, name=name, variant="fp16", package=PACKAGE)
    except ModelNotAvailableError as exc:
        raise _with_hint(exc, name, repo_id) from None
    return repo_id, path


def _with_hint(exc: ModelNotAvailableError, name: str, repo_id: str) -> ModelNotAvailableError:
    """The same error with this back end's way to try it without weights."""
    cause = exc.__cause__
    reason = hub.short_error(cause) if cause is not None else ""
    return ModelNotAvailableError(name, repo_id, reason, package=PACKAGE, tiny_hint=TINY_HINT)


def _load_unet(path: Path, name: str, repo_id: str, device: torch.device, dtype: torch.dtype) -> Any:
    from diffusers import UNet2DConditionModel

    try:
        unet = UNet2DConditionModel.from_pretrained(path / "unet", torch_dtype=dtype,
                                                    **hub.variant_kwargs(path / "unet", "fp16"))
    except (OSError, ValueError, KeyError) as exc:
        raise hub.load_error(name, repo_id, path, exc, package=PACKAGE) from exc
    return hub.freeze(unet, device)


@hub.load_once
def _load_base(name: str, device: torch.device, dtype: torch.dtype) -> dict[str, Any]:
    from diffusers import AutoencoderKL
    from transformers import CLIPTextModel, CLIPTokenizer

    repo_id, path = resolve_model(name)
    try:
        tokenizer = CLIPTokenizer.from_pretrained(path / "tokenizer")
        text_encoder = CLIPTextModel.from_pretrained(path / "text_encoder", dtype=dtype,
                                                     **hub.variant_kwargs(path / "text_encoder", "fp16"))
        # the VAE stays float32: its decoder overflows in half precision at 512 px
        vae = AutoencoderKL.from_pretrained(path / "vae", torch_dtype=torch.float32,
                                            **hub.variant_kwargs(path / "vae", "fp16"))
        scheduler_config = json.loads((path / "scheduler" / "scheduler_config.json").read_text())
    except (OSError, ValueError, KeyError) as exc:
        raise hub.load_error(name, repo_id, path, exc, package=PACKAGE) from exc
    return {
        "repo_id": repo_id, "path": path, "tokenizer": tokenizer,
        "text_encoder": hub.freeze(text_encoder, device), "vae": hub.freeze(vae, device),
        "unet": _load_unet(path, name, repo_id, device, dtype), "scheduler_config": scheduler_config,
    }


def _load_style_unet(style_model: str, lora: str, strength: float, device: torch.device, dtype: torch.dtype) -> Any:
    key = (style_model, lora, strength, hub.norm_device(device), dtype)
    with hub.LOAD_LOCK, _STYLE_LOCK:
        if key in _STYLE_SLOT:
            return _STYLE_SLOT[key]
        _STYLE_SLOT.clear()  # free the previous style's UNet before loading the next one
        repo_id, path = resolve_model(style_model)
        unet = _load_unet(path, style_model, repo_id, device, dtype)
        if lora == TINY_LORA:
            source: Any = random_lora_state(unet, rank=4, alpha=4.0, scale=0.2, seed=1234)
        else:
            try:
                source = resolve_lora(lora)
            except ModelNotAvailableError as exc:
                raise _with_hint(exc, "style LoRA", lora) from None
        fuse_style_lora(unet, source, strength)
        unet.to(device)  # dtype was set by from_pretrained; fusing keeps it
        unet.requires_grad_(False)
        _STYLE_SLOT[key] = unet
        return unet


def clear_style_cache() -> None:
    """Forget the cached style UNet (tests; switching devices)."""
    with _STYLE_LOCK:
        _STYLE_SLOT.clear()


def load_sms_models(config: SMSConfig) -> SMSModels:
    """Load (frozen parts once per process) the models a checked ``config`` needs."""
    device, _ = hub.pick_device(config.device)
    # float32 unless asked: the authors run SD 1.5 in float32, and the latent's AdamW needs exact scores
    dtype = torch.bfloat16 if config.dtype == "bfloat16" else torch.float32
    base = _load_base(config.model, device=device, dtype=dtype)
    style_unet = _load_style_unet(config.style_model or config.model, config.style_lora.strip(),
                                  float(config.lora_strength), device, dtype)
    return SMSModels(
        tokenizer=base["tokenizer"], text_encoder=base["text_encoder"], vae=base["vae"],
        base_unet=base["unet"], style_unet=style_unet, scheduler_config=base["scheduler_config"],
        device=hub.norm_device(device), dtype=dtype, model_id=base["repo_id"],
        style_lora_id=config.style_lora.strip(), tiny=config.is_tiny,
    )
