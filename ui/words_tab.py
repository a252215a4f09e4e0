"""The "Texture words" section of the Stylize tab (seed 002): choose a word of a collection → its
clusters of style as a gallery and a 2-D map → pick a cluster → its style image (or its N images
nearest the centroid, blended) goes to the style-transfer section.

A collection is a folder per word (``WORD/*.jpg``) on the server, or images uploaded here for a word:
those are copied into the session's own collection folder, so nothing uploaded is lost while the
session lasts. The clustering itself is ``stylize.word_clusters``.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import gradio as gr
import plotly.graph_objects as go

from stylize.clusters import check_k
from stylize.collection import check_collection, list_images, list_words
from stylize.sheets import colour, thumbnail
from ui.bundle_set import server_path
from ui.common import LIGHT, SessionActions
from ui.feedback import fail
from ui.gpu import gpu
from ui.run_panel import GPU_QUEUE
from ui.session import Session, SessionStore
from ui.settings import number, whole
from workbench.atomic import copy_as_new
from workbench.errors import ConfigError, UserError
from workbench.export import safe_stem
from workbench.images import load_photo

KEY = "words"  # this section's entry in ``Session.inputs``
MAX_SHOWN = 30  # gallery thumbnails per cluster; the map shows every image
THUMB = 128
MAX_INPUT_PIXELS = 40_000_000


def words_state(session: Session) -> dict[str, Any]:
    """This section's state in a session: the collection root, its clustering and the word."""
    return session.inputs.setdefault(KEY, {})


class WordsActions(SessionActions):
    """What the section's events do."""

    def __init__(self, sessions: SessionStore, server_folders: bool) -> None:
        super().__init__(sessions)
        self.server_folders = server_folders

    # -- the collection ---------------------------------------------------------------------------
    def open_folder(self, folder: str, request: gr.Request):
        """Open a collection folder on the server: its words in the dropdown."""
        try:
            session = self.session(request)
            root = check_collection(server_path(folder, self.server_folders, [session.folder], "collection folder"))
            return self._opened(session, root, None)
        except Exception as exc:
            return gr.update(), fail(exc, "opening the collection")

    def upload(self, word: str, files: list[str] | None, request: gr.Request):
        """Copy uploaded images into the session's collection under ``word``."""
        try:
            session = self.session(request)
            word = check_word(word)
            if not files:
                raise ConfigError("choose one or more images to upload")
            root = session.subfolder("collection")
            refused = copy_images(files, root / word)
            note = f"; skipped: {'; '.join(refused)}" if refused else ""
            if len(refused) == len(files):
                raise ConfigError(f"none of the files is a usable image{note}")
            dropdown, message = self._opened(session, root, word)
            return dropdown, message + note
        except Exception as exc:
            return gr.update(), fail(exc, "saving the uploaded images")

    def _opened(self, session: Session, root: Path, word: str | None):
        words = list_words(root)
        if not words:
            raise ConfigError(f"collection {root} is empty: put images in a folder per word (WORD/*.jpg)")
        state = words_state(session)
        state.update(root=root, result=None)
        choice = word if word in words else words[0]
        counts = ", ".join(f"{w} ({len(list_images(root, w))})" for w in words)
        return gr.update(choices=words, value=choice), f"{len(words)} word(s): {counts}"

    # -- clustering -------------------------------------------------------------------------------
    def cluster(self, word: str, k: Any, model: str, content_weight: Any, request: gr.Request,
                progress=gr.Progress()):
        """Cluster the word's images: a gallery grouped by cluster, the map, the cluster picker."""
        try:
            session = self.session(request)
            state = words_state(session)
            if state.get("root") is None:
                raise ConfigError("open a collection folder or upload images for a word first")
            if not word:
                raise ConfigError("choose a word first")
            k = whole(k, "the number of clusters k")
            content_weight = number(content_weight, "the content features' share")
            progress(0.1, desc=f"style vectors of '{word}'")
            result = cluster_collection(state["root"], word, k, model, session, content_weight=content_weight)
            state.update(result=result, word=word)
            progress(0.9, desc="map and gallery")
            c = result.clustering
            picks = [(f"cluster {i} ({len(c.members(i))} images)", i) for i in range(c.k)]
            skipped = f"; unreadable, left out: {', '.join(result.skipped)}" if result.skipped else ""
            return (cluster_gallery(result), cluster_figure(result), gr.update(choices=picks, value=0),
                    f"'{word}': {len(result.paths)} images in {c.k} clusters{skipped}")
        except Exception as exc:
            return gr.update(), gr.update(), gr.update(), fail(exc, "clustering the word")

    def use(self, cluster: Any, count: Any, request: gr.Request):
        """The picked cluster's style images into the style-transfer section, which is then shown."""
        try:
            session = self.session(request)
            result = words_state(session).get("result")
            if result is None:
                raise ConfigError("cluster a word first")
            if cluster is None:
                raise ConfigError("pick a cluster first")
            cluster = whole(cluster, "the cluster")
            if not 0 <= cluster < result.clustering.k:
                raise ConfigError(f"cluster {cluster} does not exist: pick one of 0..{result.clustering.k - 1}")
            count = whole(count, "the number of style images")
            members = result.cluster_paths(cluster)
            if not 1 <= count <= len(members):
                raise ConfigError(f"cluster {cluster} has {len(members)} image(s): blend 1 to {len(members)} of them")
            folder = session.subfolder("word-styles") / uuid.uuid4().hex[:8]
            paths = [str(copy_one(p, folder, f"{safe_stem(result.word, 'word')}_c{cluster}_{i}")) for i, p in
                     enumerate(members[:count])]
            how = "its style image" if count == 1 else f"its {count} images nearest the centroid, blended equally"
            return paths, "", gr.Tabs(selected="nst"), f"'{result.word}' cluster {cluster}: {how}"
        except Exception as exc:
            return gr.update(), gr.update(), gr.update(), fail(exc, "choosing the style images")


