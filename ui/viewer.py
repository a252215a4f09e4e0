"""The trajectory viewer: the input beside the run's frame at a chosen step, a step slider, the chart.

Tabs that show a trajectory (Pixel Art, Annotate) build it with ``build_viewer`` (each with its own
``prefix`` for element ids, which tests and keyboard shortcuts address) and answer their slider with
``view_step``, which is also what ``bench/bench_scrub.py`` times. ``ui.charts.ChartCache`` keeps the
decimated chart of a trajectory until its series change, so moving the slider only redraws the selection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import gradio as gr
import plotly.graph_objects as go
from PIL import Image

import numpy as np

from workbench.chart import empty_figure
from workbench.stopping import StrategySet
from workbench.trajectory import Trajectory
from ui.charts import ChartCache
from ui.common import DISPLAY_LONG_SIDE, crisp, crisp_image


@dataclass
class Viewer:
    """The components of one trajectory viewer."""

    photo: gr.Image
    art: gr.Image
    slider: gr.Slider
    caption: gr.Markdown
    chart: gr.Plot
    side: dict[str, gr.Image] = field(default_factory=dict)  # pictures beside the frame (e.g. SMS's map R)

    @property
    def step_outputs(self) -> list[gr.components.Component]:
        """What ``view_step`` fills, in its order."""
        return [self.art, self.chart, self.caption]


def build_viewer(*, art_label: str = "Pixel art at the selected step", prefix: str = "px",
                 photo_label: str = "Photo (as the run sees it)", side: Mapping[str, str] | None = None) -> Viewer:
    """Input and frame side by side (and ``side`` pictures, key -> label, beside them), the step slider
    under them and the chart below; element ids are ``{prefix}-art``, ``{prefix}-side-{key}``,
    ``{prefix}-step``, ``{prefix}-caption`` and ``{prefix}-chart``."""
    with gr.Row(equal_height=True):
        photo = gr.Image(label=photo_label, interactive=False, format="png", height=320,
                         elem_classes=["px-photo"], elem_id=f"{prefix}-photo")
        art = gr.Image(label=art_label, interactive=False, format="png", height=320,
                       elem_classes=["pixel-art"], elem_id=f"{prefix}-art")
        pictures = {key: gr.Image(label=label, interactive=False, format="png", height=320,
                                  elem_classes=["pixel-art"], elem_id=f"{prefix}-side-{key}")
                    for key, label in (side or {}).items()}
    slider = gr.Slider(0, 1, value=0, step=1, label="Step", interactive=False, elem_id=f"{prefix}-step")
    caption = gr.Markdown(elem_id=f"{prefix}-caption")
    chart = gr.Plot(value=empty_figure(), show_label=False, elem_id=f"{prefix}-chart")
    return Viewer(photo=photo, art=art, slider=slider, caption=caption, chart=chart, side=pictures)


def clamp_step(trajectory: Trajectory, step: float | int | None) -> int:
    """A slider value as a recorded step (the newest when empty or out of range)."""
    last = len(trajectory) - 1
    if step is None or (isinstance(step, float) and not math.isfinite(step)):
        return last
    return int(min(max(0, round(step)), last))


def art_image(trajectory: Trajectory, step: int) -> Image.Image:
    """One step's frame: pixel art upscaled with nearest neighbour so every pixel stays a crisp square;
    small RGB frames likewise, larger ones as they are."""
    frame = trajectory.frame(step)
    if trajectory.palette is not None:
        return crisp_image(frame, trajectory.palette)
    if max(frame.shape[:2]) < DISPLAY_LONG_SIDE // 2:
        frame = crisp(frame)
    return Image.fromarray(np.ascontiguousarray(frame))


def step_caption(trajectory: Trajectory, step: int) -> str:
    """The step and its curves' values as one Markdown line (and which step's frame is shown, when
    frames are recorded every few steps)."""
    parts = [f"**step {step}** of {len(trajectory) - 1}"]
    shown = trajectory.recorded_step(step)
    if shown != step:
        parts[0] += f" (frame of step {shown})"
    names = set(trajectory.series_names)
    for curve in trajectory.curves:
        if curve.caption and curve.name in names:
            value = float(trajectory.series(curve.name)[step])
            parts.append(f"{curve.caption_label or curve.label} = {curve.format(value)}")
    return " · ".join(parts)


def view_step(
    trajectory: Trajectory,
    step: float | int | None,
    cache: ChartCache,
    strategies: StrategySet,
    *,
    params: Mapping[str, float | None] | None = None,
    ranges: Sequence[tuple[int, int]] = (),
    x_max: int | None = None,
    show_stops: bool = True,
    final: bool = True,
    max_points: int | None = None,
) -> tuple[Image.Image, go.Figure, str]:
    """What the viewer shows at a step: (frame image, chart with the step marked, caption);
    ``final=False`` while the trajectory's run is still going, ``max_points`` per curve (None: the
    chart's default; see ``ChartCache.chart_for``)."""
    step = clamp_step(trajectory, step)
    art = art_image(trajectory, step)  # first: a damaged frame raises before anything else is built
    chart = cache.chart_for(trajectory, strategies, params=params, ranges=ranges, x_max=x_max, show_stops=show_stops,
                            final=final, **({"max_points": max_points} if max_points is not None else {}))
    return art, chart.figure(step), step_caption(trajectory, step)


def slider_update(trajectory: Trajectory, value: int | None = None) -> dict:
    """The slider spanning the recorded steps; ``value`` None leaves the person's position alone."""
    update = dict(minimum=0, maximum=max(1, len(trajectory) - 1), interactive=True)
    if value is not None:
        update["value"] = value
    return gr.update(**update)
