"""Loading models: registry name -> local folder -> loaded objects, each loaded once per process.

Every load first resolves a hub id to a local folder (tiny folder, local directory, or Hugging Face
cache snapshot) and only then calls ``from_pretrained(path)``: offline, ``from_pretrained`` on a hub id
retries for tens of seconds, whereas a cache look-up or a failed ``snapshot_download`` answers in
milliseconds. Whatever cannot be found or fetched raises ``ModelNotAvailableError``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench.errors import ConfigError
from workbench.hub import (
    MODEL,
    PIPELINE,
    REPO_ID,
    cached_snapshot,
    freeze,
    load_error,
    load_once,
    register_tiny,
    resolve_local,
    short_error,
    variant_kwargs,
)
from pixelart.models.loaded import GuidanceModels, SemanticEncoder
from pixelart.models.registry import (
    CAPTIONER,
    CLOTHES_SEGMENTER,
    DIFFUSION_MODELS,
    ENCODERS,
    TINY_CAPTIONER,
    TINY_CLOTHES_SEGMENTER,
    AuxSpec,
    DiffusionSpec,
    diffusion_spec,
    encoder_specs,
)
from pixelart.models.tiny import is_tiny_id, materialize_tiny

log = logging.getLogger(__name__)

_PIPELINE_FAMILIES = {"StableDiffusionXLPipeline": "sdxl", "StableDiffusionPipeline": "sd"}
register_tiny("pixelart-tiny/", materialize_tiny)


# ----------------------------------------------------------------------------------------------
# Diffusion models


def _spec_from_folder(path: Path, label: str) -> DiffusionSpec:
    """A DiffusionSpec for a pipeline folder that is not in the registry (no ControlNets, no TAESD)."""
    try:
        index = json.loads((path / "model_index.json").read_text())
        unet = json.loads((path / "unet" / "config.json").read_text())
        vae = json.loads((path / "vae" / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"'{label}' is not a diffusers pipeline folder ({short_error(exc)})") from None
    family = _PIPELINE_FAMILIES.get(index.get("_class_name", ""))
    if family is None:
        raise ConfigError(
            f"'{label}' holds a {index.get('_class_name')}; "
            f"only {', '.join(_PIPELINE_FAMILIES)} are supported"
        )
    sample = unet["sample_size"]
    sample = sample[0] if isinstance(sample, (list, tuple)) else sample
    resolution = int(sample) * 2 ** (len(vae["block_out_channels"]) - 1)
    return DiffusionSpec(
        name=label, repo_id=label, family=family, resolution=resolution, description=f"pipeline from {path}"
    )


def _diffusion_source(name_or_path: str) -> tuple[DiffusionSpec, Path]:
    if name_or_path in DIFFUSION_MODELS:
        spec = DIFFUSION_MODELS[name_or_path]
        return spec, resolve_local(spec.repo_id, kind=PIPELINE, name=spec.name, variant=spec.variant)
    local = Path(name_or_path).expanduser()
    if local.is_dir():
        return _spec_from_folder(local, name_or_path), local
    if REPO_ID.match(name_or_path):  # a hub id outside the registry: same path as a local folder
        path = resolve_local(name_or_path, kind=PIPELINE, name=name_or_path)
        return _spec_from_folder(path, name_or_path), path
    diffusion_spec(name_or_path)  # raises ConfigError listing the known names
    raise AssertionError("unreachable")


@load_once
def load_guidance_models(
    name_or_path: str,
    *,
    device: torch.device | str,
    dtype: torch.dtype,
    use_tiny_vae: bool = False,
    controlnets: bool = True,
) -> GuidanceModels:
    """Load (once per process) the SDS prior: pipeline + DDPM scheduler, ControlNets, depth, encoder VAE.

    ``name_or_path`` is a registry name, a local diffusers pipeline folder or a hub pipeline id (the
    last two without ControlNets). ``controlnets=False`` drops the ControlNets (and depth estimator)
    and returns a spec without them.
    """
    from diffusers import (
        AutoencoderTiny,
        ControlNetModel,
        DDPMScheduler,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
    )

    spec, path = _diffusion_source(name_or_path)
    if not controlnets:
        spec = dataclasses.replace(spec, controlnets=(), depth_estimator_id=None)

    kwargs: dict[str, Any] = {"dtype": dtype, "local_files_only": True}
    kwargs.update(variant_kwargs(path, spec.variant))
    if spec.family == "sdxl":
        pipe_cls = StableDiffusionXLPipeline
    else:
        pipe_cls = StableDiffusionPipeline
        kwargs.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    try:
        pipe = pipe_cls.from_pretrained(path, **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        raise load_error(spec.name, spec.repo_id, path, exc) from exc
    # SDS adds noise at arbitrary timesteps: DDPM's add_noise/alphas on the model's own betas.
    pipe.scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    for component in pipe.components.values():
        if isinstance(component, torch.nn.Module):
            freeze(component, device)

    nets = []
    for control in spec.controlnets:
        cpath = resolve_local(control.repo_id, kind=MODEL, name=spec.name, variant=spec.variant)
        try:
            net = ControlNetModel.from_pretrained(cpath, dtype=dtype, **variant_kwargs(cpath, spec.variant))
        except (OSError, ValueError, KeyError) as exc:
            raise load_error(spec.name, control.repo_id, cpath, exc) from exc
        nets.append(freeze(net, device))

    depth = None
    if spec.depth_estimator_id and any(c.kind == "depth" for c in spec.controlnets):
        depth = _load_depth_estimator(spec.depth_estimator_id, spec.name, device, dtype)

    encoder_vae = pipe.vae
    if use_tiny_vae:
        if spec.tiny_vae_id:
            tpath = resolve_local(spec.tiny_vae_id, kind=MODEL, name=spec.name)
            try:
                encoder_vae = freeze(AutoencoderTiny.from_pretrained(tpath, dtype=dtype), device)
            except (OSError, ValueError, KeyError) as exc:
                raise load_error(spec.name, spec.tiny_vae_id, tpath, exc) from exc
        else:
            log.warning("model %s has no tiny VAE; encoding with its own VAE", spec.name)
    return GuidanceModels(
        spec=spec,
        pipe=pipe,
        encoder_vae=encoder_vae,
        controlnets=nets,
        depth_estimator=depth,
        device=device,
        dtype=dtype,
    )


def _load_model_and_processor(
    name: str, repo_id: str, model_cls: Any, processor_cls: Any, device: torch.device, dtype: torch.dtype
) -> tuple[Any, Any]:
    """Resolve a transformers model folder and load (model frozen on ``device``, its processor)."""
    path = resolve_local(repo_id, kind=MODEL, name=name)
    try:
        model = model_cls.from_pretrained(path, dtype=dtype)
        # the PIL backend always: identical preprocessing (and metrics) with or without torchvision
        processor = processor_cls.from_pretrained(path, backend="pil")
    except (OSError, ValueError, KeyError) as exc:
        raise load_error(name, repo_id, path, exc) from exc
    return freeze(model, device), processor


class DepthEstimator:
    """PIL image -> PIL 3-channel depth map of the same size, normalised to [0, 255] (near = bright)."""

    def __init__(self, model: Any, processor: Any, device: torch.device, dtype: torch.dtype) -> None:
        self.model, self.processor, self.device, self.dtype = model, processor, device, dtype

    @torch.no_grad()
    def __call__(self, image: Any) -> Any:
        from PIL import Image

        rgb = image.convert("RGB")
        pixels = self.processor(images=rgb, return_tensors="pt")["pixel_values"].to(self.device, self.dtype)
        depth = self.model(pixel_values=pixels).predicted_depth.float()
        depth = torch.nn.functional.interpolate(
            depth[:, None], size=(rgb.height, rgb.width), mode="bicubic", align_corners=False
        )[0, 0]
        lo, hi = depth.min(), depth.max()
        # No absolute epsilon: a model's depth units can be tiny, and a flat map is legitimately black.
        depth = (depth - lo) / (hi - lo) if hi > lo else torch.zeros_like(depth)
        gray = (depth * 255.0).round().clamp(0, 255).to(torch.uint8).cpu().numpy()
        return Image.fromarray(np.repeat(gray[:, :, None], 3, axis=2))


def _load_depth_estimator(
    repo_id: str, name: str, device: torch.device, dtype: torch.dtype
) -> DepthEstimator:
    from transformers import AutoImageProcessor, DPTForDepthEstimation

    model, processor = _load_model_and_processor(
        name, repo_id, DPTForDepthEstimation, AutoImageProcessor, device, dtype
    )
    return DepthEstimator(model, processor, device, dtype)


# ----------------------------------------------------------------------------------------------
# Encoders and helper models


@load_once
def load_encoder(name: str, *, tiny: bool, device: torch.device | str, dtype: torch.dtype) -> SemanticEncoder:
    """Load (once per process) a semantic image encoder: "clip" or "dino" (tiny ones when ``tiny``)."""
    from transformers import AutoImageProcessor, CLIPModel, Dinov2Model

    specs = encoder_specs(tiny)
    if name not in specs:
        raise ConfigError(f"unknown encoder '{name}'; choose one of: {', '.join(specs)}")
    spec = specs[name]
    model_cls = CLIPModel if spec.kind == "clip" else Dinov2Model
    model, processor = _load_model_and_processor(
        spec.name, spec.repo_id, model_cls, AutoImageProcessor, device, dtype
    )
    return SemanticEncoder(spec=spec, model=model, processor=processor, device=device, dtype=dtype)


class Captioner:
    """PIL image -> one-line caption (BLIP, greedy decoding)."""

    def __init__(
        self, model: Any, processor: Any, device: torch.device, dtype: torch.dtype, max_new_tokens: int = 40
    ):
        self.model, self.processor, self.device, self.dtype = model, processor, device, dtype
        self.max_new_tokens = max_new_tokens

    @torch.no_grad()
    def __call__(self, image: Any) -> str:
        inputs = self.processor(images=image.convert("RGB"), return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.device, self.dtype)
        tokens = self.model.generate(pixel_values=pixels, max_new_tokens=self.max_new_tokens)
        return self.processor.decode(tokens[0], skip_special_tokens=True).strip()


@load_once
def load_captioner(*, tiny: bool, device: torch.device | str, dtype: torch.dtype) -> Callable[[Any], str]:
    """Load (once per process) the BLIP captioner: ``caption(pil_image) -> str``."""
    from transformers import BlipForConditionalGeneration, BlipProcessor

    spec = TINY_CAPTIONER if tiny else CAPTIONER
    model, processor = _load_model_and_processor(
        spec.name, spec.repo_id, BlipForConditionalGeneration, BlipProcessor, device, dtype
    )
    return Captioner(model, processor, device, dtype)


class ClothesSegmenter:
    """PIL image -> (H, W) int64 label map of the image's size; ``id2label`` names the labels."""

    def __init__(self, model: Any, processor: Any, device: torch.device, dtype: torch.dtype) -> None:
        self.model, self.processor, self.device, self.dtype = model, processor, device, dtype
        self.id2label: dict[int, str] = {int(k): v for k, v in model.config.id2label.items()}

    @torch.no_grad()
    def __call__(self, image: Any) -> np.ndarray:
        rgb = image.convert("RGB")
        pixels = self.processor(images=rgb, return_tensors="pt")["pixel_values"].to(self.device, self.dtype)
        logits = self.model(pixel_values=pixels).logits.float()
        # SegFormer predicts at 1/4 resolution: upsample the logits, not the labels, before argmax.
        logits = torch.nn.functional.interpolate(
            logits, size=(rgb.height, rgb.width), mode="bilinear", align_corners=False
        )
        return logits.argmax(dim=1)[0].cpu().numpy().astype(np.int64)


