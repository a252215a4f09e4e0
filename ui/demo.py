"""The app's Blocks: a header, the tabs, session clean-up; and the options it is launched with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from ui.annotate_tab import SHORTCUTS_HEAD, build_annotate_tab
from ui.evaluate_tab import build_evaluate_tab
from ui.facegen_tab import build_facegen_tab
from ui.gpu import ZERO_GPU_NOTE, on_zero_gpu
from ui.models import check_models
from ui.pixel_tab import build_pixel_tab
from ui.session import SessionStore
from ui.stylize_tab import build_stylize_tab

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
EXAMPLE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
# Gradio's own cache (uploads, images sent to browsers): every hour, files older than 6 hours go.
DELETE_CACHE = (3600, 6 * 3600)
# Larger uploads are refused by the server before any decoding. Bundles set the size: a 10,000-step
# run at 256x256 pixels is a few hundred MB; photos are refused by their pixel count anyway.
MAX_UPLOAD = "500mb"
UPLOAD_LIMIT_TEXT = "500 MB"  # how the tabs say it

CSS = """
.pixel-art img { image-rendering: pixelated; image-rendering: crisp-edges; }
.px-progress { position: relative; height: 1.9em; border-radius: 6px; overflow: hidden;
               background: var(--block-background-fill); border: 1px solid var(--border-color-primary); }
.px-progress .px-bar { position: absolute; inset: 0 auto 0 0; background: var(--color-accent); opacity: 0.35;
                       transition: width 0.2s linear; }
.px-progress.px-failed .px-bar { background: #dc3545; }
/* upload boxes: room for the icon and "Click to Upload" whatever height a tab asked for */
button.upload-container { height: auto !important; min-height: 140px; }
/* Stop is red only while its tab's run is waiting, preparing or going */
.tabitem button[id$="-stop"] { background: var(--button-secondary-background-fill) !important;
                               color: var(--button-secondary-text-color) !important;
                               border-color: var(--button-secondary-border-color) !important; }
.tabitem:has(.px-progress[data-state="running"], .px-progress[data-state="preparing"],
             .px-progress[data-state="waiting"]) button[id$="-stop"] {
    background: var(--button-cancel-background-fill) !important; color: var(--button-cancel-text-color) !important;
    border-color: var(--button-cancel-border-color) !important; }
.px-progress .px-text { position: relative; padding: 0 0.6em; line-height: 1.9em; font-size: 0.9em; }
"""

INTRO = """# Stylization workbench
Turn a fashion photo into **pixel art** (SD-πXL), **stylize** an image (Gatys style transfer, Style Matching
Score) or train a **face → body** Council GAN; watch every run step by step and pick the step to stop at — by
eye with the slider, or with a stopping strategy. **Annotate** good step ranges of a set of pixel-art runs and
**Evaluate** the stopping strategies against them."""


def example_photos() -> list[Path]:
    """The example photos shipped in assets/ (their licences are in assets/LICENSES.md)."""
    if not ASSETS.is_dir():
        return []
    return sorted(p for p in ASSETS.iterdir() if p.suffix.lower() in EXAMPLE_SUFFIXES)


def build_demo(sessions: SessionStore | None = None, *, server_folders: bool = False) -> gr.Blocks:
    """The whole app; ``sessions`` defaults to a store with its own temporary folder.
    ``server_folders``: whether visitors may type folders on the server (``app.launch`` decides it
    from the address served, see ``ui.bundle_set.server_folders_default``)."""
    sessions = SessionStore() if sessions is None else sessions  # an empty store is falsy
    models = check_models()
    with gr.Blocks(title="Stylization workbench", analytics_enabled=False, delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(INTRO)
        if on_zero_gpu():
            gr.Markdown(ZERO_GPU_NOTE, elem_id="zero-gpu-note")
        with gr.Tabs():
            with gr.Tab("Pixel Art", id="pixel-art"):
                actions = build_pixel_tab(sessions, models, example_photos(), upload_limit=UPLOAD_LIMIT_TEXT)
            with gr.Tab("Stylize", id="stylize", elem_id="tab-stylize"):
                build_stylize_tab(sessions, upload_limit=UPLOAD_LIMIT_TEXT, server_folders=server_folders)
            with gr.Tab("Face → Body", id="facegen", elem_id="tab-facegen"):
                build_facegen_tab(sessions, upload_limit=UPLOAD_LIMIT_TEXT)
            with gr.Tab("Annotate", id="annotate", elem_id="tab-annotate"):
                build_annotate_tab(sessions, server_folders=server_folders, upload_limit=UPLOAD_LIMIT_TEXT)
            with gr.Tab("Evaluate", id="evaluate", elem_id="tab-evaluate"):
                build_evaluate_tab(sessions, server_folders=server_folders)
        demo.unload(actions.release)  # one release per session serves every tab
    demo.queue(max_size=64, default_concurrency_limit=4)
    demo.sessions = sessions  # tests and later tabs reach the store through the demo
    demo.server_folders = server_folders
    return demo


def launch_options() -> dict[str, Any]:
    """Keyword arguments for ``demo.launch`` that the app needs wherever it is launched."""
    # ``head``: the Annotate tab's keyboard shortcuts (gradio 6 takes page scripts at launch)
    return dict(css=CSS, head=SHORTCUTS_HEAD, max_file_size=MAX_UPLOAD, allowed_paths=[str(ASSETS)],
                footer_links=["api"])
