"""Scoring stopping strategies against labeled good ranges (seed 000 §4.3, §5: Table 1, Fig. 2, Fig. 3).

Definitions (DESIGN.md). For a photo with labeled range [s, e], centre c = (s + e) / 2, width
w = e - s, and a strategy's stop step t̂:

- hit: s <= t̂ <= e; hit rate = mean over photos
- relative centre error: |t̂ - c| / w (w taken as 1 for a one-step range s = e)
- image norm error: ||x_t̂ - x_c||_2 at the metrics' working resolution in RGB [0, 1], with x_c the
  frame at step floor(c) (frames exist at whole steps only)

Rules this module chose (the seed had one range per photo and one annotator):

- **Several ranges** from one annotator for a photo: a hit if t̂ lies in any of them; the centre
  error and x_c are taken against the *reference range* = the range containing t̂ (the one with the
  nearest centre if several do), else the range nearest to t̂ (distance from t̂ to the interval; ties
  by nearest centre, then the earlier range).
- **Several annotators**: each is scored alone, and so is their *consensus*: the steps that a strict
  majority of the photo's annotators marked good, split into maximal runs (for two annotators this
  is the intersection; ``consensus="intersection"`` or ``"union"`` choose those instead). A photo
  whose consensus is empty is left out of the consensus scores and named in the notes. Agreement is
  the mean pairwise IoU of the annotators' step sets per photo.
- **Best parameter**: the highest hit rate, then the lowest mean relative centre error, then the
  lowest mean image norm error, then the smallest parameter. "In-sample" chooses it on all labeled
  photos, as the seed's Table 1 did from Fig. 2; **leave-one-out** chooses it on the other N-1
  photos for each photo and scores it on the held-out one, an honest out-of-sample figure. Sweep
  grids are built from the metric series only (no labels), so they carry no label information into
  the held-out photo.
"""

from __future__ import annotations

import csv
import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from workbench.errors import BundleError, ConfigError
from workbench.atomic import atomic_path
from pixelart.labels import Label
from pixelart.stopping import SEED_STRATEGIES, STRATEGIES, StoppingStrategy, make_strategy, parse_strategy_spec
from pixelart.metrics import cell_index_map
from pixelart.stopping.parts import PartMap, part_rates, part_series
from workbench.trajectory import Trajectory, scan_bundles

Range = tuple[int, int]
CONSENSUS_RULES = ("majority", "intersection", "union")
DEFAULT_POINTS = 41


# -- one stop against ranges ------------------------------------------------------------------------
@dataclass(frozen=True)
class StopScore:
    """How one stop step compares with a photo's labeled ranges."""

    step: int
    hit: bool
    center_error: float
    range: Range  # the reference range
    center: float
    center_step: int  # the frame used as x_c


def reference_range(step: int, ranges: Sequence[Range]) -> Range:
    """The range t̂ is judged against (see the module doc for the rule)."""
    if not ranges:
        raise ValueError("no ranges")

    def key(r: Range) -> tuple:
        s, e = r
        return (max(s - step, step - e, 0), abs(step - (s + e) / 2), s, e)

    return min(ranges, key=key)


