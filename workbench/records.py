"""What a run yields: picklable records, so a run can go on in another process (ZeroGPU's worker).

A run is any iterable that yields one ``RunStart`` and then one ``StepRecord`` per step. Records carry
only plain data (numpy arrays, numbers, strings, dicts of them): no model, no trajectory, no callable.
The app process turns them into a ``Trajectory`` (``workbench.loop.Recorder``), so the same run works
in the app's own process, in a ZeroGPU worker and from the CLI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Protocol, Sequence, Union

import numpy as np

PALETTE, RGB = "palette", "rgb"  # the two kinds of frames


@dataclass(frozen=True)
class Curve:
    """One named scalar series a run records, and how the chart and the caption show it.

    Curves with the same ``panel`` share a chart row; ``right`` puts a curve on that row's right axis.
    ``caption`` curves appear in the step caption, formatted with ``fmt``.
    """

    name: str
    label: str  # legend text (HTML allowed: <sub>, <sup>)
    panel: int = 0
    axis_title: str = ""  # the row's (or right axis') title; the first curve with one names the axis
    units: str = ""
    right: bool = False
    colour: str | None = None
    dash: str = "solid"
    caption: bool = True
    fmt: str = "{:.4g}"
    caption_label: str = ""  # the caption's name for it (default: the legend label)
    log: bool = False  # a log-scale axis (losses)

    def format(self, value: float) -> str:
        """The caption's text for one value ('…' while it is not computed yet)."""
        return self.fmt.format(value) if math.isfinite(value) else "…"

    def to_dict(self) -> dict[str, Any]:
        """JSON form, stored in bundles so a reopened run draws its chart with no back end loaded."""
        return {k: v for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Curve":
        """Read a curve back from a bundle manifest (unknown keys are ignored)."""
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class RunStart:
    """The first record of a run: what the trajectory needs before any step.

    ``palette`` set: frames are palette indices (H, W) uint8; None: frames are RGB (H, W, 3) uint8.
    ``config`` is JSON-able and goes into the bundle's manifest (run id, model, prompt, versions, ...).
    ``record_every``: frames are kept every k-th step (and at the last); metrics at every step.
    """

    kind: str  # the back end, e.g. "pixelart", "nst", "sms", "councilgan"
    total: int  # planned steps (step 0 is the initial state)
    input_image: np.ndarray  # (H, W, 3) uint8: what the run's frames are compared with
    frame_size: tuple[int, int]
    curves: tuple[Curve, ...]
    config: dict[str, Any]
    palette: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    record_every: int = 1
    frame_label: str = "Result"  # the viewer's label of the frame image, e.g. "Pixel art"
    side_labels: dict[str, str] = field(default_factory=dict)  # side image key -> its viewer label (see StepRecord)

    @property
    def frame_kind(self) -> str:
        """PALETTE or RGB."""
        return PALETTE if self.palette is not None else RGB


@dataclass
class StepRecord:
    """One step of a run (step 0 is the initial state, before any update).

    ``frame`` is None on steps whose frame is not recorded (``record_every``). ``metrics`` holds this
    step's values (NaN or absent where not computed); ``backfill`` holds values computed late for
    earlier steps (e.g. similarities embedded in batches): name -> (steps, values).
    ``side_images``: key -> (h, w, 3) uint8 image shown beside the frame (e.g. SMS's refinement map R at
    the latent's resolution; viewers enlarge it to the frame size, nearest neighbour), on the steps that
    have them; the keys and their labels are declared in ``RunStart.side_labels``.
    """

    step: int
    total: int
    frame: np.ndarray | None
    metrics: dict[str, float]
    timings_ms: dict[str, float] = field(default_factory=dict)
    elapsed_s: float = 0.0
    backfill: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)
    status: str = ""  # a short line for the progress display, e.g. "L-BFGS, scale 2 of 3"
    side_images: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Flush:
    """Values a stopped run computed for earlier steps after its last step (its final batch)."""

    backfill: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)


class StopRun(Exception):
    """Raised into a run (``generator.throw``) to stop it between steps; a run that buffers work
    catches it, yields one ``Flush`` and returns."""


Item = Union[RunStart, StepRecord, Flush]


class Run(Protocol):
    """What every back end's run is: created from an input and a config (every option checked before
    any model loads, raising ``ConfigError`` with one line), then iterated for records."""

    def __iter__(self) -> Iterator[Item]: ...


def backfill_pairs(backfill: Mapping[str, tuple[Sequence[int], Sequence[float]]]) -> Iterable[tuple[str, int, float]]:
    """(name, step, value) for every late value of a record."""
    for name, (steps, values) in backfill.items():
        for step, value in zip(steps, values):
            yield name, int(step), float(value)
