"""The questionnaire's results as CSV: ``votes.csv`` (one row per current vote) and ``tally.csv`` (per
word, question and cluster: the votes and their share of the question's votes, then each cluster's
totals over the word's questions, with ``question`` = ``ALL``)."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from stylize.study import Study
from stylize.study_votes import Vote, VoteStore
from workbench.atomic import atomic_path
from workbench.cli import check_out_folder

ALL = "ALL"


def vote_rows(study: Study, store: VoteStore) -> list[dict[str, Any]]:
    """One row per current vote (participant, question), with how often the answer was changed."""
    history = store.history()
    rows = []
    for (participant, qid), vote in sorted(store.current().items()):
        if not any(q.id == qid for q in study.questions):
            continue  # a question no longer in the manifest: nothing to count it against
        q = study.question(qid)
        casts = sum(1 for v in history if (v.participant, v.question) == (participant, qid))
        rows.append({"participant": participant, "word": q.word, "question": qid, "content": q.content_name,
                     "chosen_cluster": vote.chosen, "style_image": q.option(vote.chosen).style_image,
                     "shown_order": " ".join(str(c) for c in vote.shown), "position_shown": vote.position,
                     "changes": casts - 1, "time": vote.time})
    return rows


def tally_rows(study: Study, votes: dict[tuple[str, str], Vote]) -> list[dict[str, Any]]:
    """Per (word, question, cluster) counts and shares, then per-cluster totals of the word."""
    rows, totals = [], {}
    for q in study.questions:
        chosen = [v.chosen for (p, qid), v in votes.items() if qid == q.id]
        for o in q.options:
            n = chosen.count(o.cluster)
            totals[o.cluster] = totals.get(o.cluster, 0) + n
            rows.append({"word": q.word, "question": q.id, "content": q.content_name, "cluster": o.cluster,
                         "style_image": o.style_image, "votes": n, "answers": len(chosen),
                         "share": _share(n, len(chosen))})
    answers = sum(totals.values())
    styles = {int(c["cluster"]): c.get("style_image", "") for c in study.clusters}
    for cluster in sorted(totals):
        rows.append({"word": study.word, "question": ALL, "content": "", "cluster": cluster,
                     "style_image": styles.get(cluster, ""), "votes": totals[cluster], "answers": answers,
                     "share": _share(totals[cluster], answers)})
    return rows


def _share(n: int, total: int) -> str:
    return f"{n / total:.4f}" if total else ""


VOTE_COLUMNS = ("participant", "word", "question", "content", "chosen_cluster", "style_image", "shown_order",
                "position_shown", "changes", "time")
TALLY_COLUMNS = ("word", "question", "content", "cluster", "style_image", "votes", "answers", "share")


def export_results(study: Study, out: str | os.PathLike, store: VoteStore | None = None) -> list[Path]:
    """Write ``votes.csv`` and ``tally.csv`` into ``out`` (atomically); returns their paths."""
    out = check_out_folder(Path(out), "--out")
    store = store or VoteStore(study)
    return [write_table(out / "votes.csv", VOTE_COLUMNS, vote_rows(study, store)),
            write_table(out / "tally.csv", TALLY_COLUMNS, tally_rows(study, store.current()))]


def write_table(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> Path:
    """Rows as CSV with fixed columns (the header even when there are no rows), written atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    return path
