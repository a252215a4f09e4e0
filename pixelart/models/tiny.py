"""Tiny stand-ins for every model in the registry, for tests and for trying the app without weights.

Each ``pixelart-tiny/...`` id is built from a small config with seeded random weights, using the same
classes as the real model, and written with ``save_pretrained`` to a local folder. The loader then
reads that folder exactly as it reads a real snapshot, so the tiny path exercises the real loading
code. Folders are built once per ``TINY_VERSION``: a temp dir beside the target is filled and then
``os.replace``-d into place, so a crash or a concurrent build never leaves a half-written folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from pixelart.models.registry import ATR_LABELS, TINY_DIR_ENV

# Bump when any config below changes: the folder name carries it, so old folders are never reused.
TINY_VERSION = "v1"
_DONE = ".complete"  # written last inside the temp dir; a folder without it is never trusted
_STALE_TMP_S = 3600.0  # leftovers of a crashed build older than this are removed
_BUILD_LOCK = threading.Lock()

SDXL_BETAS = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")


def tiny_root(root: Path | None = None) -> Path:
    """The folder tiny models live in: ``root``, else $PIXELART_TINY_DIR, else ~/.cache/pixelart/tiny."""
    if root is not None:
        return Path(root)
    env = os.environ.get(TINY_DIR_ENV)
    return Path(env) if env else Path.home() / ".cache" / "pixelart" / "tiny"


def is_tiny_id(repo_id: str) -> bool:
    """Whether a repo id names an in-process tiny model."""
    return repo_id.startswith("pixelart-tiny/")


def tiny_ids() -> list[str]:
    """Every tiny id this module can build."""
    return sorted(_BUILDERS)


def tiny_folder(repo_id: str, root: Path | None = None) -> Path:
    """Where ``repo_id`` is (or would be) materialised; no building."""
    if repo_id not in _BUILDERS:
        raise KeyError(f"unknown tiny model id {repo_id!r}; known: {', '.join(tiny_ids())}")
    return tiny_root(root) / f"{repo_id.split('/', 1)[1]}-{TINY_VERSION}"


def materialize_tiny(repo_id: str, root: Path | None = None) -> Path:
    """Return the folder holding tiny model ``repo_id``, building and saving it on first use."""
    target = tiny_folder(repo_id, root)
    if (target / _DONE).exists():
        return target
    with _BUILD_LOCK:  # builders seed torch's process-wide RNG: one build at a time per process
        if not (target / _DONE).exists():
            _build_atomically(repo_id, target)
    return target


def _build_atomically(repo_id: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        with torch.random.fork_rng(devices=[]), _quiet_saving():  # caller's RNG stays untouched
            _BUILDERS[repo_id](tmp)
        (tmp / _DONE).write_text(f"{repo_id} {TINY_VERSION}\n")
        if target.exists() and not (target / _DONE).exists():
            shutil.rmtree(target, ignore_errors=True)  # not ours to trust: no completion marker
        try:
            os.replace(tmp, target)
        except OSError:
            # Another process finished first (a non-empty target cannot be replaced): use theirs.
            if not (target / _DONE).exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _quiet_saving() -> Iterator[None]:
    # save_pretrained shows a "Writing model shards" bar per model: noise for files of a few kB.
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _remove_stale_temps(target: Path) -> None:
    # Fresh temp dirs may belong to a concurrent build; only old ones are crash leftovers.
    now = time.time()
    for leftover in target.parent.glob(f".{target.name}.tmp-*"):
        try:
            if now - leftover.stat().st_mtime > _STALE_TMP_S:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass


# ----------------------------------------------------------------------------------------------
# Tokenizers, built from an in-memory vocab so nothing touches the network.


def _clip_tokenizer(max_length: int = 77, pad_token: str = "<|endoftext|>"):
    """A byte-level CLIP BPE tokenizer with only the 256 byte symbols (no merges): 514 tokens."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    symbols = sorted(ByteLevel.alphabet())  # the 256 byte symbols; sorted for a stable vocab
    vocab = {s: i for i, s in enumerate(symbols + [s + "</w>" for s in symbols])}
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], pad_token=pad_token, model_max_length=max_length)


