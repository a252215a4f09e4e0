"""What a streaming run costs the browser: ``python bench/bench_live_updates.py``.

The app is served in-process and driven by Debian's Chromium (Playwright): a tiny-model Pixel Art run
streams for a while, then Stop is clicked. In the page, a ``PerformanceObserver`` collects the long
tasks (main-thread work over 50 ms, what makes a page freeze) and a ``MutationObserver`` counts the live
updates (each new step shown in the progress bar). Figures: live updates, long tasks until Stop (count,
total, longest), long-task milliseconds per live update, and the time from the Stop click to the panel
saying it is stopping and to its "stopped" state. Prints them with the machine and appends a row to
``bench/results/live_updates.csv``.

``measure_run`` is also what ``tests/test_browser_panel.py`` checks against the issue's budget.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "tests"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

RESULTS = ROOT / "bench" / "results" / "live_updates.csv"
PHOTO = ROOT / "assets" / "fashion_polka.jpg"

# Installed before the page's own scripts: long tasks and live updates from the first paint on.
OBSERVE = """
window.__bench = {long: [], updates: 0, lastStep: null};
new PerformanceObserver(list => {
    for (const e of list.getEntries()) window.__bench.long.push({start: e.startTime, ms: e.duration});
}).observe({type: 'longtask', buffered: true});
const watch = () => {
    const bar = document.querySelector('#px-progress .px-progress');
    if (!bar) return;
    const key = bar.dataset.state + ':' + bar.dataset.step;
    if (bar.dataset.state === 'running' && key !== window.__bench.lastStep) window.__bench.updates += 1;
    window.__bench.lastStep = key;
};
new MutationObserver(watch).observe(document, {subtree: true, childList: true, attributes: true,
                                                characterData: true});
"""


@dataclass
class LiveFigures:
    """One streamed run as the browser saw it."""

    updates: int  # live updates shown (new steps in the progress bar)
    long_tasks: int
    long_ms_total: float
    long_ms_max: float
    stream_s: float  # how long the run streamed before Stop
    registered_s: float  # Stop click -> the panel says it is stopping (the click was handled)
    stop_s: float  # Stop click -> the panel's "stopped" state (the step under way finishes first)
    steps_after_stop: int  # steps made between the Stop click and the run's end
    stop_colour: str = ""  # the Stop button's background while the run streamed (CSS colour)

    @property
    def long_ms_per_update(self) -> float:
        return self.long_ms_total / max(1, self.updates)


def _fill(page, elem_id: str, value: str) -> None:
    field = page.locator(f"#{elem_id} input[type=number], #{elem_id} textarea, #{elem_id} input[type=text]").first
    field.fill(value)
    field.press("Tab")


def _step(page) -> int:
    return int(page.locator("#px-progress .px-progress").get_attribute("data-step") or 0)


def measure_run(page, url: str, *, stream_s: float = 8.0, steps: int = 3000) -> LiveFigures:
    """Start a long tiny-model run in ``page`` (a fresh Chromium page), let it stream ``stream_s``
    seconds, click Stop and measure (see the module's docstring)."""
    page.add_init_script(OBSERVE)
    page.goto(url)
    page.locator("#px-photo-upload input[type=file]").set_input_files(str(PHOTO))
    page.locator("#px-preview img").wait_for(timeout=60_000)
    _fill(page, "px-width", "32")
    _fill(page, "px-height", "32")
    _fill(page, "px-steps", str(steps))
    _fill(page, "px-prompt", "a red polka-dot dress")
    page.get_by_text("Advanced settings").click()
    _fill(page, "px-semantic-every", "5")
    model = page.locator("#px-model input").first
    model.click()
    model.fill("tiny-sd")
    page.get_by_role("option", name=re.compile(r"^tiny-sd")).click()
    page.locator("#px-run").click()
    page.locator('#px-progress [data-state="running"]').wait_for(timeout=180_000)
    page.wait_for_function("() => Number(document.querySelector('#px-progress .px-progress').dataset.step) > 0",
                           timeout=180_000)
    page.evaluate("() => { window.__bench.long = []; window.__bench.updates = 0; }")  # the run's stream only
    t0 = time.monotonic()
    page.wait_for_timeout(stream_s * 1000)
    streamed = time.monotonic() - t0
    at_stop = _step(page)
    colour = page.evaluate("() => getComputedStyle(document.querySelector('#px-stop')).backgroundColor")
    seen = page.evaluate("() => window.__bench")  # the stream's figures: the final chart after Stop is not live
    clicked = time.monotonic()
    page.locator("#px-stop").click()
    page.wait_for_function("() => document.querySelector('#px-message').innerText.includes('stopping')",
                           timeout=120_000, polling=20)
    registered_s = time.monotonic() - clicked
    page.locator('#px-progress [data-state="stopped"]').wait_for(timeout=120_000)
    stop_s = time.monotonic() - clicked
    durations = [e["ms"] for e in seen["long"]]
    return LiveFigures(
        updates=seen["updates"], long_tasks=len(durations), long_ms_total=round(sum(durations), 1),
        long_ms_max=round(max(durations, default=0.0), 1), stream_s=round(streamed, 2),
        registered_s=round(registered_s, 2), stop_s=round(stop_s, 2),
        steps_after_stop=_step(page) - at_stop, stop_colour=colour,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stream-s", type=float, default=10.0, help="seconds to stream before Stop")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    import datetime
    import tempfile

    from playwright.sync_api import sync_playwright

    from app import launch
    from bench.common import append_csv, describe_machine, machine_info
    from browser_support import CHROMIUM, FLAGS
    from ui.session import SessionStore

    info = machine_info()
    print(describe_machine(info))
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        sessions = SessionStore(Path(tmp))
        demo, url = launch(sessions=sessions, prevent_thread_lock=True, quiet=True)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        rows = []
        try:
            for i in range(args.repeats):
                page = browser.new_page(viewport={"width": 1440, "height": 1000})
                figures = measure_run(page, url, stream_s=args.stream_s)
                page.close()
                row = {"date": datetime.date.today().isoformat(), "repeat": i, **asdict(figures),
                       "long_ms_per_update": round(figures.long_ms_per_update, 1), **info}
                rows.append(row)
                print(f"run {i}: {figures.updates} live updates in {figures.stream_s} s; {figures.long_tasks} long "
                      f"tasks, {figures.long_ms_total} ms in all (longest {figures.long_ms_max} ms) = "
                      f"{figures.long_ms_per_update:.1f} ms per update; Stop -> stopping {figures.registered_s} s, "
                      f"-> stopped {figures.stop_s} s "
                      f"({figures.steps_after_stop} steps after the click)")
        finally:
            browser.close()
            demo.close()
            sessions.close_all()
    append_csv(RESULTS, rows, list(rows[0]))


if __name__ == "__main__":
    main()
