"""The run panel every back end's tab is built on: the run queue, the live stream, Stop, the step
slider with its chart, strategy markers and jumps, downloads, and opening a saved bundle.

A tab lays out its own inputs and settings and a Run and a Stop button, then builds the panel
(``build_run_panel``) with a ``PanelBackend``: how its settings become a ``RunRequest``, its stopping
strategies, and how its trajectories are named and described. Everything else is here, once.

Handlers answer with dicts keyed by the panel's components (``PanelView``); what a dict leaves out stays
as it is. Views of a trajectory fill (progress bar, notes, input image, frame, slider, caption, chart,
message, then the back end's side images), the API's order of ``PanelView.outputs``.

Side images: a back end whose runs send pictures beside the frame (``StepRecord.side_images``, e.g. SMS's
map R) declares them in its ``side_images`` (key -> label); the panel then shows one image per key
beside the frame (element id ``{key}-side-{image key}``), enlarged to the frame size by nearest
neighbour, live while a run streams and at a scrubbed step of the session's run. Back ends without
side images get no such component.

A panel's run goes idle -> queued (Run pressed: the inputs and settings are kept together in the
panel's ``RunState.pending``) -> running (the GPU queue reached it) -> idle. Run is refused while one
is queued or going; Stop ends a running run after its step, or cancels a queued one, after which Run
may be pressed again at once. Each Run press also leaves a token in the page's state: the queued event
that finds no pending run (its run was cancelled, or an earlier event of the same page already ran the
newest one) ends quietly instead of saying "nothing to run".
"""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol

import gradio as gr
import numpy as np

from workbench.colormap import enlarge_nearest
from workbench.errors import ConfigError
from workbench.export import (ANIMATION_FRAMES, ANIMATION_MAX_FRAMES, ANIMATION_SECONDS, safe_stem, save_animation,
                              save_step)
from workbench.loop import RunLoop
from workbench.records import RunStart, StepRecord
from workbench.stopping import StrategySet
from workbench.trajectory import Trajectory
from ui.common import DISPLAY_LONG_SIDE, LIGHT, UPLOAD_HEIGHT, SessionActions, crisp
from ui.feedback import describe, fail, warn
from ui.progress import CHART_EVERY, CHART_INTERVAL_S, Throttle, progress_html
from ui import runner
from ui.runner import RunRequest
from ui.session import IDLE, QUEUED, RUNNING, RunState, Session, SessionStore
from ui.settings import number
from ui.viewer import Viewer, art_image, build_viewer, clamp_step, slider_update, step_caption, view_step

NO_TRAJECTORY = "no trajectory yet: run one or open a bundle"
GPU_QUEUE = "gpu"  # one queue for every back end's runs, one run at a time
EXPORT_QUEUE = "export"  # GIF / MP4 encoding is CPU-heavy: two at a time
ANIMATION_FORMATS = ("gif", "mp4")
LIVE_MAX_POINTS = 300  # per curve while a run streams: each live redraw must stay cheap for the browser


class PanelBackend(Protocol):
    """What a tab tells its run panel."""

    key: str  # element-id prefix and the session's panel key, e.g. "px"
    api_prefix: str  # prefix of the panel's API names ("" for the Pixel Art tab)
    strategies: StrategySet
    default_strategy: str
    frame_label: str  # the viewer's label of the frame at the selected step
    input_label: str  # the viewer's label of the input image

    def request(self, session: Session, values: dict[str, Any]) -> RunRequest:
        """The run to queue for these settings; raises a ``UserError`` saying what is wrong."""

    def start_notes(self, start: RunStart) -> list[str]:
        """Notes shown when a run has started (its setup's decisions)."""

    def bundle_notes(self, trajectory: Trajectory, name: str) -> list[str]:
        """Notes shown for an opened bundle."""

    def stem(self, trajectory: Trajectory) -> str:
        """The file-name stem of a trajectory's downloads."""

    # optional: ``side_images: dict[str, str]``, side image key -> label (see the module docstring)


