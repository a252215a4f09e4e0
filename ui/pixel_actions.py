"""What the Pixel Art tab's events do. Every handler finds the caller's session from the request, calls
the engine, and answers with component values; user errors become a message, never a crash.

Handlers answer with dicts keyed by the tab's components (``PixelView``); what a dict leaves out stays
as it is. Views of a trajectory fill (progress bar, notes, photo, pixel art, slider, caption, chart,
message), the API's order of ``PixelView.outputs``.

A session's run goes idle -> queued (Run pressed: the photo, its name and the settings are kept
together in ``Session.pending``) -> running (the GPU queue reached it) -> idle. Run is refused while one
is queued or going; Stop ends a running run after its step, or cancels a queued one, after which Run may
be pressed again at once. Each Run press also leaves a token in the page's state: the queued event
that finds no pending run (its run was cancelled, or an earlier event of the same page already ran
the newest one) ends quietly instead of saying "nothing to run".
"""

from __future__ import annotations

import contextlib
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import gradio as gr
import numpy as np

from pixelart.baselines import classical_pixel_art
from workbench.errors import ConfigError
from workbench.images import load_photo, prepare_photo
from workbench.palette import read_hex
from pixelart.run import PixelArtRun
from pixelart.stopping import STRATEGIES
from workbench.trajectory import Trajectory
from ui import exports, stops
from ui.common import SessionActions, crisp_image
from ui.feedback import describe, fail, warn
from ui.progress import Throttle, progress_html
from ui.runner import run_steps
from ui.session import IDLE, QUEUED, RUNNING, PendingRun, Session, SessionStore
from ui.settings import config_from_values, number, whole
from ui.viewer import Viewer, clamp_step, slider_update, step_caption, view_step

MAX_PHOTO_PIXELS = 40_000_000  # refused from the header, before decoding (decompression bombs)
KEEP_LONG_SIDE = 4096  # larger photos are kept downscaled: the run never uses more than 1024 px
NO_TRAJECTORY = "no trajectory yet: run one or open a bundle"


@dataclass
class PixelView:
    """The Pixel Art tab's components that its handlers fill."""

    progress: gr.HTML
    notes: gr.Markdown
    viewer: Viewer
    message: gr.Markdown
    preview: gr.Image

    @property
    def outputs(self) -> list[gr.components.Component]:
        """What a trajectory view fills, in the API's order."""
        v = self.viewer
        return [self.progress, self.notes, v.photo, v.art, v.slider, v.caption, v.chart, self.message]


