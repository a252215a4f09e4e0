"""The Pixel Art tab: photo and settings on the left, the run panel (stream, viewer, strategies,
downloads, bundles) on the right.

Only layout and wiring live here; ``ui.pixel_actions`` holds what the photo events do and what the tab
tells the shared run panel. Runs of every tab go through one queue shared by all sessions
(``concurrency_id="gpu"``, one at a time); scrubbing, previews, jumps, downloads and bundles have their
own queues, so they answer while a run is going.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from ui.common import UPLOAD_HEIGHT
from ui.models import ModelStatus
from ui.pixel_actions import MAX_PHOTO_PIXELS, PhotoView, PixelArtActions, PixelArtBackend
from ui.run_panel import build_run_panel, run_controls
from ui.session import SessionStore
from ui.settings import PREVIEW_KEYS, build_settings


def build_pixel_tab(
    sessions: SessionStore, models: ModelStatus, examples: list[Path], *, upload_limit: str,
) -> PixelArtActions:
    """Lay out the tab inside the current Blocks and wire its events; returns the photo handlers.
    ``upload_limit``: the server's largest upload, said where bundles are uploaded."""
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            photo_file = gr.File(label=f"Photo (JPEG, PNG, WebP, …; up to {MAX_PHOTO_PIXELS // 1_000_000} megapixels)",
                                 type="filepath", height=UPLOAD_HEIGHT, elem_id="px-photo-upload")
            photo_message = gr.Markdown(elem_id="px-photo-message")  # what is wrong with the photo, under it
            if examples:
                gr.Examples([[str(p)] for p in examples], inputs=[photo_file], label="Example photos")
            preview = gr.Image(label="Classical pixelization (preview)", interactive=False, format="png",
                               height=260, elem_classes=["pixel-art"], elem_id="px-preview")
            with gr.Accordion("First frame of a run: SD-πXL's initialisation beside another", open=False):
                initials = gr.Gallery(label="Initial frame by method", columns=2, height=220, object_fit="contain",
                                      format="png", elem_classes=["pixel-art"], elem_id="px-initials")
                initials_note = gr.Markdown(elem_id="px-initials-note")
            settings = build_settings(models)
            controls = run_controls("px")
            with gr.Accordion("Models", open=not models.usable):  # folded once a model can run: it is long
                gr.Markdown(models.markdown())
        with gr.Column(scale=3, min_width=420):
            panel = build_run_panel(sessions, PixelArtBackend(models), settings.names, settings.inputs,
                                    controls.run, controls.stop, upload_limit=upload_limit,
                                    run_message=controls.message)

    viewer = panel.ui.viewer
    actions = PixelArtActions(sessions, PhotoView(viewer=viewer, message=photo_message, preview=preview,
                                                  initials=initials, initials_note=initials_note))
    preview_inputs = settings.subset(PREVIEW_KEYS)
    compare_inputs = [*preview_inputs, settings.components["init_method"]]
    compare_outputs = [initials, initials_note]
    # the comparison follows the instant preview (it builds two generators), so the preview never waits on it
    photo_file.change(actions.on_photo, [photo_file, *preview_inputs], [preview, viewer.photo, photo_message],
                      api_name="photo", trigger_mode="always_last"
                      ).then(actions.compare_initials, compare_inputs, compare_outputs, api_name="initials")
    for key in PREVIEW_KEYS:
        component = settings.components[key]
        event = component.release if isinstance(component, gr.Slider) else component.change
        event(actions.preview, preview_inputs, [preview, viewer.photo, photo_message],
              api_name="preview" if key == PREVIEW_KEYS[0] else False, trigger_mode="always_last"
              ).then(actions.compare_initials, compare_inputs, compare_outputs, api_name=False)
    settings.components["init_method"].change(actions.compare_initials, compare_inputs, compare_outputs,
                                              api_name=False, trigger_mode="always_last")
    return actions
