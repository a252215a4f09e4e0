"""facegen losses and FID, each against an independent loop / numpy / scipy computation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from facegen import losses as L
from facegen.fid import frechet_distance, statistics


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64)


def test_lsgan_losses_by_hand() -> None:
    fake = [_t([[[[0.5, -1.0]]]]), _t([[[[2.0]]]])]
    real = [_t([[[[1.0, 0.0]]]]), _t([[[[3.0]]]])]
    # scale 0: mean(0.25, 1) + mean(0, 1); scale 1: 4 + 4
    assert float(L.lsgan_dis_loss(fake, real)) == pytest.approx(0.625 + 0.5 + 4 + 4)
    # scale 0: mean((−0.5)², (−2)²) = 2.125; scale 1: 1
    assert float(L.lsgan_gen_loss(fake)) == pytest.approx(2.125 + 1)


def test_focus_loss_terms_against_loops() -> None:
    rng = np.random.default_rng(0)
    m = rng.random((2, 3, 4, 5))
    n = m.size
    want_zero_one = sum(1 / (abs(v - 0.5) + 0.01) for v in m.flat) / n
    assert float(L.mask_zero_one(_t(m), 0.5, 0.01)) == pytest.approx(want_zero_one, rel=1e-12)
    mean = sum(m.flat) / n
    assert float(L.mask_small(_t(m), use_square=True, use_abs=False)) == pytest.approx(mean ** 2)
    assert float(L.mask_small(_t(m), use_square=True, use_abs=True)) == pytest.approx(mean ** 2 + mean)
    tv = 0.0
    for b, c, h, w in itertools.product(range(2), range(3), range(4), range(5)):
        if h + 1 < 4:
            tv += abs(m[b, c, h + 1, w] - m[b, c, h, w])
        if w + 1 < 5:
            tv += abs(m[b, c, h, w + 1] - m[b, c, h, w])
    assert float(L.mask_tv(_t(m))) == pytest.approx(tv / n)


def test_focus_binary_term_prefers_binary_masks() -> None:
    binary = torch.tensor([0.0, 1.0, 1.0, 0.0]).view(1, 1, 2, 2)
    grey = torch.full((1, 1, 2, 2), 0.5)
    assert L.mask_zero_one(binary) < L.mask_zero_one(grey)
    assert float(L.mask_zero_one(grey)) == pytest.approx(100.0)


def test_l1_criteria() -> None:
    a, b = _t([[[[1.0, -2.0]], [[0.5, 0.0]]]]), _t([[[[0.0, 0.0]], [[0.0, 1.0]]]])
    assert float(L.l1(a, b)) == pytest.approx((1 + 2 + 0.5 + 1) / 4)
    assert float(L.l1_gray(a, b)) == pytest.approx((abs(1.5 - 0) + abs(-2 - 1)) / 2)
    assert float(L.l1_or_l2(a, b)) == pytest.approx(max(4.5 / 4, (1 + 4 + 0.25 + 1) / 4))


def test_loss_matching_weight() -> None:
    m = L.LossMatcher(3)
    m.push_gan(4.0)  # gan history 1, 1, 4
    w = m.push_council(0.5)  # council history 1, 1, 0.5
    assert w == pytest.approx((6 / 3) / (2.5 / 3))
    state = m.state()
    other = L.LossMatcher(3)
    other.load_state(state)
    assert list(other.gan) == [1.0, 1.0, 4.0] and list(other.council) == [1.0, 1.0, 0.5]


def test_council_phase() -> None:
    on = [L.council_phase(i, start_at=3, flip=False, start_with=True, on=2, off=1) for i in range(6)]
    assert on == [False, False, False, True, True, True]
    flip = [L.council_phase(i, start_at=0, flip=True, start_with=True, on=2, off=1) for i in range(6)]
    assert flip == [True, True, False, True, True, False]


def test_frechet_distance_against_scipy_sqrtm() -> None:
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(1)
    for dim in (1, 3, 8):
        f1 = rng.normal(size=(40, dim))
        f2 = rng.normal(loc=0.3, scale=1.5, size=(50, dim)) @ rng.normal(size=(dim, dim))
        mu1, s1 = statistics(f1)
        mu2, s2 = statistics(f2)
        covmean = scipy_linalg.sqrtm(s1 @ s2)
        covmean = covmean.real if np.iscomplexobj(covmean) else covmean
        want = float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
        assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(want, rel=1e-7, abs=1e-8)


def test_frechet_distance_of_identical_and_shifted_gaussians() -> None:
    s = np.array([[2.0, 0.3], [0.3, 1.0]])
    assert frechet_distance(np.zeros(2), s, np.zeros(2), s) == pytest.approx(0.0, abs=1e-10)
    # equal covariances: only the mean term remains
    assert frechet_distance(np.zeros(2), s, np.array([3.0, 4.0]), s) == pytest.approx(25.0)
    # 1-d closed form: (μ1−μ2)² + (σ1−σ2)²
    assert frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([0.0]), np.array([[9.0]])) == pytest.approx(1 + 1)


def test_statistics_match_numpy() -> None:
    f = np.random.default_rng(2).normal(size=(10, 4))
    mu, cov = statistics(f)
    np.testing.assert_allclose(mu, f.mean(0))
    np.testing.assert_allclose(cov, (f - f.mean(0)).T @ (f - f.mean(0)) / 9)
