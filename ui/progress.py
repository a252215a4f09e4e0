"""The run's progress bar (step, step rate, time left) and the throttle that paces UI updates."""

from __future__ import annotations

import html
import time
from typing import Callable

UPDATE_INTERVAL_S = 0.25  # at most 4 UI updates a second while a run streams
# The chart at most every 8 s: a browser redraws it in 100-300 ms of main-thread work (an image in a few
# ms), which at 4 a second froze the page and delayed Stop by seconds (bench/bench_live_updates.py).
CHART_INTERVAL_S = 8.0
CHART_EVERY = 30  # ... and at most with every 30th live update, however slowly updates come

_STATE_LABELS = {
    "waiting": "waiting for the GPU queue",
    "cancelled": "cancelled: the queued run will not start",
    "preparing": "preparing: palette, prompt and models (loaded once per process)",
    "running": "running",
    "stopped": "stopped: the steps made so far are kept",
    "finished": "finished",
    "failed": "failed: the steps made so far are kept",
    "idle": "no run yet",
    "loaded": "loaded from a bundle",
}


class Throttle:
    """Says whether enough time has passed since the last update to send another one.

    The run yields a record per step (tens per second with small models), far more than a browser can
    redraw a chart for; updates in between are skipped, the newest state is always what is shown.
    """

    def __init__(self, interval_s: float = UPDATE_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self.clock = clock
        self._last: float | None = None

    def due(self) -> bool:
        """True on the first call and then at most once per interval."""
        now = self.clock()
        if self._last is not None and now - self._last < self.interval_s:
            return False
        self._last = now
        return True


def format_duration(seconds: float) -> str:
    """12 s, 3 min 07 s, 1 h 02 min."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def progress_html(state: str, step: int = 0, total: int = 0, elapsed_s: float = 0.0, detail: str = "") -> str:
    """A progress bar with the step, the step rate and the time left (rate = steps made / time spent)."""
    fraction = min(1.0, step / total) if total else 0.0
    parts = [_STATE_LABELS.get(state, state)]
    if total:
        parts.append(f"step {step} / {total}")
    if state == "running" and step > 0 and elapsed_s > 0:
        rate = step / elapsed_s
        parts.append(f"{rate:.2f} steps/s" if rate < 10 else f"{rate:.0f} steps/s")
        parts.append(f"{format_duration((total - step) / rate)} left")
    elif elapsed_s > 0 and state in ("stopped", "finished", "failed"):
        parts.append(f"took {format_duration(elapsed_s)}")
    if detail:
        parts.append(detail)
    text = html.escape(" · ".join(parts))
    return (
        f'<div class="px-progress px-{html.escape(state)}" data-state="{html.escape(state)}" '
        f'data-step="{step}" data-total="{total}">'
        f'<div class="px-bar" style="width: {100 * fraction:.1f}%"></div>'
        f'<span class="px-text">{text}</span></div>'
    )
