"""Semantic maximum (seed 000 §3.2): stop where cos(E(x_t), E(x_input)) is largest.

Offline this is the argmax over the whole run, as in the seed. Online the maximum is only known in
hindsight, so the strategy fires once the best value so far is ``patience`` evaluated steps old and
stops at that best step (the frames after it are still recorded). ``patience=None`` never fires
online, which makes the online and offline answers identical on a finished run.
"""

from __future__ import annotations

import numpy as np

from pixelart.stopping.base import Series, StopDecision, StoppingStrategy

DEFAULT_PATIENCE = 500  # steps the best similarity must stay unbeaten before a live decision (CLI, app)


class SemanticMax(StoppingStrategy):
    encoder: str = ""
    needs = ()
    options = ("patience",)

    def __init__(self, param: float | None = None, *, patience: int | None = None) -> None:
        super().__init__(param)
        self.patience = patience

    def with_param(self, param: float | None) -> "SemanticMax":
        return type(self)(param, patience=self.patience)

    def check(self, series: Series, *, final: bool = False) -> StopDecision | None:
        values = np.asarray(series.get(self.encoder, []), dtype=np.float64)
        valid = np.flatnonzero(np.isfinite(values))
        if valid.size == 0:
            return None
        best = int(valid[np.argmax(values[valid])])
        reason = f"{self.label.split(' ')[0]} similarity peaks at {values[best]:.4f}"
        if final:
            return self._decision(best, reason)
        if self.patience is not None and valid[-1] - best >= self.patience:
            return self._decision(best, reason + f" (no gain for {self.patience} steps)")
        return None


class ClipMax(SemanticMax):
    name = "clip_max"
    label = "CLIP similarity maximum"
    encoder = "clip"
    needs = ("clip",)


class DinoMax(SemanticMax):
    name = "dino_max"
    label = "DINOv2 similarity maximum"
    encoder = "dino"
    needs = ("dino",)
