"""The Annotate tab: an annotator names themself, opens a bundle set, scrubs each trajectory and marks
the good ranges of steps (seed 000 §4.3), with buttons or keyboard shortcuts.

Only layout and wiring live here; ``ui.annotate_actions`` holds what the events do. The shortcuts are
a small script in the page's head (``SHORTCUTS_HEAD``, passed to ``launch``) that clicks this tab's
buttons and steps its slider as a person would, so they go through the same events and checks.
"""

from __future__ import annotations

import gradio as gr
from gradio.context import Context

from ui.annotate_actions import AnnotateActions, AnnotateView
from ui.common import LIGHT
from ui.session import SessionStore
from ui.viewer import build_viewer

SHORTCUTS_MD = """**Keyboard shortcuts** (when no text box has the cursor; **Esc** leaves the note or name box):
`[` mark start · `]` mark end (saves the range) · `,` / `.` previous / next step ·
`<` / `>` 10 steps back / on · `p` / `n` previous / next bundle"""

# Keys -> element ids. Nothing fires while the person types in a text field, with a modifier held, or
# when the Annotate tab is not the one shown (its elements are then not laid out: offsetParent null).
SHORTCUTS_HEAD = """<script>
(() => {
  const BUTTONS = {"[": "ann-mark-start", "]": "ann-mark-end", "n": "ann-next", "p": "ann-prev"};
  const STEPS = {",": -1, ".": 1, "<": -10, ">": 10};
  const TEXT_TYPES = ["text", "number", "search", "email", "password", "url", "tel", ""];
  const typing = (el) => !!el && (el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT"
    || (el.tagName === "INPUT" && TEXT_TYPES.includes(el.type || "")));
  const shown = (el) => !!el && el.offsetParent !== null && !el.disabled;
  document.addEventListener("keydown", (ev) => {
    const active = document.activeElement;
    if (ev.key === "Escape" && typing(active) && active.closest("#ann-note, #ann-name")) { active.blur(); return; }
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.defaultPrevented || ev.isComposing || typing(active)) return;
    if (Object.hasOwn(BUTTONS, ev.key)) {
      const el = document.getElementById(BUTTONS[ev.key]);
      const button = el && (el.tagName === "BUTTON" ? el : el.querySelector("button"));
      if (!shown(button)) return;
      ev.preventDefault();
      button.click();
    } else if (Object.hasOwn(STEPS, ev.key)) {
      const range = document.querySelector("#ann-step input[type=range]");
      if (!shown(range)) return;
      ev.preventDefault();
      const value = Math.min(Math.max(Number(range.value) + STEPS[ev.key], Number(range.min)), Number(range.max));
      if (value === Number(range.value)) return;
      range.value = String(value);
      // the slider's own input event: gradio updates its value and runs the tab's scrub
      range.dispatchEvent(new Event("input", {bubbles: true}));
    }
  });
})();
</script>"""


# The annotator's name and folder, kept in the browser's localStorage under one key. (A gr.BrowserState
# inside a tab is not restored before the page's load event, so the page would forget them.)
REMEMBER_KEY = "pixelart-annotate"
RESTORE_JS = f"""() => {{
  let saved = {{}};
  try {{ saved = JSON.parse(localStorage.getItem("{REMEMBER_KEY}") || "{{}}") || {{}}; }} catch (e) {{}}
  return [String(saved.name || ""), String(saved.folder || "")];
}}"""
REMEMBER_JS = f"""(name, folder) => {{
  try {{ localStorage.setItem("{REMEMBER_KEY}", JSON.stringify({{name: (name || "").trim(), folder: (folder || "").trim()}})); }}
  catch (e) {{}}  // storage full or turned off: the boxes just are not filled in next time
  return [];
}}"""

UPLOAD_HELP = """**Uploaded bundles:** your labels are saved on the server under the set's run ids, not in
this page: after a reload, upload the same bundles again and they are back (for as long as the app keeps its
labels folder). Whoever uploads the same runs shares that file, each annotator's ranges apart by name;
**Export** keeps your own copy."""


