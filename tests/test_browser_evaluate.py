"""The Evaluate tab as people read it, in Debian's Chromium (Playwright): after an evaluation of a few
synthetic bundles nothing on its charts is drawn over anything else (the per-photo chart's legend and
its step axis title, its stop labels; the titles of the parameter sweeps) and Table 1's last column
can be reached. Leaves ``test-artifacts/evaluate.png``. Skipped where Chromium is missing, unless
REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pixelart.labels import LabelStore  # noqa: E402
from workbench.trajectory import Trajectory  # noqa: E402
from browser_support import save_screenshot  # noqa: E402

STEPS = 60
RANGES = {"a": (20, 34), "b": (26, 40), "c": (14, 30)}
pytestmark = pytest.mark.browser


def bundle(folder: Path, name: str, seed: int) -> Path:
    """A trajectory whose norm grows, with its rate and a CLIP-like similarity that peaks and falls."""
    rng = np.random.default_rng(seed)
    palette = np.array([[0, 0, 0], [255, 255, 255], [200, 30, 30], [30, 30, 200]], np.uint8)
    traj = Trajectory(palette=palette, input_image=np.zeros((8, 8, 3), np.uint8), frame_size=(8, 8),
                      config={"run_id": f"run-{name}"})
    for t in range(STEPS):
        norm = 8.0 + 0.6 * t * (1 + 0.3 * seed) + rng.random()
        clip = 0.8 + 0.1 * np.sin(t / (12 + 4 * seed)) - 0.002 * t
        traj.append(rng.integers(0, 4, (8, 8)).astype(np.uint8), {"norm": norm, "rate": (norm - 8) / 8, "clip": clip})
    return traj.save(folder / f"{name}.bundle")


def _boxes(page, selector: str) -> list[dict]:
    return page.evaluate("""(sel) => Array.from(document.querySelectorAll(sel))
        .map(el => { const r = el.getBoundingClientRect();
                     return {text: el.textContent, x0: r.left, x1: r.right, y0: r.top, y1: r.bottom}; })
        .filter(b => b.x1 > b.x0 && b.y1 > b.y0)""", selector)


def _overlap(a: dict, b: dict, slack: float = 1.0) -> bool:
    return min(a["x1"], b["x1"]) - max(a["x0"], b["x0"]) > slack and min(a["y1"], b["y1"]) - max(a["y0"], b["y0"]) > slack


def _overlapping(boxes: list[dict]) -> list[tuple[str, str]]:
    return [(a["text"], b["text"]) for i, a in enumerate(boxes) for b in boxes[i + 1:] if _overlap(a, b)]


def test_evaluate_charts_do_not_overlap_and_table1_scrolls(browser, app_url, tmp_path):
    folder = tmp_path / "looks"
    folder.mkdir()
    store = LabelStore(folder / "labels.jsonl")
    for seed, (name, (start, end)) in enumerate(RANGES.items()):
        bundle(folder, name, seed)
        store.add(f"run-{name}", "aki", start, end, bundle=f"{name}.bundle", steps=STEPS)
    page = browser.new_page(viewport={"width": 1024, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(app_url)
    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#ev-folder input, #ev-folder textarea").first.fill(str(folder))
    page.locator("#ev-run").click()
    page.wait_for_function("() => (document.getElementById('ev-message')?.innerText || '').includes('evaluated')",
                           timeout=90_000)
    page.wait_for_function("() => document.querySelector('#ev-curve .js-plotly-plot .legend')"
                           " && document.querySelector('#ev-sweeps .js-plotly-plot .annotation')", timeout=30_000)
    page.wait_for_timeout(500)

    # the per-photo chart: its legend clear of the step axis title and of the plot; stop labels apart
    curve = "#ev-curve .js-plotly-plot"
    legend = _boxes(page, f"{curve} g.legend")
    x_titles = _boxes(page, f"{curve} .infolayer text[class^='x'][class$='title']")
    assert legend and [t["text"] for t in x_titles] == ["step"], (legend, x_titles)
    assert not _overlap(legend[0], x_titles[0]), (legend, x_titles)
    plot_area = page.evaluate("""(sel) => { const el = document.querySelector(sel), r = el.getBoundingClientRect(),
        s = el._fullLayout._size; return {x0: r.left + s.l, x1: r.left + s.l + s.w, y0: r.top + s.t, y1: r.top + s.t + s.h}; }""",
        curve)
    assert not _overlap(legend[0], plot_area), (legend, plot_area)
    assert legend[0]["y1"] <= page.locator(curve).bounding_box()["y"] + page.locator(curve).bounding_box()["height"] + 1
    labels = _boxes(page, f"{curve} .annotation")
    assert len(labels) >= 4, labels  # the stops of the strategies scored here, and the selected step
    assert not _overlapping(labels), _overlapping(labels)

    # the sweeps: no title runs into another (column and row titles, the figure's title)
    sweeps = "#ev-sweeps .js-plotly-plot"
    titles = _boxes(page, f"{sweeps} .annotation") + _boxes(page, f"{sweeps} .gtitle")
    assert len(titles) >= 6, titles
    assert not _overlapping(titles), _overlapping(titles)

    # Table 1: its last column header can be scrolled into view, inside the page's width
    header = page.locator("#ev-table thead th").last
    assert "photos" in header.inner_text()
    header.scroll_into_view_if_needed()
    box = header.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 1024, box
    assert box["width"] >= 56, box  # wide enough for "photos" on one line, not "ph / ot / os"
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1024  # the page itself does not scroll sideways
    assert not errors, errors
    save_screenshot(page, "evaluate")
    page.close()
