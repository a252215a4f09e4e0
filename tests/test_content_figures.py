"""Content-preservation figures (stylize.content_figures): L2 and SSIM against independent numpy
computations, the CLIP score against a direct cosine of a tiny random CLIP, and the ``figures`` CLI."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from stylize.cli import main
from stylize.content_figures import (ClipScorer, CLIP_MEAN, CLIP_STD, add_clip_scores, as_unit_rgb, compared_size,
                                     content_figures, l2_rms, ssim)
from workbench.errors import ConfigError


def numpy_ssim(a: np.ndarray, b: np.ndarray, win: int = 7, k1: float = 0.01, k2: float = 0.03) -> float:
    """SSIM with a uniform win×win window, sample covariances, data range 1, over the windows wholly
    inside the image, averaged over channels (what scikit-image computes)."""
    c1, c2 = (k1 * 1.0) ** 2, (k2 * 1.0) ** 2
    n = win * win
    values = []
    for ch in range(a.shape[2]):
        x = sliding_window_view(a[..., ch], (win, win))
        y = sliding_window_view(b[..., ch], (win, win))
        mx, my = x.mean(axis=(-2, -1)), y.mean(axis=(-2, -1))
        vx = x.var(axis=(-2, -1)) * n / (n - 1)
        vy = y.var(axis=(-2, -1)) * n / (n - 1)
        cxy = ((x - mx[..., None, None]) * (y - my[..., None, None])).sum(axis=(-2, -1)) / (n - 1)
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
        values.append(s.mean())
    return float(np.mean(values))


def random_image(h: int, w: int, seed: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_identical_images_have_l2_zero_and_ssim_one():
    image = random_image(40, 50, 0)
    fig, = content_figures(image, [image], ["same"], size=40)
    assert fig.l2 == 0.0 and fig.ssim == pytest.approx(1.0)


def test_l2_is_the_rms_on_unit_rgb():
    black = Image.new("RGB", (20, 20), (0, 0, 0))
    grey = Image.new("RGB", (20, 20), (51, 102, 255))  # differences 0.2, 0.4, 1.0
    fig, = content_figures(black, [grey], ["grey"], size=20)
    assert fig.l2 == pytest.approx(np.sqrt((0.2**2 + 0.4**2 + 1.0**2) / 3))


def test_ssim_matches_an_independent_numpy_ssim():
    a = as_unit_rgb(random_image(24, 30, 1), (30, 24))
    b = np.clip(a + np.random.default_rng(2).normal(0, 0.1, a.shape), 0, 1)
    assert ssim(a, b) == pytest.approx(numpy_ssim(a, b), abs=1e-9)
    assert l2_rms(a, b) == pytest.approx(np.sqrt(np.mean((a - b) ** 2)))


def test_images_are_compared_at_the_content_aspect_with_the_stated_short_side():
    content = random_image(100, 200, 3)
    assert compared_size(content, 64) == (128, 64)
    other = random_image(60, 60, 4)  # another shape: resized to the same size, not refused
    fig, = content_figures(content, [other], ["square"], size=64)
    assert 0 < fig.l2 < 1 and -1 <= fig.ssim < 1
    with pytest.raises(ConfigError, match="comparison size"):
        compared_size(content, 0)


def tiny_clip() -> ClipScorer:
    from transformers import CLIPConfig, CLIPModel, CLIPTextConfig, CLIPVisionConfig

    from pixelart.models.tiny import _clip_tokenizer

    tokenizer = _clip_tokenizer()
    text = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                          num_attention_heads=4, max_position_embeddings=77, projection_dim=16,
                          bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    vision = CLIPVisionConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=37,
                              num_hidden_layers=2, num_attention_heads=4, projection_dim=16)
    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=16))
    return ClipScorer(model, tokenizer)


def test_clip_preprocessing_crops_the_centre_and_normalises():
    scorer = tiny_clip()
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, 20:60] = (255, 128, 0)  # the centre square (after resizing to 32×64: columns 16..48)
    pixels = scorer.pixels([image])
    assert pixels.shape == (1, 3, 32, 32)
    expected = (np.array([1.0, 128 / 255, 0.0]) - np.array(CLIP_MEAN)) / np.array(CLIP_STD)
    assert np.allclose(pixels[0, :, 16, 16].numpy(), expected, atol=1e-5)


def test_clip_score_is_100_times_the_clamped_cosine():
    scorer = tiny_clip()
    images = [np.asarray(random_image(48, 40, s)) for s in range(4)]
    scores = scorer(images, "ghibli style")
    with torch.no_grad():
        tokens = scorer.tokenizer(["ghibli style"], padding=True, return_tensors="pt")
        out_t = scorer.model.get_text_features(**tokens)
        out_i = scorer.model.get_image_features(pixel_values=scorer.pixels(images))
    t = getattr(out_t, "pooler_output", out_t)[0].numpy()
    cos = [float(v @ t / np.linalg.norm(v) / np.linalg.norm(t)) for v in getattr(out_i, "pooler_output", out_i).numpy()]
    assert scores == pytest.approx([100 * max(c, 0.0) for c in cos], abs=1e-3)
    assert all(0 <= s <= 100 for s in scores)


def test_missing_clip_weights_leave_the_column_empty_and_say_why():
    image = random_image(20, 20, 5)
    figs = content_figures(image, [image], ["a"], size=20)
    note = add_clip_scores(figs, [image], "ghibli style", "/no/such/clip/folder")
    assert figs[0].clip is None and "not computed" in note and "weights '/no/such/clip/folder' are not here" in note
    assert "--prompt" in add_clip_scores(figs, [image], "", "pixelart-tiny/clip")
    assert "--clip none" in add_clip_scores(figs, [image], "ghibli", "none")


def test_figures_cli_prints_and_writes_csv(tmp_path, capsys):
    content = random_image(30, 40, 6)
    content.save(tmp_path / "content.png")
    content.save(tmp_path / "same.png")
    random_image(30, 40, 7).save(tmp_path / "other.png")
    out = tmp_path / "figures.csv"
    code = main(["figures", str(tmp_path / "content.png"), str(tmp_path / "same.png"), str(tmp_path / "other.png"),
                 "--size", "30", "--prompt", "ghibli", "--clip", "/no/such/clip", "--csv", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and "same.png" in printed and "CLIP score not computed" in printed
    rows = list(csv.DictReader(out.open()))
    assert [r["image"] for r in rows] == ["same.png", "other.png"]
    assert float(rows[0]["l2_rms"]) == 0.0 and float(rows[0]["ssim"]) == pytest.approx(1.0)
    assert 0 < float(rows[1]["l2_rms"]) and float(rows[1]["ssim"]) < 0.5 and rows[1]["clip_score"] == ""


def test_figures_cli_refuses_bad_input_in_one_line(tmp_path, capsys):
    random_image(30, 40, 8).save(tmp_path / "c.png")
    assert main(["figures", str(tmp_path / "c.png"), str(tmp_path / "missing.png")]) == 2
    assert main(["figures", str(tmp_path / "c.png"), str(tmp_path / "c.png"), "--size", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)
