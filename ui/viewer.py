"""The trajectory viewer: photo beside the pixel art at a chosen step, a step slider, the chart.

Tabs that show a trajectory (Pixel Art, Annotate) build it with ``build_viewer`` (each with its own
``prefix`` for element ids, which tests and keyboard shortcuts address) and answer their slider with
``view_step``, which is also what ``bench/bench_scrub.py`` times. ``ChartCache`` keeps the decimated
chart of a trajectory until its series change, so moving the slider only redraws the selection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import gradio as gr
import numpy as np
import plotly.graph_objects as go
from PIL import Image

from pixelart.export import upscale, upscale_factor
from pixelart.plots import TrajectoryChart, empty_figure
from pixelart.trajectory import Trajectory
from ui.preview import DISPLAY_LONG_SIDE
from ui.stops import stop_markers

_CAPTION_METRICS = (("norm", "d<sub>t</sub>", "{:.2f}"), ("rate", "r<sub>t</sub>", "{:+.1%}"),
                    ("clip", "CLIP", "{:.4f}"), ("dino", "DINOv2", "{:.4f}"))


@dataclass
class Viewer:
    """The components of one trajectory viewer."""

    photo: gr.Image
    art: gr.Image
    slider: gr.Slider
    caption: gr.Markdown
    chart: gr.Plot

    @property
    def step_outputs(self) -> list[gr.components.Component]:
        """What ``view_step`` fills, in its order."""
        return [self.art, self.chart, self.caption]


def build_viewer(*, art_label: str = "Pixel art at the selected step", prefix: str = "px") -> Viewer:
    """Photo and pixel art side by side, the step slider under them and the chart below; element ids
    are ``{prefix}-art``, ``{prefix}-step``, ``{prefix}-caption`` and ``{prefix}-chart``."""
    with gr.Row(equal_height=True):
        photo = gr.Image(label="Photo (as the run sees it)", interactive=False, format="png", height=320,
                         elem_classes=["px-photo"], elem_id=f"{prefix}-photo")
        art = gr.Image(label=art_label, interactive=False, format="png", height=320,
                       elem_classes=["pixel-art"], elem_id=f"{prefix}-art")
    slider = gr.Slider(0, 1, value=0, step=1, label="Step", interactive=False, elem_id=f"{prefix}-step")
    caption = gr.Markdown(elem_id=f"{prefix}-caption")
    chart = gr.Plot(value=empty_figure(), show_label=False, elem_id=f"{prefix}-chart")
    return Viewer(photo=photo, art=art, slider=slider, caption=caption, chart=chart)


@dataclass
class ChartCache:
    """The last chart built for a trajectory, reused while its series, markers and ranges are unchanged."""

    key: tuple = ()
    chart: TrajectoryChart | None = None
    hits: int = field(default=0, repr=False)

    def chart_for(
        self,
        trajectory: Trajectory,
        *,
        params: Mapping[str, float | None] | None = None,
        ranges: Sequence[tuple[int, int]] = (),
        x_max: int | None = None,
        show_stops: bool = True,
    ) -> TrajectoryChart:
        """The chart of the trajectory's current state (rebuilt only when something changed);
        ``show_stops=False`` leaves the strategies' markers out."""
        n = len(trajectory)
        # Similarities arrive in batches after their frames, so their count is part of the state.
        filled = tuple(int(np.isfinite(trajectory.series(k)).sum()) for k in trajectory.series_names)
        key = (id(trajectory), n, filled, tuple(sorted((params or {}).items())), tuple(ranges), x_max, show_stops)
        if key == self.key and self.chart is not None:
            self.hits += 1
            return self.chart
        chart = TrajectoryChart(
            {k: trajectory.series(k) for k in trajectory.series_names},
            stops=stop_markers(trajectory, params) if show_stops else (), ranges=ranges, x_max=x_max,
            revision=str(trajectory.config.get("run_id", id(trajectory))),
        )
        self.key, self.chart = key, chart
        return chart


def clamp_step(trajectory: Trajectory, step: float | int | None) -> int:
    """A slider value as a recorded step (the newest when empty or out of range)."""
    last = len(trajectory) - 1
    if step is None or (isinstance(step, float) and not math.isfinite(step)):
        return last
    return int(min(max(0, round(step)), last))


def art_image(trajectory: Trajectory, step: int) -> Image.Image:
    """One step's pixel art, upscaled with nearest neighbour so every pixel stays a crisp square.

    A palette ("P") image: the upscale moves one byte per pixel instead of three and its PNG encodes in
    a third of the time of an RGB one, which is most of what a scrub costs.
    """
    indices = upscale(trajectory.frame(step), upscale_factor(trajectory.frame_size, DISPLAY_LONG_SIDE))
    image = Image.frombytes("P", indices.shape[::-1], np.ascontiguousarray(indices).tobytes())
    image.putpalette(trajectory.palette.tobytes())
    return image


def step_caption(trajectory: Trajectory, step: int) -> str:
    """The step and its metric values as one Markdown line."""
    parts = [f"**step {step}** of {len(trajectory) - 1}"]
    for name, label, fmt in _CAPTION_METRICS:
        if name in trajectory.series_names:
            value = float(trajectory.series(name)[step])
            parts.append(f"{label} = {fmt.format(value) if math.isfinite(value) else '…'}")
    return " · ".join(parts)


def view_step(
    trajectory: Trajectory,
    step: float | int | None,
    cache: ChartCache,
    *,
    params: Mapping[str, float | None] | None = None,
    ranges: Sequence[tuple[int, int]] = (),
    x_max: int | None = None,
    show_stops: bool = True,
) -> tuple[Image.Image, go.Figure, str]:
    """What the viewer shows at a step: (pixel art image, chart with the step marked, caption)."""
    step = clamp_step(trajectory, step)
    chart = cache.chart_for(trajectory, params=params, ranges=ranges, x_max=x_max, show_stops=show_stops)
    return art_image(trajectory, step), chart.figure(step), step_caption(trajectory, step)


def slider_update(trajectory: Trajectory, value: int | None = None) -> dict:
    """The slider spanning the recorded steps; ``value`` None leaves the person's position alone."""
    update = dict(minimum=0, maximum=max(1, len(trajectory) - 1), interactive=True)
    if value is not None:
        update["value"] = value
    return gr.update(**update)
