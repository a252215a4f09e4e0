"""The Annotate tab's keyboard shortcuts in a real browser: headless Chromium (Debian's package) driven
by Playwright. Open a folder of synthetic bundles, step the slider with `,` `.` `<` `>`, mark a range with
`[` and `]`, and check that the range is in the labels file and shaded on the chart; keys typed into a
text box stay text; `n` / `p` move between bundles. Leaves ``test-artifacts/annotate.png``
(see tests/browser_support.py for the README copy). Skipped where Chromium is missing, unless REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pixelart.baselines import pixelize  # noqa: E402
from pixelart.labels import read_labels  # noqa: E402
from pixelart.preparation import prepare  # noqa: E402
from workbench.trajectory import Trajectory  # noqa: E402
from browser_support import save_screenshot  # noqa: E402

PHOTOS = ("fashion_polka.jpg", "fashion_stripes.jpg")
STEPS = 60

pytestmark = pytest.mark.browser


def photo_bundle(folder: Path, photo: str, seed: int) -> Path:
    """A trajectory that starts at the photo's classical pixelization and loses it step by step (more
    cells take a random palette colour), with norm, rate and CLIP-like series to match."""
    prep = prepare(Image.open(ROOT / "assets" / photo), (32, 32), colors=8, seed=0)
    base = pixelize(prep.photo, prep.out_size, prep.palette)
    rng = np.random.default_rng(seed)
    traj = Trajectory(palette=prep.palette, input_image=prep.work_array, frame_size=base.shape,
                      config={"run_id": f"browser-{Path(photo).stem}"})
    noise, order = rng.integers(0, len(prep.palette), base.shape), rng.random(base.shape)
    for t in range(STEPS):
        frame = np.where(order < (t / STEPS) ** 1.5, noise, base).astype(np.uint8)
        changed = float((frame != base).mean())
        norm = 8.0 + 40.0 * changed
        traj.append(frame, {"norm": norm, "rate": (norm - 8.0) / 8.0, "clip": 0.92 - 0.3 * changed})
    return traj.save(folder / f"{Path(photo).stem}.bundle")


def _chart(page) -> dict:
    return page.evaluate("""() => {
        const el = document.querySelector('#ann-chart .js-plotly-plot');
        return {
            bands: (el.layout.shapes || []).filter(s => s.type === 'rect').map(s => [s.x0, s.x1]),
            drawn: el.querySelectorAll('.shapelayer path, .layer-below .shapelayer path').length,
            selected: el.data.filter(t => t.meta === 'selected').map(t => Array.from(t.x)[0]),
        };
    }""")


def _step(page) -> int:
    return int(page.locator("#ann-step input[type=number]").first.input_value())


def _wait_text(page, elem_id: str, text: str) -> None:
    page.wait_for_function("([id, text]) => (document.getElementById(id) || {}).innerText?.includes(text)",
                           arg=[elem_id, text], timeout=30_000)


def test_keyboard_shortcuts_mark_a_range_in_a_real_browser(browser, app_url, tmp_path):
    folder = tmp_path / "looks"
    for i, photo in enumerate(PHOTOS):
        photo_bundle(folder, photo, i)
    page = browser.new_page(viewport={"width": 1440, "height": 1100})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(app_url)
    page.get_by_role("tab", name="Annotate").click()
    page.locator("#ann-name input, #ann-name textarea").first.fill("kbd")
    page.locator("#ann-folder input, #ann-folder textarea").first.fill(str(folder))
    page.locator("#ann-open").click()
    _wait_text(page, "ann-status", "bundle 1 of 2")
    assert "0 of 2 labeled" in page.locator("#ann-status").inner_text()

    # step with . and >, back with , and <; the caption follows every key
    for key in ".....":
        page.keyboard.press(key)
    _wait_text(page, "ann-caption", "step 5 of")
    page.keyboard.press("[")
    _wait_text(page, "ann-status", "start marked at step 5")
    page.keyboard.press(">")
    page.keyboard.press(">")
    page.keyboard.press(">")
    page.keyboard.press("<")
    page.keyboard.press(",")
    _wait_text(page, "ann-caption", "step 24 of")
    assert _step(page) == 24
    page.keyboard.press("]")
    _wait_text(page, "ann-message", "saved 5–24")
    labels = [(lab.annotator, lab.bundle, lab.start, lab.end) for lab in read_labels(folder / "labels.jsonl")]
    assert labels == [("kbd", "fashion_polka.bundle", 5, 24)]
    page.wait_for_function("() => (document.querySelector('#ann-chart .js-plotly-plot')?.layout.shapes || [])"
                           ".some(s => s.type === 'rect')", timeout=30_000)
    chart = _chart(page)
    assert chart["bands"] == [[5, 24]] and chart["drawn"] >= 1 and set(chart["selected"]) == {24}
    assert "1 of 2 labeled" in page.locator("#ann-status").inner_text()

    # keys typed into the note stay text; Esc leaves the box and the keys work again
    note = page.locator("#ann-note input, #ann-note textarea").first
    note.click()
    page.keyboard.type("n]p[ ok")
    assert note.input_value() == "n]p[ ok"
    assert "bundle 1 of 2" in page.locator("#ann-status").inner_text()
    assert len(read_labels(folder / "labels.jsonl")) == 1
    page.keyboard.press("Escape")
    page.keyboard.press("n")
    _wait_text(page, "ann-status", "bundle 2 of 2")
    assert _chart(page)["bands"] == []
    page.keyboard.press("p")
    _wait_text(page, "ann-status", "bundle 1 of 2")
    page.wait_for_function("() => (document.querySelector('#ann-chart .js-plotly-plot')?.layout.shapes || [])"
                           ".some(s => s.type === 'rect')", timeout=30_000)
    assert note.input_value() == ""  # a note goes with a range of the bundle it was typed on
    page.keyboard.press(">")
    page.keyboard.press(">")
    _wait_text(page, "ann-caption", "step 20 of")
    # the shortcuts do nothing while another tab is shown
    page.get_by_role("tab", name="Pixel Art").click()
    page.keyboard.press("n")
    page.get_by_role("tab", name="Annotate").click()
    page.wait_for_timeout(300)
    assert "bundle 1 of 2" in page.locator("#ann-status").inner_text() and _step(page) == 20
    assert not errors, errors

    save_screenshot(page, "annotate")
    page.close()


def test_name_and_folder_survive_a_reload_and_messages_stay_on_the_page(browser, app_url, tmp_path):
    folder = tmp_path / "kept"
    photo_bundle(folder, PHOTOS[0], 0)
    page = browser.new_page(viewport={"width": 1440, "height": 1100})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(app_url)
    page.get_by_role("tab", name="Annotate").click()
    help_box = page.locator("#ann-upload-help")
    assert help_box.is_visible()  # nothing open yet: uploading is one way in
    page.locator("#ann-name input, #ann-name textarea").first.fill("rae")
    page.locator("#ann-folder input, #ann-folder textarea").first.fill(str(folder))
    page.locator("#ann-open").click()
    _wait_text(page, "ann-status", "bundle 1 of 1")
    help_box.wait_for(state="hidden", timeout=10_000)  # a server folder is open: the uploads' help is not about it

    # a warning goes to the message area, no toast over the pixel art
    page.keyboard.press("]")
    _wait_text(page, "ann-message", "mark the start first")
    # a range marked end first is swapped, not refused
    for key in ">>":
        page.keyboard.press(key)
    _wait_text(page, "ann-caption", "step 20 of")
    page.keyboard.press("[")
    _wait_text(page, "ann-status", "start marked at step 20")
    page.keyboard.press("<")
    _wait_text(page, "ann-caption", "step 10 of")
    page.keyboard.press("]")
    _wait_text(page, "ann-message", "saved 10–20")
    assert "swapped" in page.locator("#ann-message").inner_text()
    assert [(lab.start, lab.end) for lab in read_labels(folder / "labels.jsonl")] == [(10, 20)]
    assert page.locator(".toast-body, .toast-wrap .toast").count() == 0

    # after a reload the name and the folder are there again
    page.reload()
    page.get_by_role("tab", name="Annotate").click()
    page.wait_for_function("() => document.querySelector('#ann-name input, #ann-name textarea')?.value === 'rae'",
                           timeout=30_000)
    assert page.locator("#ann-folder input, #ann-folder textarea").first.input_value() == str(folder)
    page.locator("#ann-open").click()
    _wait_text(page, "ann-status", "1 of 1 labeled")
    assert not errors, errors
    page.close()