def score_stop(step: int, ranges: Sequence[Range]) -> StopScore:
    """Hit and relative centre error of stop step ``step`` against one annotator's ranges."""
    s, e = reference_range(step, ranges)
    center = (s + e) / 2
    hit = any(a <= step <= b for a, b in ranges)
    return StopScore(int(step), hit, abs(step - center) / max(e - s, 1), (s, e), center, (s + e) // 2)


# -- a bundle opened for evaluation ----------------------------------------------------------------
class EvalPhoto:
    """A trajectory with its series in memory, cached frames and a fast exact image-norm distance."""

    def __init__(self, traj: Trajectory) -> None:
        self.traj = traj
        self.bundle_id = traj.run_id
        self.name = traj.path.name if traj.path is not None else self.bundle_id
        self.num_steps = len(traj)
        self.series: dict[str, np.ndarray] = traj.series_map()
        self._frames: dict[int, np.ndarray] = {}
        self._distances: dict[tuple[int, int], float] = {}
        work = traj.input_image.shape[:2]
        cells = cell_index_map(traj.frame_size, work)
        # every working pixel shows one cell, so ||x_a - x_b||^2 = sum over cells of
        # (pixels per cell) * ||palette[a] - palette[b]||^2: the metrics' distance, 16x cheaper at 64 -> 256
        self._cell_weight = np.bincount(cells.ravel(), minlength=traj.frame_size[0] * traj.frame_size[1])
        pal = np.asarray(traj.palette, np.float32) / np.float32(255.0)
        self._colour_sq = np.square(pal[:, None, :] - pal[None, :, :]).sum(-1).astype(np.float64)

    def frame(self, step: int) -> np.ndarray:
        """Palette indices of a step (cached: evaluation asks for the same steps many times)."""
        if step not in self._frames:
            self._frames[step] = self.traj.frame(step)
        return self._frames[step]

    def rgb(self, step: int) -> np.ndarray:
        """The pixel art of a step, (H, W, 3) uint8."""
        return np.asarray(self.traj.palette)[self.frame(step)]

    def distance(self, a: int, b: int) -> float:
        """||x_a - x_b||_2 at the working resolution in RGB [0, 1] (equals metrics.l2_distance of
        metrics.art_at_working of both frames)."""
        a, b = int(a), int(b)
        if a == b:
            return 0.0
        key = (a, b) if a < b else (b, a)
        if key not in self._distances:
            fa, fb = self.frame(a).ravel(), self.frame(b).ravel()
            self._distances[key] = float(np.sqrt(np.dot(self._cell_weight, self._colour_sq[fa, fb])))
        return self._distances[key]

    def ensure_part_series(self, part_map: PartMap | None = None) -> bool:
        """Give the photo the important parts' series when it was recorded without them (none, or only
        parts such as hair or background): from ``part_map`` or the stored mask."""
        if part_rates(self.series):
            return True
        part_map = part_map or PartMap.from_trajectory(self.traj)
        if part_map is None:
            return False
        self.series.update(part_series(self.traj, part_map))
        return bool(part_rates(self.series))

    def missing_for(self, strategy: StoppingStrategy) -> str | None:
        """Why a strategy cannot be scored on this photo, or None when it can."""
        missing = strategy.missing(self.series)
        return f"not recorded: {', '.join(missing)}" if missing else None


class OpenedPhotos(list):
    """``open_photos``'s list of photos, with a "name: why" line for every bundle of the folder it skipped."""

    def __init__(self, photos: Iterable[EvalPhoto] = (), skipped: Sequence[str] = ()) -> None:
        super().__init__(photos)
        self.skipped = list(skipped)


def open_photos(source: str | os.PathLike | Iterable[str | os.PathLike | Trajectory]) -> OpenedPhotos:
    """Bundles for evaluation: a folder, paths, or opened trajectories.

    A folder is opened leniently (``scan_bundles``): damaged or empty bundles and second copies of a
    run are left out and named in ``skipped`` (``evaluate`` puts them in its notes). Paths and
    trajectories are taken as given: a damaged one, or two of the same run, is an error.
    """
    if isinstance(source, (str, os.PathLike)):
        scan = scan_bundles(source)
        if not scan.trajectories:
            raise BundleError(f"no bundle in {scan.folder} could be opened: " + "; ".join(scan.skipped[:3])
                              + (" …" if len(scan.skipped) > 3 else ""))
        return OpenedPhotos((EvalPhoto(t) for t in scan.trajectories), scan.skipped)
    photos = OpenedPhotos(EvalPhoto(p if isinstance(p, Trajectory) else Trajectory.load(p)) for p in source)
    seen: dict[str, str] = {}
    for p in photos:
        if p.bundle_id in seen:
            raise BundleError(f"{p.name} and {seen[p.bundle_id]} are the same run (run id {p.bundle_id[:8]}…)")
        seen[p.bundle_id] = p.name
    return photos


# -- several annotators -----------------------------------------------------------------------------
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


# -- references: what a strategy is scored against -------------------------------------------------
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
    notes: list[str] = []
    per: dict[str, dict[str, list[Range]]] = {}
    unknown: set[str] = set()
    for lab in labels:
        if annotators and lab.annotator not in annotators:
            continue
        photo = by_id.get(lab.bundle_id)
        if photo is None:
            unknown.add(lab.bundle or lab.bundle_id)
            continue
        if lab.end > photo.num_steps - 1 or lab.start < 0 or lab.start > lab.end:
            notes.append(f"{lab.annotator}'s range {lab.start}..{lab.end} on {photo.name} is outside its steps "
                         f"0..{photo.num_steps - 1}: ignored")
            continue
        per.setdefault(lab.annotator, {}).setdefault(lab.bundle_id, []).append((lab.start, lab.end))
    if unknown:
        notes.append(f"labels of {len(unknown)} bundle(s) not in the bundle folder were ignored: "
                     + ", ".join(sorted(unknown)[:5]) + (" …" if len(unknown) > 5 else ""))
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


# -- sweeps and the choice of a parameter ----------------------------------------------------------
@dataclass
class StrategyScores:
    """One strategy over a parameter grid on one reference's photos: (params x photos) matrices."""

    strategy: str
    label: str
    param_name: str | None
    params: list[float | None]
    photos: list[EvalPhoto]
    steps: np.ndarray  # (P, N) int
    fired: np.ndarray  # (P, N) bool
    hit: np.ndarray  # (P, N) bool
    center_error: np.ndarray  # (P, N)
    norm_error: np.ndarray  # (P, N)
    ref_range: np.ndarray  # (P, N, 2)
    center_step: np.ndarray  # (P, N)
    fixed: bool = False  # the parameter was given, not chosen

    def means(self, columns: np.ndarray | slice = slice(None)) -> dict[str, np.ndarray]:
        """Per parameter: hit rate, mean relative centre error, mean image norm error."""
        return {
            "hit_rate": self.hit[:, columns].mean(1),
            "rel_center_error": self.center_error[:, columns].mean(1),
            "image_norm_error": self.norm_error[:, columns].mean(1),
        }

    def best(self, columns: np.ndarray | slice = slice(None)) -> int:
        """Index of the best parameter on these photos (the module doc's criterion)."""
        m = self.means(columns)
        order = np.lexsort((
            np.arange(len(self.params)),
            np.round(m["image_norm_error"], 9),
            np.round(m["rel_center_error"], 9),
            -np.round(m["hit_rate"], 9),
        ))
        return int(order[0])

    def leave_one_out(self) -> "LooResult":
        """Choose on N-1 photos, score on the held-out one, for every photo."""
        n = len(self.photos)
        chosen = np.full(n, -1)
        if n >= 2:
            for i in range(n):
                chosen[i] = self.best(np.delete(np.arange(n), i))
        else:
            chosen[:] = self.best()  # one photo: nothing to hold out against (noted in the table)
        cols = np.arange(n)
        return LooResult(
            params=[self.params[j] for j in chosen],
            steps=self.steps[chosen, cols],
            hit=self.hit[chosen, cols],
            center_error=self.center_error[chosen, cols],
            norm_error=self.norm_error[chosen, cols],
            honest=n >= 2 and len(self.params) > 1 and not self.fixed,
        )


@dataclass
class LooResult:
    """Leave-one-out: per held-out photo, the parameter chosen on the others and its scores there."""

    params: list[float | None]
    steps: np.ndarray
    hit: np.ndarray
    center_error: np.ndarray
    norm_error: np.ndarray
    honest: bool  # False when nothing was chosen (a given or no parameter, or one photo)

    def means(self) -> dict[str, float]:
        return {
            "hit_rate": float(self.hit.mean()),
            "rel_center_error": float(self.center_error.mean()),
            "image_norm_error": float(self.norm_error.mean()),
        }

    def param_summary(self) -> str:
        """e.g. '0.2 ×28, 0.25 ×2'."""
        counts: dict[Any, int] = {}
        for p in self.params:
            counts[p] = counts.get(p, 0) + 1
        return ", ".join(f"{_fmt(p)} ×{c}" for p, c in sorted(counts.items(), key=lambda kv: -kv[1]))


def param_grid(
    strategy: StoppingStrategy, photos: Sequence[EvalPhoto], points: int = DEFAULT_POINTS
) -> list[float | None]:
    """The parameter values to sweep (Fig. 2); a strategy without a parameter gets its one value."""
    grid = strategy.sweep_grid([p.series for p in photos], points)
    return [float(v) for v in grid] if len(grid) else [strategy.param]


def stop_matrix(
    strategy: StoppingStrategy, params: Sequence[float | None], photos: Sequence[EvalPhoto]
) -> tuple[np.ndarray, np.ndarray]:
    """(P, N) stop steps and whether the criterion fired (else the run's last step is used)."""
    steps = np.zeros((len(params), len(photos)), int)
    fired = np.zeros((len(params), len(photos)), bool)
    for i, param in enumerate(params):
        s = strategy.with_param(param)
        for j, photo in enumerate(photos):
            d = s.decide(photo.series)
            steps[i, j], fired[i, j] = d.step, d.fired
    return steps, fired


def score_matrix(
    strategy: StoppingStrategy, params: Sequence[float | None], photos: Sequence[EvalPhoto],
    ranges: Mapping[str, Sequence[Range]], steps: np.ndarray, fired: np.ndarray, *, fixed: bool = False,
) -> StrategyScores:
    """Hit, centre error and image norm error of every (parameter, photo) stop."""
    shape = steps.shape
    hit, ce, ne = np.zeros(shape, bool), np.zeros(shape), np.zeros(shape)
    ref, cstep = np.zeros((*shape, 2), int), np.zeros(shape, int)
    for j, photo in enumerate(photos):
        for i in range(shape[0]):
            sc = score_stop(int(steps[i, j]), ranges[photo.bundle_id])
            hit[i, j], ce[i, j], ref[i, j], cstep[i, j] = sc.hit, sc.center_error, sc.range, sc.center_step
            ne[i, j] = photo.distance(sc.step, sc.center_step)
    return StrategyScores(strategy.name, strategy.label, strategy.param_name, list(params), list(photos),
                          steps, fired, hit, ce, ne, ref, cstep, fixed)


# -- the whole evaluation ---------------------------------------------------------------------------
@dataclass
class StrategyResult:
    """A strategy on one reference: scores over its grid, the in-sample best and leave-one-out."""

    scores: StrategyScores
    best: int
    loo: LooResult
    skipped: list[str] = field(default_factory=list)  # photos it could not be scored on, with why

    @property
    def name(self) -> str:
        return self.scores.strategy

    @property
    def best_param(self) -> float | None:
        return self.scores.params[self.best]

    def row(self) -> dict[str, Any]:
        """The Table 1 row: in-sample best parameter and its means, and the leave-one-out means."""
        m = {k: float(v[self.best]) for k, v in self.scores.means().items()}
        loo = self.loo.means()
        return {
            "strategy": self.name, "label": self.scores.label, "param_name": self.scores.param_name or "",
            "param": self.best_param, "chosen": "given" if self.scores.fixed else "in-sample best",
            "n_photos": len(self.scores.photos), **m,
            "loo_hit_rate": loo["hit_rate"], "loo_rel_center_error": loo["rel_center_error"],
            "loo_image_norm_error": loo["image_norm_error"], "loo_params": self.loo.param_summary(),
            "loo_honest": self.loo.honest,
        }

    def per_photo(self) -> list["PhotoStop"]:
        """The breakdown at the in-sample best parameter, with the leave-one-out stop beside it."""
        s, i = self.scores, self.best
        return [
            PhotoStop(
                photo=p, strategy=self.name, param=s.params[i], step=int(s.steps[i, j]), fired=bool(s.fired[i, j]),
                hit=bool(s.hit[i, j]), center_error=float(s.center_error[i, j]), norm_error=float(s.norm_error[i, j]),
                range=(int(s.ref_range[i, j, 0]), int(s.ref_range[i, j, 1])), center_step=int(s.center_step[i, j]),
                loo_param=self.loo.params[j], loo_step=int(self.loo.steps[j]), loo_hit=bool(self.loo.hit[j]),
            )
            for j, p in enumerate(s.photos)
        ]


@dataclass
class PhotoStop:
    """One photo under one strategy: where it stopped, the reference range, and both frames."""

    photo: EvalPhoto
    strategy: str
    param: float | None
    step: int
    fired: bool
    hit: bool
    center_error: float
    norm_error: float
    range: Range
    center_step: int
    loo_param: float | None
    loo_step: int
    loo_hit: bool

    @property
    def stopped_rgb(self) -> np.ndarray:
        """x_t̂ as (H, W, 3) uint8."""
        return self.photo.rgb(self.step)

    @property
    def center_rgb(self) -> np.ndarray:
        """x_c (frame at the reference range's centre) as (H, W, 3) uint8."""
        return self.photo.rgb(self.center_step)

    def row(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy, "param": self.param, "bundle": self.photo.name,
            "bundle_id": self.photo.bundle_id,
            "step": self.step, "fired": self.fired, "hit": self.hit, "rel_center_error": self.center_error,
            "image_norm_error": self.norm_error, "range_start": self.range[0], "range_end": self.range[1],
            "center_step": self.center_step, "loo_param": self.loo_param, "loo_step": self.loo_step,
            "loo_hit": self.loo_hit,
        }


@dataclass
class ReferenceResult:
    """Every strategy scored against one reference."""

    reference: Reference
    photos: list[EvalPhoto]  # the labeled photos of this reference
    strategies: list[StrategyResult]
    skipped: dict[str, str] = field(default_factory=dict)  # strategy -> why it was not scored

    @property
    def name(self) -> str:
        return self.reference.name

    def table(self) -> list[dict[str, Any]]:
        """Table 1: one row per strategy."""
        return [r.row() for r in self.strategies]

    def centers(self) -> list[dict[str, Any]]:
        """Fig. 3 data: every labeled range with its centre step."""
        rows = []
        for p in self.photos:
            for s, e in self.reference.ranges[p.bundle_id]:
                rows.append({"bundle": p.name, "bundle_id": p.bundle_id, "start": s, "end": e, "center": (s + e) / 2})
        return rows

    def result(self, strategy: str) -> StrategyResult:
        for r in self.strategies:
            if r.name == strategy:
                return r
        raise KeyError(strategy)


@dataclass
class Evaluation:
    """Everything ``evaluate`` found: results per reference, agreement, notes."""

    references: list[ReferenceResult]
    agreement: Agreement | None
    notes: list[str]

    def reference(self, name: str) -> ReferenceResult:
        for r in self.references:
            if r.name == name:
                return r
        raise KeyError(name)

    def write_csvs(self, folder: str | os.PathLike) -> list[Path]:
        """table1.csv, sweeps.csv, per_photo.csv, loo.csv, centers.csv (+ agreement.csv), atomically."""
        folder = Path(folder)
        table, sweeps, per_photo, loo, centers = [], [], [], [], []
        for ref in self.references:
            for res in ref.strategies:
                table.append({"reference": ref.name, **res.row()})
                means = res.scores.means()
                for i, param in enumerate(res.scores.params):
                    sweeps.append({"reference": ref.name, "strategy": res.name, "param": param,
                                   "n_photos": len(res.scores.photos), **{k: float(v[i]) for k, v in means.items()}})
                for stop in res.per_photo():
                    per_photo.append({"reference": ref.name, **stop.row()})
                for j, p in enumerate(res.scores.photos):
                    loo.append({"reference": ref.name, "strategy": res.name, "held_out": p.name,
                                "chosen_param": res.loo.params[j], "step": int(res.loo.steps[j]),
                                "hit": bool(res.loo.hit[j]), "rel_center_error": float(res.loo.center_error[j]),
                                "image_norm_error": float(res.loo.norm_error[j])})
            centers += [{"reference": ref.name, **c} for c in ref.centers()]
        written = [
            write_csv(folder / "table1.csv", table), write_csv(folder / "sweeps.csv", sweeps),
            write_csv(folder / "per_photo.csv", per_photo), write_csv(folder / "loo.csv", loo),
            write_csv(folder / "centers.csv", centers),
        ]
        if self.agreement is not None:
            rows = [{"bundle": r["bundle"], "bundle_id": r["bundle_id"], "annotators": " ".join(r["annotators"]),
                     "mean_iou": r["mean_iou"]} for r in self.agreement.per_photo]
            rows += [{"bundle": "(all photos)", "bundle_id": "", "annotators": f"{a} {b}", "mean_iou": v}
                     for (a, b), v in self.agreement.pairwise.items()]
            written.append(write_csv(folder / "agreement.csv", rows))
        return written


def parse_strategies(spec: Sequence[str | tuple[str, float | None]] | None) -> list[tuple[str, float | None]]:
    """['norm_rate', 'fixed_step=1000', ('clip_max', None)] -> [(name, param or None = sweep)]."""
    if not spec:
        return [(name, None) for name in STRATEGIES]
    out = []
    for item in spec:
        if isinstance(item, tuple):
            name, param = item
            make_strategy(name, param)  # unknown names fail here, with the list of known ones
            out.append((name, None if param is None else float(param)))
        else:
            out.append(parse_strategy_spec(str(item)))
    return out


def evaluate(
    photos: Sequence[EvalPhoto] | str | os.PathLike,
    labels: Sequence[Label],
    strategies: Sequence[str | tuple[str, float | None]] | None = None,
    *,
    points: int = DEFAULT_POINTS,
    annotators: Sequence[str] | None = None,
    consensus: str = "majority",
    part_masks: Mapping[str, PartMap] | None = None,
) -> Evaluation:
    """Score strategies (name = sweep its parameter, name=value = that value) against the labels.

    ``photos`` are opened bundles (``open_photos``) or a bundle folder; ``part_masks`` maps a bundle
    id to a label map for bundles recorded without part series or mask.
    """
    if isinstance(photos, (str, os.PathLike)):
        photos = open_photos(photos)
    if consensus not in CONSENSUS_RULES:
        raise ConfigError(f"unknown consensus rule '{consensus}'; choose from {', '.join(CONSENSUS_RULES)}")
    wanted = parse_strategies(strategies)
    refs, agree, notes = build_references(labels, photos, annotators=annotators, consensus=consensus)
    notes[:0] = [f"bundle left out: {line}" for line in getattr(photos, "skipped", ())]
    if not refs:
        raise ConfigError("no labels match these bundles: label some ranges first (or check the labels file)")
    labeled = {b for r in refs for b in r.ranges}
    pool = [p for p in photos if p.bundle_id in labeled]
    if any(STRATEGIES[n].reads_parts for n, _ in wanted):
        for p in pool:
            p.ensure_part_series((part_masks or {}).get(p.bundle_id))
    # decisions depend on the series only: compute once per strategy, share across references
    decided: dict[tuple[str, float | None], tuple[list, list[EvalPhoto], np.ndarray, np.ndarray]] = {}
    skipped: dict[tuple[str, float | None], list[tuple[EvalPhoto, str]]] = {}
    for name, param in wanted:
        strategy = make_strategy(name, param)
        why = {p.bundle_id: p.missing_for(strategy) for p in pool}
        usable = [p for p in pool if why[p.bundle_id] is None]
        skipped[(name, param)] = [(p, why[p.bundle_id]) for p in pool if why[p.bundle_id] is not None]
        if not usable:
            continue
        params = [param] if param is not None else param_grid(strategy, usable, points)
        steps, fired = stop_matrix(strategy, params, usable)
        decided[(name, param)] = (params, usable, steps, fired)
    results = []
    for ref in refs:
        ref_photos = [p for p in pool if p.bundle_id in ref.ranges]
        res = ReferenceResult(ref, ref_photos, [])
        for name, param in wanted:
            if (name, param) not in decided:
                res.skipped[name] = _reasons(skipped[(name, param)]) or "no photos"
                continue
            params, usable, steps, fired = decided[(name, param)]
            cols = [j for j, p in enumerate(usable) if p.bundle_id in ref.ranges]
            if not cols:
                res.skipped[name] = "no labeled photo has the series it needs"
                continue
            scores = score_matrix(make_strategy(name, param), params, [usable[j] for j in cols], ref.ranges,
                                  steps[:, cols], fired[:, cols], fixed=param is not None)
            missing = [f"{p.name}: {w}" for p, w in skipped[(name, param)] if p.bundle_id in ref.ranges]
            res.strategies.append(StrategyResult(scores, scores.best(), scores.leave_one_out(), missing))
        results.append(res)
    for (name, _), left_out in skipped.items():
        if left_out:
            p, w = left_out[0]
            more = " …" if len(left_out) > 1 else ""
            notes.append(f"{name}: {len(left_out)} photo(s) left out ({p.name}: {w}{more})")
    return Evaluation(results, agree, notes)


# -- plain data out ---------------------------------------------------------------------------------
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


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Rows of dicts as CSV (columns in first-seen order), written atomically."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns or ["empty"])
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _cell(v) for k, v in row.items()})
    return path


