"""Per-stage wall-clock timing of a step, synchronising CUDA so GPU work is charged to its stage."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

import torch


class StepTimer:
    """Accumulates milliseconds per named section; ``reset`` starts a new step."""

    def __init__(self, device: torch.device | str = "cpu", enabled: bool = True) -> None:
        self.cuda = torch.device(device).type == "cuda"
        self.enabled = enabled
        self.ms: dict[str, float] = {}

    def reset(self) -> None:
        """Forget the previous step's times."""
        self.ms = {}

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        """Time the body of a ``with`` block under ``name``."""
        if not self.enabled:
            yield
            return
        if self.cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.cuda:
                torch.cuda.synchronize()
            self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - start) * 1000.0


NULL_TIMER = StepTimer(enabled=False)