_BLIP_WORDS = (
    "a photo of woman man person wearing with and in on the red blue black white green "
    "dress shirt jacket coat skirt pants jeans shoes boots hat bag scarf belt sunglasses "
    "standing walking street studio fashion model long short striped floral denim leather"
).split()


def _bert_tokenizer():
    """A BERT WordPiece tokenizer over a few fashion words, with BLIP's extra [DEC] token."""
    from transformers import BertTokenizer

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
    vocab = {t: i for i, t in enumerate(specials + _BLIP_WORDS)}
    return BertTokenizer(vocab=vocab, model_max_length=64, bos_token="[DEC]")


def _clip_text_config(tokenizer, hidden: int = 32, projection_dim: int = 32):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=tokenizer.model_max_length,
        projection_dim=projection_dim,
        hidden_act="gelu",
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


# ----------------------------------------------------------------------------------------------
# Diffusion models. SDXL: cross-attention 64 = 32 + 32 (two text encoders' hidden states);
# added embedding 80 = 6 time ids * 8 + 32 (pooled projection of text encoder 2).


def _unet(seed: int, family: str):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    extra = (
        dict(
            cross_attention_dim=64,
            addition_embed_type="text_time",
            addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=80,
        )
        if family == "sdxl"
        else dict(cross_attention_dim=32)
    )
    return UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        norm_num_groups=8,
        **extra,
    )


def _vae(seed: int, scaling_factor: float):
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    # Two blocks: one downsample, so 64 px -> 32x32x4 latents (scale factor 2).
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(32, 64),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=8,
        sample_size=64,
        scaling_factor=scaling_factor,
        force_upcast=False,
    )


def _build_sdxl(out: Path) -> None:
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    tokenizer = _clip_tokenizer()
    tokenizer_2 = _clip_tokenizer(pad_token="!")  # SDXL's second tokenizer pads with "!"
    torch.manual_seed(11)
    text_encoder = CLIPTextModel(_clip_text_config(tokenizer))
    torch.manual_seed(12)
    text_encoder_2 = CLIPTextModelWithProjection(_clip_text_config(tokenizer_2))
    scheduler = EulerDiscreteScheduler(
        **SDXL_BETAS, steps_offset=1, timestep_spacing="leading", prediction_type="epsilon"
    )
    pipe = StableDiffusionXLPipeline(
        vae=_vae(13, scaling_factor=0.13025),
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=_unet(10, "sdxl"),
        scheduler=scheduler,
    )
    pipe.save_pretrained(out, safe_serialization=True)


def _build_sd(out: Path) -> None:
    from diffusers import DDPMScheduler, StableDiffusionPipeline
    from transformers import CLIPTextModel

    tokenizer = _clip_tokenizer()
    torch.manual_seed(21)
    text_encoder = CLIPTextModel(_clip_text_config(tokenizer))
    scheduler = DDPMScheduler(**SDXL_BETAS, steps_offset=1, clip_sample=False)
    pipe = StableDiffusionPipeline(
        vae=_vae(22, scaling_factor=0.18215),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=_unet(20, "sd"),
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out, safe_serialization=True)


def _controlnet_builder(seed: int) -> Callable[[Path], None]:
    def build(out: Path) -> None:
        from diffusers import ControlNetModel

        unet = _unet(10, "sdxl")  # only its config is used
        torch.manual_seed(seed)
        # Two conditioning-embedding blocks: one downsample, matching the VAE's factor 2.
        net = ControlNetModel.from_unet(
            unet, conditioning_embedding_out_channels=(16, 32), load_weights_from_unet=False
        )
        # Real ControlNets start from zero convs; random ones keep the tiny nets from being no-ops.
        zero_convs = [net.controlnet_cond_embedding.conv_out, net.controlnet_mid_block]
        zero_convs += list(net.controlnet_down_blocks)
        with torch.no_grad():
            for conv in zero_convs:
                torch.nn.init.normal_(conv.weight, std=0.02)
                torch.nn.init.zeros_(conv.bias)
        net.save_pretrained(out, safe_serialization=True)

    return build


