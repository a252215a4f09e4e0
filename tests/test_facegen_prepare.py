"""facegen data preparation (seed §3.2): figures on black, square padding, skipped files, (face, body) pairs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facegen.cli import main as cli_main
from facegen.prepare import (PrepareOptions, background_mask, face_box, prepare_folder, prepare_image,
                             parse_background)
from workbench.errors import ConfigError
from workbench.images import load_photo

RED, SHIRT = (200, 30, 40), (255, 255, 255)


def _figure_rgb(bg: tuple[int, int, int] = (255, 255, 255), size: tuple[int, int] = (60, 120)) -> np.ndarray:
    """A W×H canvas of ``bg`` with a red figure (x 20..40, y 10..110) enclosing a white shirt (x 25..35,
    y 40..60), plus a 1-px noise speck near the background colour at the border."""
    w, h = size
    arr = np.empty((h, w, 3), np.uint8)
    arr[:] = bg
    arr[10:110, 20:40] = RED
    arr[40:60, 25:35] = SHIRT
    arr[0, 0] = np.clip(np.asarray(bg, int) - 10, 0, 255)  # within the threshold: still background
    return arr


def _rgba_figure() -> Image.Image:
    """A transparent canvas whose opaque figure is half blue, half white (x 10..50, y 0..80)."""
    arr = np.zeros((80, 80, 4), np.uint8)
    arr[..., :3] = 255  # transparent white: must still become black
    arr[0:80, 10:50] = (20, 60, 220, 255)
    arr[20:40, 20:40] = (255, 255, 255, 255)
    return Image.fromarray(arr, "RGBA")


def test_threshold_keeps_an_enclosed_white_shirt() -> None:
    arr = _figure_rgb()
    bg = background_mask(arr, (255, 255, 255), 24)
    assert bg[0, 0] and bg[5, 5] and not bg[50, 30] and not bg[20, 30]  # the shirt is not background
    body, face = prepare_image(Image.fromarray(arr), PrepareOptions(size=100, margin=0, min_side=8))
    out = np.asarray(body)
    assert face is None and out.shape == (100, 100, 3)
    # figure 20×100 → square 100 padded left/right by 40, no resize needed at size 100
    assert out[:, :38].max() == 0 and out[:, 62:].max() == 0
    assert tuple(out[40, 50]) == SHIRT and tuple(out[10, 45]) == RED and tuple(out[60, 50]) == RED
    # the figure's aspect is kept: red spans the full height and 20 px of width
    red = np.all(out == RED, axis=2)
    cols = np.nonzero(red.any(axis=0))[0]
    rows = np.nonzero(red.any(axis=1))[0]
    assert (cols.min(), cols.max(), rows.min(), rows.max()) == (40, 59, 0, 99)


def test_auto_background_and_explicit_colour() -> None:
    green = (30, 180, 60)
    arr = _figure_rgb(bg=green)
    opts = PrepareOptions(size=50, margin=0, min_side=8)
    body, _ = prepare_image(Image.fromarray(arr), opts)  # auto: the border's median is the green
    out = np.asarray(body)
    assert out[:, :5].max() == 0 and np.abs(out[35, 25].astype(int) - RED).max() <= 3
    # told the background is white, nothing green counts as background: skipped with the reason
    with pytest.raises(Exception) as err:
        prepare_image(Image.fromarray(arr), PrepareOptions(size=50, background="white", threshold=10))
    assert getattr(err.value, "reason", "") == "no background found"
    assert parse_background("#FF8000") == (255, 128, 0) and parse_background("1, 2,3") == (1, 2, 3)
    with pytest.raises(ConfigError, match="not a colour"):
        parse_background("purple")


def test_alpha_channel_puts_the_figure_on_black(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    _rgba_figure().save(path)
    loaded = load_photo(path, keep_alpha=True)
    assert loaded.mode == "RGBA" and np.asarray(loaded)[0, 0, 3] == 0
    assert load_photo(path).mode == "RGB"  # the default is unchanged: transparency over white
    body, _ = prepare_image(path, PrepareOptions(size=80, margin=0, min_side=8))
    out = np.asarray(body)
    # figure 40×80 → padded by 20 on each side; transparent white became black, white inside stayed
    assert out[:, :20].max() == 0 and out[:, 60:].max() == 0
    assert tuple(out[30, 30]) == (255, 255, 255) and tuple(out[5, 25]) == (20, 60, 220)


def test_face_box_is_the_top_band_centred_on_its_mass() -> None:
    mask = np.zeros((200, 100), bool)
    mask[20:200, 30:50] = True  # body
    mask[20:60, 50:70] = True  # hair to the right in the band: the centre of mass moves right
    left, top, right, bottom = face_box(mask, 0.25)
    assert (top, bottom - top, right - left) == (20, 45, 45)
    centre = (left + right) / 2
    assert 48 <= centre <= 52  # the band's mass centre (about 49.9), not the box's 50 by accident only
    mask2 = np.zeros((200, 100), bool)
    mask2[20:200, 30:50] = True
    l2, _, r2, _ = face_box(mask2, 0.5)
    assert (l2 + r2) / 2 == pytest.approx(40, abs=0.5) and r2 - l2 == 90


def _write_inputs(folder: Path) -> None:
    folder.mkdir()
    Image.fromarray(_figure_rgb()).save(folder / "a_white.png")
    Image.fromarray(_figure_rgb(bg=(30, 180, 60))).save(folder / "b_green.jpg", quality=98)
    _rgba_figure().save(folder / "c_alpha.png")
    (folder / "d_broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    Image.new("RGB", (64, 64), (255, 255, 255)).save(folder / "e_empty.png")
    tiny = np.full((40, 40, 3), 255, np.uint8)
    tiny[10:20, 15:20] = RED
    Image.fromarray(tiny).save(folder / "f_tiny.png")
    (folder / "notes.txt").write_text("not an image")


def test_folder_pairs_and_skipped_csv(tmp_path: Path) -> None:
    _write_inputs(tmp_path / "in")
    report = prepare_folder(tmp_path / "in", tmp_path / "out",
                            PrepareOptions(size=32, min_side=30, pairs=True))
    assert sorted(report.written) == ["a_white.png", "b_green.png", "c_alpha.png"]
    faces = sorted(p.name for p in (tmp_path / "out" / "faces").iterdir())
    bodies = sorted(p.name for p in (tmp_path / "out" / "bodies").iterdir())
    assert faces == bodies == sorted(report.written)
    for name in faces:
        for kind in ("faces", "bodies"):
            with Image.open(tmp_path / "out" / kind / name) as im:
                assert im.size == (32, 32) and im.mode == "RGB"
    rows = list(csv.DictReader((tmp_path / "out" / "skipped.csv").open(encoding="utf-8")))
    reasons = {r["file"]: r["reason"] for r in rows}
    assert reasons == {"d_broken.png": "unreadable", "e_empty.png": "no foreground found", "f_tiny.png": "too small"}
    assert "skipped 3 (1 no foreground found, 1 too small, 1 unreadable)" in report.summary()
    # the face of a_white is the top quarter of the red figure: red, centred, black outside the figure
    face = np.asarray(Image.open(tmp_path / "out" / "faces" / "a_white.png"))
    assert face[16, 16, 0] > 150 and face[16, 16, 2] < 100 and face[16, 1].max() < 30
    assert not list((tmp_path / "out").glob("**/.*"))  # no temporary files left behind


def test_cli_round_trip_and_bad_options(tmp_path: Path, capsys) -> None:
    _write_inputs(tmp_path / "in")
    status = cli_main(["prepare", str(tmp_path / "in"), str(tmp_path / "out"), "--size", "24", "--min-side", "30",
                       "--no-progress"])
    out = capsys.readouterr().out
    assert status == 1  # some files were skipped
    assert "skipped d_broken.png: unreadable" in out and out.strip().splitlines()[-1].startswith("prepared 3 of 6")
    written = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert written == ["a_white.png", "b_green.png", "c_alpha.png"]
    assert Image.open(tmp_path / "out" / "b_green.png").size == (24, 24)
    # the prepared folder trains: every file is a readable square image
    ok = tmp_path / "ok"
    ok.mkdir()
    Image.fromarray(_figure_rgb()).save(ok / "x.png")
    assert cli_main(["prepare", str(ok), str(tmp_path / "out2"), "--size", "16", "--min-side", "8",
                     "--no-progress"]) == 0
    assert list(csv.reader((tmp_path / "out2" / "skipped.csv").open())) == [["file", "reason", "detail"]]
    capsys.readouterr()
    for bad in (["--threshold", "300"], ["--background", "nope"], ["--size", "2"], ["--face-fraction", "0"]):
        assert cli_main(["prepare", str(ok), str(tmp_path / "out3"), *bad]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, bad
    assert cli_main(["prepare", str(tmp_path / "missing"), str(tmp_path / "out3")]) == 2
    assert "not a folder" in capsys.readouterr().err