class PixelArtActions(SessionActions):
    """The event handlers of one Pixel Art tab, bound to the app's session store and its components."""

    def __init__(self, sessions: SessionStore, setting_names: list[str], ui: PixelView) -> None:
        super().__init__(sessions)
        self.setting_names = setting_names
        self.ui = ui

    # -- photo and preview --------------------------------------------------------------------------
    def on_photo(
        self, path: str | None, width: float, height: float, colors: float, palette_file: str | None, fit: str,
        seed: float, request: gr.Request,
    ) -> dict:
        """A photo was uploaded or an example picked: check it, keep it, show the classical preview."""
        session = self.session(request)
        session.photo, session.photo_name = None, ""
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
            prep, indices = classical_pixel_art(
                session.photo, (whole(height, "height"), whole(width, "width")), colors=whole(colors, "palette size"),
                palette=read_hex(palette_file) if palette_file else None, fit=fit, seed=whole(seed, "seed"),
            )
        except Exception as exc:
            return self._preview_out(session, None, None, fail(exc, "making the preview"))
        return self._preview_out(session, crisp_image(indices, prep.palette), prep.work, "")

    def _preview_out(self, session: Session, preview: Any, photo: Any, message: str) -> dict:
        """The preview and message; the viewer's photo only while it shows no trajectory (a run or an
        opened bundle shows its own photo)."""
        out = {self.ui.preview: preview, self.ui.message: message}
        if session.trajectory is None:
            out[self.ui.viewer.photo] = photo
        return out

    # -- the run ------------------------------------------------------------------------------------
    def start_run(self, request: gr.Request, *values: Any) -> tuple[str, str, str]:
        """Check the photo and settings at once (before waiting for the GPU) and keep them, with the
        photo, for the queued run; returns (progress, message, the run's token)."""
        session = self.session(request)
        if session.run_state == RUNNING:
            raise gr.Error("a run is going in this session: stop it first" if not session.stop_requested
                           else "the run is stopping: press Run again in a moment", print_exception=False)
        if session.run_state == QUEUED and not session.stop_requested:
            raise gr.Error("a run of this session is already waiting for the GPU: press Stop to cancel it first",
                           print_exception=False)
        photo, photo_name = session.photo, session.photo_name
        if photo is None:
            raise gr.Error("upload a photo (or pick an example) first", print_exception=False)
        try:
            config = config_from_values(**dict(zip(self.setting_names, values, strict=True)))
            # the photo must cover the output once cropped or padded (the run's own check, at once)
            prepare_photo(photo, config.size, config.size, fit=config.fit)
        except Exception as exc:
            raise gr.Error(describe(exc, "checking the photo and settings"), print_exception=False) from None
        token = uuid.uuid4().hex
        session.pending = PendingRun(photo, photo_name, config)
        session.run_state, session.stop_requested = QUEUED, False
        return progress_html("waiting", 0, config.steps), "", token

    def stream_run(self, token: str | None, request: gr.Request) -> Iterator[dict]:
        """Run the pending run, streaming at most one update per ``UPDATE_INTERVAL_S``; ``token``: the
        page's last Run press (None: Run was never pressed).

        The trajectory is the session's from the first step on, so the slider, the downloads and the
        chart work during the run and keep every step made if it is stopped or fails.
        """
        session, ui = self.session(request), self.ui
        pending = session.pending
        if pending is None:
            if not token:
                raise gr.Error("nothing to run: press Run", print_exception=False)
            yield gr.skip()  # this page's run was already taken by an earlier event: nothing to show
            return
        session.pending = None
        config = pending.config
        if session.stop_requested:
            session.run_state = IDLE
            yield self._view(session, progress_html("stopped"), message="stopped before the run started")
            return
        session.run_state = RUNNING
        state, message, record, started = "finished", "", None, time.monotonic()
        yield {ui.progress: progress_html("preparing", 0, config.steps)}
        try:
            throttle = Throttle()
            with contextlib.closing(run_steps(pending.photo, config, pending.photo_name,
                                              lambda: session.stop_requested)) as items:
                for item in items:
                    if isinstance(item, PixelArtRun):
                        notes = [*item.setup.notes, f'prompt used: "{item.setup.prompt}"']
                        session.set_trajectory(item.trajectory, notes)
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
            session.run_state = IDLE
        step = record.step if record is not None else 0
        elapsed = record.elapsed_s if record is not None else time.monotonic() - started
        yield self._view(session, progress_html(state, step, config.steps, elapsed), message=message)

    def stop(self, request: gr.Request) -> str:
        """Ask the session's run to stop after its current step (what it made is kept), or cancel a run
        still waiting for the GPU."""
        session = self.session(request)
        if session.run_state == IDLE:
            return ""
        session.stop_requested = True
        if session.run_state == QUEUED:
            return "the queued run is cancelled: it will not start"
        return "stopping after the current step…"

    # -- viewing ------------------------------------------------------------------------------------
    def scrub(self, step: float, request: gr.Request) -> dict:
        """Show a recorded step. During a run the viewer stops following the newest step, until the
        slider is moved back to the end."""
        session = self.session(request)
        trajectory = _shown(session)
        if trajectory is None:
            return {self.ui.viewer.caption: NO_TRAJECTORY}
        session.selected = clamp_step(trajectory, step)
        session.follow = session.running and session.selected >= len(trajectory) - 1
        try:
            return self._step_view(session, session.selected)
        except Exception as exc:  # e.g. a damaged frame of an opened bundle
            return {self.ui.viewer.caption: fail(exc, f"showing step {session.selected}")}

    def strategy_changed(self, name: str) -> dict:
        """The parameter field's label for the chosen strategy, emptied (= its default)."""
        cls = STRATEGIES.get(name)
        return gr.update(label=stops.parameter_label(name) if cls else "parameter", value="",
                         interactive=bool(cls and cls.param_name))

    def jump(self, name: str, param: str | float | None, request: gr.Request) -> dict:
        """Move the slider to the step a strategy detects (blank parameter: its default), and mark it on
        the chart with that parameter. During a run: where it has fired so far, as it would live."""
        session, ui = self.session(request), self.ui
        trajectory = _shown(session)
        if trajectory is None:
            return {ui.message: warn(NO_TRAJECTORY)}
        live = session.running
        try:
            param = None if param is None or str(param).strip() == "" else number(param, "the parameter")
            outcome, = stops.decisions(trajectory.series_map(), [(name, param)], final=not live)
            label = STRATEGIES[name].label
            if outcome.missing:
                raise ConfigError(f"{label} needs {', '.join(outcome.missing)} values, which this run did not record")
            decision = outcome.decision
            if decision is None:  # live, not fired yet
                return {ui.message: f"**{label}** has not fired yet (the run is at step {len(trajectory) - 1})"}
            session.stop_params[name] = decision.param if param is not None else None
            session.follow, session.selected = False, decision.step
            view = self._step_view(session, decision.step)
        except Exception as exc:
            return {ui.message: fail(exc, "finding the stopping step")}
        where = "stops" if decision.fired else "never fires; showing the last step"
        text = f"**{label}** {where}: step {decision.step} ({decision.reason})"
        return {ui.viewer.slider: gr.update(value=decision.step), **view, ui.message: text}

    # -- files --------------------------------------------------------------------------------------
    def export_step(self, step: float, request: gr.Request) -> tuple[Any, str]:
        """The shown step as native PNG, upscaled PNG and .hex palette."""
        session = self.session(request)
        trajectory = _shown(session)
        if trajectory is None:
            return None, warn("nothing to download yet: run or open a trajectory first")
        step = clamp_step(trajectory, step)
        try:
            paths = exports.export_step(trajectory, step, session.subfolder("exports"))
        except Exception as exc:
            return None, fail(exc, "writing the step's files")
        return [str(p) for p in paths], f"step {step}: PNG, upscaled PNG and palette ready below"

    def export_run(self, animation: str, request: gr.Request) -> tuple[Any, str]:
        """The trajectory bundle and an animation (GIF or MP4) of the steps recorded so far."""
        session = self.session(request)
        trajectory = _shown(session)
        if trajectory is None:
            return None, warn("nothing to download yet: run or open a trajectory first")
        try:
            paths = exports.export_run(trajectory, session.subfolder("exports"), animation)
        except Exception as exc:
            return None, fail(exc, "writing the trajectory files")
        return [str(p) for p in paths], f"{len(trajectory)} steps: bundle and {animation.upper()} ready below"

    def load_bundle(self, path: str | None, request: gr.Request) -> dict:
        """Open a saved trajectory bundle (CLI or another session) to scrub it; no model is loaded."""
        session, ui = self.session(request), self.ui
        if not path:
            return gr.skip()
        if session.running:
            return {ui.message: warn("a run is going in this session: stop it before opening a bundle")}
        # The upload may be cleaned from gradio's cache; frames are read lazily, so keep our own copy.
        local = session.subfolder("bundles") / f"{uuid.uuid4().hex}.bundle"
        try:
            shutil.copyfile(path, local)
            trajectory = Trajectory.load(local)
            if not len(trajectory):
                raise ConfigError(f"{Path(path).name} holds no steps")
            trajectory.frame(len(trajectory) - 1)  # damaged frame data is refused now, not at the first view
        except Exception as exc:
            local.unlink(missing_ok=True)
            return {ui.message: fail(exc, "opening the bundle").replace(local.name, Path(path).name)}
        session.set_trajectory(trajectory, bundle_notes(trajectory, Path(path).name), bundle_copy=local)
        n = len(trajectory)
        return self._view(session, progress_html("loaded", n - 1, n - 1), photo=trajectory.input_image)

    # -- helpers ------------------------------------------------------------------------------------
    def _step_view(self, session: Session, step: int) -> dict:
        art, chart, caption = view_step(session.trajectory, step, session.chart_cache, params=session.stop_params,
                                        x_max=session.x_max, final=not session.running)
        v = self.ui.viewer
        return {v.art: art, v.chart: chart, v.caption: caption}

    def _view(self, session: Session, progress: str, *, photo: Any = None, message: str = "",
              live: bool = False) -> dict:
        """Every viewer output for the session's trajectory; ``live``: a running update, which leaves
        the notes and message alone and, while the person looks at another step, their picture too."""
        ui = self.ui
        out: dict = {ui.progress: progress}
        if photo is not None:
            out[ui.viewer.photo] = photo
        if not live:
            out[ui.notes], out[ui.message] = _notes(session), message
        trajectory = _shown(session)
        if trajectory is None:
            return out
        if session.follow:
            session.selected = len(trajectory) - 1
            try:
                out.update(self._step_view(session, session.selected))
            except Exception as exc:
                out[ui.message] = fail(exc, f"showing step {session.selected}")
        else:  # the person looks at another step: only the chart grows (no frame decoded to be thrown away)
            chart = session.chart_cache.chart_for(trajectory, params=session.stop_params, x_max=session.x_max,
                                                  final=not session.running)
            out[ui.viewer.chart] = chart.figure(session.selected)
            if not live:
                out[ui.viewer.caption] = step_caption(trajectory, session.selected)
        out[ui.viewer.slider] = slider_update(trajectory, session.selected if session.follow else None)
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


def _shown(session: Session) -> Trajectory | None:
    """The session's trajectory when it has a step to show."""
    trajectory = session.trajectory
    return trajectory if trajectory is not None and len(trajectory) else None


def _notes(session: Session) -> str:
    return "\n".join(f"- {note}" for note in session.notes)