@dataclass
class PanelView:
    """The run panel's components that its handlers fill."""

    progress: gr.HTML
    notes: gr.Markdown
    viewer: Viewer
    message: gr.Markdown
    bundle_message: gr.Markdown | None = None  # under the bundle upload: what was wrong with the file
    side: dict[str, gr.Image] = field(default_factory=dict)  # side image key -> its image, in order

    @property
    def base_outputs(self) -> list[gr.components.Component]:
        """What a trajectory view fills for every back end, in the API's order."""
        v = self.viewer
        return [self.progress, self.notes, v.photo, v.art, v.slider, v.caption, v.chart, self.message]

    @property
    def outputs(self) -> list[gr.components.Component]:
        """What a trajectory view fills, in the API's order: the base outputs, then the side images."""
        return [*self.base_outputs, *self.side.values()]


class RunPanel(SessionActions):
    """The event handlers of one run panel, bound to the app's session store and its components."""

    def __init__(self, sessions: SessionStore, backend: PanelBackend, setting_names: list[str], ui: PanelView) -> None:
        super().__init__(sessions)
        self.backend = backend
        self.setting_names = setting_names
        self.ui = ui
        self._refusals: dict[str | None, str] = {}  # why Run was refused, per session, until shown

    def state(self, request: gr.Request | None) -> RunState:
        """This panel's state in the caller's session."""
        return self.session(request).panel(self.backend.key)

    # -- the run ------------------------------------------------------------------------------------
    def start_run(self, request: gr.Request, *values: Any) -> str:
        """Check the inputs and settings at once (before waiting for the GPU) and keep them for the
        queued run; returns the run's token (``waiting`` then shows it queued)."""
        session = self.session(request)
        state = session.panel(self.backend.key)
        if state.run_state == RUNNING:
            self._refuse(request, "a run is going in this session: stop it first" if not state.stop_requested
                         else "the run is stopping: press Run again in a moment")
        if state.run_state == QUEUED and not state.stop_requested:
            self._refuse(request, "a run of this session is already waiting for the GPU: press Stop to cancel it first")
        try:
            pending = self.backend.request(session, dict(zip(self.setting_names, values, strict=True)))
        except Exception as exc:
            # ``page_text``: the reason is on the page already, next to its cause; Run only points to it
            self._refuse(request, describe(exc, "checking the inputs and settings"), getattr(exc, "page_text", None))
        self._refusals.pop(getattr(request, "session_hash", None), None)
        token = uuid.uuid4().hex
        state.pending = pending
        state.run_state, state.stop_requested = QUEUED, False
        return token

    def waiting(self, request: gr.Request) -> dict:
        """The progress bar of a run just queued (unless the GPU queue took it already), the messages
        cleared."""
        state, ui = self.state(request), self.ui
        out: dict = {ui.message: ""}
        if state.pending is not None and state.run_state == QUEUED:
            out[ui.progress] = progress_html("waiting", 0, state.pending.total)
        return out

    def _refuse(self, request: gr.Request, text: str, page_text: str | None = None) -> None:
        """Refuse the Run press: API clients get the error; the page shows it (or ``page_text``) once,
        under Run (no toast, which fades), through ``refusal``."""
        self._refusals[getattr(request, "session_hash", None)] = page_text or text
        raise gr.Error(text, visible=False, print_exception=False)

    def refusal(self, request: gr.Request) -> str:
        """Why this session's last Run press was refused, as the message under Run."""
        text = self._refusals.pop(getattr(request, "session_hash", None), "")
        return f"⚠️ {text}" if text else ""

    def stream_run(self, token: str | None, request: gr.Request) -> Iterator[dict]:
        """Run the pending run, streaming at most one update per ``UPDATE_INTERVAL_S``; ``token``: the
        page's last Run press (None: Run was never pressed).

        The trajectory is the panel's from the run's start on, so the slider, the downloads and the
        chart work during the run and keep every step made if it is stopped or fails.
        """
        session = self.session(request)
        state, ui = session.panel(self.backend.key), self.ui
        pending = state.pending
        if pending is None:
            if not token:
                raise gr.Error("nothing to run: press Run", print_exception=False)
            yield gr.skip()  # this page's run was already taken by an earlier event: nothing to show
            return
        state.pending = None
        if state.stop_requested:
            state.run_state = IDLE
            yield self._view(state, progress_html("stopped"), message="stopped before the run started")
            return
        state.run_state = RUNNING
        run_state, message, record, started = "finished", "", None, time.monotonic()
        yield {ui.progress: progress_html("preparing", 0, pending.total)}
        try:
            # the run's start sends the chart; live updates then add it every CHART_EVERY-th time at most
            throttle, chart_throttle, since_chart = Throttle(), Throttle(CHART_INTERVAL_S), 0
            chart_throttle.due()
            loop = RunLoop(runner.run_records(pending), should_stop=lambda: state.stop_requested)
            for item in loop:
                if isinstance(item, RunStart):
                    state.set_trajectory(loop.trajectory, self.backend.start_notes(item))
                    yield self._view(state, progress_html("running", 0, pending.total), photo=item.input_image)
                elif isinstance(item, StepRecord):
                    record = item
                    if throttle.due():
                        progress = progress_html("running", record.step, record.total, record.elapsed_s,
                                                 record.status)
                        # the chart at most every CHART_EVERY updates and CHART_INTERVAL_S seconds
                        chart = since_chart >= CHART_EVERY and chart_throttle.due()
                        since_chart = 0 if chart else since_chart + 1
                        yield self._view(state, progress, live=True, chart=chart)
            if state.stop_requested:
                run_state = "stopped"
        except Exception as exc:  # a failed run keeps the steps it made
            run_state, message = "failed", fail(exc, "running")
        finally:
            state.run_state = IDLE
        step = record.step if record is not None else 0
        elapsed = time.monotonic() - started  # preparing (models, palette, prompt) included
        if run_state == "stopped":  # said at once, before the browser redraws the full chart: Stop registered
            yield {ui.progress: progress_html(run_state, step, pending.total, elapsed)}
        yield self._view(state, progress_html(run_state, step, pending.total, elapsed), message=message)

    def stop_progress(self, request: gr.Request) -> Any:
        """The progress bar after Stop: a cancelled queued run says so at once (it no longer waits)."""
        state = self.state(request)
        if state.run_state == QUEUED and state.stop_requested:
            return progress_html("cancelled")
        return gr.skip()

    def stop(self, request: gr.Request) -> str:
        """Ask the panel's run to stop after its current step (what it made is kept), or cancel a run
        still waiting for the GPU."""
        state = self.state(request)
        if state.run_state == IDLE:
            return ""
        state.stop_requested = True
        if state.run_state == QUEUED:
            return "the queued run is cancelled: it will not start"
        return "stopping after the current step…"

    # -- viewing ------------------------------------------------------------------------------------
    def scrub(self, step: float, request: gr.Request) -> dict:
        """Show a recorded step. During a run the viewer stops following the newest step, until the
        slider is moved back to the end."""
        state = self.state(request)
        trajectory = _shown(state)
        if trajectory is None:
            return {self.ui.viewer.caption: NO_TRAJECTORY}
        state.selected = clamp_step(trajectory, step)
        state.follow = state.running and state.selected >= len(trajectory) - 1
        try:
            return self._step_view(state, state.selected)
        except Exception as exc:  # e.g. a damaged frame of an opened bundle
            return {self.ui.viewer.caption: fail(exc, f"showing step {state.selected}")}

    def strategy_changed(self, name: str) -> dict:
        """The parameter field's label for the chosen strategy, emptied (= its default)."""
        strategies = self.backend.strategies
        cls = strategies.classes.get(name)
        return gr.update(label=strategies.parameter_label(name) if cls else "parameter", value="",
                         interactive=bool(cls and cls.param_name))

    def jump(self, name: str, param: str | float | None, request: gr.Request) -> dict:
        """Move the slider to the step a strategy detects (blank parameter: its default), and mark it on
        the chart with that parameter. During a run: where it has fired so far, as it would live."""
        state, ui = self.state(request), self.ui
        trajectory = _shown(state)
        if trajectory is None:
            return {ui.message: warn(NO_TRAJECTORY)}
        strategies = self.backend.strategies
        live = state.running
        try:
            param = None if param is None or str(param).strip() == "" else number(param, "the parameter")
            outcome, = strategies.decisions(trajectory.series_map(), [(name, param)], final=not live)
            label = strategies.classes[name].label
            if outcome.missing:
                raise ConfigError(f"{label} needs {', '.join(outcome.missing)} values, which this run did not record")
            decision = outcome.decision
            if decision is None:  # live, not fired yet
                return {ui.message: f"**{label}** has not fired yet (the run is at step {len(trajectory) - 1})"}
            state.stop_params[name] = decision.param if param is not None else None
            state.follow, state.selected = False, decision.step
            view = self._step_view(state, decision.step)
        except Exception as exc:
            return {ui.message: fail(exc, "finding the stopping step")}
        if decision.fired:
            text = f"**{label}** stops at step {decision.step} ({decision.reason})"
        else:
            text = f"**{label}** never fires in this run: showing its last step, {decision.step}"
        return {ui.viewer.slider: gr.update(value=decision.step), **view, ui.message: text}

    # -- files --------------------------------------------------------------------------------------
    def export_step(self, step: float, request: gr.Request) -> tuple[Any, str]:
        """The shown step's files (pixel art: native PNG, upscaled PNG and .hex palette; images: PNG)."""
        session = self.session(request)
        trajectory = _shown(session.panel(self.backend.key))
        if trajectory is None:
            return None, warn("nothing to download yet: run or open a trajectory first")
        step = clamp_step(trajectory, step)
        try:
            stem = session.subfolder("exports") / f"{self.backend.stem(trajectory)}_step{step:05d}"
            paths = save_step(trajectory, step, stem)
        except Exception as exc:
            return None, fail(exc, "writing the step's files")
        kinds = "PNG, upscaled PNG and palette" if trajectory.palette is not None else "PNG"
        return [str(p) for p in paths], f"step {step}: {kinds} ready below"

    def export_run(self, animation: str, frames: float | None = ANIMATION_FRAMES, seconds: float | None = ANIMATION_SECONDS,
                   request: gr.Request = None, progress: gr.Progress = gr.Progress()) -> tuple[Any, str]:
        """The trajectory bundle and an animation (GIF or MP4) of at most ``frames`` evenly spaced
        recorded steps playing in ``seconds``, with a progress bar counting the frames drawn."""
        session = self.session(request)
        trajectory = _shown(session.panel(self.backend.key))
        if trajectory is None:
            return None, warn("nothing to download yet: run or open a trajectory first")
        try:
            if animation not in ANIMATION_FORMATS:
                raise ConfigError(f"animation format must be one of {', '.join(ANIMATION_FORMATS)}, not {animation!r}")
            count = int(number(frames if frames is not None else ANIMATION_FRAMES, "animation frames"))
            duration = number(seconds if seconds is not None else ANIMATION_SECONDS, "animation seconds")
            folder, stem = session.subfolder("exports"), self.backend.stem(trajectory)
            progress(0.0, desc="writing the bundle")
            bundle = trajectory.save(folder / f"{stem}.bundle")
            movie = save_animation(trajectory, folder / f"{stem}.{animation}", max_frames=count, seconds=duration,
                                   on_frame=lambda done, total: progress(done / total, desc=f"frame {done} of {total}"))
        except Exception as exc:
            return None, fail(exc, "writing the trajectory files")
        shown = min(count, trajectory.num_frames)
        return [str(bundle), str(movie)], (f"{len(trajectory)} steps: bundle and a {shown}-frame {animation.upper()} "
                                           "ready below")

    def load_bundle(self, path: str | None, request: gr.Request) -> dict:
        """Open a saved trajectory bundle (CLI or another session) to scrub it; no model is loaded."""
        session, ui = self.session(request), self.ui
        state = session.panel(self.backend.key)
        said = ui.bundle_message or ui.message  # what is wrong with the file is said next to it
        if not path:
            return gr.skip()
        if state.running:
            return {said: f"⚠️ a run is going in this session: stop it before opening {Path(path).name}"}
        # The upload may be cleaned from gradio's cache; frames are read lazily, so keep our own copy,
        # under the person's own file name so that what the bundle reader says names their file.
        name = Path(path).name
        copies = session.subfolder("bundles")
        local = copies / uuid.uuid4().hex / name
        try:
            local.parent.mkdir(parents=True)
            shutil.copyfile(path, local)
            trajectory = Trajectory.load(local)
            if not len(trajectory):
                raise ConfigError(f"{name} holds no steps")
            trajectory.frame(len(trajectory) - 1)  # damaged frame data is refused now, not at the first view
        except Exception as exc:
            shutil.rmtree(local.parent, ignore_errors=True)
            return {said: f"⚠️ {describe(exc, 'opening the bundle')}"}
        state.set_trajectory(trajectory, self.backend.bundle_notes(trajectory, name), bundle_copy=local)
        for folder in copies.iterdir():  # the folders of copies deleted since (an earlier bundle's, a run's)
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        n = len(trajectory)
        out = self._view(state, progress_html("loaded", n - 1, n - 1), photo=trajectory.input_image)
        out.pop(ui.message, None)
        out[said] = ""
        return out

    # -- helpers ------------------------------------------------------------------------------------
    def _step_view(self, state: RunState, step: int, *, chart: bool = True) -> dict:
        """The frame, chart and caption at a step; ``chart=False``: the chart stays as it is."""
        v = self.ui.viewer
        if not chart:
            trajectory = state.trajectory
            return {v.art: art_image(trajectory, step), v.caption: step_caption(trajectory, step),
                    **self._side_view(trajectory, step)}
        art, figure, caption = view_step(state.trajectory, step, state.chart_cache, self.backend.strategies,
                                         params=state.stop_params, x_max=state.x_max, final=not state.running,
                                         max_points=LIVE_MAX_POINTS if state.running else None)
        return {v.art: art, v.chart: figure, v.caption: caption, **self._side_view(state.trajectory, step)}

    def _side_view(self, trajectory: Trajectory, step: int) -> dict:
        """The side images shown at a step, enlarged to the frame size (None where the step has none)."""
        if not self.ui.side:
            return {}
        images = trajectory.side_images(step)
        return {image: side_picture(images[key], trajectory.frame_size) if key in images else None
                for key, image in self.ui.side.items()}

    def _view(self, state: RunState, progress: str, *, photo: Any = None, message: str = "",
              live: bool = False, chart: bool = True) -> dict:
        """Every viewer output for the panel's trajectory; ``live``: a running update, which leaves
        the notes and message alone and, while the person looks at another step, their picture too;
        ``chart=False``: the chart is left as it is (a browser redraws it in far more time than an image,
        so a run sends it less often than its frames)."""
        ui = self.ui
        out: dict = {ui.progress: progress}
        if photo is not None:
            out[ui.viewer.photo] = np.asarray(photo)
        if not live:
            out[ui.notes], out[ui.message] = _notes(state), message
        trajectory = _shown(state)
        if trajectory is None:
            return out
        if state.follow:
            state.selected = len(trajectory) - 1
            try:
                out.update(self._step_view(state, state.selected, chart=chart))
            except Exception as exc:
                out[ui.message] = fail(exc, f"showing step {state.selected}")
        elif chart:  # the person looks at another step: only the chart grows (no frame decoded to be thrown away)
            built = state.chart_cache.chart_for(trajectory, self.backend.strategies, params=state.stop_params,
                                                x_max=state.x_max, final=not state.running,
                                                **({"max_points": LIVE_MAX_POINTS} if state.running else {}))
            out[ui.viewer.chart] = built.figure(state.selected)
            if not live:
                out[ui.viewer.caption] = step_caption(trajectory, state.selected)
        out[ui.viewer.slider] = slider_update(trajectory, state.selected if state.follow else None)
        return out


