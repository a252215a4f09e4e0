"""The one list of models the pixel-art engine knows: short name -> Hugging Face id and settings.

The app's dropdowns, the CLI's ``--model`` choices and the tests all read these dictionaries. A name
whose ``tiny`` flag is set is built in-process from a small config with seeded random weights (see
``pixelart.models.tiny``) and saved with ``save_pretrained`` into a local folder, so it goes through
exactly the same loading code as the real weights; its images are not meaningful.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ControlNetSpec:
    """One ControlNet used during score distillation, conditioned on the photo."""

    kind: str  # "canny" or "depth": how the conditioning image is made from the photo
    repo_id: str
    scale: float = 0.15  # SD-piXL's controlnet_conditioning_scale


@dataclass(frozen=True)
class DiffusionSpec:
    """A text-to-image diffusion model used as the SDS prior."""

    name: str
    repo_id: str
    family: str  # "sd" (one text encoder) or "sdxl" (two text encoders + added time ids)
    resolution: int  # the square side the model was trained at; SDS renders at this size
    description: str
    controlnets: tuple[ControlNetSpec, ...] = ()
    tiny_vae_id: str | None = None  # TAESD / TAESDXL: a much cheaper encoder for the gradient
    depth_estimator_id: str | None = None  # needed when a "depth" ControlNet is used
    variant: str | None = None  # e.g. "fp16": smaller download of the same weights
    tiny: bool = False  # built in-process with random weights; images are not meaningful

    @property
    def all_repo_ids(self) -> list[str]:
        """Every hub id this model needs (for cache checks and download instructions)."""
        ids = [self.repo_id] + [c.repo_id for c in self.controlnets]
        if self.depth_estimator_id:
            ids.append(self.depth_estimator_id)
        return ids


@dataclass(frozen=True)
class EncoderSpec:
    """An image encoder whose embedding cosine similarity measures kept meaning (seed 000 §3.2)."""

    name: str
    repo_id: str
    kind: str  # "clip": projected image embedding; "dinov2": CLS token of the last layer
    label: str  # how charts and tables name it


@dataclass(frozen=True)
class AuxSpec:
    """A helper model (captioner, depth estimator, clothes segmenter) known by its hub id."""

    name: str
    repo_id: str
    description: str = ""
    extra: dict = field(default_factory=dict)


TINY_DIR_ENV = "PIXELART_TINY_DIR"  # where tiny models are materialised (default: ~/.cache/pixelart/tiny)

DIFFUSION_MODELS: dict[str, DiffusionSpec] = {
    "sdxl": DiffusionSpec(
        name="sdxl",
        repo_id="stabilityai/stable-diffusion-xl-base-1.0",
        family="sdxl",
        resolution=1024,
        description="SDXL base 1.0 with canny + depth ControlNets (the seed's and SD-piXL's setting)",
        controlnets=(
            ControlNetSpec("canny", "diffusers/controlnet-canny-sdxl-1.0-mid"),
            ControlNetSpec("depth", "diffusers/controlnet-depth-sdxl-1.0-mid"),
        ),
        tiny_vae_id="madebyollin/taesdxl",
        depth_estimator_id="Intel/dpt-hybrid-midas",
        variant="fp16",
    ),
    "sdxl-nocontrol": DiffusionSpec(
        name="sdxl-nocontrol",
        repo_id="stabilityai/stable-diffusion-xl-base-1.0",
        family="sdxl",
        resolution=1024,
        description="SDXL base 1.0 without ControlNets (faster, follows the photo less closely)",
        tiny_vae_id="madebyollin/taesdxl",
        variant="fp16",
    ),
    "sd15": DiffusionSpec(
        name="sd15",
        repo_id="stable-diffusion-v1-5/stable-diffusion-v1-5",
        family="sd",
        resolution=512,
        description="Stable Diffusion 1.5 at 512, no ControlNet: the light preset",
        tiny_vae_id="madebyollin/taesd",
        variant="fp16",
    ),
    "tiny": DiffusionSpec(
        name="tiny",
        repo_id="pixelart-tiny/sdxl-controlnet",
        family="sdxl",
        resolution=64,
        description="TINY TEST MODEL: SDXL-shaped, random weights, canny + depth ControlNets; "
        "images are not meaningful",
        controlnets=(
            ControlNetSpec("canny", "pixelart-tiny/controlnet-canny"),
            ControlNetSpec("depth", "pixelart-tiny/controlnet-depth"),
        ),
        tiny_vae_id="pixelart-tiny/taesdxl",
        depth_estimator_id="pixelart-tiny/dpt",
        tiny=True,
    ),
    "tiny-sd": DiffusionSpec(
        name="tiny-sd",
        repo_id="pixelart-tiny/sd",
        family="sd",
        resolution=64,
        description="TINY TEST MODEL: SD1.5-shaped, random weights, no ControlNet; "
        "images are not meaningful",
        tiny_vae_id="pixelart-tiny/taesd",
        tiny=True,
    ),
}

ENCODERS: dict[str, EncoderSpec] = {
    "clip": EncoderSpec("clip", "openai/clip-vit-base-patch16", "clip", "CLIP"),
    "dino": EncoderSpec("dino", "facebook/dinov2-base", "dinov2", "DINOv2"),
}
TINY_ENCODERS: dict[str, EncoderSpec] = {
    "clip": EncoderSpec("clip", "pixelart-tiny/clip", "clip", "CLIP (tiny)"),
    "dino": EncoderSpec("dino", "pixelart-tiny/dinov2", "dinov2", "DINOv2 (tiny)"),
}

CAPTIONER = AuxSpec("blip", "Salesforce/blip-image-captioning-large", "BLIP image captioning")
TINY_CAPTIONER = AuxSpec("blip", "pixelart-tiny/blip", "tiny BLIP (random weights)")

CLOTHES_SEGMENTER = AuxSpec(
    "clothes",
    "mattmdjaga/segformer_b2_clothes",
    "SegFormer-B2 fine-tuned on ATR clothes parsing (18 classes: hat, hair, sunglasses, "
    "upper-clothes, skirt, pants, dress, belt, shoes, face, legs, arms, bag, scarf, ...)",
)
TINY_CLOTHES_SEGMENTER = AuxSpec("clothes", "pixelart-tiny/segformer", "tiny SegFormer (random weights)")
# The clothes segmenter's 18 ATR labels, id = index: the tiny segmenter has the same ones, and a label
# map a user draws as a PNG uses the same ids.
ATR_LABELS: tuple[str, ...] = (
    "Background", "Hat", "Hair", "Sunglasses", "Upper-clothes", "Skirt", "Pants", "Dress", "Belt",
    "Left-shoe", "Right-shoe", "Face", "Left-leg", "Right-leg", "Left-arm", "Right-arm", "Bag", "Scarf",
)  # fmt: skip


def diffusion_spec(name: str) -> DiffusionSpec:
    """Look a diffusion model up by short name; unknown names get a message listing the known ones."""
    from workbench.errors import ConfigError

    try:
        return DIFFUSION_MODELS[name]
    except KeyError:
        raise ConfigError(
            f"unknown model '{name}'; choose one of: {', '.join(DIFFUSION_MODELS)}"
        ) from None


REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")  # "org/name" on the Hugging Face hub


def check_model_name(name: str) -> None:
    """Accept what the loader accepts: a registry name, a local pipeline folder, or a hub id
    ("org/name"); anything else gets a message listing the registry names."""
    if not isinstance(name, str) or not name.strip():  # Path("") is the working folder: never a model
        from workbench.errors import ConfigError

        raise ConfigError(f"no model chosen: choose one of {', '.join(DIFFUSION_MODELS)} or give a pipeline folder")
    if name in DIFFUSION_MODELS or Path(name).expanduser().is_dir() or REPO_ID.match(name):
        return
    diffusion_spec(name)


def encoder_specs(tiny: bool) -> dict[str, EncoderSpec]:
    """The semantic encoders matching a back end: tiny ones for a tiny diffusion model."""
    return TINY_ENCODERS if tiny else ENCODERS