def build_annotate_tab(sessions: SessionStore, *, server_folders: bool, upload_limit: str) -> AnnotateActions:
    """Lay out the tab inside the current Blocks and wire its events; returns the handlers.
    ``server_folders``: whether folders on the server may be typed (else only uploads)."""
    folders = server_folders
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            name = gr.Textbox(label="Annotator (your name; labels are saved under it)", placeholder="e.g. aki",
                              elem_id="ann-name")
            folder = gr.Textbox(label="Bundle folder on the server", visible=folders, elem_id="ann-folder",
                                placeholder="e.g. runs/looks (the --out of `python -m pixelart batch`)")
            labels = gr.Textbox(label="Labels file (blank: labels.jsonl in the bundle folder)", visible=folders,
                                elem_id="ann-labels")
            open_btn = gr.Button("Open folder", visible=folders, elem_id="ann-open")
            uploads = gr.File(label=f"…or upload .bundle files (up to {upload_limit} each)",
                              file_count="multiple", type="filepath", elem_id="ann-upload")
            upload_help = gr.Markdown(UPLOAD_HELP, elem_id="ann-upload-help")
            info = gr.Markdown(elem_id="ann-info")
            with gr.Accordion("Export / import labels", open=False):
                export_btn = gr.Button("Export all labels of this set (JSON Lines + CSV)", elem_id="ann-export")
                exports = gr.File(label="Exported labels", file_count="multiple", interactive=False, height=110,
                                  elem_id="ann-exports")
                import_file = gr.File(label="Import labels (.jsonl or .csv): merged, nothing duplicated",
                                      type="filepath", elem_id="ann-import")
            gr.Markdown(SHORTCUTS_MD, elem_id="ann-shortcuts")
        with gr.Column(scale=3, min_width=420):
            message = gr.Markdown(elem_id="ann-message")
            status = gr.Markdown("open a bundle set to start", elem_id="ann-status")
            viewer = build_viewer(prefix="ann")
            with gr.Row(equal_height=True):
                prev_btn = gr.Button("◀ Previous bundle (p)", elem_id="ann-prev")
                start_btn = gr.Button("Mark start  [", elem_id="ann-mark-start")
                end_btn = gr.Button("Mark end  ]  (saves)", variant="primary", elem_id="ann-mark-end")
                next_btn = gr.Button("Next bundle (n) ▶", elem_id="ann-next")
            note = gr.Textbox(label="Note (saved with the range when its end is marked)", elem_id="ann-note")
            with gr.Row(equal_height=True):
                ranges = gr.Dropdown([], value=None, label="Your ranges on this bundle", scale=3, elem_id="ann-ranges")
                delete_btn = gr.Button("Delete this range", variant="stop", scale=1, elem_id="ann-delete")

    ui = AnnotateView(status=status, info=info, viewer=viewer, ranges=ranges, note=note, message=message)
    actions = AnnotateActions(sessions, ui, server_folders=server_folders)
    view = ui.outputs

    # the name and folder live in the person's browser (localStorage; in the browser alone, no server
    # round trip), so a reload does not ask for them again
    Context.root_block.load(None, None, [name, folder], js=RESTORE_JS, api_name=False, **LIGHT)
    gr.on([name.blur, name.submit, folder.blur, folder.submit, open_btn.click], None, [name, folder], None,
          js=REMEMBER_JS, api_name=False, show_progress="hidden", **LIGHT)
    for opened in (open_btn.click(actions.open_folder, [name, folder, labels], view, api_name="annotate_open", **LIGHT),
                   folder.submit(actions.open_folder, [name, folder, labels], view, api_name=False, **LIGHT),
                   uploads.upload(actions.upload, [name, uploads], view, api_name="annotate_upload", **LIGHT)):
        opened.then(actions.upload_help, None, [upload_help], api_name=False, show_progress="hidden", **LIGHT)
    gr.on([name.submit, name.blur], actions.annotator_changed, [name], view, api_name="annotate_name", **LIGHT)

    viewer.slider.input(actions.scrub, [viewer.slider, name], viewer.step_outputs, api_name="annotate_scrub",
                        trigger_mode="always_last", show_progress="hidden", **LIGHT)
    prev_btn.click(actions.previous, [name], view, api_name="annotate_previous", show_progress="hidden", **LIGHT)
    next_btn.click(actions.next, [name], view, api_name="annotate_next", show_progress="hidden", **LIGHT)
    start_btn.click(actions.mark_start, [name, viewer.slider], [status, message], api_name="annotate_start",
                    show_progress="hidden", **LIGHT)
    end_btn.click(actions.mark_end, [name, viewer.slider, note], view, api_name="annotate_end",
                  show_progress="hidden", **LIGHT)
    delete_btn.click(actions.delete, [name, ranges], view, api_name="annotate_delete", **LIGHT)

    export_btn.click(actions.export, None, [exports, message], api_name="annotate_export", **LIGHT)
    import_file.upload(actions.import_labels, [name, import_file], view, api_name="annotate_import", **LIGHT)
    return actions
