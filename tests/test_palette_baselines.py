"""Palette extraction, .hex round trips and classical pixelization."""

import numpy as np
import pytest
from PIL import Image

from pixelart.baselines import DOWNSAMPLERS, downsample, pixelize
from workbench.errors import ConfigError, PaletteError
from pixelart.palette import kmeans_palette, map_to_palette
from workbench.palette import indices_to_rgb, parse_hex, read_hex, hex_codes, to_hex
from workbench.export import save_hex


def _stripes(colors, h=60, w=60):
    img = np.zeros((h, w, 3), np.uint8)
    for i, c in enumerate(colors):
        img[:, i * w // len(colors) : (i + 1) * w // len(colors)] = c
    return img


def test_kmeans_recovers_the_colours_of_a_flat_image():
    colours = [(255, 0, 0), (0, 128, 0), (0, 0, 255), (250, 250, 250)]
    pal = kmeans_palette(_stripes(colours), 4, seed=0)
    assert sorted(map(tuple, pal.tolist())) == sorted(colours)


def test_kmeans_returns_fewer_colours_when_the_image_has_fewer():
    pal = kmeans_palette(_stripes([(10, 20, 30), (200, 100, 0)]), 16)
    assert len(pal) == 2


def test_kmeans_is_deterministic_and_sorted_by_luminance():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (80, 80, 3), dtype=np.uint8)
    a, b = kmeans_palette(img, 8, seed=3), kmeans_palette(img, 8, seed=3)
    assert np.array_equal(a, b) and a.shape == (8, 3)
    luma = a.astype(float) @ [0.299, 0.587, 0.114]
    assert np.all(np.diff(luma) >= 0)


@pytest.mark.parametrize("k", [1, 65])
def test_kmeans_refuses_out_of_range_sizes(k):
    with pytest.raises(PaletteError, match="2 to 64"):
        kmeans_palette(np.zeros((8, 8, 3), np.uint8), k)


def test_hex_round_trip(tmp_path):
    pal = np.array([[0, 0, 0], [255, 255, 255], [18, 52, 86]], np.uint8)
    path = save_hex(pal, tmp_path / "p.hex")
    assert path.read_text() == "000000\nffffff\n123456\n"
    assert np.array_equal(read_hex(path), pal)
    assert hex_codes(pal) == ("000000", "ffffff", "123456")


def test_hex_accepts_hash_prefix_blank_lines_and_bom():
    pal = parse_hex("\ufeff#FF0000\n\n00ff00\n  0000Ff  \n")
    assert pal.tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255]]


@pytest.mark.parametrize(
    "text, message",
    [("ff0000\nzz0000\n", "line 2"), ("ff0000\n", "at least 2"), ("ff00\n00ff00\n", "6-digit"),
     ("00ff00\n" * 257, "at most 256")],
)
def test_bad_hex_files_are_refused_with_the_reason(text, message):
    with pytest.raises(PaletteError, match=message):
        parse_hex(text)


def test_missing_hex_file(tmp_path):
    with pytest.raises(PaletteError, match="does not exist"):
        read_hex(tmp_path / "nope.hex")


def test_map_to_palette_picks_the_nearest_colour():
    pal = np.array([[0, 0, 0], [255, 255, 255], [255, 0, 0]], np.uint8)
    img = np.array([[[10, 10, 10], [240, 250, 245], [200, 30, 20]]], np.uint8)
    assert map_to_palette(img, pal).tolist() == [[0, 1, 2]]
    assert to_hex(pal).count("\n") == 3


@pytest.mark.parametrize("method", list(DOWNSAMPLERS))
@pytest.mark.parametrize("size", [(16, 16), (24, 40)])
def test_every_baseline_uses_palette_colours_only(method, size):
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8))
    pal = kmeans_palette(np.asarray(photo), 6)
    idx = pixelize(photo, size, pal, method)
    assert idx.shape == size and idx.dtype == np.uint8
    rgb = indices_to_rgb(idx, pal)
    assert set(map(tuple, rgb.reshape(-1, 3).tolist())) <= set(map(tuple, pal.tolist()))


def test_area_downsampling_averages_and_nearest_samples():
    # a fine checkerboard: area averages to grey, nearest keeps one of the two colours
    board = (np.indices((64, 64)).sum(0) % 2 * 255).astype(np.uint8)
    photo = Image.fromarray(np.stack([board] * 3, -1))
    assert abs(int(downsample(photo, (8, 8), "area").mean()) - 127) <= 1
    assert set(np.unique(downsample(photo, (8, 8), "nearest"))) <= {0, 255}


def test_unknown_baseline_method():
    with pytest.raises(ConfigError, match="choose one of"):
        downsample(Image.new("RGB", (32, 32)), (16, 16), "median")


def test_classical_pixel_art_is_the_runs_preparation_and_init_baseline():
    from pixelart.baselines import classical_pixel_art
    from pixelart.preparation import prepare

    rng = np.random.default_rng(2)
    photo = Image.fromarray(rng.integers(0, 256, (300, 200, 3), dtype=np.uint8))
    prep, idx = classical_pixel_art(photo, (24, 16), colors=6, seed=3)
    again = prepare(photo, (24, 16), colors=6, seed=3)
    assert np.array_equal(prep.palette, again.palette) and idx.shape == (24, 16)
    assert np.array_equal(idx, pixelize(again.photo, (24, 16), again.palette, "area"))


def test_safe_stem():
    from workbench.export import safe_stem

    assert safe_stem("../My photo (1).JPG") == "My_photo_1_.JPG"
    assert safe_stem("\n..") == "run" and len(safe_stem("a" * 500)) == 80


def test_a_huge_file_is_refused_as_a_palette_before_it_is_read(tmp_path):
    from workbench.palette import MAX_HEX_BYTES

    path = tmp_path / "big.hex"
    path.write_bytes(b"ff0000\n" * (MAX_HEX_BYTES // 7 + 10))
    with pytest.raises(PaletteError, match="big.hex is .* bytes"):
        read_hex(path)