def check_word(word: str) -> str:
    """A word usable as a folder name, or a one-line ConfigError."""
    word = str(word or "").strip()
    if not word:
        raise ConfigError("type the word these images show (it names their folder)")
    if word.startswith(".") or any(ch in word for ch in "/\\\0") or len(word) > 80:
        raise ConfigError(f"'{word[:80]}' cannot name a folder: use letters, digits, spaces or dashes")
    return word


def copy_images(files: list[str], folder: Path) -> list[str]:
    """Copy the readable images into ``folder`` (each whole or not at all); a 'name: why' per refusal."""
    refused = []
    for source in map(Path, files):
        try:
            load_photo(source, max_pixels=MAX_INPUT_PIXELS)
        except UserError as exc:
            refused.append(f"{source.name}: {' '.join(str(exc).split())}")
            continue
        copy_one(source, folder, safe_stem(source.stem, "image"))
    return refused


def copy_one(source: Path, folder: Path, stem: str) -> Path:
    """Copy a file under a name of our own (never over another one), atomically."""
    suffix = source.suffix.lower() if source.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif") else ".png"
    return copy_as_new(source, folder, stem, suffix)


def cluster_collection(root: Path, word: str, k: int, model: str, session: Session, *, content_weight: float = 0.0):
    """``cluster_word`` with the app's model cache; the index goes to the session when the collection
    folder is not writable. ``content_weight`` > 0 mixes in fc6 content features (seed 002)."""
    from stylize.content_vector import check_content_weight

    check_k(k, len(list_images(root, word)), f"word '{word}'")  # before the model loads
    check_content_weight(content_weight)
    cache = None if os.access(root, os.W_OK) else session.subfolder("style-index")
    return cluster_on_gpu(root, word, k, model, cache, content_weight)


def _cluster_seconds(root: Path, word: str, *args: Any) -> int:
    """ZeroGPU's budget for a clustering: loading the network, then about 0.5 s an image at most."""
    return int(min(1800, 60 + 0.5 * len(list_images(root, word))))


@gpu(duration=_cluster_seconds)
def cluster_on_gpu(root: Path, word: str, k: int, model: str, cache: Path | None, content_weight: float):
    """The network's part of a clustering, where a GPU is (on ZeroGPU: its worker process, so the
    arguments and the ``WordClusters`` returned are plain, picklable data)."""
    from stylize.nst.loading import load_vgg, pick_device
    from stylize.word_clusters import cluster_word

    vgg = load_vgg(model, device=pick_device("auto"), fc6=content_weight > 0)
    return cluster_word(root, word, k=k, model=model, vgg=vgg, cache_dir=cache, content_weight=content_weight)


def cluster_gallery(result) -> list[tuple[Any, str]]:
    """Thumbnails grouped by cluster, nearest the centroid first, captioned with their cluster."""
    items = []
    for i in range(result.clustering.k):
        for rank, path in enumerate(result.cluster_paths(i)[:MAX_SHOWN]):
            caption = f"cluster {i}, representative" if rank == 0 else f"cluster {i}"
            items.append((thumbnail(load_photo(path, max_pixels=MAX_INPUT_PIXELS), THUMB), caption))
    return items


