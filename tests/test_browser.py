"""One real browser session: headless Chromium (Debian's package) driven by Playwright through the app.

Upload a photo, run a short tiny-model trajectory, move the step slider, and check that the shown
pixel art changed and that the chart holds the curves, the stopping markers and the selected step.
Leaves a screenshot in ``test-artifacts/app.png`` and, for the README, ``assets/screenshots/app.png``.
Skipped where Chromium is missing, unless REQUIRE_BROWSER=1 (CI), where that is a failure.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
PHOTO = ROOT / "assets" / "fashion_polka.jpg"
ARTIFACT = ROOT / "test-artifacts" / "app.png"
README_SHOT = ROOT / "assets" / "screenshots" / "app.png"
STEPS = 24

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail("REQUIRE_BROWSER=1 but no chromium executable was found (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium); set REQUIRE_BROWSER=1 to fail instead")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    from app import launch
    from ui.session import SessionStore

    sessions = SessionStore(tmp_path_factory.mktemp("browser-sessions"))
    demo, address = launch(sessions=sessions, prevent_thread_lock=True, quiet=True)
    yield address
    demo.close()
    sessions.close_all()


def _fill(page, elem_id: str, value: str) -> None:
    """Type into a number or text field and leave it, as a person would."""
    field = page.locator(f"#{elem_id} input[type=number], #{elem_id} textarea, #{elem_id} input[type=text]").first
    field.fill(value)
    field.press("Tab")


def _image(page, elem_id: str) -> tuple[str, np.ndarray]:
    src = page.locator(f"#{elem_id} img").first.get_attribute("src")
    body = page.request.get(src).body()
    return src, np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))


def _chart(page) -> dict:
    return page.evaluate("""() => {
        const el = document.querySelector('#px-chart .js-plotly-plot');
        return {
            names: el.data.map(t => t.name),
            metas: el.data.map(t => t.meta || ''),
            points: el._fullData.map(t => (t.x || []).length),  // decoded from the base64 arrays
            selected: el.data.filter(t => t.meta === 'selected').map(t => Array.from(t.x)[0]),
            lines: (el.layout.shapes || []).filter(s => s.type === 'line').map(s => s.x0),
            labels: (el.layout.annotations || []).map(a => a.text),
            curves: el.querySelectorAll('.scatterlayer .trace path.js-line').length,
        };
    }""")


def test_upload_run_scrub_in_a_real_browser(browser, url):
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.locator("#px-photo-upload input[type=file]").set_input_files(str(PHOTO))
    page.locator("#px-preview img").wait_for(timeout=30_000)  # the classical preview appears at once

    # a short run on the tiny back end, with frames that move within a few steps
    _fill(page, "px-width", "32")
    _fill(page, "px-height", "32")
    _fill(page, "px-steps", str(STEPS))
    _fill(page, "px-prompt", "a red polka-dot dress")
    page.get_by_text("Advanced settings").click()
    _fill(page, "px-lr", "0.2")
    _fill(page, "px-warmup-steps", "0")
    _fill(page, "px-semantic-every", "4")
    model = page.locator("#px-model input").first
    model.click()
    model.fill("tiny-sd")
    page.get_by_role("option", name=re.compile(r"^tiny-sd")).click()
    page.locator("#px-run").click()
    page.locator('#px-progress [data-state="finished"]').wait_for(timeout=180_000)
    assert page.locator("#px-step input[type=number]").first.input_value() == str(STEPS)

    last_src, last = _image(page, "px-art")
    assert last.shape == (512, 512, 3)
    before = _chart(page)
    assert set(before["selected"]) == {STEPS}

    # drag the slider back to about a quarter of the run, as a person would
    track = page.locator("#px-step input[type=range]").first
    track.scroll_into_view_if_needed()
    box = track.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2)
    page.wait_for_function(
        "src => { const img = document.querySelector('#px-art img'); return img && img.src !== src; }",
        arg=last_src, timeout=30_000,
    )
    step = int(page.locator("#px-step input[type=number]").first.input_value())
    assert 0 < step < STEPS
    _, shown = _image(page, "px-art")
    assert shown.shape == last.shape and not np.array_equal(shown, last)  # the image changed
    page.wait_for_function("() => document.querySelector('#px-caption').innerText.includes('step')")
    assert f"step {step}" in page.locator("#px-caption").inner_text()

    chart = _chart(page)
    assert {"norm", "rate", "clip", "dino"} <= set(chart["metas"])
    assert {"L2 norm d<sub>t</sub>", "CLIP similarity", "DINOv2 similarity"} <= set(chart["names"])
    assert chart["curves"] >= 4 and all(n == STEPS + 1 for n, m in zip(chart["points"], chart["metas"])
                                        if m in ("norm", "clip"))
    stops = [m for m in chart["metas"] if m.startswith("stop:")]
    assert {"stop:clip_max", "stop:dino_max"} <= set(stops)  # the semantic maxima always fire
    assert "CLIP similarity maximum" in chart["labels"] and len(chart["lines"]) >= len(stops) + 1
    assert set(chart["selected"]) == {step} and step in chart["lines"]
    assert not errors, errors

    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACT), full_page=True)
    README_SHOT.parent.mkdir(parents=True, exist_ok=True)
    # the README copy is palette-reduced to keep the repository small
    Image.open(ARTIFACT).convert("RGB").quantize(256, dither=Image.Dither.NONE).save(README_SHOT, optimize=True)
    page.close()
