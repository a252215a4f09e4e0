"""One real browser session: headless Chromium (Debian's package) driven by Playwright through the app.

Upload a photo, run a short tiny-model trajectory, move the step slider, and check that the shown
pixel art changed and that the chart holds the curves, the stopping markers and the selected step.
Leaves a screenshot in ``test-artifacts/app.png`` (see tests/browser_support.py for the README copy).
Skipped where Chromium is missing, unless REQUIRE_BROWSER=1 (CI), where that is a failure.
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser_support import save_screenshot

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PHOTO = ROOT / "assets" / "fashion_polka.jpg"
STEPS = 24

pytestmark = pytest.mark.browser


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


def test_upload_run_scrub_in_a_real_browser(browser, app_url):
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(app_url)
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

    save_screenshot(page, "app")
    page.close()
