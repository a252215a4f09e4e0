"""The "Questionnaire" section of the Stylize tab: the seed's user study (seed 002). A participant names
themself and, for each content image of a word, sees its results for every cluster in their own
random order, labelled A, B, C … only (no cluster is named), and picks the one that looks most like
the word. Picks are saved at once in the study's crash-safe vote store; export gives votes.csv,
tally.csv and a bar chart of the tally.

A study is opened from a folder on the server (``python -m stylize study make``) or built here from
the word chosen in "Texture words" and an uploaded content image. The engine is ``stylize.study``.
"""

from __future__ import annotations

import string
import uuid
from pathlib import Path
from typing import Any, Callable

import gradio as gr
import plotly.graph_objects as go
from PIL import Image

from stylize.sheets import colour
from stylize.study import Study, load_study, make_study
from stylize.study_export import ALL, export_results, tally_rows
from stylize.study_votes import VoteStore, check_participant
from ui.bundle_set import server_path
from ui.common import LIGHT, SessionActions
from ui.feedback import fail
from ui.gpu import gpu, on_zero_gpu
from ui.run_panel import GPU_QUEUE
from ui.runner import SECONDS_PER_STEP
from ui.session import Session, SessionStore
from ui.settings import number, whole
from ui.words_tab import words_state
from workbench.errors import ConfigError

KEY = "study"
LETTERS = string.ascii_uppercase