def _taesd_builder(seed: int) -> Callable[[Path], None]:
    def build(out: Path) -> None:
        from diffusers import AutoencoderTiny

        torch.manual_seed(seed)
        # The encoder downsamples once per block after the first: two blocks -> factor 2, as the VAE.
        AutoencoderTiny(
            encoder_block_out_channels=(16, 16),
            decoder_block_out_channels=(16, 16),
            num_encoder_blocks=(1, 1),
            num_decoder_blocks=(1, 1),
            latent_channels=4,
        ).save_pretrained(out, safe_serialization=True)

    return build


# ----------------------------------------------------------------------------------------------
# Helper models (transformers).


def _build_dpt(out: Path) -> None:
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    config = DPTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=37,
        backbone_out_indices=(0, 1, 2, 3),
        neck_hidden_sizes=(8, 16, 32, 32),
        fusion_hidden_size=16,
        is_hybrid=False,
    )
    torch.manual_seed(30)
    DPTForDepthEstimation(config).save_pretrained(out)
    DPTImageProcessor(
        size={"height": 32, "width": 32}, keep_aspect_ratio=False, ensure_multiple_of=1
    ).save_pretrained(out)


def _build_clip(out: Path) -> None:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPVisionConfig

    tokenizer = _clip_tokenizer()
    text = _clip_text_config(tokenizer, projection_dim=16)
    vision = CLIPVisionConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        projection_dim=16,
    )
    config = CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=16)
    torch.manual_seed(40)
    CLIPModel(config).save_pretrained(out)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(out)
    tokenizer.save_pretrained(out)


def _build_dinov2(out: Path) -> None:
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    config = Dinov2Config(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        mlp_ratio=2,
    )
    torch.manual_seed(50)
    Dinov2Model(config).save_pretrained(out)
    BitImageProcessor(
        size={"shortest_edge": 32},
        crop_size={"height": 32, "width": 32},
        do_center_crop=True,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(out)


def _build_blip(out: Path) -> None:
    from transformers import (
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
        BlipTextConfig,
        BlipVisionConfig,
    )

    tokenizer = _bert_tokenizer()
    text = BlipTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        encoder_hidden_size=32,
        intermediate_size=37,
        projection_dim=16,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=64,
        bos_token_id=tokenizer.convert_tokens_to_ids("[DEC]"),
        pad_token_id=tokenizer.pad_token_id,
        sep_token_id=tokenizer.sep_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )
    vision = BlipVisionConfig(
        hidden_size=32,
        intermediate_size=37,
        projection_dim=16,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=32,
        patch_size=8,
    )
    config = BlipConfig(
        text_config=text.to_dict(),
        vision_config=vision.to_dict(),
        projection_dim=16,
        image_text_hidden_size=16,
    )
    torch.manual_seed(60)
    BlipForConditionalGeneration(config).save_pretrained(out)
    image_processor = BlipImageProcessor(size={"height": 32, "width": 32})
    BlipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out)


def _build_segformer(out: Path) -> None:
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    id2label = dict(enumerate(ATR_LABELS))  # the real segmenter's labels, so code keyed on names works
    config = SegformerConfig(
        num_encoder_blocks=2,
        depths=(1, 1),
        sr_ratios=(2, 1),
        hidden_sizes=(8, 16),
        patch_sizes=(7, 3),
        strides=(4, 2),
        num_attention_heads=(1, 2),
        mlp_ratios=(2, 2),
        decoder_hidden_size=16,
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    torch.manual_seed(70)
    SegformerForSemanticSegmentation(config).save_pretrained(out)
    SegformerImageProcessor(size={"height": 32, "width": 32}, do_reduce_labels=False).save_pretrained(out)


_BUILDERS: dict[str, Callable[[Path], None]] = {
    "pixelart-tiny/sdxl-controlnet": _build_sdxl,
    "pixelart-tiny/sd": _build_sd,
    "pixelart-tiny/controlnet-canny": _controlnet_builder(81),
    "pixelart-tiny/controlnet-depth": _controlnet_builder(82),
    "pixelart-tiny/taesdxl": _taesd_builder(91),
    "pixelart-tiny/taesd": _taesd_builder(92),
    "pixelart-tiny/dpt": _build_dpt,
    "pixelart-tiny/clip": _build_clip,
    "pixelart-tiny/dinov2": _build_dinov2,
    "pixelart-tiny/blip": _build_blip,
    "pixelart-tiny/segformer": _build_segformer,
}
