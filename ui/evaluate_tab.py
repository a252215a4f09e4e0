"""The Evaluate tab: score the stopping strategies against labeled good ranges (seed 000 §5) and show
Table 1, the parameter sweeps (Fig. 2), the centres of the labeled ranges (Fig. 3), the annotators'
agreement, and a per-photo breakdown.

Only layout and wiring live here; ``ui.evaluate_actions`` holds what the events do. Evaluations are
CPU work: they share one queue (two at a time) so that they never hold up scrubbing or labelling.
"""

from __future__ import annotations

import gradio as gr

from pixelart.evaluation import CONSENSUS_RULES, DEFAULT_POINTS
from workbench.chart import empty_figure
from pixelart.stopping import NEW_STRATEGIES, SEED_STRATEGIES, STRATEGIES
from ui.common import LIGHT
from ui.evaluate_actions import TABLE_WIDTHS, EvaluateActions, EvaluateView
from ui.session import SessionStore

EVALUATE_QUEUE = "evaluate"

ABOUT = """For each photo with labeled range [s, e] (centre c, width w) and a strategy's stop t̂:
**hit** if s ≤ t̂ ≤ e; **relative centre error** |t̂ − c| / w;
**image norm error** ‖x<sub>t̂</sub> − x<sub>c</sub>‖₂.
A strategy's parameter is swept and the best value reported twice: chosen on the same photos (as the
seed's Table 1) and by **leave-one-out** (chosen on the other photos, scored on the held-out one)."""


def _choices(names: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(f"{STRATEGIES[n].label} ({n})", n) for n in names]


def build_evaluate_tab(sessions: SessionStore, *, server_folders: bool) -> EvaluateActions:
    """Lay out the tab inside the current Blocks and wire its events; returns the handlers.
    ``server_folders``: whether folders on the server may be typed (else only the Annotate tab's set)."""
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            folder = gr.Textbox(label="Bundle folder on the server", elem_id="ev-folder", interactive=server_folders,
                                info=None if server_folders else "typing server folders is off here: use the "
                                "Annotate tab's bundles (uploaded there) with the button below")
            use_set = gr.Button("Use the Annotate tab's bundles and labels", elem_id="ev-use-set")
            labels = gr.Textbox(label="Labels file (blank: labels.jsonl in the bundle folder)", elem_id="ev-labels",
                                interactive=server_folders)
            labels_file = gr.File(label="…or upload a labels file (.jsonl or .csv; used instead)", type="filepath",
                                  elem_id="ev-labels-upload")
            seed = gr.CheckboxGroup(_choices(SEED_STRATEGIES), value=list(SEED_STRATEGIES),
                                    label="The seed's five strategies", elem_id="ev-seed")
            new = gr.CheckboxGroup(_choices(NEW_STRATEGIES), value=list(NEW_STRATEGIES),
                                   label="Part-aware and combined strategies", elem_id="ev-new")
            with gr.Accordion("Options", open=False):
                params = gr.Textbox(label="Fixed values instead of a sweep (e.g. fixed_step=1000, norm_rate=0.2)",
                                    elem_id="ev-params")
                annotators = gr.Textbox(label="Only these annotators (comma-separated; blank: all)",
                                        elem_id="ev-annotators")
                consensus = gr.Radio(list(CONSENSUS_RULES), value="majority", elem_id="ev-consensus",
                                     label="Consensus of several annotators")
                points = gr.Number(DEFAULT_POINTS, precision=0, minimum=2, maximum=1000, label="Sweep points",
                                   elem_id="ev-points")
            run_btn = gr.Button("Run evaluation", variant="primary", elem_id="ev-run")
            gr.Markdown(ABOUT)
        with gr.Column(scale=3, min_width=420):
            message = gr.Markdown(elem_id="ev-message")
            notes = gr.Markdown(elem_id="ev-notes")
            reference = gr.Dropdown([], label="Reference (an annotator, or the annotators' consensus)",
                                    visible=False, elem_id="ev-reference")
            files = gr.File(label="Downloads: Table 1 (CSV), every CSV (zip), the report (HTML, works offline)",
                            file_count="multiple", interactive=False, elem_id="ev-files")
    table = gr.Dataframe(label="Table 1: each strategy at its best value, in-sample and leave-one-out",
                         interactive=False, wrap=True, column_widths=list(TABLE_WIDTHS),
                         elem_id="ev-table")
    with gr.Accordion("Fig. 2: metrics against each strategy's parameter", open=True):
        sweeps = gr.Plot(show_label=False, elem_id="ev-sweeps")
    with gr.Row():
        centers = gr.Plot(label="Fig. 3: centres of the labeled ranges", elem_id="ev-centers")
        agreement = gr.Plot(label="Annotator agreement", visible=False, elem_id="ev-agreement")
    with gr.Accordion("Per photo: the stopped frame beside the frame at the range centre", open=True):
        with gr.Row():
            strategy = gr.Dropdown([], label="Strategy", elem_id="ev-strategy")
            photo = gr.Dropdown([], label="Photo", elem_id="ev-photo")
        with gr.Row(equal_height=True):
            stopped = gr.Image(label="Stopped frame", interactive=False, format="png", height=280,
                               elem_classes=["pixel-art"], elem_id="ev-stopped")
            center = gr.Image(label="Frame at the range centre", interactive=False, format="png", height=280,
                              elem_classes=["pixel-art"], elem_id="ev-center")
        caption = gr.Markdown(elem_id="ev-caption")
        curve = gr.Plot(value=empty_figure("run an evaluation to see a photo's curves"), show_label=False,
                        elem_id="ev-curve")

    ui = EvaluateView(folder=folder, labels=labels, message=message, notes=notes, reference=reference, files=files,
                      agreement=agreement, table=table, sweeps=sweeps, centers=centers, strategy=strategy,
                      photo=photo, stopped=stopped, center=center, caption=caption, curve=curve)
    actions = EvaluateActions(sessions, ui, server_folders=server_folders)
    breakdown, per_reference = ui.breakdown, ui.per_reference
    inputs = [folder, labels, labels_file, seed, new, params, annotators, consensus, points]

    use_set.click(actions.use_annotation, None, [folder, labels, message], api_name="evaluate_use_set", **LIGHT)
    run_btn.click(actions.run, inputs, [message, notes, reference, files, agreement, *per_reference],
                  api_name="evaluate", concurrency_limit=2, concurrency_id=EVALUATE_QUEUE)
    reference.input(actions.choose_reference, [reference], [message, *per_reference],
                    api_name="evaluate_reference", **LIGHT)
    gr.on([strategy.input, photo.input], actions.breakdown, [strategy, photo], [*breakdown, message],
          api_name="evaluate_breakdown", **LIGHT)
    return actions
