"""Loading models: registry name -> local folder -> loaded objects, each loaded once per process.

Every load first resolves a hub id to a local folder (tiny folder, local directory, or Hugging Face
cache snapshot) and only then calls ``from_pretrained(path)``: offline, ``from_pretrained`` on a hub id
retries for tens of seconds, whereas a cache look-up or a failed ``snapshot_download`` answers in
milliseconds. Whatever cannot be found or fetched raises ``ModelNotAvailableError``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pixelart.errors import ConfigError, ModelNotAvailableError
from pixelart.models.loaded import GuidanceModels, SemanticEncoder
from pixelart.models.registry import (
    REPO_ID,
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

PIPELINE = "pipeline"  # a diffusers pipeline folder with model_index.json
MODEL = "model"  # a single model folder with config.json + weights

_WEIGHT_SUFFIXES = (".safetensors", ".bin")
# Pipeline components the engine never uses: their absence does not make a snapshot incomplete.
_OPTIONAL_COMPONENTS = {"safety_checker", "feature_extractor", "image_encoder"}
_NO_WEIGHTS = ("Tokenizer", "Scheduler", "Processor", "FeatureExtractor")
_PIPELINE_FAMILIES = {"StableDiffusionXLPipeline": "sdxl", "StableDiffusionPipeline": "sd"}

# One lock for all loads: two app threads asking for the same model must not both load it.
_LOAD_LOCK = threading.RLock()


# ----------------------------------------------------------------------------------------------
# Finding weights on disk


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment at call time (HF_HUB_CACHE, HF_HOME)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _has_weights(folder: Path) -> bool:
    return folder.is_dir() and any(f.name.endswith(_WEIGHT_SUFFIXES) for f in folder.iterdir())


def _is_complete(path: Path, kind: str) -> bool:
    """Whether a folder holds everything ``from_pretrained`` needs (file checks only, no loading)."""
    if kind != PIPELINE:
        return (path / "config.json").is_file() and _has_weights(path)
    try:
        index = json.loads((path / "model_index.json").read_text())
    except (OSError, ValueError):
        return False
    for component, entry in index.items():
        if component.startswith("_") or component in _OPTIONAL_COMPONENTS:
            continue
        if not isinstance(entry, list) or len(entry) != 2 or entry[0] is None:
            continue
        folder = path / component
        if not folder.is_dir():
            return False
        if not any(tag in str(entry[1]) for tag in _NO_WEIGHTS) and not _has_weights(folder):
            return False
    return True


def cached_snapshot(repo_id: str, kind: str = MODEL) -> Path | None:
    """The complete local snapshot of a hub repo, or None; never touches the network."""
    from huggingface_hub import snapshot_download

    try:
        path = Path(snapshot_download(repo_id, local_files_only=True, cache_dir=hub_cache_dir()))
    except Exception:  # LocalEntryNotFoundError, bad id, unreadable cache: all mean "not here"
        return None
    return path if _is_complete(path, kind) else None


def _short(exc: BaseException) -> str:
    """One line for an error message: the exception's first line, without long parentheticals."""
    first = (str(exc).strip().splitlines() or [""])[0]
    first = re.sub(r"\s*\(.{40,}$", "", first)  # diffusers nests the whole cache-miss story in (...)
    text = f"{type(exc).__name__}: {first}"
    return text if len(text) <= 200 else text[:199].rsplit(" ", 1)[0] + "…"


def _download(repo_id: str, kind: str, variant: str | None) -> Path:
    cache = hub_cache_dir()
    if kind == PIPELINE:
        from diffusers import DiffusionPipeline

        return Path(DiffusionPipeline.download(repo_id, variant=variant, cache_dir=cache))
    from huggingface_hub import snapshot_download

    # One copy of the weights: the variant when asked for, else the default safetensors, and .bin
    # only for repos that have nothing else. Other frameworks' files are never fetched.
    extras = ["*.json", "*.txt", "*.model"]
    passes = [
        {"allow_patterns": extras + ["*.safetensors"], "ignore_patterns": ["*.fp16.*", "*.bf16.*", "*onnx*"]},
        {"allow_patterns": extras + ["*.safetensors", "*.bin"], "ignore_patterns": ["*onnx*"]},
    ]
    if variant:
        passes.insert(0, {"allow_patterns": extras + [f"*.{variant}.safetensors"]})
    for patterns in passes:
        path = Path(snapshot_download(repo_id, cache_dir=cache, **patterns))
        if _has_weights(path):
            break
    return path


