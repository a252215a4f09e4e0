"""What the Pixel Art tab's events do. Every handler finds the caller's session from the request, calls
the engine, and answers with component values; user errors become a message, never a crash.

Views that show a trajectory answer with ``VIEW_OUTPUTS`` values in this order:
(progress bar, notes, photo, pixel art, slider, caption, chart, message).
"""

from __future__ import annotations

import contextlib
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import gradio as gr
import numpy as np

from pixelart.errors import ConfigError, PixelArtError
from pixelart.images import load_photo
from pixelart.palette import read_hex
from pixelart.run import PixelArtRun
from pixelart.stopping import STRATEGIES
from pixelart.trajectory import Trajectory
from ui import exports, stops
from ui.feedback import describe, fail, warn
from ui.preview import classical_preview
from ui.progress import Throttle, progress_html
from ui.runner import run_steps
from ui.session import Session, SessionStore
from ui.settings import config_from_values, number, whole
from ui.viewer import ChartCache, clamp_step, slider_update, view_step

MAX_PHOTO_PIXELS = 40_000_000  # refused from the header, before decoding (decompression bombs)
KEEP_LONG_SIDE = 4096  # larger photos are kept downscaled: the run never uses more than 1024 px

View = tuple[Any, Any, Any, Any, Any, Any, Any, Any]


