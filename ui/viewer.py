"""The trajectory viewer: photo beside the pixel art at a chosen step, a step slider, the chart.

Tabs that show a trajectory (Pixel Art, Annotate) build it with ``build_viewer`` (each with its own
``prefix`` for element ids, which tests and keyboard shortcuts address) and answer their slider with
``view_step``, which is also what ``bench/bench_scrub.py`` times. ``ui.charts.ChartCache`` keeps the
decimated chart of a trajectory until its series change, so moving the slider only redraws the selection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import gradio as gr
import plotly.graph_objects as go
from PIL import Image

from pixelart.plots import empty_figure
from workbench.trajectory import Trajectory
from ui.charts import ChartCache
from ui.common import crisp_image

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


def clamp_step(trajectory: Trajectory, step: float | int | None) -> int:
    """A slider value as a recorded step (the newest when empty or out of range)."""
    last = len(trajectory) - 1
    if step is None or (isinstance(step, float) and not math.isfinite(step)):
        return last
    return int(min(max(0, round(step)), last))


def art_image(trajectory: Trajectory, step: int) -> Image.Image:
    """One step's pixel art, upscaled with nearest neighbour so every pixel stays a crisp square."""
    return crisp_image(trajectory.frame(step), trajectory.palette)


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
    final: bool = True,
) -> tuple[Image.Image, go.Figure, str]:
    """What the viewer shows at a step: (pixel art image, chart with the step marked, caption);
    ``final=False`` while the trajectory's run is still going (see ``ChartCache.chart_for``)."""
    step = clamp_step(trajectory, step)
    art = art_image(trajectory, step)  # first: a damaged frame raises before anything else is built
    chart = cache.chart_for(trajectory, params=params, ranges=ranges, x_max=x_max, show_stops=show_stops,
                            final=final)
    return art, chart.figure(step), step_caption(trajectory, step)


def slider_update(trajectory: Trajectory, value: int | None = None) -> dict:
    """The slider spanning the recorded steps; ``value`` None leaves the person's position alone."""
    update = dict(minimum=0, maximum=max(1, len(trajectory) - 1), interactive=True)
    if value is not None:
        update["value"] = value
    return gr.update(**update)