def cluster_figure(result) -> go.Figure:
    """The 2-D map of the style vectors, one colour per cluster, representatives as stars."""
    c = result.clustering
    fig = go.Figure()
    for i in range(c.k):
        members = c.members(i)
        fig.add_trace(go.Scatter(
            x=result.coords[members, 0], y=result.coords[members, 1], mode="markers", name=f"cluster {i}",
            marker=dict(color=colour(i), size=[16 if m == c.representatives[i] else 9 for m in members],
                        symbol=["star" if m == c.representatives[i] else "circle" for m in members]),
            text=[result.paths[m] for m in members], hovertemplate="%{text}<extra>cluster " + str(i) + "</extra>",
        ))
    fig.update_layout(title=f"'{result.word}': style vectors (PCA), ★ = each cluster's style image",
                      xaxis_title="PC 1", yaxis_title="PC 2", height=380, margin=dict(l=40, r=10, t=40, b=40))
    return fig


def build_words_tab(sessions: SessionStore, nst: dict[str, Any], tabs: gr.Tabs, *, model_choices: tuple[list, str],
                    server_folders: bool) -> dict[str, Any]:
    """Lay out the section and wire it; "Use in style transfer" fills ``nst["styles"]`` (and clears
    ``nst["blend"]``) and selects the ``nst`` tab of ``tabs``. Returns the components (the
    questionnaire builds a study from the word chosen here)."""
    actions = WordsActions(sessions, server_folders)
    w: dict[str, Any] = {}
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            with gr.Row(equal_height=True):
                w["folder"] = gr.Textbox(label="Collection folder on the server (a folder of images per word)",
                                         placeholder="e.g. collections/textures", scale=3, elem_id="words-folder")
                w["open"] = gr.Button("Open", scale=1, elem_id="words-open")
            w["upload_word"] = gr.Textbox(label="…or upload images for a word: the word", placeholder="e.g. fluffy",
                                          elem_id="words-upload-word")
            w["uploads"] = gr.File(label="Images of that word", file_count="multiple", type="filepath", height=100,
                                   elem_id="words-uploads")
            w["collection_message"] = gr.Markdown(elem_id="words-collection-message")
            # custom values: the handlers check the word themselves, with a message that lists the words
            w["word"] = gr.Dropdown([], value=None, label="Word", allow_custom_value=True, elem_id="words-word")
            with gr.Row():
                w["k"] = gr.Number(3, label="Clusters k", precision=0, minimum=1, elem_id="words-k")
                w["model"] = gr.Dropdown(model_choices[0], value=model_choices[1], label="Network (style vectors)",
                                         elem_id="words-model")
            w["content_weight"] = gr.Slider(0, 1, value=0, step=0.05, elem_id="words-content-weight",
                                            label="Content features' share w (VGG19 fc6; 0 = style only, as the seed)")
            w["cluster"] = gr.Button("Cluster", variant="primary", elem_id="words-cluster-button")
            w["cluster_message"] = gr.Markdown(elem_id="words-cluster-message")
            w["pick"] = gr.Dropdown([], value=None, label="Cluster to use", elem_id="words-pick")
            w["count"] = gr.Number(1, label="Style images (nearest the centroid; more than 1 are blended)",
                                   precision=0, minimum=1, elem_id="words-count")
            w["use"] = gr.Button("Use in style transfer", elem_id="words-use")
            w["use_message"] = gr.Markdown(elem_id="words-use-message")
        with gr.Column(scale=3, min_width=420):
            w["gallery"] = gr.Gallery(label="Clusters (representative first)", columns=6, height=360,
                                      allow_preview=True, elem_id="words-gallery")
            w["map"] = gr.Plot(label="Map of the word's images", elem_id="words-map")

    opened = [w["word"], w["collection_message"]]
    w["open"].click(actions.open_folder, [w["folder"]], opened, api_name="words_open", **LIGHT)
    w["folder"].submit(actions.open_folder, [w["folder"]], opened, api_name=False, **LIGHT)
    w["uploads"].upload(actions.upload, [w["upload_word"], w["uploads"]], opened, api_name="words_upload", **LIGHT)
    w["cluster"].click(actions.cluster, [w["word"], w["k"], w["model"], w["content_weight"]],
                       [w["gallery"], w["map"], w["pick"], w["cluster_message"]], api_name="words_cluster",
                       concurrency_limit=1, concurrency_id=GPU_QUEUE)  # the network: one job at a time, as runs
    w["use"].click(actions.use, [w["pick"], w["count"]], [nst["styles"], nst["blend"], tabs, w["use_message"]],
                   api_name="words_use", **LIGHT)
    return w
