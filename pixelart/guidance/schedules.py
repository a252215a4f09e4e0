"""Timestep-range schedules for score distillation: which noise levels t may be drawn at each step.

Ranges are fractions of the model's training timesteps. ``bounded_max`` is SD-piXL's default: the
upper bound falls linearly from ``t_max`` to ``t_bound_max`` over the first ``t_bound_reached`` of the
run and stays there, so late steps refine details instead of repainting the image.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.errors import ConfigError


@dataclass(frozen=True)
class TimestepRange:
    """Bounds of t as fractions of the training timesteps."""

    t_min: float = 0.02
    t_max: float = 0.98
    t_bound_max: float = 0.8
    t_bound_reached: float = 0.5


def uniform(step: int, total: int, r: TimestepRange) -> tuple[float, float]:
    """The same range at every step."""
    return r.t_min, r.t_max


def bounded_max(step: int, total: int, r: TimestepRange) -> tuple[float, float]:
    """Upper bound decays from t_max to t_bound_max by step t_bound_reached * total."""
    reached = r.t_bound_reached * total
    if reached <= 0 or step >= reached:
        return r.t_min, r.t_bound_max
    return r.t_min, r.t_max - (r.t_max - r.t_bound_max) * step / reached


SCHEDULES = {"bounded_max": bounded_max, "uniform": uniform}


def timestep_bounds(name: str, step: int, total: int, r: TimestepRange) -> tuple[float, float]:
    """Look a schedule up by name and evaluate it."""
    try:
        return SCHEDULES[name](step, total, r)
    except KeyError:
        raise ConfigError(f"unknown timestep schedule '{name}'; choose one of: {', '.join(SCHEDULES)}") from None