class PixelArtActions:
    """The event handlers of one Pixel Art tab, bound to the app's session store."""

    def __init__(self, sessions: SessionStore, setting_names: list[str]) -> None:
        self.sessions = sessions
        self.setting_names = setting_names

    def session(self, request: gr.Request | None) -> Session:
        """The caller's session."""
        return self.sessions.get(getattr(request, "session_hash", None))

    # -- photo and preview --------------------------------------------------------------------------
    def on_photo(
        self, path: str | None, width: float, height: float, colors: float, palette_file: str | None, fit: str,
        seed: float, request: gr.Request,
    ) -> tuple[Any, Any, str]:
        """A photo was uploaded or an example picked: check it, keep it, show the classical preview."""
        session = self.session(request)
        session.photo, session.photo_name = None, ""
        if not path:
            return None, None, ""
        try:
            photo = load_photo(path, max_pixels=MAX_PHOTO_PIXELS)
        except Exception as exc:
            return None, None, fail(exc, "reading the photo")
        if max(photo.size) > KEEP_LONG_SIDE:
            photo.thumbnail((KEEP_LONG_SIDE, KEEP_LONG_SIDE))
        session.photo, session.photo_name = photo, Path(path).name
        return self.preview(width, height, colors, palette_file, fit, seed, request)

    def preview(
        self, width: float, height: float, colors: float, palette_file: str | None, fit: str, seed: float,
        request: gr.Request,
    ) -> tuple[Any, Any, str]:
        """(classical pixelization, photo as the run sees it, message) for the current settings."""
        session = self.session(request)
        if session.photo is None:
            return gr.skip(), gr.skip(), ""
        try:
            palette = read_hex(palette_file) if palette_file else None
            result = classical_preview(
                session.photo, (whole(height, "height"), whole(width, "width")), colors=whole(colors, "palette size"),
                palette=palette, fit=fit, seed=whole(seed, "seed"),
            )
        except Exception as exc:
            return None, None, fail(exc, "making the preview")
        return result.art_display, result.photo, ""

    # -- the run ------------------------------------------------------------------------------------
    def start_run(self, request: gr.Request, *values: Any) -> tuple[str, str]:
        """Check the photo and settings at once (before waiting for the GPU) and keep the config."""
        session = self.session(request)
        if session.running:
            raise gr.Error("a run is already going in this session: stop it first", print_exception=False)
        if session.photo is None:
            raise gr.Error("upload a photo (or pick an example) first", print_exception=False)
        try:
            config = config_from_values(**dict(zip(self.setting_names, values, strict=True)))
        except PixelArtError as exc:
            raise gr.Error(describe(exc, "checking the settings"), print_exception=False) from None
        session.pending, session.stop_requested = config, False
        return progress_html("waiting", 0, config.steps), ""

    def stream_run(self, request: gr.Request) -> Iterator[View]:
        """Run the pending config, streaming at most one update per ``UPDATE_INTERVAL_S``.

        The trajectory is the session's from the first step on, so the slider, the downloads and the
        chart work during the run and keep every step made if it is stopped or fails.
        """
        session = self.session(request)
        config, session.pending = session.pending, None
        if config is None:
            raise gr.Error("nothing to run: press Run", print_exception=False)
        if session.stop_requested:
            yield self._view(session, progress_html("stopped"), message="stopped before the run started")
            return
        session.running = True
        state, message, record, started = "finished", "", None, time.monotonic()
        yield _progress_only(progress_html("preparing", 0, config.steps))
        try:
            throttle = Throttle()
            with contextlib.closing(run_steps(session.photo, config, session.photo_name,
                                              lambda: session.stop_requested)) as items:
                for item in items:
                    if isinstance(item, PixelArtRun):
                        notes = [*item.setup.notes, f'prompt used: "{item.setup.prompt}"']
                        session.set_trajectory(item.trajectory, notes)
                        session.x_max = config.steps
                        yield self._view(session, progress_html("running", 0, config.steps),
                                         photo=np.asarray(item.setup.photo))
                        continue
                    record = item
                    if throttle.due():
                        progress = progress_html("running", record.step, record.total, record.elapsed_s)
                        yield self._view(session, progress, live=True)
            if session.stop_requested:
                state = "stopped"
        except Exception as exc:  # a failed run keeps the steps it made
            state, message = "failed", fail(exc, "running")
        finally:
            session.running, session.x_max = False, None
        step = record.step if record is not None else 0
        elapsed = record.elapsed_s if record is not None else time.monotonic() - started
        yield self._view(session, progress_html(state, step, config.steps, elapsed), message=message)

    def stop(self, request: gr.Request) -> str:
        """Ask the session's run to stop after its current step (what it made is kept)."""
        session = self.session(request)
        session.stop_requested = True
        return "stopping after the current step…" if session.running else ""

    # -- viewing ------------------------------------------------------------------------------------
    def scrub(self, step: float, request: gr.Request) -> tuple[Any, Any, Any]:
        """Show a recorded step. During a run the viewer stops following the newest step, until the
        slider is moved back to the end."""
        session = self.session(request)
        trajectory = session.trajectory
        if trajectory is None or not len(trajectory):
            return gr.skip(), gr.skip(), "no trajectory yet: run one or open a bundle"
        session.selected = clamp_step(trajectory, step)
        session.follow = session.running and session.selected >= len(trajectory) - 1
        return self._step_view(session, session.selected)

    def strategy_changed(self, name: str) -> dict:
        """The parameter field's label for the chosen strategy, emptied (= its default)."""
        cls = STRATEGIES.get(name)
        return gr.update(label=stops.parameter_label(name) if cls else "parameter", value="",
                         interactive=bool(cls and cls.param_name))

    def jump(self, name: str, param: str | float | None, request: gr.Request) -> tuple[Any, Any, Any, Any, str]:
        """Move the slider to the step a strategy detects (blank parameter: its default), and mark it on
        the chart with that parameter."""
        session = self.session(request)
        trajectory = session.trajectory
        if trajectory is None or not len(trajectory):
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), warn("no trajectory yet: run one or open a bundle")
        try:
            param = None if param is None or str(param).strip() == "" else number(param, "the parameter")
            decision = stops.decide(trajectory, name, param)
        except Exception as exc:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), fail(exc, "finding the stopping step")
        session.stop_params[name] = decision.param if param is not None else None
        session.follow, session.selected = False, decision.step
        art, chart, caption = self._step_view(session, decision.step)
        where = "stops" if decision.fired else "never fires; showing the last step"
        text = f"**{STRATEGIES[name].label}** {where}: step {decision.step} ({decision.reason})"
        return gr.update(value=decision.step), art, chart, caption, text

    # -- files --------------------------------------------------------------------------------------
    def export_step(self, step: float, request: gr.Request) -> tuple[Any, str]:
        """The shown step as native PNG, upscaled PNG and .hex palette."""
        session = self.session(request)
        trajectory = session.trajectory
        if trajectory is None or not len(trajectory):
            return None, warn("nothing to download yet: run or open a trajectory first")
        step = clamp_step(trajectory, step)
        try:
            paths = exports.export_step(trajectory, step, session.subfolder("exports"),
                                        exports.file_stem(trajectory, session.photo_name))
        except Exception as exc:
            return None, fail(exc, "writing the step's files")
        return [str(p) for p in paths], f"step {step}: PNG, upscaled PNG and palette ready below"

    def export_run(self, animation: str, request: gr.Request) -> tuple[Any, str]:
        """The trajectory bundle and an animation (GIF or MP4) of the steps recorded so far."""
        session = self.session(request)
        trajectory = session.trajectory
        if trajectory is None or not len(trajectory):
            return None, warn("nothing to download yet: run or open a trajectory first")
        try:
            paths = exports.export_run(trajectory, session.subfolder("exports"),
                                       exports.file_stem(trajectory, session.photo_name), animation)
        except Exception as exc:
            return None, fail(exc, "writing the trajectory files")
        return [str(p) for p in paths], f"{len(trajectory)} steps: bundle and {animation.upper()} ready below"

    def load_bundle(self, path: str | None, request: gr.Request) -> View:
        """Open a saved trajectory bundle (CLI or another session) to scrub it; no model is loaded."""
        session = self.session(request)
        if not path:
            return _unchanged()
        if session.running:
            return _unchanged(message=warn("a run is going in this session: stop it before opening a bundle"))
        try:
            # The upload may be cleaned from gradio's cache; frames are read lazily, so keep our own copy.
            local = session.subfolder("bundles") / f"{uuid.uuid4().hex}.bundle"
            shutil.copyfile(path, local)
            trajectory = Trajectory.load(local)
            if not len(trajectory):
                raise ConfigError(f"{Path(path).name} holds no steps")
        except Exception as exc:
            return _unchanged(message=fail(exc, "opening the bundle"))
        session.set_trajectory(trajectory, bundle_notes(trajectory, Path(path).name))
        n = len(trajectory)
        return self._view(session, progress_html("loaded", n - 1, n - 1), photo=trajectory.input_image)

    def release(self, request: gr.Request) -> None:
        """The page went away: its files go unless it reconnects soon (see ``SessionStore``)."""
        self.sessions.release(getattr(request, "session_hash", None))

    # -- helpers ------------------------------------------------------------------------------------
    def _step_view(self, session: Session, step: int) -> tuple[Any, Any, str]:
        if session.chart_cache is None:
            session.chart_cache = ChartCache()
        return view_step(session.trajectory, step, session.chart_cache, params=session.stop_params,
                         x_max=session.x_max)

    def _view(
        self, session: Session, progress: str, *, photo: Any = None, message: str = "", live: bool = False,
    ) -> View:
        """Every viewer output for the session's trajectory; ``live``: a running update."""
        trajectory = session.trajectory
        if trajectory is None or not len(trajectory):
            return (progress, _notes(session), photo if photo is not None else gr.skip(), gr.skip(), gr.skip(),
                    gr.skip(), gr.skip(), message)
        newest = len(trajectory) - 1
        if session.follow:
            session.selected = newest
        art, chart, caption = self._step_view(session, session.selected)
        if live and not session.follow:  # the person is looking at another step: leave it alone
            art, caption = gr.skip(), gr.skip()
        slider = slider_update(trajectory, session.selected if session.follow else None)
        notes = gr.skip() if live else _notes(session)
        return (progress, notes, photo if photo is not None else gr.skip(), art, slider, caption, chart,
                gr.skip() if live else message)


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


def _notes(session: Session) -> str:
    return "\n".join(f"- {note}" for note in session.notes)


def _progress_only(progress: str) -> View:
    return (progress, *(gr.skip(),) * 7)


def _unchanged(message: str = "") -> View:
    return (*(gr.skip(),) * 7, message)