def side_picture(image: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """A side image as shown: enlarged by nearest neighbour to the frame size (each cell of a coarse map a
    solid block), then, like a small frame (``art_image``), to the display size."""
    big = enlarge_nearest(image, frame_size)
    return crisp(big) if max(frame_size) < DISPLAY_LONG_SIDE // 2 else big


def default_stem(trajectory: Trajectory, fallback: str) -> str:
    """The downloads' file-name stem: the run's input name (``photo_name`` in its config)."""
    return safe_stem(Path(str(trajectory.config.get("photo_name") or fallback)).stem, fallback)


@dataclass
class RunControls:
    """A tab's Run and Stop buttons and, under them, where a refused Run press says why."""

    run: gr.Button
    stop: gr.Button
    message: gr.Markdown


def run_controls(key: str, run_label: str = "Run") -> RunControls:
    """Lay out Run and Stop (Stop is not red while nothing runs: the app's CSS colours it while a run
    of its tab is going) and the message under them; element ids ``{key}-run``, ``{key}-stop``,
    ``{key}-run-message``."""
    with gr.Row():
        run = gr.Button(run_label, variant="primary", elem_id=f"{key}-run")
        stop = gr.Button("Stop", variant="secondary", elem_id=f"{key}-stop", elem_classes=["run-stop"])
    return RunControls(run, stop, gr.Markdown(elem_id=f"{key}-run-message"))


def build_run_panel(
    sessions: SessionStore, backend: PanelBackend, setting_names: list[str], setting_inputs: list,
    run_btn: gr.Button, stop_btn: gr.Button, *, upload_limit: str, run_message: gr.Markdown | None = None,
) -> RunPanel:
    """Lay out the panel inside the current column (message, progress, notes, viewer, strategies,
    downloads, bundle upload) and wire it to the tab's Run and Stop buttons; returns the handlers.
    ``run_message``: where a refused Run press says why (the tab's, next to Run; else the panel's message)."""
    key, api = backend.key, backend.api_prefix
    strategies = backend.strategies
    message = gr.Markdown(elem_id=f"{key}-message")
    progress = gr.HTML(progress_html("idle"), elem_id=f"{key}-progress")
    notes = gr.Markdown(elem_id=f"{key}-notes")
    viewer = build_viewer(art_label=backend.frame_label, photo_label=backend.input_label, prefix=key,
                          side=getattr(backend, "side_images", None))
    side = viewer.side
    with gr.Row(equal_height=True):
        strategy = gr.Dropdown(strategies.choices(), value=backend.default_strategy, label="Stopping strategy", scale=2)
        param = gr.Textbox("", label=strategies.parameter_label(backend.default_strategy), scale=2,
                           elem_id=f"{key}-param")
        jump_btn = gr.Button("Jump to its step", scale=1, elem_id=f"{key}-jump")
    with gr.Accordion("Downloads", open=True):
        with gr.Row(equal_height=True):
            step_label = "This step: PNG, upscaled PNG, .hex" if key == "px" else "This step: PNG"
            step_btn = gr.Button(step_label, elem_id=f"{key}-dl-step")
            animation = gr.Radio(list(ANIMATION_FORMATS), value="gif", label="Animation", scale=1)
            frames = gr.Number(ANIMATION_FRAMES, precision=0, minimum=1, maximum=ANIMATION_MAX_FRAMES, scale=1,
                               label=f"Frames (up to {ANIMATION_MAX_FRAMES}, evenly spaced)",
                               elem_id=f"{key}-anim-frames")
            seconds = gr.Number(ANIMATION_SECONDS, minimum=0.5, maximum=600, scale=1, label="Seconds to play",
                                elem_id=f"{key}-anim-seconds")
            run_dl_btn = gr.Button("The run: bundle + animation", elem_id=f"{key}-dl-run")
        files = gr.File(label="Downloads", file_count="multiple", interactive=False, height=140,
                        elem_id=f"{key}-files")
        download_message = gr.Markdown(elem_id=f"{key}-download-message")  # what was written, by the files
    bundle_file = gr.File(label=f"Open a trajectory bundle (.bundle, up to {upload_limit}) saved earlier",
                          type="filepath", height=UPLOAD_HEIGHT, elem_id=f"{key}-bundle")
    bundle_message = gr.Markdown(elem_id=f"{key}-bundle-message")
    run_token = gr.State(None)  # ties a queued run to the Run press that made it

    ui = PanelView(progress=progress, notes=notes, viewer=viewer, message=message, bundle_message=bundle_message,
                   side=side)
    panel = RunPanel(sessions, backend, setting_names, ui)
    view, sides = ui.outputs, list(side.values())
    refused_in = run_message or message
    # Only the token is its output: a refused press says why under Run, not as an "Error" pill over an output
    pressed = run_btn.click(panel.start_run, setting_inputs, [run_token], api_name=f"{api}start_run",
                            show_progress="hidden", **LIGHT)
    pressed.success(panel.waiting, None, [progress, message], api_name=False, show_progress="hidden", **LIGHT)
    pressed.success(
        panel.stream_run, [run_token], view, api_name=f"{api}run", concurrency_limit=1, concurrency_id=GPU_QUEUE,
        show_progress="minimal", show_progress_on=[progress],
    )
    pressed.failure(panel.refusal, None, [refused_in], api_name=False, show_progress="hidden", **LIGHT)
    if run_message is not None:
        pressed.success(lambda: "", None, [run_message], api_name=False, show_progress="hidden", **LIGHT)
    stop_btn.click(panel.stop, None, [message], api_name=f"{api}stop", **LIGHT).then(
        panel.stop_progress, None, [progress], api_name=False, show_progress="hidden", **LIGHT)
    viewer.slider.input(panel.scrub, [viewer.slider], [*viewer.step_outputs, *sides], api_name=f"{api}scrub",
                        trigger_mode="always_last", show_progress="hidden", **LIGHT)
    strategy.change(panel.strategy_changed, [strategy], [param], api_name=False, **LIGHT)
    jump_btn.click(panel.jump, [strategy, param], [viewer.slider, *viewer.step_outputs, message, *sides],
                   api_name=f"{api}jump", show_progress="hidden", **LIGHT)
    step_btn.click(panel.export_step, [viewer.slider], [files, download_message], api_name=f"{api}export_step",
                   **LIGHT)
    run_dl_btn.click(panel.export_run, [animation, frames, seconds], [files, download_message],
                     api_name=f"{api}export_run",
                     concurrency_limit=2, concurrency_id=EXPORT_QUEUE, show_progress_on=[files])
    # the bundle's own message takes the panel message's place: the API's outputs keep their order
    bundle_file.upload(panel.load_bundle, [bundle_file], [*ui.base_outputs[:-1], bundle_message, *sides],
                       api_name=f"{api}load_bundle")
    return panel


def _shown(state: RunState) -> Trajectory | None:
    """The panel's trajectory when it has a step to show."""
    trajectory = state.trajectory
    return trajectory if trajectory is not None and len(trajectory) else None


def _notes(state: RunState) -> str:
    return "\n".join(f"- {note}" for note in state.notes)
