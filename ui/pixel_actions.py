"""What the Pixel Art tab's own events do (the photo and its classical preview), and what it tells its
run panel (``PixelArtBackend``: settings -> run request, strategies, notes, file names). The run, the
viewer, the downloads and bundles are the shared run panel's (``ui.run_panel``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from pixelart.baselines import DOWNSAMPLERS, SDPIXL_INIT, classical_pixel_art, initial_frame
from workbench.errors import ConfigError, ImageInputError
from pixelart.stopping import PIXELART_STRATEGIES
from workbench.images import load_photo, prepare_photo
from workbench.palette import read_hex
from workbench.records import RunStart
from workbench.trajectory import Trajectory
from ui.common import SessionActions, crisp_image
from ui.feedback import fail
from ui.models import ModelStatus
from ui.run_panel import default_stem
from ui.runner import RunRequest
from ui.session import Session, SessionStore
from ui.settings import config_from_values, whole
from ui.viewer import Viewer

MAX_PHOTO_PIXELS = 40_000_000  # refused from the header, before decoding (decompression bombs)
KEEP_LONG_SIDE = 4096  # larger photos are kept downscaled: the run never uses more than 1024 px
KEY = "px"  # the panel's element ids and session key
PREVIEW_KEY = "px-classical"  # ``Session.inputs``: the last classical preview, with its settings


class PixelArtBackend:
    """What the Pixel Art tab tells its run panel."""

    key = KEY
    api_prefix = ""  # the first tab keeps the API names it always had: /run, /scrub, ...
    strategies = PIXELART_STRATEGIES
    default_strategy = "norm_rate"
    frame_label = "Pixel art at the selected step"
    input_label = "Photo (as the run sees it)"

    def __init__(self, models: ModelStatus | None = None) -> None:
        self.models = models  # the start-up check: a model not downloaded is refused before queueing

    def request(self, session: Session, values: dict[str, Any]) -> RunRequest:
        """The session's photo and these settings, checked at once (before waiting for the GPU)."""
        photo, photo_name = session.photo, session.photo_name
        if photo is None:
            raise ConfigError("upload a photo (or pick an example) first")
        if self.models is not None:
            self.models.check_ready(values["model"])
        config = config_from_values(**values)
        # the photo must cover the output once cropped or padded (the run's own check, at once); what
        # would work is said once, under the photo (the preview's message), not again under Run
        try:
            prepare_photo(photo, config.size, config.size, fit=config.fit)
        except ImageInputError as exc:
            exc.page_text = "the photo is too small for this output: see the message under the photo"
            raise
        return RunRequest("pixelart", (photo,), config, config.steps, {"photo_name": photo_name})

    def start_notes(self, start: RunStart) -> list[str]:
        """The setup's notes and the prompt used."""
        return [*start.notes, f'prompt used: "{start.config.get("prompt_used", "")}"']

    def bundle_notes(self, trajectory: Trajectory, name: str) -> list[str]:
        """What a loaded bundle is."""
        return bundle_notes(trajectory, name)

    def stem(self, trajectory: Trajectory) -> str:
        """Downloads are named after the run's photo."""
        return default_stem(trajectory, "pixelart")


@dataclass
class PhotoView:
    """The Pixel Art tab's own components that its photo handlers fill."""

    viewer: Viewer
    message: gr.Markdown
    preview: gr.Image
    initials: gr.Gallery  # the run's first frame under SD-πXL's initialisation and under another
    initials_note: gr.Markdown


