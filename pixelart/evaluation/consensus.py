"""Several annotators: IoU of step ranges, their consensus, agreement, and the references (one set of
good ranges per photo) a strategy is scored against."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from workbench.errors import ConfigError
from pixelart.evaluation.photos import EvalPhoto
from pixelart.evaluation.scoring import Range
from pixelart.labels import Label, set_aside, set_aside_notes

CONSENSUS_RULES = ("majority", "intersection", "union")


def _step_mask(ranges: Sequence[Range], length: int) -> np.ndarray:
    mask = np.zeros(length, bool)
    for s, e in ranges:
        mask[s : e + 1] = True
    return mask


def _runs(mask: np.ndarray) -> list[Range]:
    """Maximal runs of True as inclusive (start, end) ranges."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def range_iou(a: Sequence[Range], b: Sequence[Range]) -> float:
    """IoU of two sets of inclusive step ranges (as sets of steps); 1.0 when both are empty."""
    length = max([e for _, e in (*a, *b)], default=-1) + 1
    ma, mb = _step_mask(a, length), _step_mask(b, length)
    union = int((ma | mb).sum())
    return 1.0 if union == 0 else int((ma & mb).sum()) / union


def consensus_ranges(by_annotator: Mapping[str, Sequence[Range]], rule: str = "majority") -> list[Range]:
    """The steps the annotators agree on: strict majority (default), all of them, or any of them."""
    if rule not in CONSENSUS_RULES:
        raise ConfigError(f"unknown consensus rule '{rule}'; choose from {', '.join(CONSENSUS_RULES)}")
    sets = [r for r in by_annotator.values() if r]
    if not sets:
        return []
    length = max(e for r in sets for _, e in r) + 1
    votes = np.sum([_step_mask(r, length) for r in sets], axis=0)
    need = {"majority": len(sets) // 2 + 1, "intersection": len(sets), "union": 1}[rule]
    return _runs(votes >= need)


@dataclass
class Agreement:
    """How well annotators agree: mean pairwise IoU per photo and per annotator pair."""

    annotators: list[str]
    per_photo: list[dict[str, Any]]  # bundle, bundle_id, annotators, mean_iou
    pairwise: dict[tuple[str, str], float]  # mean IoU over the photos both labeled
    mean_iou: float  # over photos with two or more annotators


def agreement(ranges: Mapping[str, Mapping[str, Sequence[Range]]], names: Mapping[str, str] | None = None) -> Agreement:
    """``ranges[annotator][bundle_id]`` -> agreement (photos labeled by fewer than two are left out)."""
    names = names or {}
    annotators = sorted(ranges)
    bundles = sorted({b for per in ranges.values() for b in per})
    per_photo, pair_values = [], {pair: [] for pair in itertools.combinations(annotators, 2)}
    for b in bundles:
        who = [a for a in annotators if ranges[a].get(b)]
        if len(who) < 2:
            continue
        ious = []
        for x, y in itertools.combinations(who, 2):
            iou = range_iou(ranges[x][b], ranges[y][b])
            ious.append(iou)
            pair_values[(x, y)].append(iou)
        per_photo.append({"bundle": names.get(b, b), "bundle_id": b, "annotators": who,
                          "mean_iou": float(np.mean(ious))})
    pairwise = {pair: float(np.mean(v)) for pair, v in pair_values.items() if v}
    mean = float(np.mean([p["mean_iou"] for p in per_photo])) if per_photo else float("nan")
    return Agreement(annotators, per_photo, pairwise, mean)


@dataclass
class Reference:
    """One set of good ranges per photo: an annotator's, or the annotators' consensus."""

    name: str  # "aki" or "consensus (majority)"
    ranges: dict[str, list[Range]]  # bundle_id -> ranges (only photos with at least one)


def build_references(
    labels: Sequence[Label], photos: Sequence[EvalPhoto], *, annotators: Sequence[str] | None = None,
    consensus: str = "majority",
) -> tuple[list[Reference], Agreement | None, list[str]]:
    """Per-annotator references (+ consensus when several), agreement, and notes on skipped labels."""
    by_id = {p.bundle_id: p for p in photos}
    chosen = [lab for lab in labels if not annotators or lab.annotator in annotators]
    aside = set_aside(chosen, {p.bundle_id: p.num_steps for p in photos})
    notes = set_aside_notes(aside)
    left_out = {id(lab) for lab, _ in aside}
    per: dict[str, dict[str, list[Range]]] = {}
    for lab in chosen:
        if id(lab) not in left_out:
            per.setdefault(lab.annotator, {}).setdefault(lab.bundle_id, []).append((lab.start, lab.end))
    if annotators:
        for a in annotators:
            if a not in per:
                notes.append(f"annotator '{a}' has no labels on these bundles")
    refs = [Reference(a, {b: sorted(r) for b, r in per[a].items()}) for a in sorted(per)]
    agree = None
    if len(per) > 1:
        agree = agreement(per, {p.bundle_id: p.name for p in photos})
        cons: dict[str, list[Range]] = {}
        for b in sorted({b for r in per.values() for b in r}):
            ranges = consensus_ranges({a: per[a].get(b, []) for a in per}, consensus)
            if ranges:
                cons[b] = ranges
            else:
                notes.append(f"no {consensus} consensus on {by_id[b].name}: left out of the consensus scores")
        refs.append(Reference(f"consensus ({consensus})", cons))
    return refs, agree, notes


def center_histogram(
    centers: Sequence[float], *, bin_width: float | None = None, max_step: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(bin edges, counts) of labeled range centres (Fig. 3); 20 bins up to the last step by default."""
    centers = np.asarray(centers, float)
    top = max_step if max_step is not None else (centers.max() if centers.size else 1.0)
    width = bin_width or max(top / 20, 1.0)
    edges = np.arange(0, top + width, width)
    if edges.size < 2:
        edges = np.array([0.0, width])
    counts, edges = np.histogram(centers, bins=edges)
    return edges, counts
