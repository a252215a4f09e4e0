"""What an evaluation found: per reference, every strategy's scores, its in-sample best parameter and
leave-one-out, and the per-photo breakdown (Table 1's rows)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import ConfigError
from workbench.export import write_csv
from pixelart.evaluation.consensus import Agreement, Reference
from pixelart.evaluation.photos import EvalPhoto
from pixelart.evaluation.scoring import Range, StrategyScores
from pixelart.evaluation.sweeps import LooResult


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
        """One strategy's result; ConfigError naming the scored ones when it was not scored here."""
        for r in self.strategies:
            if r.name == strategy:
                return r
        scored = ", ".join(r.name for r in self.strategies) or "none"
        raise ConfigError(f"{strategy} was not scored against {self.name}; choose one of the scored ones: {scored}")


@dataclass
class Evaluation:
    """Everything ``evaluate`` found: results per reference, agreement, notes."""

    references: list[ReferenceResult]
    agreement: Agreement | None
    notes: list[str]

    def reference(self, name: str) -> ReferenceResult:
        """The results against one reference; ConfigError naming the references when there is no such one."""
        for r in self.references:
            if r.name == name:
                return r
        names = ", ".join(r.name for r in self.references) or "none"
        raise ConfigError(f"no reference named {name!r} in this evaluation; choose one of: {names}")

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

