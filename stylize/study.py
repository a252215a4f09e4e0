"""The seed's user study (seed 002): for a texture word, people are shown the results of one content
image stylised with each cluster's style image and pick the one that looks most like the word.

A study is a folder, self-contained so it can be copied to whoever runs the questionnaire::

    STUDY_DIR/study.json           the manifest (written last, atomically: a study folder without it
                                   is an interrupted build)
    STUDY_DIR/styles/cluster_I.EXT each cluster's style image (a copy of its representative)
    STUDY_DIR/contents/QID.png     each content image
    STUDY_DIR/results/QID_cI.png   the content stylised with cluster I's style image
    STUDY_DIR/votes.jsonl          the votes (``stylize.study_votes``)

Manifest: ``{"format": "stylize-study", "version": 1, "id", "word", "k", "collection", "created",
"nst": {NSTConfig}, "clusters": [{"cluster", "size", "source", "style_image"}], "questions": [{"id",
"word", "content", "content_name", "options": [{"cluster", "image", "style_image"}]}]}``; paths are
relative to the study folder.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from workbench.atomic import atomic_path
from workbench.cli import check_out_folder
from workbench.errors import ConfigError, UserError
from workbench.export import safe_stem, save_image
from workbench.untrusted import loads_json

FORMAT = "stylize-study"
VERSION = 1
MANIFEST = "study.json"
MAX_MANIFEST_BYTES = 8 << 20

Progress = Callable[[int, int, str], None]  # (done, total, what is being done)


class StudyError(UserError, ValueError):
    """A study folder, manifest or vote cannot be used."""


@dataclass(frozen=True)
class Option:
    """One answer of a question: the content stylised with one cluster's style image."""

    cluster: int
    image: str  # result image, relative to the study folder
    style_image: str


@dataclass(frozen=True)
class Question:
    """One content image of a word, with one option per cluster."""

    id: str
    word: str
    content: str
    content_name: str
    options: tuple[Option, ...]

    @property
    def clusters(self) -> list[int]:
        """The clusters this question offers, in manifest order."""
        return [o.cluster for o in self.options]

    def option(self, cluster: int) -> Option:
        """The option of a cluster."""
        for o in self.options:
            if o.cluster == cluster:
                return o
        raise StudyError(f"question {self.id} has no option for cluster {cluster} (it has {self.clusters})")


@dataclass
class Study:
    """An opened study folder."""

    folder: Path
    id: str
    word: str
    questions: list[Question]
    clusters: list[dict[str, Any]]
    meta: dict[str, Any]

    def question(self, question_id: str) -> Question:
        """A question by id, or a one-line StudyError."""
        for q in self.questions:
            if q.id == question_id:
                return q
        raise StudyError(f"the study has no question '{question_id}' (questions: "
                         f"{', '.join(q.id for q in self.questions)})")

    def path(self, relative: str) -> Path:
        """A file of the study (refused if the manifest points outside the folder)."""
        path = (self.folder / relative).resolve()
        if not path.is_relative_to(self.folder.resolve()):
            raise StudyError(f"{MANIFEST} points outside the study folder ({relative}); is it the right file?")
        return path