def load_clothes_segmenter(
    *, tiny: bool, device: torch.device | str, dtype: torch.dtype
) -> tuple[ClothesSegmenter, dict[int, str]]:
    """Load (once per process) the SegFormer clothes parser: ``(segment, id2label)``."""
    segmenter = _load_segmenter(tiny=tiny, device=device, dtype=dtype)
    return segmenter, segmenter.id2label


@load_once
def _load_segmenter(*, tiny: bool, device: torch.device, dtype: torch.dtype) -> ClothesSegmenter:
    from transformers import AutoImageProcessor, SegformerForSemanticSegmentation

    spec = TINY_CLOTHES_SEGMENTER if tiny else CLOTHES_SEGMENTER
    model, processor = _load_model_and_processor(
        spec.name, spec.repo_id, SegformerForSemanticSegmentation, AutoImageProcessor, device, dtype
    )
    return ClothesSegmenter(model, processor, device, dtype)


# ----------------------------------------------------------------------------------------------
# Start-up check


def _aux_by_name() -> dict[str, AuxSpec]:
    return {CAPTIONER.name: CAPTIONER, CLOTHES_SEGMENTER.name: CLOTHES_SEGMENTER}


def required_repo_ids(name: str, *, include_tiny_vae: bool = False) -> list[tuple[str, str]]:
    """(repo id, kind) pairs a registry entry needs: a diffusion model, encoder, "blip" or "clothes"."""
    if name in DIFFUSION_MODELS:
        spec = DIFFUSION_MODELS[name]
        ids = [(spec.repo_id, PIPELINE)] + [(r, MODEL) for r in spec.all_repo_ids[1:]]
        if include_tiny_vae and spec.tiny_vae_id:
            ids.append((spec.tiny_vae_id, MODEL))
        return ids
    if name in ENCODERS:
        return [(ENCODERS[name].repo_id, MODEL)]
    if name in _aux_by_name():
        return [(_aux_by_name()[name].repo_id, MODEL)]
    known = [*DIFFUSION_MODELS, *ENCODERS, *_aux_by_name()]
    raise ConfigError(f"unknown model '{name}'; choose one of: {', '.join(known)}")