class PixelArtActions(SessionActions):
    """The photo and preview handlers of one Pixel Art tab."""

    def __init__(self, sessions: SessionStore, ui: PhotoView) -> None:
        super().__init__(sessions)
        self.ui = ui

    # -- photo and preview --------------------------------------------------------------------------
    def on_photo(
        self, path: str | None, width: float, height: float, colors: float, palette_file: str | None, fit: str,
        seed: float, request: gr.Request,
    ) -> dict:
        """A photo was uploaded or an example picked: check it, keep it, show the classical preview."""
        session = self.session(request)
        session.photo, session.photo_name = None, ""
        session.inputs.pop(PREVIEW_KEY, None)  # the last preview was of the photo before
        if not path:
            return self._preview_out(session, None, None, "")
        try:
            photo = load_photo(path, max_pixels=MAX_PHOTO_PIXELS)
        except Exception as exc:
            return self._preview_out(session, None, None, fail(exc, "reading the photo"))
        if max(photo.size) > KEEP_LONG_SIDE:
            photo.thumbnail((KEEP_LONG_SIDE, KEEP_LONG_SIDE))
        session.photo, session.photo_name = photo, Path(path).name
        return self.preview(width, height, colors, palette_file, fit, seed, request)

    def preview(
        self, width: float, height: float, colors: float, palette_file: str | None, fit: str, seed: float,
        request: gr.Request,
    ) -> dict:
        """The classical pixelization for the current settings (the engine's ``classical_pixel_art``,
        the palette the run starts from), and the photo as the run sees it."""
        session = self.session(request)
        if session.photo is None:
            return {self.ui.message: ""}
        try:
            prep, indices = self._classical(session, width, height, colors, palette_file, fit, seed)
        except Exception as exc:
            return self._preview_out(session, None, None, fail(exc, "making the preview"))
        return self._preview_out(session, crisp_image(indices, prep.palette), prep.work, "")

    def compare_initials(
        self, width: float, height: float, colors: float, palette_file: str | None, fit: str, seed: float,
        init_method: str, request: gr.Request,
    ) -> dict:
        """The frame a run starts from under SD-πXL's initialisation beside another one (the chosen
        method, or the area filter when SD-πXL's is chosen), and how many pixels differ (issue 11)."""
        session = self.session(request)
        empty = {self.ui.initials: None, self.ui.initials_note: ""}
        if session.photo is None:
            return empty
        other = init_method if init_method in DOWNSAMPLERS else "area"
        try:
            prep, _ = self._classical(session, width, height, colors, palette_file, fit, seed)
        except Exception:  # the preview above already says what is wrong with these settings
            return empty
        try:
            ours, theirs = initial_frame(prep, SDPIXL_INIT), initial_frame(prep, other)
        except Exception as exc:
            return {**empty, self.ui.initials_note: fail(exc, "making the initial frames")}
        share = float(np.mean(ours != theirs))
        chosen = init_method if init_method in (SDPIXL_INIT, *DOWNSAMPLERS) else SDPIXL_INIT
        return {
            self.ui.initials: [(crisp_image(ours, prep.palette), f"sdpixl (SD-πXL's){' · chosen' * (chosen == SDPIXL_INIT)}"),
                               (crisp_image(theirs, prep.palette), f"{other} (PIL){' · chosen' * (chosen == other)}")],
            self.ui.initials_note: f"The two initialisations differ in **{share:.0%}** of the "
                                   f"{ours.size:,} pixels of the first frame.",
        }

    @staticmethod
    def _classical(session: Session, width: float, height: float, colors: float, palette_file: str | None,
                   fit: str, seed: float) -> tuple[Any, np.ndarray]:
        """``classical_pixel_art`` of the session's photo for these settings, kept for the last settings:
        the comparison of initialisations follows every preview with the same ones (no second k-means)."""
        settings = (width, height, colors, palette_file, fit, seed)  # a new photo clears the entry
        last = session.inputs.get(PREVIEW_KEY)
        if last is not None and last[0] == settings:
            return last[1]
        result = classical_pixel_art(
            session.photo, (whole(height, "height"), whole(width, "width")), colors=whole(colors, "palette size"),
            palette=read_hex(palette_file) if palette_file else None, fit=fit, seed=whole(seed, "seed"),
        )
        session.inputs[PREVIEW_KEY] = (settings, result)
        return result

    def _preview_out(self, session: Session, preview: Any, photo: Any, message: str) -> dict:
        """The preview and message; the viewer's photo only while it shows no trajectory (a run or an
        opened bundle shows its own photo)."""
        out = {self.ui.preview: preview, self.ui.message: message}
        if session.panel(KEY).trajectory is None:
            out[self.ui.viewer.photo] = photo
        return out


def bundle_notes(trajectory: Trajectory, name: str) -> list[str]:
    """What a loaded bundle is: its run, model and prompt, as notes."""
    config = trajectory.config
    notes = [f"opened {name}: {len(trajectory)} recorded steps, {trajectory.frame_size[1]}×"
             f"{trajectory.frame_size[0]} pixels, {len(trajectory.palette)} colours"]
    model = config.get("model_id") or config.get("run", {}).get("model")
    if model:
        notes.append(f"model {model}" + (": a tiny test model, its images are not meaningful"
                                          if config.get("tiny_model") else ""))
    if config.get("prompt_used"):
        notes.append(f'prompt used: "{config["prompt_used"]}"')
    if config.get("stop"):
        stop = config["stop"]
        notes.append(f"the run was stopped by {stop.get('strategy')} at step {stop.get('step')}")
    return notes