class StudyActions(SessionActions):
    """What the section's events do; every view handler returns ``VIEW`` outputs."""

    def __init__(self, sessions: SessionStore, server_folders: bool) -> None:
        super().__init__(sessions)
        self.server_folders = server_folders

    def _state(self, session: Session) -> dict[str, Any]:
        state = session.inputs.get(KEY)
        if not state:
            raise ConfigError("open a study folder or build one first")
        return state

    def open_folder(self, folder: str, name: str, request: gr.Request):
        """Open a study folder and show its first question."""
        try:
            session = self.session(request)
            study = load_study(server_path(folder, self.server_folders, [session.folder], "study folder"))
            self._set(session, study)
            return self._view(session, name, f"opened the study of '{study.word}': {len(study.questions)} question(s)")
        except Exception as exc:
            return self._failed(exc, "opening the study")

    def build(self, content: str | None, word: str, k: Any, model: str, content_weight: Any, iterations: Any,
              max_side: Any, folder: str, name: str, request: gr.Request, progress=gr.Progress()):
        """Build a study from the chosen word and an uploaded content image (with progress)."""
        from stylize.nst.config import NSTConfig

        try:
            session = self.session(request)
            root = words_state(session).get("root")
            if root is None:
                raise ConfigError("open a collection or upload images for a word in 'Texture words' first")
            if not word:
                raise ConfigError("choose a word in 'Texture words' first")
            if not content:
                raise ConfigError("upload a content image first")
            config = NSTConfig(model=model, iterations=whole(iterations, "iterations"),
                               max_side=whole(max_side, "the size cap"))
            out = (server_path(folder, self.server_folders, [session.folder], "study folder") if str(folder or "").strip()
                   else session.subfolder("studies") / uuid.uuid4().hex[:8])
            job = dict(collection=root, word=word, contents=[content], out=out, config=config,
                       k=whole(k, "the number of clusters k"), content_names=[Path(content).name],
                       content_weight=number(content_weight, "the content features' share"))
            if on_zero_gpu():  # in ZeroGPU's worker: no progress callback crosses the process boundary
                progress(0.05, desc=f"building the study of '{word}' on a borrowed GPU")
                study = build_study_on_gpu(job)
            else:
                study = make_study(**job, progress=lambda done, total, text: progress(done / max(total, 1), desc=text))
            self._set(session, study)
            where = "" if str(folder or "").strip() else " (in this session's folder: export the votes before you leave)"
            return (str(study.folder), *self._view(session, name, f"built the study of '{study.word}'{where}"))
        except Exception as exc:
            return (gr.update(), *self._failed(exc, "building the study"))

    def show(self, name: str, request: gr.Request):
        """Show the current question for this participant (after the name is typed)."""
        try:
            session = self.session(request)
            if not session.inputs.get(KEY):  # the name typed before a study is open: nothing to show yet
                return "open or build a study to start", None, [], gr.update(choices=[], value=None), ""
            return self._view(session, name)
        except Exception as exc:
            return self._failed(exc, "showing the question")

    def step(self, delta: int) -> Callable:
        """Previous (-1) or next (+1) question."""

        def go_to(name: str, request: gr.Request):
            try:
                session = self.session(request)
                state = self._state(session)
                state["index"] = min(max(state["index"] + delta, 0), len(state["study"].questions) - 1)
                return self._view(session, name)
            except Exception as exc:
                return self._failed(exc, "changing the question")

        return go_to

    def vote(self, name: str, letter: str | None, request: gr.Request):
        """Record the pick shown as ``letter`` for the current question."""
        try:
            session = self.session(request)
            state = self._state(session)
            name = check_participant(name)
            question = state["study"].questions[state["index"]]
            order = state["store"].order(name, question.id)
            letters = list(LETTERS[:len(order)])
            if letter not in letters:
                raise ConfigError(f"pick one of {', '.join(letters)}")
            state["store"].vote(name, question.id, order[letters.index(letter)], shown=order)
            return self._view(session, name, f"saved your pick {letter} for question {state['index'] + 1}")
        except Exception as exc:
            return self._failed(exc, "saving the pick")

    def select(self, name: str, request: gr.Request, evt: gr.SelectData):
        """A click on a result picks it."""
        return self.vote(name, LETTERS[evt.index] if isinstance(evt.index, int) else None, request)

    def export(self, request: gr.Request):
        """votes.csv and tally.csv of the open study, and the tally as a bar chart."""
        try:
            session = self.session(request)
            state = self._state(session)
            study, store = state["study"], state["store"]
            files = export_results(study, session.subfolder("study-export") / uuid.uuid4().hex[:8], store)
            votes = store.current()
            people = len({p for p, _ in votes})
            return ([str(f) for f in files], tally_figure(study, tally_rows(study, votes)),
                    f"{len(votes)} current vote(s) by {people} participant(s)")
        except Exception as exc:
            return gr.update(), gr.update(), fail(exc, "exporting the votes")

    # -- helpers ----------------------------------------------------------------------------------
    def _set(self, session: Session, study: Study) -> None:
        session.inputs[KEY] = {"study": study, "store": VoteStore(study), "index": 0}

    def _view(self, session: Session, name: str, message: str = ""):
        """status, content image, the results gallery, the pick radio, the message."""
        state = self._state(session)
        study, store = state["study"], state["store"]
        if not str(name or "").strip():
            return ("type your name to start: the order of the results is your own", None, [],
                    gr.update(choices=[], value=None), message)
        name = check_participant(name)
        q = study.questions[state["index"]]
        order = store.order(name, q.id)
        answers = store.answers(name)
        letters = list(LETTERS[:len(order)])
        picked = answers.get(q.id)
        status = (f"**Question {state['index'] + 1} of {len(study.questions)}**: which result looks most like "
                  f"**{q.word}**? · {len(answers)} of {len(study.questions)} answered")
        # images, not files, go to the page: a file name could tell which cluster a result is
        gallery = [(_rgb(study.path(q.option(c).image)), letter) for letter, c in zip(letters, order)]
        value = letters[order.index(picked.chosen)] if picked is not None else None
        return status, _rgb(study.path(q.content)), gallery, gr.update(choices=letters, value=value), message

    def _failed(self, exc: BaseException, doing: str):
        return gr.update(), gr.update(), gr.update(), gr.update(), fail(exc, doing)