def resolve_local(
    repo_id: str, *, kind: str = MODEL, name: str | None = None, variant: str | None = None
) -> Path:
    """A local folder for ``repo_id``: tiny build, existing directory, cached snapshot, or download.

    ``kind`` is ``"pipeline"`` (diffusers pipeline) or ``"model"`` (one model); ``name`` is the
    registry name used in error messages; ``variant`` (e.g. "fp16") is preferred when downloading.
    Raises ``ModelNotAvailableError`` when the weights are neither here nor downloadable.
    """
    name = name or repo_id
    if is_tiny_id(repo_id):
        try:
            return materialize_tiny(repo_id)
        except KeyError as exc:
            raise ModelNotAvailableError(name, repo_id, str(exc.args[0])) from None
    local = Path(repo_id).expanduser()
    if local.is_dir():
        return local
    if not REPO_ID.match(repo_id):
        raise ModelNotAvailableError(name, repo_id, "not a local directory nor a Hugging Face repo id")
    cached = cached_snapshot(repo_id, kind)
    if cached is not None:
        return cached
    try:
        path = _download(repo_id, kind, variant)
    except Exception as exc:  # offline, unknown repo, gated repo, disk full, ...
        raise ModelNotAvailableError(name, repo_id, _short(exc)) from exc
    if not _is_complete(path, kind):
        raise ModelNotAvailableError(name, repo_id, f"the copy at {path} is incomplete")
    return path


def _variant_kwargs(path: Path, variant: str | None) -> dict[str, str]:
    # A variant is a smaller copy of the same weights: use it when present, else the default files.
    if variant and any(
        f".{variant}." in f.name and f.name.endswith(_WEIGHT_SUFFIXES) for f in path.rglob("*")
    ):
        return {"variant": variant}
    return {}


def _freeze(module: Any, device: torch.device) -> Any:
    # dtype was set by from_pretrained, which keeps a model's float32-only modules in float32.
    module.to(device)
    module.eval()
    module.requires_grad_(False)
    return module


def _load_error(name: str, repo_id: str, path: Path, exc: Exception) -> ModelNotAvailableError:
    return ModelNotAvailableError(name, repo_id, f"the copy at {path} could not be loaded ({_short(exc)})")


# ----------------------------------------------------------------------------------------------
# Device


def pick_device(pref: str = "auto") -> tuple[torch.device, torch.dtype]:
    """("auto") CUDA with bfloat16 when available, else CPU with float32; "cpu"/"cuda" force one."""
    pref = (pref or "auto").lower()
    if pref not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"unknown device '{pref}'; choose auto, cpu or cuda")
    if pref == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but no CUDA GPU is available; use --device cpu")
    if pref == "cuda" or (pref == "auto" and torch.cuda.is_available()):
        return torch.device("cuda"), torch.bfloat16
    return torch.device("cpu"), torch.float32


def _norm_device(device: Any) -> torch.device:
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())  # one cache key for "cuda"/"cuda:0"
    return device


# ----------------------------------------------------------------------------------------------
# Diffusion models


