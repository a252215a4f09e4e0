"""SMS formulas against independent computations (scipy's DCT, numpy loops, hand-made masks).

No model is loaded here: every function is fed small seeded tensors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft
import torch

from stylize.sms.config import SMSConfig
from stylize.sms.sagr import refinement_map
from stylize.sms.schedule import TimestepSampler, index_bounds, inference_timesteps, posterior_variance
from stylize.sms.score import cfg, fake_score_loss, sms_gradient, surrogate_loss
from stylize.sms.spectrum import cutoff, dct_2d, low_pass_mask, psr_l1
from workbench.errors import ConfigError

SD15_SCHEDULER = {  # SD 1.5's scheduler config (the fields DDIM / DDPM read)
    "_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000, "steps_offset": 1, "set_alpha_to_one": False, "skip_prk_steps": True,
    "clip_sample": False, "prediction_type": "epsilon",
}


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# --- DCT and the PSR mask ------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 4, 8, 8), (1, 4, 6, 10), (2, 3, 7, 5)])
def test_dct_2d_matches_scipy_orthonormal_dct(shape: tuple[int, ...]) -> None:
    x = _rand(*shape)
    ours = dct_2d(x).numpy()
    ref = scipy.fft.dctn(x.numpy(), type=2, norm="ortho", axes=(-2, -1))
    np.testing.assert_allclose(ours, ref, atol=1e-10)


def test_low_pass_mask_hand_made_non_square() -> None:
    # h=3, w=4: u + v ranges over 0..5
    np.testing.assert_array_equal(low_pass_mask(3, 4, 0).numpy(), [[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(low_pass_mask(3, 4, 2).numpy(), [[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0]])
    np.testing.assert_array_equal(low_pass_mask(3, 4, 4).numpy(), [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 0]])
    np.testing.assert_array_equal(low_pass_mask(3, 4, 5).numpy(), np.ones((3, 4)))


@pytest.mark.parametrize(
    "t, h, w, expected",
    [
        (0, 64, 64, 0),
        (1, 64, 64, 0),  # int(1/500 * 126) = 0
        (21, 64, 64, 5),  # int(0.042 * 126) = int(5.292)
        (250, 64, 64, 63),
        (499, 64, 64, 125),
        (250, 3, 4, 2),  # int(0.5 * 5)
        (499, 3, 4, 4),  # int(0.998 * 5)
        (250, 64, 96, 79),  # non-square: int(0.5 * 158)
        (999, 64, 96, 158),  # beyond t=500 the whole spectrum (clipped)
    ],
)
def test_cutoff_follows_t_over_500(t: int, h: int, w: int, expected: int) -> None:
    assert cutoff(t, h, w) == expected


def _psr_reference(z: np.ndarray, src: np.ndarray, t: int) -> float:
    """A loop re-implementation: DCT by scipy, mask by testing u + v per coefficient."""
    h, w = z.shape[-2:]
    thr = int(t / 500 * (h + w - 2))
    dz = scipy.fft.dctn(z, type=2, norm="ortho", axes=(-2, -1))
    ds = scipy.fft.dctn(src, type=2, norm="ortho", axes=(-2, -1))
    total = 0.0
    for idx in np.ndindex(*z.shape):
        u, v = idx[-2], idx[-1]
        if u + v <= thr:
            total += abs(dz[idx] - ds[idx])
    return total / z.size


@pytest.mark.parametrize("t", [21, 137, 333, 497])
def test_psr_l1_matches_loop_reference_non_square(t: int) -> None:
    z, src = _rand(1, 4, 6, 9, seed=1), _rand(1, 4, 6, 9, seed=2)
    assert float(psr_l1(z, src, t)) == pytest.approx(_psr_reference(z.numpy(), src.numpy(), t), rel=1e-10)


def test_psr_gradient_pulls_towards_source() -> None:
    src = _rand(1, 4, 6, 8, seed=3)
    z = (src + 0.3 * _rand(1, 4, 6, 8, seed=4)).requires_grad_(True)
    psr_l1(z, src, 400).backward()
    with torch.no_grad():
        moved = z - 0.01 * z.grad.sign()
    assert float(psr_l1(moved, src, 400)) < float(psr_l1(z.detach(), src, 400))


# --- SAGR map ------------------------------------------------------------------------------------

def test_refinement_map_is_min_max_normalised_abs_channel_mean() -> None:
    a, b = _rand(1, 4, 5, 7, seed=5), _rand(1, 4, 5, 7, seed=6)
    r = refinement_map(a, b)
    raw = np.abs((a.numpy() - b.numpy()).mean(axis=1))[0]  # abs of the channel mean, as the authors
    expected = (raw - raw.min()) / (raw.max() - raw.min())
    assert r.shape == (1, 1, 5, 7)
    np.testing.assert_allclose(r[0, 0].numpy(), expected, atol=1e-6)
    assert float(r.min()) == 0.0 and float(r.max()) == pytest.approx(1.0)


def test_refinement_map_flat_difference_is_all_ones() -> None:
    a = _rand(1, 4, 3, 3, seed=7)
    r = refinement_map(a, a - 0.5)
    np.testing.assert_array_equal(r.numpy(), np.ones((1, 1, 3, 3)))


# --- Score, surrogate, fake-score loss -----------------------------------------------------------

def test_cfg_and_sms_gradient() -> None:
    cond, uncond = _rand(1, 4, 3, 3, seed=8), _rand(1, 4, 3, 3, seed=9)
    np.testing.assert_allclose(cfg(cond, uncond, 4.5).numpy(), (uncond + 4.5 * (cond - uncond)).numpy())
    style, fake = _rand(1, 4, 3, 3, seed=10), _rand(1, 4, 3, 3, seed=11)
    style[0, 0, 0, 0] = float("nan")
    g = sms_gradient(style, fake, 0.25)
    expected = 0.25 * (style.numpy() - fake.numpy())
    expected[0, 0, 0, 0] = 0.0
    np.testing.assert_allclose(g.numpy(), expected, rtol=1e-5, atol=1e-7)  # float32 scores


def test_surrogate_loss_gradient_is_refined_score_over_numel() -> None:
    z = _rand(1, 4, 6, 8, seed=12).requires_grad_(True)
    g, r = _rand(1, 4, 6, 8, seed=13), torch.rand(1, 1, 6, 8, generator=torch.Generator().manual_seed(14)).double()
    loss = surrogate_loss(z, g * r)
    loss.backward()
    np.testing.assert_allclose(z.grad.numpy(), (g * r).numpy() / z.numel(), rtol=1e-10)
    assert float(loss.detach()) == pytest.approx(0.5 * float(((g * r) ** 2).mean()))


def test_fake_score_loss_formula() -> None:
    pred, noise = _rand(1, 4, 3, 5, seed=15), _rand(1, 4, 3, 5, seed=16)
    expected = np.mean((0.7 * pred.numpy() - 0.7 * noise.numpy()) ** 2)
    assert float(fake_score_loss(pred, noise, 0.7)) == pytest.approx(expected)


# --- Timesteps -----------------------------------------------------------------------------------

def test_inference_grid_is_ddim_leading_with_offset() -> None:
    grid = inference_timesteps(SD15_SCHEDULER, 500)
    np.testing.assert_array_equal(grid.numpy(), np.arange(500) * 2 + 1)


# 0.9: int(500 * (0.5 * (1 - 0.9))) is 24 in floating point, in the authors' code too
@pytest.mark.parametrize(
    "progress, expected",
    [(0.0, (10, 250)), (0.5, (10, 125)), (0.9, (10, 24)), (0.99, (10, 11)), (None, (10, 250))],
)
def test_index_bounds_narrow_over_the_run(progress: float | None, expected: tuple[int, int]) -> None:
    assert index_bounds(500, 0.02, 0.5, progress) == expected


def test_weight_is_posterior_variance_sigma_squared() -> None:
    sampler = TimestepSampler(SD15_SCHEDULER, n=500, min_ratio=0.02, max_ratio=0.5, seed=0)
    betas = np.linspace(math.sqrt(0.00085), math.sqrt(0.012), 1000) ** 2  # SD's scaled_linear betas
    abar = np.cumprod(1.0 - betas)
    for t, t_prev in [(21, 19), (101, 99), (497, 495)]:
        expected = (1 - abar[t_prev]) / (1 - abar[t]) * betas[t]
        assert posterior_variance(sampler.betas, sampler.alphas_cumprod, t, t_prev) == pytest.approx(expected, rel=1e-5)  # diffusers' betas are float32


def test_sampler_draws_inside_the_narrowing_range_and_is_seeded() -> None:
    a = TimestepSampler(SD15_SCHEDULER, n=500, min_ratio=0.02, max_ratio=0.5, seed=3)
    b = TimestepSampler(SD15_SCHEDULER, n=500, min_ratio=0.02, max_ratio=0.5, seed=3)
    for i in range(0, 100, 7):
        progress = i / 100
        da, db = a.draw(progress), b.draw(progress)
        assert da == db
        lo, hi = index_bounds(500, 0.02, 0.5, progress)
        assert lo <= da.index < hi and da.t == 2 * da.index + 1 and da.t_prev == da.t - 2
    last = a.draw(0.99)
    assert last.t == 21  # at the end the range has shrunk to the lower bound


# --- Config --------------------------------------------------------------------------------------

GOOD = dict(model="tiny-sd", style_lora="tiny", prompt="a cat")


@pytest.mark.parametrize(
    "change",
    [
        {"steps": 0}, {"steps": 2.5}, {"lr": 0.0}, {"lr": float("nan")}, {"lambda_psr": -1.0},
        {"guidance_scale": float("inf")}, {"lora_rank": 0}, {"lora_alpha": 0.0}, {"lora_targets": ()},
        {"lora_targets": ("to_k", "proj_in")}, {"min_step_ratio": 0.6}, {"resolution": 8},
        {"record_every": 0}, {"device": "tpu"}, {"dtype": "float16"}, {"style": "  "}, {"prompt": ""},
        {"edit_prompt": "Turn into it"}, {"model": "not a model"}, {"style_lora": ""},
        {"style_lora": "missing/file.safetensors"}, {"style_lora": "./nope.safetensors"},
        {"model": "sd15"},  # 'tiny' LoRA only with a tiny model
        {"seed": -1},
    ],
)
def test_bad_options_are_one_line_config_errors(change: dict) -> None:
    with pytest.raises(ConfigError) as info:
        SMSConfig(**{**GOOD, **change}).check()
    assert "\n" not in str(info.value)


def test_good_options_pass_and_hub_ids_are_accepted_unresolved() -> None:
    SMSConfig(**GOOD).check()
    SMSConfig(model="sd15", style_lora="someone/ghibli-lora", prompt="a cat").check()
    SMSConfig(model="sd15", style_lora="someone/ghibli-lora:ghibli.safetensors", prompt="a cat").check()