def now_iso() -> str:
    """The current time, ISO 8601 with milliseconds and the UTC offset."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# -- reading ---------------------------------------------------------------------------------------
def load_study(folder: str | os.PathLike) -> Study:
    """Open a study folder (its manifest checked), or a one-line StudyError."""
    folder = Path(folder).expanduser()
    manifest = folder / MANIFEST
    if not folder.is_dir():
        raise StudyError(f"study folder {folder} does not exist or is not a folder")
    if not manifest.is_file():
        raise StudyError(f"{folder} holds no {MANIFEST}: it is not a study folder (make one with "
                         "`python -m stylize study make`), or its build was interrupted")
    if manifest.stat().st_size > MAX_MANIFEST_BYTES:
        raise StudyError(f"{manifest} is over {MAX_MANIFEST_BYTES >> 20} MiB: is it the right file?")
    try:
        data = loads_json(manifest.read_bytes())
    except Exception:
        raise StudyError(f"{manifest} is not readable JSON; make the study again") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise StudyError(f"{manifest} is not a study manifest (format {data.get('format') if isinstance(data, dict) else None!r})")
    try:
        questions = [Question(str(q["id"]), str(q["word"]), str(q["content"]), str(q.get("content_name", "")),
                              tuple(Option(int(o["cluster"]), str(o["image"]), str(o["style_image"]))
                                    for o in q["options"]))
                     for q in data["questions"]]
        study = Study(folder, str(data["id"]), str(data["word"]), questions, list(data.get("clusters", [])), data)
    except (KeyError, TypeError, ValueError) as exc:
        raise StudyError(f"{manifest} is damaged (field {exc}); make the study again") from None
    if not questions:
        raise StudyError(f"{manifest} has no questions")
    for q in questions:
        if len(set(q.clusters)) != len(q.clusters) or len(q.options) < 2:
            raise StudyError(f"{manifest}: question {q.id} needs two or more options of different clusters")
        for o in q.options:
            study.path(o.image)
    return study


# -- building --------------------------------------------------------------------------------------
def make_study(collection: str | os.PathLike, word: str, contents: Sequence[str | os.PathLike], out: str | os.PathLike,
               *, k: int = 3, config=None, seed: int = 0, vgg=None, cache_dir: str | os.PathLike | None = None,
               progress: Progress | None = None, content_names: Sequence[str] | None = None,
               content_weight: float = 0.0) -> Study:
    """Cluster ``collection/word``, stylise every content image with each cluster's style image
    (``NSTRun`` with ``config``, an ``NSTConfig``), and write the study folder ``out``; returns it opened.
    ``content_weight``: the fc6 content features' share in the clustering (0: style vectors only).

    Everything is checked before any model loads; the manifest is written last, so an interrupted
    build never looks like a study.
    """
    from stylize.content_vector import check_content_weight
    from stylize.nst.config import NSTConfig
    from stylize.nst.run import load_image
    from stylize.word_clusters import cluster_word

    config = (config or NSTConfig()).check(num_styles=1)
    content_weight = check_content_weight(content_weight)
    out = check_out_folder(Path(out), "--out")
    if (out / MANIFEST).exists():
        raise ConfigError(f"{out} already holds a study (its votes would no longer match): choose another folder")
    if not word or not str(word).strip():
        raise ConfigError("choose a word (a folder of the collection)")
    if not contents:
        raise ConfigError("give at least one content image")
    names = list(content_names) if content_names else [Path(c).name for c in contents]
    images = [load_image(c, max_pixels=config.max_pixels, what=f"content image {n}") for c, n in zip(contents, names)]
    tell = progress or (lambda done, total, text: None)
    tell(0, 1, f"clustering the images of '{word}'")
    if vgg is None:
        from stylize.nst.loading import load_vgg, pick_device

        vgg = load_vgg(config.model, device=pick_device(config.device), fc6=content_weight > 0)
    clusters = cluster_word(collection, word, k=k, model=config.model, seed=seed, vgg=vgg, cache_dir=cache_dir,
                            content_weight=content_weight)
    c = clusters.clustering
    styles = []
    for i in range(c.k):
        source = clusters.style_image(i)
        rel = f"styles/cluster_{i}{source.suffix.lower()}"
        with atomic_path(out / rel) as tmp:
            shutil.copyfile(source, tmp)
        styles.append({"cluster": i, "size": len(c.members(i)), "source": clusters.paths[c.representatives[i]],
                       "style_image": rel})
    questions, total, done = [], len(images) * c.k, 0
    for n, (image, name) in enumerate(zip(images, names), start=1):
        qid = f"q{n}"
        content_rel = f"contents/{qid}_{safe_stem(Path(name).stem, 'content')}.png"
        save_image(np.asarray(image), out / content_rel)
        options = []
        for i in range(c.k):
            tell(done, total, f"{qid} ({name}): stylising with cluster {i + 1} of {c.k}")
            rel = f"results/{qid}_c{i}.png"
            save_image(stylise(image, out / styles[i]["style_image"], config, vgg=vgg, content_name=name), out / rel)
            options.append(Option(i, rel, styles[i]["style_image"]))
            done += 1
        questions.append(Question(qid, clusters.word, content_rel, name, tuple(options)))
    tell(total, total, "writing the manifest")
    manifest = {
        "format": FORMAT, "version": VERSION, "id": uuid.uuid4().hex, "word": clusters.word, "k": c.k,
        "collection": str(clusters.root), "created": now_iso(), "seed": seed, "content_weight": content_weight, "nst": _jsonable(config.to_dict()),
        "clusters": styles, "skipped": clusters.skipped,
        "questions": [{**asdict(q), "options": [asdict(o) for o in q.options]} for q in questions],
    }
    with atomic_path(out / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return load_study(out)


def stylise(content, style: Path, config, *, vgg=None, content_name: str = ""):
    """One transfer through the workbench run loop; the (H, W, 3) uint8 image of its chosen step."""
    from stylize.nst.run import NSTRun
    from workbench.loop import record_run

    run = NSTRun(content, [style], config, vgg=vgg, names=[style.name], content_name=content_name)
    result = record_run(run)
    return result.trajectory.rgb(result.chosen_step)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
