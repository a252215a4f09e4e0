"""Colour preservation of Gatys et al. 2016 ("Preserving Color in Neural Artistic Style Transfer"):
the formulas against independent numpy/scipy computations, short runs on the tiny VGG in each colour
mode, the config alias and the CLI flag round trip."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from stylize import cli
from stylize.nst import loading
from stylize.nst.colour import (colour_transform, grey_rgb, keep_colours, luminance, match_colour_histogram,
                                match_luminance, rgb_to_yiq)
from stylize.nst.config import NSTConfig
from stylize.nst.run import NSTRun
from workbench.errors import ConfigError
from workbench.records import StepRecord




def _images():
    """A mid-tone content (no channel near 0 or 255, so recombined colours are not clipped) and a
    saturated striped style in quite other colours."""
    rng = np.random.default_rng(0)
    yy, xx = np.indices((48, 64))
    content = np.stack([70 + xx * 2, 90 + yy * 2, 80 + (xx + yy)], -1).clip(0, 255).astype(np.uint8)
    stripes = ((xx // 4) % 2) * 180
    noise = rng.integers(0, 60, (48, 64, 3))  # independent per channel: a full-rank colour covariance
    style = np.stack([stripes, 240 - stripes, stripes // 3], -1) + noise
    style = style.clip(0, 255).astype(np.uint8)[:48, :48]
    return content, style


def _records(run):
    return [r for r in run if isinstance(r, StepRecord)]


def _mean_cov(pixels):
    flat = np.asarray(pixels, dtype=np.float64).reshape(-1, 3)
    return flat.mean(0), np.cov(flat, rowvar=False, bias=True)


# -- formulas -------------------------------------------------------------------------------------
def test_luminance_matching_gives_the_content_mean_and_std():
    rng = np.random.default_rng(1)
    style_y, content_y = rng.uniform(0.0, 0.4, (20, 30)), rng.uniform(0.3, 0.9, (25, 17))
    matched = match_luminance(style_y, content_y)
    assert matched.mean() == pytest.approx(content_y.mean(), abs=1e-12)
    assert matched.std() == pytest.approx(content_y.std(), abs=1e-12)
    # The same affine map, written out: σc/σs (Ys − μs) + μc.
    expected = content_y.std() / style_y.std() * (style_y - style_y.mean()) + content_y.mean()
    np.testing.assert_allclose(matched, expected, rtol=1e-12)
    assert np.all(match_luminance(np.full((4, 4), 0.2), content_y) == pytest.approx(content_y.mean()))
    # Y is the first row of YIQ, and a grey image has that Y in every channel.
    rgb = rng.uniform(0, 1, (5, 6, 3))
    np.testing.assert_allclose(luminance(rgb), rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114)
    grey = grey_rgb(luminance(rgb))
    assert grey.dtype == np.uint8 and (grey[..., 0] == grey[..., 2]).all()
    assert np.abs(luminance(grey / 255.0) - luminance(rgb)).max() <= 0.5 / 255 + 1e-9


@pytest.mark.parametrize("method", ["sqrt", "cholesky"])
def test_colour_transform_gives_the_content_mean_and_covariance(method):
    rng = np.random.default_rng(2)
    mix = np.array([[0.3, 0.1, 0.0], [0.2, 0.25, 0.05], [0.0, 0.1, 0.15]])
    style = rng.normal(size=(900, 3)) @ mix.T + [0.6, 0.3, 0.2]
    content = rng.normal(size=(700, 3)) @ np.array([[0.1, 0.0, 0.05], [0.0, 0.2, 0.0], [0.1, 0.05, 0.1]]).T + 0.5
    a, mu_s, mu_c = colour_transform(style, content, method, eps=0.0)
    matched = (style - mu_s) @ a.T + mu_c
    m, c = _mean_cov(matched)
    mc, cc = _mean_cov(content)
    np.testing.assert_allclose(m, mc, atol=1e-12)
    np.testing.assert_allclose(c, cc, atol=1e-12)
    cs = np.cov(style, rowvar=False, bias=True)
    if method == "sqrt":
        from scipy.linalg import sqrtm

        reference = np.real(sqrtm(cc)) @ np.linalg.inv(np.real(sqrtm(cs)))  # Σc^½ Σs^-½
        np.testing.assert_allclose(a, reference, rtol=1e-7, atol=1e-9)
    else:
        reference = np.linalg.cholesky(cc) @ np.linalg.inv(np.linalg.cholesky(cs))
        np.testing.assert_allclose(a, reference, rtol=1e-6, atol=1e-9)
        assert np.allclose(np.triu(a, 1), 0)  # a product of lower-triangular factors


def test_histogram_matching_of_uint8_images_and_a_flat_style():
    content, style = _images()
    matched = match_colour_histogram(style, content)
    m, c = _mean_cov(matched / 255.0)
    mc, cc = _mean_cov(content / 255.0)
    clipped = ((matched == 0) | (matched == 255)).any(-1).mean()
    assert clipped < 0.05  # nearly all in range, so the statistics hold to rounding
    np.testing.assert_allclose(m, mc, atol=2e-3)
    np.testing.assert_allclose(c, cc, atol=2e-4)
    assert np.abs(_mean_cov(style / 255.0)[1] - cc).max() > 0.01  # it was far from the content's before
    flat = match_colour_histogram(np.full((8, 8, 3), 40, np.uint8), content)  # Σs = 0: no NaN, the content's mean
    np.testing.assert_allclose(flat.reshape(-1, 3).mean(0) / 255.0, mc, atol=1 / 255)
    with pytest.raises(ValueError):
        colour_transform(style / 255.0, content / 255.0, "pca")


def test_keep_colours_takes_the_content_chroma_and_the_stylised_luminance():
    content, style = _images()
    out = keep_colours(np.asarray(Image.fromarray(style).resize((64, 48))), content)
    yiq_out, yiq_content = rgb_to_yiq(out / 255.0), rgb_to_yiq(content / 255.0)
    inside = ((out > 0) & (out < 255)).all(-1)
    assert np.abs(yiq_out[..., 1:] - yiq_content[..., 1:])[inside].max() < 0.01


# -- runs -----------------------------------------------------------------------------------------
def _run(vgg, mode, **changes):
    content, style = _images()
    cfg = NSTConfig(model="tiny", iterations=5, max_side=48, color_mode=mode, init="style", **changes)
    run = NSTRun(content, [style], cfg, vgg=vgg)
    return run, _records(run)


def test_luminance_mode_optimises_grey_images_and_keeps_the_content_chroma(vgg):
    run, records = _run(vgg, "luminance")
    # The optimisation sees grey images: the content's Y, and the style's Y with the content's statistics.
    work_c, work_s = np.asarray(run.work_content), np.asarray(run.work_styles[0])
    assert (work_c[..., 0] == work_c[..., 1]).all() and (work_s[..., 0] == work_s[..., 2]).all()
    content_y = luminance(run.content_array / 255.0)
    assert work_s[..., 0].mean() / 255 == pytest.approx(content_y.mean(), abs=3e-3)
    assert work_s[..., 0].std() / 255 == pytest.approx(content_y.std(), abs=3e-3)
    # The recorded frames are colour images with the content's chroma and a changed luminance.
    frame = records[-1].frame
    yiq_out, yiq_content = rgb_to_yiq(frame / 255.0), rgb_to_yiq(run.content_array / 255.0)
    inside = ((frame > 0) & (frame < 255)).all(-1)
    assert inside.mean() > 0.5
    assert np.abs(yiq_out[..., 1:] - yiq_content[..., 1:])[inside].max() < 0.01  # uint8 rounding only
    assert np.abs(yiq_out[..., 0] - yiq_content[..., 0]).mean() > 0.02  # the luminance was stylised
    assert records[-1].metrics["loss"] < records[0].metrics["loss"]
    # Not the same as putting the chroma back after a colour transfer: the optimisation differs.
    _, swap = _run(vgg, "swap")
    assert np.abs(swap[-1].frame.astype(int) - frame.astype(int)).mean() > 1.0


def test_histogram_mode_transfers_from_colour_matched_styles(vgg):
    run, records = _run(vgg, "histogram")
    work = np.asarray(run.work_styles[0]) / 255.0
    m, c = _mean_cov(work)
    mc, cc = _mean_cov(run.content_array / 255.0)
    np.testing.assert_allclose(m, mc, atol=0.01)
    np.testing.assert_allclose(c, cc, atol=0.002)
    assert np.array_equal(np.asarray(run.work_content), run.content_array)  # the content is unchanged
    start = next(iter(NSTRun(*_images()[:1], [_images()[1]], run.config, vgg=vgg)))
    assert _mean_cov(start.extras["style_0"] / 255.0)[0] == pytest.approx(mc, abs=0.02)  # shown as used
    _, plain = _run(vgg, "none")
    assert np.abs(plain[-1].frame.astype(int) - records[-1].frame.astype(int)).mean() > 1.0
    _, chol = _run(vgg, "histogram", histogram_transform="cholesky")
    assert not np.array_equal(chol[-1].frame, records[-1].frame)  # another A, another style image


def test_colour_mode_options_and_the_old_alias():
    assert NSTConfig(original_colors=True).color_mode == "swap"
    assert NSTConfig().color_mode == "none" and NSTConfig().to_dict()["color_mode"] == "none"
    with pytest.raises(ConfigError, match="color_mode 'sepia' is not one of none, swap, luminance, histogram"):
        NSTConfig(color_mode="sepia").check()
    with pytest.raises(ConfigError, match="histogram_transform"):
        NSTConfig(color_mode="histogram", histogram_transform="pca").check()
    with pytest.raises(ConfigError, match="give only color_mode"):
        NSTConfig(original_colors=True, color_mode="luminance").check()
    info = NSTConfig.fields_info()["color_mode"]
    assert info["choices"] == ("none", "swap", "luminance", "histogram") and info["default"] == "none"


@pytest.fixture()
def files(tmp_path):
    content, style = _images()
    Image.fromarray(content).save(tmp_path / "content.png")
    Image.fromarray(style).save(tmp_path / "style.png")
    return tmp_path / "content.png", tmp_path / "style.png"


@pytest.mark.parametrize("flags, mode", [(["--color-mode", "luminance"], "luminance"),
                                         (["--color-mode", "histogram", "--histogram-transform", "cholesky"], "histogram"),
                                         (["--original-colors"], "swap")])
def test_cli_color_mode_is_recorded_in_the_bundle(files, tmp_path, capsys, flags, mode):
    from workbench.trajectory import Trajectory

    content, style = files
    out, bundle = tmp_path / "out.png", tmp_path / "run.bundle"
    assert cli.main(["nst", str(content), str(style), "--out", str(out), "--bundle", str(bundle), "--model", "tiny",
                     "--iterations", "2", "--max-side", "48", "--quiet", *flags]) == 0
    traj = Trajectory.load(bundle)
    assert traj.config["color_mode"] == mode
    if mode == "histogram":
        assert traj.config["histogram_transform"] == "cholesky"
    if mode != "histogram":  # the saved image keeps the content's chroma
        result = np.asarray(Image.open(out)) / 255.0
        small = np.asarray(Image.open(content).resize(result.shape[1::-1], Image.Resampling.LANCZOS)) / 255.0
        inside = ((result > 0) & (result < 1)).all(-1)
        assert np.abs(rgb_to_yiq(result)[..., 1:] - rgb_to_yiq(small)[..., 1:])[inside].max() < 0.01


def test_cli_refuses_a_conflicting_or_unknown_colour_mode(files, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(loading, "load_vgg", lambda *a, **k: pytest.fail("model loaded before the checks"))
    content, style = files
    base = ["nst", str(content), str(style), "--out", str(tmp_path / "o.png"), "--model", "tiny"]
    assert cli.main([*base, "--original-colors", "--color-mode", "histogram"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "--original-colors means --color-mode swap" in err
    with pytest.raises(SystemExit):
        cli.main([*base, "--color-mode", "sepia"])
    assert "invalid choice: 'sepia'" in capsys.readouterr().err
