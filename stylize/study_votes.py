"""The questionnaire's votes: one append-only JSON Lines file per study (``STUDY_DIR/votes.jsonl``),
crash-safe like the pixel-art label store (``workbench.jsonl_log``: lock, fsync, torn-last-line
recovery).

One line per vote::

    {"op": "vote", "participant": "aki", "question": "q1", "shown": [2, 0, 1], "chosen": 0,
     "time": "2025-05-01T10:00:00.000+00:00"}

``shown`` is the order the options were shown in (clusters, left to right). A participant may change
an answer: the last vote for (participant, question) is the current one, and the earlier ones stay
in the file as history.

The order of a question's options is random per participant and question (so no cluster gains from
its place) and reproducible: seeded from the study id, the participant and the question.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass
from typing import Sequence

from stylize.study import Study, StudyError, now_iso
from workbench.jsonl_log import JsonlLog

VOTES_NAME = "votes.jsonl"
FORMAT = "stylize-study-votes"
MAX_NAME = 100


@dataclass(frozen=True)
class Vote:
    """One pick: ``participant`` chose cluster ``chosen`` of ``question``, shown in order ``shown``."""

    participant: str
    question: str
    shown: tuple[int, ...]
    chosen: int
    time: str

    @property
    def position(self) -> int:
        """Where the chosen option was shown (1 = first)."""
        return self.shown.index(self.chosen) + 1


def check_participant(name: str) -> str:
    """A participant name, stripped, or a one-line StudyError."""
    name = " ".join(str(name or "").split())
    if not name:
        raise StudyError("type your name first: votes are saved under it")
    if len(name) > MAX_NAME:
        raise StudyError(f"the name is {len(name)} characters long; use at most {MAX_NAME}")
    return name


def option_order(study_id: str, participant: str, question_id: str, clusters: Sequence[int]) -> list[int]:
    """The clusters in the order this participant sees them for this question (random, reproducible)."""
    digest = hashlib.sha256(f"{study_id}\n{participant}\n{question_id}".encode("utf-8")).digest()
    order = sorted(clusters)
    random.Random(int.from_bytes(digest[:8], "big")).shuffle(order)
    return order


class VoteStore:
    """The votes of one study."""

    def __init__(self, study: Study) -> None:
        self.study = study
        self.log = JsonlLog(study.folder / VOTES_NAME, FORMAT, error=StudyError)

    def order(self, participant: str, question_id: str) -> list[int]:
        """The option order (clusters) a participant is shown for a question."""
        question = self.study.question(question_id)
        return option_order(self.study.id, check_participant(participant), question.id, question.clusters)

    def vote(self, participant: str, question_id: str, chosen: int, shown: Sequence[int] | None = None) -> Vote:
        """Record a pick (durably); ``shown`` defaults to the participant's order for the question."""
        participant = check_participant(participant)
        question = self.study.question(question_id)
        if isinstance(chosen, bool) or int(chosen) != chosen:
            raise StudyError(f"the chosen cluster must be a whole number, got {chosen!r}")
        question.option(int(chosen))
        shown = tuple(int(c) for c in (shown if shown is not None else self.order(participant, question.id)))
        if sorted(shown) != sorted(question.clusters):
            raise StudyError(f"the order shown {list(shown)} is not the clusters of {question.id} {question.clusters}")
        vote = Vote(participant, question.id, shown, int(chosen), now_iso())
        self.log.append([{"op": "vote", **asdict(vote), "shown": list(shown)}])
        return vote

    def history(self) -> list[Vote]:
        """Every vote in the order cast (changed answers included)."""
        votes = []
        for record in self.log.records():
            if record.get("op") != "vote":
                continue
            try:
                votes.append(Vote(str(record["participant"]), str(record["question"]),
                                  tuple(int(c) for c in record["shown"]), int(record["chosen"]), str(record["time"])))
            except (KeyError, TypeError, ValueError):
                raise StudyError(f"{VOTES_NAME} has a damaged vote ({record!r:.80}); fix or delete that line") from None
        return votes

    def current(self) -> dict[tuple[str, str], Vote]:
        """The current vote of each (participant, question): the last one cast."""
        return {(v.participant, v.question): v for v in self.history()}

    def answers(self, participant: str) -> dict[str, Vote]:
        """A participant's current votes by question id."""
        participant = check_participant(participant)
        return {q: v for (p, q), v in self.current().items() if p == participant}
