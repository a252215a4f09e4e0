"""The engine's defaults reproduce SD-piXL (github.com/AlexandreBinninger/SD-piXL), item by item, on tiny
weights: each test recomputes SD-piXL's formula independently, as its code writes it."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter

from pixelart.baselines import initial_frame
from pixelart.cli import build_parser, config_from_args
from pixelart.config import AugmentConfig, MetricsConfig, RunConfig, SDSConfig
from pixelart.generator import PixelGenerator
from pixelart.guidance.controls import canny_image
from pixelart.guidance.sds import ScoreDistillation
from pixelart.preparation import prepare
from pixelart.run import PixelArtRun, check_config, load_guidance
from workbench.errors import ConfigError

PROMPT = "a red dress"


def _photo(size: int, seed: int = 0) -> Image.Image:
    """Shapes with soft edges and some noise: many edges, many colours."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.stack([180 * (x > 0.3) + 60 * y, 200 * ((x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.1), 255 * x * y], -1)
    img = img + rng.normal(0, 12, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _models(dtype: str = "fp32"):
    return load_guidance(RunConfig(model="tiny", device="cpu", dtype=dtype, guidance=SDSConfig(use_controlnets=False)))


def _sds(models, **config) -> ScoreDistillation:
    sds_config = SDSConfig(augment=AugmentConfig(enabled=False), use_controlnets=False, **config)
    return ScoreDistillation(models, prompt=PROMPT, negative_prompt="", photo=_photo(64), size=(64, 64),
                             config=sds_config, seed=0)


def _sdpixl_gradient(models, image: torch.Tensor, t: int, noise: torch.Tensor, s: float = 40.0) -> torch.Tensor:
    """SD-piXL's LSDSSDXLControlNetPipeline: preprocess_SDS + score_distillation_sampling_preprocessed
    (no ControlNet, no augmentation), in float32."""
    pipe = models.pipe
    with torch.no_grad():
        pos, neg, pooled, neg_pooled = pipe.encode_prompt(
            prompt=[PROMPT], device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=True,
            negative_prompt="")
        _, uncond, _, uncond_pooled = pipe.encode_prompt(
            prompt=[PROMPT], device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=True,
            negative_prompt=None)
        h, w = image.shape[-2:]
        time_ids = torch.tensor([[h, w, 0, 0, h, w]] * 3, dtype=torch.float32)
        vae = models.encoder_vae
        latents = vae.encode((2 * image - 1).clamp(-1, 1)).latents * vae.config.scaling_factor
        latents = latents * pipe.scheduler.init_noise_sigma
        noisy = pipe.scheduler.add_noise(latents, noise, torch.tensor([t]))
        eps = pipe.unet(torch.cat([noisy] * 3), t, encoder_hidden_states=torch.cat([neg, pos, uncond]),
                        added_cond_kwargs={"text_embeds": torch.cat([neg_pooled, pooled, uncond_pooled]),
                                           "time_ids": time_ids}, return_dict=False)[0]
        eps_neg, eps_pos, _ = eps.chunk(3)
        weight = 1 - pipe.scheduler.alphas_cumprod[t]
        return torch.nan_to_num(weight * ((eps_pos - noise) + s * (eps_pos - eps_neg)))


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(F.cosine_similarity(a.flatten().double(), b.flatten().double(), dim=0))


@pytest.fixture(scope="module")
def models():
    return _models()


# -- empty negative prompt and guidance scale -------------------------------------------------------------
def test_default_sds_gradient_is_sdpixl_s40_with_an_encoded_empty_negative_prompt(models):
    sds = _sds(models)  # the default scale (41) and negative-prompt handling
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    out = sds(image, step=3, total=10)
    expected = _sdpixl_gradient(models, image, out.timestep, out.noise)
    assert sds.config.guidance_scale == 41.0
    assert _cosine(out.grad, expected) > 1 - 1e-9
    assert torch.allclose(out.grad, expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max()))
    # the negative branch is "" through both text encoders, not zeros
    assert sds.text_embeddings[0].abs().max() > 0 and sds.added_cond["text_embeds"][0].abs().max() > 0


def test_zero_negative_embeddings_stay_an_option_and_change_the_direction(models):
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    encoded = _sds(models)(image, step=3, total=10)
    zeros_sds = _sds(models, negative_zeros=True)
    zeros = zeros_sds(image, step=3, total=10)
    assert zeros_sds.text_embeddings[0].abs().max() == 0 and zeros_sds.added_cond["text_embeds"][0].abs().max() == 0
    assert zeros.timestep == encoded.timestep and torch.equal(zeros.noise, encoded.noise)
    assert _cosine(zeros.grad, encoded.grad) < 0.99


def test_cli_defaults_are_sdpixls():
    args = build_parser().parse_args(["run", "photo.png", "--out", "x.bundle"])
    config = config_from_args(args)
    assert config.guidance.guidance_scale == 41.0 and not config.guidance.negative_zeros
    assert config.tiny_vae and config.dtype == "fp32" and config.generator.init_method == "sdpixl"
    args = build_parser().parse_args(["run", "photo.png", "--out", "x.bundle", "--negative-zeros", "--encoder",
                                      "vae", "--dtype", "bf16", "--init", "bilinear"])
    config = config_from_args(args)
    assert config.guidance.negative_zeros and not config.tiny_vae and config.dtype == "bf16"
    assert config.generator.init_method == "bilinear"


