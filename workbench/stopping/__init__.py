"""Stopping strategies: generic rules over named series (``rules``), their shared contract (``base``),
and ``StrategySet``, the strategies one back end offers, chosen by name.

A back end builds its set from the generic rules (subclassed with its series and defaults) plus its
own strategies; its CLI's ``--stop-on``, the app's dropdown and markers, and the evaluation all read
that set, so none of them has per-back-end code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from workbench.errors import ConfigError
from workbench.stopping.base import Series, StopDecision, StoppingStrategy
from workbench.stopping.rules import DEFAULT_PATIENCE


@dataclass(frozen=True)
class Outcome:
    """One strategy on one recording: its decision, or the series it lacks."""

    name: str
    param: float | None
    decision: StopDecision | None  # None: not recorded, or (live) not fired yet
    missing: list[str] = field(default_factory=list)


class StrategySet:
    """The stopping strategies of one back end, by name, in display order."""

    def __init__(self, strategies: Sequence[type[StoppingStrategy]]) -> None:
        self.classes: dict[str, type[StoppingStrategy]] = {cls.name: cls for cls in strategies}

    def __contains__(self, name: object) -> bool:
        return name in self.classes

    def __iter__(self):
        return iter(self.classes)

    def names(self) -> list[str]:
        """Every strategy's name, in display order."""
        return list(self.classes)

    def make(self, name: str, param: float | None = None, **options) -> StoppingStrategy:
        """Instantiate a strategy by name (unknown names get a message listing the known ones)."""
        try:
            cls = self.classes[name]
        except KeyError:
            raise ConfigError(f"unknown stopping strategy '{name}'; choose from: {', '.join(self.classes)}") from None
        unknown = [k for k in options if k not in cls.options]
        if unknown and not cls.options:
            raise ConfigError(f"strategy '{name}' takes no options ({', '.join(options)})")
        if unknown:
            raise ConfigError(f"strategy '{name}' takes the options {', '.join(cls.options)}, not {', '.join(unknown)}")
        return cls(param, **options)

    def parse_spec(self, text: str) -> tuple[str, float | None]:
        """'norm_rate' or 'norm_rate=0.3' -> (name, param); the name is checked against the set."""
        name, _, value = text.partition("=")
        name = name.strip()
        if name not in self.classes:
            raise ConfigError(f"unknown stopping strategy '{name}'; choose from: {', '.join(self.classes)}")
        try:
            param = float(value) if value.strip() else None
        except ValueError:
            raise ConfigError(f"'{text}': the value after '=' must be a number") from None
        if param is not None and not math.isfinite(param):
            raise ConfigError(f"'{text}': the value after '=' must be a finite number, not {value.strip()}")
        return name, param

    def live(self, name: str, param: float | None = None, patience: int = DEFAULT_PATIENCE) -> StoppingStrategy:
        """A strategy as a live run uses it (with ``patience`` where it takes one)."""
        cls = self.classes.get(name)
        options = {"patience": patience} if cls is not None and "patience" in cls.options else {}
        return self.make(name, param, **options)

    def live_options(self, patience: int = DEFAULT_PATIENCE) -> dict[str, dict]:
        """The options a live run gives its strategies (the maxima's patience)."""
        return {name: {"patience": patience} for name, cls in self.classes.items() if "patience" in cls.options}

    def decisions(
        self,
        series: Series,
        wanted: Iterable[tuple[str, float | None]] | None = None,
        *,
        final: bool = True,
        options: Mapping[str, dict] | None = None,
    ) -> list[Outcome]:
        """Where each strategy stops on a recording: the one loop behind a CLI's ``stops`` command, the
        app's chart markers and its "jump to the step" button.

        ``final=True`` decides on a finished recording (a strategy that never fired stops at the last
        step); ``final=False`` answers as the strategy would live, mid-run (None until it fires), with
        the live options (patience) unless ``options`` gives others.
        """
        if options is None and not final:
            options = self.live_options()
        outcomes = []
        for name, param in wanted if wanted is not None else [(n, None) for n in self.classes]:
            strategy = self.make(name, param, **(options or {}).get(name, {}))
            missing = strategy.missing(series)
            if missing:
                decision = None
            elif final:
                decision = strategy.decide(series)
            else:
                decision = strategy.check(series, final=False)
            outcomes.append(Outcome(name, strategy.param, decision, missing))
        return outcomes

    def choices(self) -> list[tuple[str, str]]:
        """(label, name) pairs for a dropdown."""
        return [(cls.label, name) for name, cls in self.classes.items()]

    def parameter_label(self, name: str) -> str:
        """How a parameter field is labelled for a strategy, with its default."""
        cls = self.classes[name]
        if cls.param_name is None:
            return f"{cls.label}: no parameter"
        return f"{cls.param_name} (blank = default {cls.default:g})"


def stop_reason(decision: StopDecision | None, last_step: int) -> str:
    """One line on where a run's result comes from."""
    if decision is None:
        return f"last step {last_step}"
    return f"{decision.strategy} stopped at step {decision.step} ({decision.reason})"


__all__ = ["DEFAULT_PATIENCE", "Outcome", "Series", "StopDecision", "StoppingStrategy", "StrategySet", "stop_reason"]