def _spec_from_folder(path: Path, label: str) -> DiffusionSpec:
    """A DiffusionSpec for a pipeline folder that is not in the registry (no ControlNets, no TAESD)."""
    try:
        index = json.loads((path / "model_index.json").read_text())
        unet = json.loads((path / "unet" / "config.json").read_text())
        vae = json.loads((path / "vae" / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"'{label}' is not a diffusers pipeline folder ({_short(exc)})") from None
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
    with _LOAD_LOCK:
        return _load_guidance_cached(name_or_path, _norm_device(device), dtype, use_tiny_vae, controlnets)


@functools.cache
def _load_guidance_cached(
    name_or_path: str, device: torch.device, dtype: torch.dtype, use_tiny_vae: bool, controlnets: bool
) -> GuidanceModels:
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
    kwargs.update(_variant_kwargs(path, spec.variant))
    if spec.family == "sdxl":
        pipe_cls = StableDiffusionXLPipeline
    else:
        pipe_cls = StableDiffusionPipeline
        kwargs.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    try:
        pipe = pipe_cls.from_pretrained(path, **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        raise _load_error(spec.name, spec.repo_id, path, exc) from exc
    # SDS adds noise at arbitrary timesteps: DDPM's add_noise/alphas on the model's own betas.
    pipe.scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    for component in pipe.components.values():
        if isinstance(component, torch.nn.Module):
            _freeze(component, device)

    nets = []
    for control in spec.controlnets:
        cpath = resolve_local(control.repo_id, kind=MODEL, name=spec.name, variant=spec.variant)
        try:
            net = ControlNetModel.from_pretrained(cpath, dtype=dtype, **_variant_kwargs(cpath, spec.variant))
        except (OSError, ValueError, KeyError) as exc:
            raise _load_error(spec.name, control.repo_id, cpath, exc) from exc
        nets.append(_freeze(net, device))

    depth = None
    if spec.depth_estimator_id and any(c.kind == "depth" for c in spec.controlnets):
        depth = _load_depth_estimator(spec.depth_estimator_id, spec.name, device, dtype)

    encoder_vae = pipe.vae
    if use_tiny_vae:
        if spec.tiny_vae_id:
            tpath = resolve_local(spec.tiny_vae_id, kind=MODEL, name=spec.name)
            try:
                encoder_vae = _freeze(AutoencoderTiny.from_pretrained(tpath, dtype=dtype), device)
            except (OSError, ValueError, KeyError) as exc:
                raise _load_error(spec.name, spec.tiny_vae_id, tpath, exc) from exc
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
        raise _load_error(name, repo_id, path, exc) from exc
    return _freeze(model, device), processor


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


def load_encoder(name: str, *, tiny: bool, device: torch.device | str, dtype: torch.dtype) -> SemanticEncoder:
    """Load (once per process) a semantic image encoder: "clip" or "dino" (tiny ones when ``tiny``)."""
    with _LOAD_LOCK:
        return _load_encoder_cached(name, tiny, _norm_device(device), dtype)


@functools.cache
def _load_encoder_cached(name: str, tiny: bool, device: torch.device, dtype: torch.dtype) -> SemanticEncoder:
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


def load_captioner(*, tiny: bool, device: torch.device | str, dtype: torch.dtype) -> Callable[[Any], str]:
    """Load (once per process) the BLIP captioner: ``caption(pil_image) -> str``."""
    with _LOAD_LOCK:
        return _load_captioner_cached(tiny, _norm_device(device), dtype)


@functools.cache
def _load_captioner_cached(tiny: bool, device: torch.device, dtype: torch.dtype) -> Captioner:
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
    with _LOAD_LOCK:
        segmenter = _load_segmenter_cached(tiny, _norm_device(device), dtype)
    return segmenter, segmenter.id2label


@functools.cache
def _load_segmenter_cached(tiny: bool, device: torch.device, dtype: torch.dtype) -> ClothesSegmenter:
    from transformers import AutoImageProcessor, SegformerForSemanticSegmentation

    spec = TINY_CLOTHES_SEGMENTER if tiny else CLOTHES_SEGMENTER
    model, processor = _load_model_and_processor(
        spec.name, spec.repo_id, SegformerForSemanticSegmentation, AutoImageProcessor, device, dtype
    )
    return ClothesSegmenter(model, processor, device, dtype)


def clear_model_cache() -> None:
    """Forget every loaded model (tests; freeing memory before switching models)."""
    with _LOAD_LOCK:
        for cached in (
            _load_guidance_cached,
            _load_encoder_cached,
            _load_captioner_cached,
            _load_segmenter_cached,
        ):
            cached.cache_clear()


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


def missing_models(names: list[str], *, include_tiny_vae: bool = False) -> dict[str, list[str]]:
    """Registry entries whose weights are not in the local cache: {name: [missing repo ids]}.

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