def _rgb(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def tally_figure(study: Study, rows: list[dict[str, Any]]) -> go.Figure:
    """Votes per cluster for each question and for all questions together (bars coloured by cluster)."""
    fig = go.Figure()
    clusters = sorted({r["cluster"] for r in rows})
    for c in clusters:
        mine = [r for r in rows if r["cluster"] == c]
        fig.add_trace(go.Bar(x=[("all" if r["question"] == ALL else r["question"]) for r in mine],
                             y=[r["votes"] for r in mine], name=f"cluster {c}", marker_color=colour(c),
                             text=[r["share"] and f"{float(r['share']):.0%}" for r in mine], textposition="outside"))
    fig.update_layout(barmode="group", title=f"'{study.word}': votes per cluster", xaxis_title="question",
                      yaxis_title="votes", height=340, margin=dict(l=40, r=10, t=40, b=40))
    return fig


def _study_seconds(job: dict[str, Any]) -> int:
    """ZeroGPU's budget for building a study: one style transfer per cluster and content image."""
    return int(min(3600, 60 + job["k"] * len(job["contents"]) * job["config"].iterations * SECONDS_PER_STEP["nst"]))


@gpu(duration=_study_seconds)
def build_study_on_gpu(job: dict[str, Any]) -> Study:
    """``make_study(**job)`` where a GPU is (on ZeroGPU: its worker process; ``job`` and the ``Study``
    returned are plain, picklable data)."""
    return make_study(**job)


def build_study_tab(sessions: SessionStore, words: dict[str, Any], *, server_folders: bool) -> StudyActions:
    """Lay out the section and wire it; ``words``: the Texture words components (word, k, model)."""
    actions = StudyActions(sessions, server_folders)
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            with gr.Row(equal_height=True):
                folder = gr.Textbox(label="Study folder on the server", scale=3, elem_id="study-folder",
                                    placeholder="made by: python -m stylize study make COLLECTION WORD CONTENT --out DIR")
                open_btn = gr.Button("Open", scale=1, elem_id="study-open")
            with gr.Accordion("…or build one from the word chosen in 'Texture words'", open=False):
                content = gr.File(label="Content image", type="filepath", height=100, elem_id="study-content-upload")
                with gr.Row():
                    iterations = gr.Number(100, label="Iterations", precision=0, elem_id="study-iterations")
                    max_side = gr.Number(256, label="Size cap (long side, px)", precision=0, elem_id="study-max-side")
                build_btn = gr.Button("Build the study (into the folder above, or this session's)",
                                      elem_id="study-build")
            name = gr.Textbox(label="Your name (your picks are saved under it)", elem_id="study-name")
            message = gr.Markdown(elem_id="study-message")
            with gr.Accordion("Results", open=False):
                export_btn = gr.Button("Export votes (CSV) and the tally", elem_id="study-export")
                export_message = gr.Markdown(elem_id="study-export-message")
                exports = gr.File(label="votes.csv and tally.csv", file_count="multiple", interactive=False,
                                  height=110, elem_id="study-exports")
                tally = gr.Plot(label="Tally", elem_id="study-tally")
        with gr.Column(scale=3, min_width=420):
            status = gr.Markdown("open or build a study to start", elem_id="study-status")
            content_view = gr.Image(label="Content image", interactive=False, height=200, elem_id="study-content")
            options = gr.Gallery(label="Results: click the one that looks most like the word", columns=4, height=320,
                                 allow_preview=False, format="png", elem_id="study-options")  # exact pixels
            pick = gr.Radio([], value=None, label="Your pick", elem_id="study-pick")
            with gr.Row():
                prev_btn = gr.Button("◀ Previous question", elem_id="study-prev")
                next_btn = gr.Button("Next question ▶", elem_id="study-next")

    view = [status, content_view, options, pick, message]
    open_btn.click(actions.open_folder, [folder, name], view, api_name="study_open", **LIGHT)
    build_inputs = [content, words["word"], words["k"], words["model"], words["content_weight"], iterations, max_side,
                    folder, name]
    build_btn.click(actions.build, build_inputs, [folder, *view], api_name="study_build",
                    concurrency_limit=1, concurrency_id=GPU_QUEUE)  # k style transfers: in the runs' queue
    gr.on([name.submit, name.blur], actions.show, [name], view, api_name="study_show", **LIGHT)
    prev_btn.click(actions.step(-1), [name], view, api_name="study_previous", **LIGHT)
    next_btn.click(actions.step(+1), [name], view, api_name="study_next", **LIGHT)
    pick.input(actions.vote, [name, pick], view, api_name="study_vote", **LIGHT)
    options.select(actions.select, [name], view, api_name=False, **LIGHT)
    export_btn.click(actions.export, None, [exports, tally, export_message], api_name="study_export", **LIGHT)
    return actions