# -- initial logits -------------------------------------------------------------------------------------
def _sdpixl_logits(photo: Image.Image, size: tuple[int, int], palette: np.ndarray) -> torch.Tensor:
    """SD-piXL's "palette-bilinear" initialisation with the l1 distance: ToTensor, nnf.interpolate
    (bilinear), euclidean_similarity_target * sqrt(K), then PixelArt.initialize + normalize_softmax."""
    target = torch.from_numpy(np.array(photo)).permute(2, 0, 1).float().div(255)[None]
    small = F.interpolate(target, size=size, mode="bilinear").squeeze(0).permute(1, 2, 0)
    pal = torch.from_numpy(palette).float() / 255.0
    cls = torch.stack([-(small[i, j][None] - pal).abs().sum(dim=1) for i in range(size[0]) for j in range(size[1])])
    cls = cls.reshape(*size, -1) * math.sqrt(pal.shape[0])
    cls = cls - cls.mean(dim=-1, keepdim=True)  # initialize: balance
    std = (cls - cls.mean(dim=-1, keepdim=True)).norm(dim=-1, keepdim=True).mean()
    cls = cls - cls.mean(dim=-1, keepdim=True)  # normalize_softmax: balance, then each vector to norm std
    return cls / cls.norm(dim=-1, keepdim=True) * std


def test_run_starts_from_sdpixls_initial_logits():
    photo = _photo(1024, seed=2)  # already SD-piXL's 1024 x 1024, so both start from the same pixels
    config = RunConfig(model="tiny", prompt=PROMPT, size=(32, 32), colors=8, steps=1, device="cpu",
                       metrics=MetricsConfig(encoders=(), parts="off"))
    run = PixelArtRun(photo, config)
    expected = _sdpixl_logits(photo, (32, 32), run.palette)
    assert torch.allclose(run.generator.logits.detach(), expected, atol=1e-5)
    # the PIL (antialiased, uint8) initialisation stays an option, and it starts from another frame
    pil = PixelArtRun(photo, config.replace(generator=config.generator.__class__(init_method="bilinear")))
    changed = (pil.generator.hard_indices() != run.generator.hard_indices()).mean()
    assert changed > 0.02
    assert not torch.allclose(pil.generator.logits, run.generator.logits, atol=1e-3)
    # the app's preview compares the two first frames: the same frames as these runs start from
    prep = prepare(photo, (32, 32), colors=8, seed=config.seed)
    assert np.array_equal(initial_frame(prep), run.generator.hard_indices())
    assert np.array_equal(initial_frame(prep, "bilinear"), pil.generator.hard_indices())


def test_generator_takes_float_images_in_unit_range_and_uint8_alike():
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    palette = rng.integers(0, 256, (5, 3), dtype=np.uint8)
    a = PixelGenerator.from_image(small, palette).logits
    b = PixelGenerator.from_image(small.astype(np.float32) / 255.0, palette).logits
    assert torch.allclose(a, b, atol=1e-6)


# -- encoder --------------------------------------------------------------------------------------------
def test_default_encoder_is_taesd_and_the_vae_stays_an_option(models):
    assert RunConfig().tiny_vae
    assert type(models.encoder_vae).__name__ == "AutoencoderTiny"
    vae = load_guidance(RunConfig(model="tiny", device="cpu", tiny_vae=False, guidance=SDSConfig(use_controlnets=False)))
    assert type(vae.encoder_vae).__name__ == "AutoencoderKL"


# -- Canny ----------------------------------------------------------------------------------------------
def test_canny_is_sdpixls_opencv_edge_map():
    import cv2

    photo = _photo(256, seed=3)
    # SD-piXL's utils/canny_edge.py with its config (blur radius 1, thresholds 100 / 200)
    expected = cv2.Canny(np.array(photo.filter(ImageFilter.GaussianBlur(radius=1))), 100, 200)
    got = np.asarray(canny_image(photo))
    assert got.shape == (256, 256, 3) and (got == got[:, :, :1]).all()
    assert np.array_equal(got[:, :, 0], expected)
    assert 0.01 < (expected > 0).mean() < 0.5  # a real edge map, not an empty or full one


# -- precision ------------------------------------------------------------------------------------------
def test_dtype_option_loads_the_models_in_that_precision_and_changes_the_gradient(models):
    assert RunConfig().dtype == "fp32" and models.dtype == torch.float32
    half = _models("bf16")
    assert half.dtype == torch.bfloat16 and next(half.pipe.unet.parameters()).dtype == torch.bfloat16
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    full, low = _sds(models)(image, step=3, total=10), _sds(half)(image, step=3, total=10)
    assert low.timestep == full.timestep
    relative = float((low.grad - full.grad).norm() / full.grad.norm())
    assert 1e-4 < relative < 1.0  # bf16 is applied (and still roughly the same direction)
    with pytest.raises(ConfigError, match="dtype"):
        check_config(RunConfig(dtype="fp64"))
