"""The SD-piXL generator, the FFT regularizer, timestep schedules and augmentation."""

import numpy as np
import pytest
import torch

from pixelart.generator import PixelGenerator
from pixelart.config import AugmentConfig
from pixelart.guidance.augment import augment_same
from pixelart.guidance.schedules import TimestepRange, bounded_max, timestep_bounds, uniform
from pixelart.regularizers import fft_high_frequency_loss, high_frequency_mask

PALETTE = np.array([[0, 0, 0], [255, 255, 255], [200, 30, 30], [20, 40, 200]], np.uint8)


def _small(seed=0, size=(12, 10)):
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def test_init_argmax_equals_nearest_palette_colour_in_l1():
    small = _small()
    gen = PixelGenerator.from_image(small, PALETTE, distance="l1")
    l1 = np.abs(small[:, :, None, :].astype(int) - PALETTE[None, None].astype(int)).sum(-1)
    assert np.array_equal(gen.hard_indices(), l1.argmin(-1))


def test_init_is_balanced_and_equal_norm():
    gen = PixelGenerator.from_image(_small(), PALETTE)
    logits = gen.logits.detach()
    assert torch.allclose(logits.mean(-1), torch.zeros(logits.shape[:2]), atol=1e-5)
    norms = logits.norm(dim=-1)
    assert torch.allclose(norms, norms.mean().expand_as(norms), rtol=1e-4)


@pytest.mark.parametrize("mode", ["gumbel", "softmax"])
def test_hard_render_is_exactly_palette_colours_and_still_has_gradients(mode):
    gen = PixelGenerator.from_image(_small(), PALETTE)
    img = gen(mode=mode, tau=0.7, hard=True, generator=torch.Generator().manual_seed(0))
    pal = torch.tensor(PALETTE / 255.0, dtype=torch.float32)
    dist = (img.detach()[:, :, None, :] - pal[None, None]).abs().sum(-1).min(-1).values
    assert float(dist.max()) < 1e-6
    img.sum().backward()
    assert gen.logits.grad is not None and gen.logits.grad.abs().sum() > 0


def test_soft_render_is_a_convex_mix_and_gumbel_is_seeded():
    gen = PixelGenerator.from_image(_small(), PALETTE)
    a = gen(mode="gumbel", tau=1.0, generator=torch.Generator().manual_seed(5))
    b = gen(mode="gumbel", tau=1.0, generator=torch.Generator().manual_seed(5))
    c = gen(mode="gumbel", tau=1.0, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.detach().min()) >= 0 and float(a.detach().max()) <= 1


def test_lower_temperature_sharpens_softmax():
    gen = PixelGenerator.from_image(_small(), PALETTE)
    sharp = gen.probabilities(mode="softmax", tau=0.1).max(-1).values.mean()
    soft = gen.probabilities(mode="softmax", tau=10.0).max(-1).values.mean()
    assert sharp > soft


def test_balance_keeps_probabilities():
    gen = PixelGenerator.from_image(_small(), PALETTE)
    with torch.no_grad():
        gen.logits.add_(3.0)
    before = gen.probabilities(mode="softmax")
    gen.balance()
    assert torch.allclose(before, gen.probabilities(mode="softmax"), atol=1e-6)


def test_non_square_sizes():
    gen = PixelGenerator.from_image(_small(size=(16, 40)), PALETTE)
    assert gen.size == (16, 40) and gen().shape == (16, 40, 3)


def test_fft_loss_is_zero_for_flat_images_and_grows_with_detail():
    flat = torch.full((32, 32, 3), 0.5)
    checker = torch.tensor((np.indices((32, 32)).sum(0) % 2).astype(np.float32))[..., None].repeat(1, 1, 3)
    # one slow cosine period: all its energy is at a low frequency
    ramp = (0.5 + 0.5 * torch.cos(torch.arange(32) * 2 * np.pi / 32))[None, :, None].repeat(32, 1, 3)
    assert float(fft_high_frequency_loss(flat)) < 1e-4
    assert float(fft_high_frequency_loss(checker)) > 10 * float(fft_high_frequency_loss(ramp))
    mask = high_frequency_mask(32, 32)
    assert mask[16, 16] == 0 and mask[0, 0] == 1


def test_bounded_max_schedule():
    r = TimestepRange(t_min=0.02, t_max=0.98, t_bound_max=0.8, t_bound_reached=0.5)
    assert bounded_max(0, 100, r) == (0.02, 0.98)
    assert bounded_max(25, 100, r)[1] == pytest.approx(0.89)
    assert bounded_max(50, 100, r) == (0.02, 0.8) == bounded_max(99, 100, r)
    assert uniform(70, 100, r) == (0.02, 0.98)
    assert timestep_bounds("uniform", 0, 10, r) == (0.02, 0.98)


def test_augment_applies_the_same_transform_to_every_image():
    x = torch.rand(1, 3, 32, 32)
    outs = augment_same([x, x.clone()], AugmentConfig(grayscale_prob=1, hflip_prob=1, perspective_prob=1),
                        torch.Generator().manual_seed(0))
    assert torch.equal(outs[0], outs[1])
    assert torch.allclose(outs[0][:, 0], outs[0][:, 1])  # grayscale
    assert not torch.allclose(outs[0], x)


def test_augment_flip_only_is_an_exact_mirror_and_off_is_identity():
    x = torch.rand(1, 3, 8, 8)
    only_flip = AugmentConfig(grayscale_prob=0, hflip_prob=1, perspective_prob=0)
    assert torch.equal(augment_same([x], only_flip, torch.Generator())[0], x.flip(-1))
    assert augment_same([x], AugmentConfig(enabled=False), torch.Generator())[0] is x


def test_perspective_with_zero_scale_is_nearly_identity():
    x = torch.rand(1, 3, 16, 16)
    cfg = AugmentConfig(grayscale_prob=0, hflip_prob=0, perspective_prob=1, perspective_scale=0.0)
    assert torch.allclose(augment_same([x], cfg, torch.Generator())[0], x, atol=1e-5)


def test_norm_table_equals_upscaling_every_frame_and_its_fallback():
    from pixelart.metrics import NormTable, art_at_working
    from workbench.drift import l2_distance

    rng = np.random.default_rng(4)
    photo = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)
    frames = [rng.integers(0, len(PALETTE), (12, 10), dtype=np.uint8) for _ in range(5)]
    region = np.zeros((48, 40), bool)
    region[10:30, 5:25] = True
    table = NormTable(photo, PALETTE, (12, 10), regions={"part:Dress": region})
    small = NormTable(photo, PALETTE, (12, 10), regions={"part:Dress": region})
    small.MAX_TABLE = 0  # force the upscaling fallback on another instance
    small.table = None
    series = table.series(frames)
    for i, frame in enumerate(frames):
        art = art_at_working(frame, PALETTE, (48, 40))
        expected = l2_distance(art, photo / 255.0)
        inside = np.sqrt(np.square(art - photo / 255.0).sum(-1)[region].mean())
        for measured in (table.measure(frame), small.measure(frame)):
            assert measured["norm"] == pytest.approx(expected, rel=1e-5)
            assert measured["part:Dress"] == pytest.approx(inside, rel=1e-5)
        assert series["norm"][i] == pytest.approx(expected, rel=1e-5)