def _reasons(left_out: Sequence[tuple[EvalPhoto, str]]) -> str:
    """'3 photos: not recorded: clip' (grouped by reason)."""
    counts: dict[str, int] = {}
    for _, why in left_out:
        counts[why] = counts.get(why, 0) + 1
    return "; ".join(f"{n} photo{'s' if n > 1 else ''}: {why}" for why, n in counts.items())


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def format_table(result: ReferenceResult) -> str:
    """Table 1 as fixed-width text, with the leave-one-out columns beside the in-sample ones."""
    head = (f"{'strategy':<16}{'param':>10}{'hit':>7}{'rel.ctr':>9}{'img.norm':>10}"
            f"   {'LOO hit':>7}{'rel.ctr':>9}{'img.norm':>10}  LOO params")
    lines = [f"reference: {result.name} ({len(result.photos)} photos)", head, "-" * len(head)]
    for r in result.table():
        mark = "" if r["loo_honest"] else " (nothing chosen)"
        lines.append(
            f"{r['strategy']:<16}{_fmt(r['param']):>10}{r['hit_rate']:>7.3f}{r['rel_center_error']:>9.3f}"
            f"{r['image_norm_error']:>10.3f}   {r['loo_hit_rate']:>7.3f}{r['loo_rel_center_error']:>9.3f}"
            f"{r['loo_image_norm_error']:>10.3f}  {r['loo_params']}{mark}"
        )
    for name, why in result.skipped.items():
        lines.append(f"{name:<16}  not scored: {why}")
    return "\n".join(lines)


__all__ = [
    "SEED_STRATEGIES", "StopScore", "reference_range", "score_stop", "EvalPhoto", "OpenedPhotos", "open_photos",
    "range_iou",
    "consensus_ranges", "Agreement", "agreement", "Reference", "build_references", "StrategyScores", "LooResult",
    "param_grid", "stop_matrix", "score_matrix", "StrategyResult", "PhotoStop", "ReferenceResult", "Evaluation",
    "parse_strategies", "evaluate", "center_histogram", "write_csv", "format_table",
]
