"""The one run loop: a run's records become a trajectory, stop rules and stop requests end it, and
what it made is saved.

The CLI of every back end, the batch runner and the app all drive runs through ``RunLoop``; they
differ only in what they do with each record (a progress bar, a browser update). The records may come
from the run itself or from another process (ZeroGPU's worker): the trajectory is always built here,
from picklable records.

A run is stopped by raising ``StopRun`` into it (``generator.throw``): a run that buffers work (e.g.
similarities embedded in batches) catches it, yields a last ``Flush`` record with those values and
returns. A run that does not catch it, or an iterator that is not a generator, is simply closed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from workbench.records import Item, RunStart, StepRecord, StopRun, backfill_pairs
from workbench.trajectory import Trajectory

if TYPE_CHECKING:
    from workbench.stopping import StopDecision, StoppingStrategy


@dataclass
class RunResult:
    """How a run ended: its trajectory, the stop rule's decision (if one fired), and whether it was
    interrupted (Ctrl-C) or stopped on request."""

    trajectory: Trajectory
    start: RunStart
    decision: "StopDecision | None" = None
    interrupted: bool = False
    stopped: bool = False
    last: StepRecord | None = None
    elapsed_s: float = 0.0

    @property
    def chosen_step(self) -> int:
        """The step the run's result is taken from: where the rule stopped, else the last step."""
        return self.decision.step if self.decision is not None else len(self.trajectory) - 1


class RunLoop:
    """Iterate a run's records, recording them; iterating the loop yields each record once recorded.

    ``strategy``: a stop rule checked after every step (only the series it reads are copied).
    ``should_stop``: asked after every step (the app's Stop button). ``out``: a bundle path, saved at
    the end (whatever the reason) and every ``save_every`` steps. Ctrl-C stops the run and keeps its
    steps. After iteration, ``result`` says how it ended.
    """

    def __init__(
        self,
        items: Iterable[Item],
        *,
        strategy: "StoppingStrategy | None" = None,
        should_stop: Callable[[], bool] | None = None,
        out: str | Path | None = None,
        save_every: int = 0,
    ) -> None:
        self.items = items
        self.strategy = strategy
        self.should_stop = should_stop or (lambda: False)
        self.out = Path(out) if out is not None else None
        self.save_every = save_every
        self.trajectory: Trajectory | None = None
        self.start: RunStart | None = None
        self.result: RunResult | None = None
        self._began = time.perf_counter()

    def record(self, item: Item) -> None:
        """Add one record to the trajectory (the first must be the run's ``RunStart``)."""
        if isinstance(item, RunStart):
            self.start, self.trajectory = item, Trajectory.from_start(item)
            return
        if self.trajectory is None:
            raise RuntimeError("a run must yield its RunStart before any step")
        if isinstance(item, StepRecord):
            self.trajectory.append(item.frame, item.metrics)
            if item.side_images:  # e.g. SMS's R map: kept for the CLI's bundles as for the app's
                self.trajectory.add_side_images(item.step, item.side_images)
        for name, step, value in backfill_pairs(item.backfill):
            self.trajectory.set_metric(name, step, value)

    def __iter__(self) -> Iterator[Item]:
        iterator = iter(self.items)
        decision, interrupted, stopped, last = None, False, False, None
        finished = False
        try:
            for item in iterator:
                self.record(item)
                if isinstance(item, StepRecord):
                    last = item
                yield item
                if not isinstance(item, StepRecord):
                    if self.should_stop():  # asked while the run was setting up
                        stopped = True
                        break
                    continue
                if self.strategy is not None:
                    traj = self.trajectory
                    decision = self.strategy.check({k: traj.series(k) for k in self.strategy.series_used(traj.series_names)})
                    if decision is not None:
                        break
                if self.should_stop():
                    stopped = True
                    break
                if self.out is not None and self.save_every and item.step and item.step % self.save_every == 0:
                    self.trajectory.save(self.out)
            else:
                finished = True
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if not finished:
                for item in stop_run(iterator):
                    self.record(item)
            else:
                _close(iterator)
        if self.trajectory is None or self.start is None:
            raise RuntimeError("the run ended before it started")
        traj = self.trajectory
        traj.config["stop"] = (
            {"strategy": decision.strategy, "param": decision.param, "step": decision.step, "reason": decision.reason}
            if decision is not None else None
        )
        traj.config["interrupted"] = interrupted
        if self.out is not None:
            traj.save(self.out)
        self.result = RunResult(traj, self.start, decision, interrupted, stopped, last,
                                time.perf_counter() - self._began)

    def run(self) -> RunResult:
        """Consume the whole run; returns how it ended."""
        for _ in self:
            pass
        assert self.result is not None
        return self.result


def stop_run(iterator: Iterator[Item]) -> list[Item]:
    """Stop a run between steps: raise ``StopRun`` into it and collect what it hands back (its last
    ``Flush``), then close it. Iterators that are not generators are only closed."""
    collected: list[Item] = []
    throw = getattr(iterator, "throw", None)
    if throw is not None:
        try:
            collected.append(throw(StopRun()))
            collected.extend(iterator)  # a run may hand back more than one record before returning
        except (StopRun, StopIteration):
            pass
        except RuntimeError as exc:  # "generator already executing" etc.: nothing more to collect
            if "generator" not in str(exc):
                raise
    _close(iterator)
    return collected


def _close(iterator: Any) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


def record_run(items: Iterable[Item], **options: Any) -> RunResult:
    """Run to the end (or to a stop) and return the result: ``RunLoop(items, **options).run()``."""
    return RunLoop(items, **options).run()
