"""Tests for workbench.images: every input is generated in tmp_path, nothing is read from the repository."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workbench.errors import ConfigError, ImageInputError
from workbench.images import (
    from_uint8_array,
    load_photo,
    prepare_photo,
    to_uint8_array,
    validate_out_size,
    working_size,
)


def refusal(source, **kwargs) -> str:
    """The ImageInputError message for ``source``, checked to be a single line."""
    with pytest.raises(ImageInputError) as info:
        load_photo(source, **kwargs)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    return message


def noise(height: int, width: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def saved(image: Image.Image, path: Path, **params) -> Path:
    image.save(path, **params)
    return path


def png_with_header_size(path: Path, width: int, height: int) -> Path:
    """A tiny valid PNG whose IHDR claims ``width``×``height`` (CRC fixed so PIL trusts the header)."""
    buffer = io.BytesIO()
    Image.new("1", (8, 8)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


# --- refusals -------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    message = refusal(tmp_path / "nope.jpg")
    assert "not found" in message and "nope.jpg" in message and "check the path" in message


def test_directory(tmp_path):
    message = refusal(tmp_path)
    assert "is a folder, not a photo" in message and "choose an image file" in message


@pytest.mark.parametrize("as_bytes", [False, True], ids=["file", "bytes"])
def test_empty(tmp_path, as_bytes):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    message = refusal(b"" if as_bytes else path)
    assert "is empty (0 bytes)" in message and "upload" in message


def test_text_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("model: tiny\nsteps: 200 — not a photo\n", encoding="utf-8")
    message = refusal(path)
    assert "'notes.txt' is not an image PIL can read (a text file)" in message
    assert "upload a JPEG, PNG or WebP photo" in message


def test_zip_file(tmp_path):
    path = tmp_path / "photos.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("photo.jpg", b"\xff\xd8\xff not really")
    message = refusal(path)
    assert "not an image PIL can read (a ZIP archive)" in message
    assert "upload a JPEG, PNG or WebP photo" in message


def test_message_stays_one_line_with_odd_file_name(tmp_path):
    path = tmp_path / "two\nlines.txt"
    path.write_text("hello")
    assert "not an image PIL can read" in refusal(path)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated(tmp_path, fmt):
    path = saved(noise(200, 300), tmp_path / f"photo.{fmt.lower()}", format=fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    message = refusal(path)
    assert "is truncated or corrupt" in message and "upload the complete file again" in message


def test_decompression_bomb_refused_by_pil(tmp_path):
    before = Image.MAX_IMAGE_PIXELS
    message = refusal(png_with_header_size(tmp_path / "bomb.png", 20000, 20000))
    assert "400,000,000 pixels" in message and "limit of 40,000,000 pixels" in message
    assert "downscale the photo" in message
    assert Image.MAX_IMAGE_PIXELS == before


def test_decompression_bomb_refused_from_header(tmp_path):
    # 48 MP: under PIL's own threshold, so only our max_pixels check (before decoding) catches it.
    message = refusal(png_with_header_size(tmp_path / "big.png", 8000, 6000))
    assert "8000×6000 = 48,000,000 pixels" in message and "limit of 40,000,000" in message


def test_max_pixels_applies_to_every_source(tmp_path):
    image = noise(100, 100)
    path = saved(image, tmp_path / "photo.png")
    for source in (path, path.read_bytes(), image):
        assert "over the limit of 5,000 pixels" in refusal(source, max_pixels=5000)


def test_zero_size_image():
    assert "zero size (0×0 pixels)" in refusal(Image.new("RGB", (0, 0)))


def test_photo_smaller_than_output():
    with pytest.raises(ImageInputError) as info:
        prepare_photo(noise(30, 40), (64, 64), (256, 256))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("photo is 40×30 pixels")
    assert "smaller than the 64×64 pixel-art output" in message
    assert "use a photo of at least 64×64 pixels or an output of at most 30×30 pixels" in message
    with pytest.raises(ImageInputError, match=r"at least 64×64 pixels \(even the smallest output, 16×16, needs 16"):
        prepare_photo(noise(4, 4), (64, 64), (256, 256))


def test_photo_too_small_only_after_crop():
    # 200×50 is wide enough, but cropping to a square leaves 50×50 for a 64×64 output.
    with pytest.raises(ImageInputError, match="50×50 after cropping"):
        prepare_photo(noise(50, 200), (64, 64), (256, 256))
    assert prepare_photo(noise(50, 200), (64, 64), (256, 256), fit="pad").size == (256, 256)


def test_min_side_overrides_output_size():
    with pytest.raises(ImageInputError, match="minimum of 128 pixels per side"):
        prepare_photo(noise(100, 100), (64, 64), (256, 256), min_side=128)


def test_unknown_fit():
    with pytest.raises(ConfigError, match="unknown fit 'stretch'"):
        prepare_photo(noise(100, 100), (64, 64), (128, 128), fit="stretch")


# --- colour modes ---------------------------------------------------------------------------------


def rgb(image_or_path) -> np.ndarray:
    result = load_photo(image_or_path)
    assert result.mode == "RGB"
    return np.asarray(result).astype(int)


def test_grayscale_gives_equal_channels(tmp_path):
    gray = np.random.default_rng(1).integers(0, 256, (20, 30), dtype=np.uint8)
    out = rgb(saved(Image.fromarray(gray), tmp_path / "gray.png"))
    for channel in range(3):
        np.testing.assert_array_equal(out[..., channel], gray)


def test_one_bit_image(tmp_path):
    bits = np.indices((8, 8)).sum(axis=0) % 2 == 1
    out = rgb(saved(Image.fromarray(bits), tmp_path / "bits.png"))
    np.testing.assert_array_equal(out[..., 0], np.where(bits, 255, 0))


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_rgba_transparency_becomes_white(tmp_path, fmt):
    pixels = np.zeros((10, 10, 4), np.uint8)
    pixels[:, :5] = (200, 10, 10, 255)  # opaque red
    pixels[:, 5:] = (0, 0, 0, 0)  # fully transparent black
    out = rgb(saved(Image.fromarray(pixels), tmp_path / f"rgba.{fmt.lower()}", format=fmt, lossless=True))
    np.testing.assert_array_equal(out[:, 5:], 255)
    np.testing.assert_allclose(out[:, :5], np.broadcast_to([200, 10, 10], (10, 5, 3)), atol=2)


def test_half_transparent_black_blends_to_mid_gray():
    out = rgb(Image.new("RGBA", (4, 4), (0, 0, 0, 128)))
    np.testing.assert_allclose(out, 127, atol=1)


def test_gray_with_alpha(tmp_path):
    pixels = np.zeros((4, 4, 2), np.uint8)
    pixels[:2] = (90, 255)
    pixels[2:] = (90, 0)
    out = rgb(saved(Image.fromarray(pixels, "LA"), tmp_path / "la.png"))
    np.testing.assert_array_equal(out[:2], 90)
    np.testing.assert_array_equal(out[2:], 255)


PALETTE = [(255, 0, 0), (0, 128, 0), (10, 20, 200), (250, 240, 10)]


def palette_image() -> Image.Image:
    image = Image.fromarray(np.arange(16, dtype=np.uint8).reshape(4, 4) % 4, "P")
    image.putpalette([c for colour in PALETTE for c in colour])
    return image


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "BMP"])
def test_palette_keeps_colours(tmp_path, fmt):
    out = rgb(saved(palette_image(), tmp_path / f"p.{fmt.lower()}", format=fmt))
    expected = np.array(PALETTE)[np.arange(16).reshape(4, 4) % 4]
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_transparency_becomes_white(tmp_path, fmt):
    out = rgb(saved(palette_image(), tmp_path / f"p.{fmt.lower()}", format=fmt, transparency=0))
    index = np.arange(16).reshape(4, 4) % 4
    np.testing.assert_array_equal(out[index == 0], 255)
    np.testing.assert_array_equal(out[index == 1], np.broadcast_to(PALETTE[1], out[index == 1].shape))


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 16384, 32768, 65535]] * 4, dtype=np.uint16)
    path = saved(Image.fromarray(values), tmp_path / "deep.png")
    with Image.open(path) as written:
        assert written.mode.startswith("I;16")  # really a 16-bit file
    np.testing.assert_allclose(rgb(path)[0, :, 0], [0, 64, 128, 255], atol=1)


@pytest.mark.parametrize(
    ("mode", "values", "expected"),
    [
        ("I", [0, 16384, 32768, 65535], [0, 64, 128, 255]),  # 16-bit data in a 32-bit container
        ("I", [0, 100, 200, 255], [0, 100, 200, 255]),  # 8-bit data in a 32-bit container
        ("F", [0.0, 0.25, 0.5, 1.0], [0, 64, 128, 255]),
        ("F", [-1.0, 0.0, 1.0, 3.0], [0, 64, 128, 255]),  # no nominal range: stretched min..max
    ],
)
def test_high_depth_modes(mode, values, expected):
    dtype = np.int32 if mode == "I" else np.float32
    image = Image.fromarray(np.array([values] * 2, dtype=dtype))
    assert image.mode == mode
    np.testing.assert_allclose(rgb(image)[0, :, 1], expected, atol=1)


def test_16_bit_big_endian():
    image = Image.frombytes("I;16B", (2, 1), struct.pack(">HH", 32768, 65535))
    np.testing.assert_allclose(rgb(image)[0, :, 2], [128, 255], atol=1)


CMYK_CASES = [
    ((0, 255, 255, 0), (255, 0, 0)),
    ((0, 0, 0, 128), (127, 127, 127)),
    ((255, 0, 128, 0), (0, 255, 127)),
]


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_cmyk_converts_to_rgb(tmp_path, fmt):
    image = Image.new("CMYK", (48, 16))
    for i, (cmyk, _) in enumerate(CMYK_CASES):
        image.paste(cmyk, (16 * i, 0, 16 * (i + 1), 16))
    out = rgb(saved(image, tmp_path / f"cmyk.{fmt.lower()}", format=fmt, quality=95))
    for i, (_, expected) in enumerate(CMYK_CASES):
        np.testing.assert_allclose(out[8, 16 * i + 8], expected, atol=6)


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [
        ("YCbCr", (76, 85, 255), (255, 0, 0)),
        ("HSV", (85, 255, 255), (0, 255, 0)),
        ("LAB", (255, 128, 128), (255, 255, 255)),
    ],
)
def test_other_colour_spaces(mode, value, expected):
    np.testing.assert_allclose(rgb(Image.new(mode, (4, 4), value))[0, 0], expected, atol=3)


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.full((20, 40, 3), 255, np.uint8)  # 40 wide, 20 tall, as stored
    pixels[:6, :6] = (255, 0, 0)  # red block in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90° clockwise
    path = saved(Image.fromarray(pixels), tmp_path / "rotated.jpg", exif=exif, quality=95)
    result = load_photo(path)
    assert result.size == (20, 40)  # now 20 wide, 40 tall
    out = np.asarray(result).astype(int)
    np.testing.assert_allclose(out[2, 17], (255, 0, 0), atol=20)  # top-right after a clockwise turn
    np.testing.assert_allclose(out[2, 2], (255, 255, 255), atol=20)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animation_gives_first_frame(tmp_path, fmt):
    frames = [Image.new("RGB", (16, 16), colour) for colour in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    path = tmp_path / f"anim.{fmt.lower()}"
    frames[0].save(path, format=fmt, save_all=True, append_images=frames[1:], duration=100, lossless=True)
    with Image.open(path) as written:
        assert written.n_frames == 3
    np.testing.assert_allclose(rgb(path)[8, 8], (255, 0, 0), atol=3)


def test_sources_agree_and_caller_image_is_untouched(tmp_path):
    image = Image.fromarray(np.random.default_rng(2).integers(0, 256, (12, 10, 4), dtype=np.uint8))
    path = saved(image, tmp_path / "photo.png")
    expected = rgb(path)
    with open(path, "rb") as stream:
        np.testing.assert_array_equal(rgb(stream), expected)
    np.testing.assert_array_equal(rgb(path.read_bytes()), expected)
    np.testing.assert_array_equal(rgb(str(path)), expected)
    np.testing.assert_array_equal(rgb(image), expected)
    assert image.mode == "RGBA"
    assert load_photo(image) is not image


# --- prepare_photo ----------------------------------------------------------------------------------

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def bands(height: int, width: int, *, vertical: bool) -> Image.Image:
    """Three equal bands red|green|blue, side by side (vertical) or stacked."""
    pixels = np.zeros((height, width, 3), np.uint8)
    for i, colour in enumerate((RED, GREEN, BLUE)):
        if vertical:
            pixels[:, i * width // 3 : (i + 1) * width // 3] = colour
        else:
            pixels[i * height // 3 : (i + 1) * height // 3] = colour
    return Image.fromarray(pixels)


@pytest.mark.parametrize(
    ("photo", "out_size", "work_size"),
    [
        (bands(100, 300, vertical=True), (64, 64), (128, 128)),  # wide photo, square art
        (bands(300, 100, vertical=False), (64, 64), (128, 128)),  # tall photo, square art
        (bands(300, 300, vertical=False), (32, 96), (64, 192)),  # square photo, wide art
    ],
)
def test_crop_keeps_the_centre(photo, out_size, work_size):
    out = np.asarray(prepare_photo(photo, out_size, work_size)).astype(int)
    assert out.shape == (*work_size, 3)
    # Only the middle (green) band survives; LANCZOS may ring a little at the band edges.
    np.testing.assert_allclose(out.reshape(-1, 3).mean(axis=0), GREEN, atol=8)


def test_pad_keeps_the_whole_photo_and_pads_with_the_border_colour():
    background = (200, 180, 160)
    pixels = np.full((100, 300, 3), background, np.uint8)
    pixels[40:60, 10:30] = RED  # near the left edge (would be cropped away)
    pixels[40:60, 270:290] = BLUE  # near the right edge
    out = np.asarray(prepare_photo(Image.fromarray(pixels), (64, 64), (150, 150), fit="pad")).astype(int)
    assert out.shape == (150, 150, 3)
    np.testing.assert_array_equal(out[:20], np.broadcast_to(background, (20, 150, 3)))
    np.testing.assert_array_equal(out[-20:], np.broadcast_to(background, (20, 150, 3)))
    middle = out[75]
    assert (np.abs(middle[:20] - RED).sum(axis=1) < 30).any()
    assert (np.abs(middle[-20:] - BLUE).sum(axis=1) < 30).any()
    cropped = np.asarray(prepare_photo(Image.fromarray(pixels), (64, 64), (150, 150))).astype(int)
    assert not (np.abs(cropped - RED).sum(axis=2) < 30).any()


def test_pad_colour_is_the_border_mean():
    pixels = np.zeros((100, 200, 3), np.uint8)
    pixels[:50] = (100, 100, 100)
    pixels[50:] = (200, 0, 50)  # border is half one colour, half the other
    out = np.asarray(prepare_photo(Image.fromarray(pixels), (64, 64), (64, 64), fit="pad")).astype(int)
    np.testing.assert_allclose(out[0, 32], (150, 50, 75), atol=2)


@pytest.mark.parametrize("fit", ["crop", "pad"])
@pytest.mark.parametrize(
    ("out_size", "work_size"),
    [((64, 64), (256, 256)), ((48, 64), (96, 128)), ((64, 32), (512, 256)), ((16, 256), (8, 128))],
)
@pytest.mark.parametrize("photo_size", [(300, 500), (500, 300), (1000, 1000)])
def test_output_size_is_exact(fit, out_size, work_size, photo_size):
    photo = noise(*photo_size)
    assert prepare_photo(photo, out_size, work_size, fit=fit).size == (work_size[1], work_size[0])


def test_prepare_converts_other_modes():
    result = prepare_photo(Image.new("L", (100, 100), 77), (64, 64), (64, 64))
    assert result.mode == "RGB" and np.asarray(result)[0, 0].tolist() == [77, 77, 77]


# --- sizes and conversions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("out_size", "long_side", "expected"),
    [
        ((48, 64), 1024, (768, 1024)),
        ((64, 48), 1024, (1024, 768)),
        ((64, 64), 256, (256, 256)),
        ((20, 256), 256, (24, 256)),  # 20 rounds to the nearest multiple of 8
        ((16, 256), 64, (8, 64)),  # never below 8
        ((100, 64), 250, (248, 160)),
    ],
)
def test_working_size(out_size, long_side, expected):
    assert working_size(out_size, long_side) == expected
    assert all(side % 8 == 0 and side >= 8 for side in expected)


def test_working_size_rejects_tiny_long_side():
    with pytest.raises(ConfigError):
        working_size((64, 64), 4)


@pytest.mark.parametrize(
    ("size", "expected"), [((64, 64), (64, 64)), ((16, 256), (16, 256)), ((48.0, 64), (48, 64))]
)
def test_validate_out_size_accepts(size, expected):
    assert validate_out_size(size) == expected


@pytest.mark.parametrize(
    ("size", "match"),
    [
        ((64, 300), "output size 300×64 is out of range: each side must be 16 to 256 pixels"),
        ((15, 64), "output size 64×15 is out of range"),
        ((0, 64), "out of range"),
        ((64.5, 64), "whole number"),
        ((True, 64), "whole number"),
        ((64,), "two numbers"),
    ],
)
def test_validate_out_size_refuses(size, match):
    with pytest.raises(ConfigError, match=match):
        validate_out_size(size)


def test_array_round_trip():
    array = np.random.default_rng(3).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    image = from_uint8_array(array)
    assert image.mode == "RGB" and image.size == (7, 5)
    np.testing.assert_array_equal(to_uint8_array(image), array)
    assert to_uint8_array(Image.new("LA", (2, 2), (9, 255))).tolist() == [[[9, 9, 9]] * 2] * 2
    with pytest.raises(ValueError):
        from_uint8_array(array.astype(np.float32))