def missing_models(names: list[str], *, include_tiny_vae: bool = True) -> dict[str, list[str]]:
    """Registry entries whose weights are not in the local cache: {name: [missing repo ids]}; the
    model's TAESD counts (the default encoder, as SD-πXL's) unless ``include_tiny_vae`` is False.

    File checks only (no network, no loading). Tiny entries are never missing: they are built on use.
    Entries with nothing missing are left out.
    """
    missing: dict[str, list[str]] = {}
    for name in names:
        absent = [
            repo_id
            for repo_id, kind in required_repo_ids(name, include_tiny_vae=include_tiny_vae)
            if not is_tiny_id(repo_id)
            and not Path(repo_id).expanduser().is_dir()
            and cached_snapshot(repo_id, kind) is None
        ]
        if absent:
            missing[name] = absent
    return missing


def download_model(name: str, *, with_encoders: bool = False) -> list[Path]:
    """Fetch everything a diffusion model needs into the local cache (needs internet); returns the folders.

    With ``with_encoders`` also the semantic encoders and the captioner that match it (tiny ones for a
    tiny model). Raises ModelNotAvailableError naming the first repository that could not be fetched.
    """
    spec = diffusion_spec(name)
    wanted = [(repo_id, kind, spec.variant) for repo_id, kind in required_repo_ids(name, include_tiny_vae=True)]
    if with_encoders:
        encoders = [e.repo_id for e in encoder_specs(spec.tiny).values()]
        captioner = TINY_CAPTIONER if spec.tiny else CAPTIONER
        wanted += [(repo_id, MODEL, None) for repo_id in [*encoders, captioner.repo_id]]
    return [resolve_local(repo_id, kind=kind, name=name, variant=variant) for repo_id, kind, variant in wanted]
