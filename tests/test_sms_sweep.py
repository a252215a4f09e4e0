"""The SMS λ sweep end to end on the tiny model: one image per λ with the same seed, the captioned grid
(content first) and the figures CSV; bad λ lists refused in one line before any model loads."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylize.cli import main
from stylize.sms.sweep import GRID_CELL, captioned_grid, parse_lambdas
from workbench.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "assets" / "fashion_polka.jpg"
TINY = ["--model", "tiny-sd", "--style-lora", "tiny", "--prompt", "a dress", "--resolution", "64", "--quiet"]


def test_sweep_saves_an_image_per_lambda_a_grid_and_figures(tmp_path, capsys):
    out = tmp_path / "sweep"
    code = main(["sms-sweep", str(CONTENT), *TINY, "--lambdas", "1e-5, 1e-3,0.5", "--steps", "2", "--warmup-steps", "0",
                 "--size", "64", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    names = ["lambda_1e-05.png", "lambda_0.001.png", "lambda_0.5.png"]
    assert sorted(p.name for p in out.iterdir()) == sorted([*names, "grid.png", "figures.csv"])
    assert "λ 3 of 3: 0.5" in printed and "SSIM" in printed
    images = [np.asarray(Image.open(out / n)) for n in names]
    assert all(im.shape == images[0].shape and im.shape[2] == 3 for im in images)
    assert len({im.tobytes() for im in images}) == 3  # λ changes the result...
    rows = list(csv.DictReader((out / "figures.csv").open()))
    assert [r["lambda_psr"] for r in rows] == ["1e-05", "0.001", "0.5"] and [r["image"] for r in rows] == names
    for row in rows:
        assert row["steps"] == "2" and math.isfinite(float(row["l2_rms"])) and -1 <= float(row["ssim"]) <= 1
        assert 0 <= float(row["clip_score"]) <= 100 and row["clip_model"] == "pixelart-tiny/clip"
    grid = Image.open(out / "grid.png")
    assert grid.height > GRID_CELL and grid.width > 4 * GRID_CELL * images[0].shape[1] / images[0].shape[0]


def test_same_seed_same_lambda_gives_the_same_image(tmp_path):
    for folder in ("a", "b"):
        assert main(["sms-sweep", str(CONTENT), *TINY, "--lambdas", "1e-3", "--steps", "2", "--size", "32",
                     "--clip", "none", "--out", str(tmp_path / folder)]) == 0
    a, b = (np.asarray(Image.open(tmp_path / f / "lambda_0.001.png")) for f in ("a", "b"))
    assert np.array_equal(a, b)
    row, = csv.DictReader((tmp_path / "a" / "figures.csv").open())
    assert row["clip_score"] == ""


@pytest.mark.parametrize("text, fragment", [
    ("", "empty"), ("1e-3,,1e-2", "empty entry"), ("1e-3,abc", "'abc' is not a number"),
    ("-1e-3", ">= 0"), ("nan", "finite"), ("1e-3,0.001", "twice"),
])
def test_bad_lambda_lists_are_refused_in_one_line(text, fragment, tmp_path, capsys):
    with pytest.raises(ConfigError, match=fragment):
        parse_lambdas(text)
    assert main(["sms-sweep", str(CONTENT), *TINY, f"--lambdas={text}", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --lambdas")
    assert not (tmp_path / "x").exists()  # refused before anything was made


def test_grid_puts_each_caption_under_its_image():
    red = np.zeros((20, 10, 3), np.uint8)
    red[..., 0] = 255
    grid = np.asarray(captioned_grid([red, red, red], ["content", "lambda = 1", "lambda = 2"], height=40, columns=2))
    # two rows of cells (3 images, 2 columns): the first image's top-left is red, the caption strip white with text
    assert tuple(grid[10, 10]) == (255, 0, 0)
    strip = grid[6 + 40: 6 + 40 + 28, 6: 6 + 20]
    assert (strip < 128).any() and (strip == 255).any()
    assert grid.shape[0] == 2 * (40 + 28 + 6) + 6
