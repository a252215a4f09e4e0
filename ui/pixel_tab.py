"""The Pixel Art tab: photo and settings on the left, the run, its viewer and downloads on the right.

Only layout and wiring live here; ``ui.pixel_actions`` holds what the events do. The run goes through
one queue shared by all sessions (``concurrency_id="gpu"``, one at a time); scrubbing, previews,
jumps, downloads and bundles have their own queues, so they answer while a run is going.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from ui.common import LIGHT
from ui.exports import ANIMATION_FORMATS
from ui.models import ModelStatus
from ui.pixel_actions import MAX_PHOTO_PIXELS, PixelArtActions, PixelView
from ui.progress import progress_html
from ui.session import SessionStore
from ui.settings import PREVIEW_KEYS, build_settings
from ui.stops import parameter_label, strategy_choices
from ui.viewer import build_viewer

GPU_QUEUE = "gpu"
EXPORT_QUEUE = "export"  # GIF / MP4 encoding is CPU-heavy: two at a time


def build_pixel_tab(
    sessions: SessionStore, models: ModelStatus, examples: list[Path], *, upload_limit: str,
) -> PixelArtActions:
    """Lay out the tab inside the current Blocks and wire its events; returns the handlers.
    ``upload_limit``: the server's largest upload, said where bundles are uploaded."""
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            photo_file = gr.File(label=f"Photo (JPEG, PNG, WebP, …; up to {MAX_PHOTO_PIXELS // 1_000_000} megapixels)",
                                 type="filepath", height=110, elem_id="px-photo-upload")
            if examples:
                gr.Examples([[str(p)] for p in examples], inputs=[photo_file], label="Example photos")
            preview = gr.Image(label="Classical pixelization (preview)", interactive=False, format="png",
                               height=260, elem_classes=["pixel-art"], elem_id="px-preview")
            settings = build_settings(models)
            with gr.Row():
                run_btn = gr.Button("Run", variant="primary", elem_id="px-run")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="px-stop")
            with gr.Accordion("Models", open=models.anything_missing):
                gr.Markdown(models.markdown())
        with gr.Column(scale=3, min_width=420):
            message = gr.Markdown(elem_id="px-message")
            progress = gr.HTML(progress_html("idle"), elem_id="px-progress")
            notes = gr.Markdown(elem_id="px-notes")
            viewer = build_viewer()
            with gr.Row(equal_height=True):
                strategy = gr.Dropdown(strategy_choices(), value="norm_rate", label="Stopping strategy", scale=2)
                param = gr.Textbox("", label=parameter_label("norm_rate"), scale=2, elem_id="px-param")
                jump_btn = gr.Button("Jump to its step", scale=1, elem_id="px-jump")
            with gr.Accordion("Downloads", open=True):
                with gr.Row(equal_height=True):
                    step_btn = gr.Button("This step: PNG, upscaled PNG, .hex", elem_id="px-dl-step")
                    animation = gr.Radio(list(ANIMATION_FORMATS), value="gif", label="Animation", scale=1)
                    run_dl_btn = gr.Button("The run: bundle + animation", elem_id="px-dl-run")
                files = gr.File(label="Downloads", file_count="multiple", interactive=False, height=140,
                                elem_id="px-files")
            bundle_file = gr.File(label=f"Open a trajectory bundle (.bundle, up to {upload_limit}) saved earlier",
                                  type="filepath", height=90, elem_id="px-bundle")
    run_token = gr.State(None)  # ties a queued run to the Run press that made it

    ui = PixelView(progress=progress, notes=notes, viewer=viewer, message=message, preview=preview)
    actions = PixelArtActions(sessions, settings.names, ui)
    view = ui.outputs
    preview_inputs = settings.subset(PREVIEW_KEYS)

    photo_file.change(actions.on_photo, [photo_file, *preview_inputs], [preview, viewer.photo, message],
                      api_name="photo", trigger_mode="always_last")
    for key in PREVIEW_KEYS:
        component = settings.components[key]
        event = component.release if isinstance(component, gr.Slider) else component.change
        event(actions.preview, preview_inputs, [preview, viewer.photo, message],
              api_name="preview" if key == PREVIEW_KEYS[0] else False, trigger_mode="always_last")

    run_btn.click(actions.start_run, settings.inputs, [progress, message, run_token], api_name="start_run",
                  **LIGHT).success(
        actions.stream_run, [run_token], view, api_name="run", concurrency_limit=1, concurrency_id=GPU_QUEUE,
        show_progress="minimal", show_progress_on=[progress],
    )
    stop_btn.click(actions.stop, None, [message], api_name="stop", **LIGHT)

    viewer.slider.input(actions.scrub, [viewer.slider], viewer.step_outputs, api_name="scrub",
                        trigger_mode="always_last", show_progress="hidden", **LIGHT)
    strategy.change(actions.strategy_changed, [strategy], [param], api_name=False, **LIGHT)
    jump_btn.click(actions.jump, [strategy, param], [viewer.slider, *viewer.step_outputs, message],
                   api_name="jump", show_progress="hidden", **LIGHT)

    step_btn.click(actions.export_step, [viewer.slider], [files, message], api_name="export_step", **LIGHT)
    run_dl_btn.click(actions.export_run, [animation], [files, message], api_name="export_run",
                     concurrency_limit=2, concurrency_id=EXPORT_QUEUE)
    bundle_file.upload(actions.load_bundle, [bundle_file], view, api_name="load_bundle")
    return actions
