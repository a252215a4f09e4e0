"""Style LoRAs: find the file (local, or hub cache first), merge it into a UNet, or write a random one.

Loading goes through diffusers' own LoRA reader (``lora_state_dict``), which understands the common
formats (diffusers / peft ``unet.*.lora_A``, kohya / civitai ``lora_unet_*.lora_down`` with ``alpha``,
and the older attention-processor format). Only the UNet part is used: the authors' code skips a
LoRA's text-encoder weights (``lora_te=False``), so the prompt embeddings stay the base model's for
every score. The LoRA is fused into the style UNet's weights at ``strength``
(W + strength * alpha / rank * up @ down), as the authors' loader adds it into the weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from workbench.errors import ConfigError
from workbench.atomic import atomic_path

DEFAULT_WEIGHT_NAME = "pytorch_lora_weights.safetensors"
PACKAGE = "stylize"
TINY_HINT = "use --model tiny-sd --style-lora tiny to try SMS without weights"


def resolve_lora(spec: str) -> Path:
    """A local LoRA file for a path, a folder, or a hub id ("org/name" or "org/name:file.safetensors")."""
    from workbench.hub import resolve_file

    local = Path(spec).expanduser()
    if local.is_file():
        return local
    if local.is_dir():
        files = sorted(local.glob("*.safetensors")) or sorted(local.glob("*.bin"))
        if (local / DEFAULT_WEIGHT_NAME).is_file():
            return local / DEFAULT_WEIGHT_NAME
        if len(files) == 1:
            return files[0]
        raise ConfigError(f"style LoRA folder '{spec}' holds {len(files)} weight files; name one of them")
    repo, _, filename = spec.partition(":")
    return resolve_file(repo, filename or DEFAULT_WEIGHT_NAME, name="style LoRA", package=PACKAGE)


def unet_lora_state(
    source: Path | dict[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, float] | None]:
    """The UNet part of a LoRA (file or state dict) in diffusers' naming (``unet.`` keys) and its alphas."""
    from diffusers import StableDiffusionPipeline

    path = source if isinstance(source, dict) else str(source)
    label = "the LoRA" if isinstance(source, dict) else f"'{source}'"
    try:
        state, alphas = StableDiffusionPipeline.lora_state_dict(dict(path) if isinstance(path, dict) else path)
    except Exception as exc:  # unreadable file, unknown format: the user picked the wrong file
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        raise ConfigError(f"{label} is not a LoRA diffusers can read ({type(exc).__name__}: {first})") from None
    unet_state = {k: v for k, v in state.items() if k.startswith("unet.")}
    if not unet_state:
        raise ConfigError(f"{label} has no UNet LoRA weights (text-encoder-only LoRAs are not used by SMS)")
    if alphas is not None:
        alphas = {k: v for k, v in alphas.items() if k.startswith("unet.")}
    return unet_state, alphas


def fuse_style_lora(unet: Any, source: Path | dict[str, torch.Tensor], strength: float) -> None:
    """Merge a LoRA (file or state dict) into ``unet``'s weights at ``strength``; drop the LoRA layers."""
    from diffusers import StableDiffusionPipeline

    state, alphas = unet_lora_state(source)
    try:
        StableDiffusionPipeline.load_lora_into_unet(state, alphas, unet=unet, adapter_name="style")
    except (ValueError, RuntimeError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        raise ConfigError(f"the style LoRA does not fit this UNet ({type(exc).__name__}: {first})") from None
    unet.fuse_lora(lora_scale=strength)
    unet.unload_lora()


def attention_projections(unet: torch.nn.Module, targets: tuple[str, ...]) -> list[str]:
    """Names of the UNet's linear attention projections whose last name part(s) are in ``targets``."""
    names = []
    for name, module in unet.named_modules():
        if isinstance(module, torch.nn.Linear) and any(name == t or name.endswith("." + t) for t in targets):
            if ".attn1." in name or ".attn2." in name:
                names.append(name)
    return names


def random_lora_state(
    unet: torch.nn.Module, *, rank: int = 4, alpha: float = 4.0, scale: float = 0.05, seed: int = 0,
    targets: tuple[str, ...] = ("to_q", "to_k", "to_v", "to_out.0"), fmt: str = "kohya",
) -> dict[str, torch.Tensor]:
    """A seeded random LoRA for ``unet`` in kohya ("lora_unet_*.lora_down/up", "alpha") or diffusers
    ("unet.*.lora_A/B") naming. Tests, benchmarks and the tiny back end use it: not a real style."""
    if fmt not in ("kohya", "diffusers"):
        raise ValueError(f"unknown LoRA format {fmt!r}")
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for name in attention_projections(unet, targets):
        layer = unet.get_submodule(name)
        down = torch.randn(rank, layer.in_features, generator=gen) * scale
        up = torch.randn(layer.out_features, rank, generator=gen) * scale
        if fmt == "kohya":
            key = "lora_unet_" + name.replace(".", "_")
            state[f"{key}.lora_down.weight"], state[f"{key}.lora_up.weight"] = down, up
            state[f"{key}.alpha"] = torch.tensor(float(alpha))
        else:  # diffusers / peft: the scale alpha / rank lives in the adapter config, here 1
            state[f"unet.{name}.lora_A.weight"], state[f"unet.{name}.lora_B.weight"] = down, up
    return state


def save_lora(state: dict[str, torch.Tensor], path: Path) -> Path:
    """Write a LoRA state dict as a .safetensors file (atomically)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
    return path

