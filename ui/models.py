"""Which diffusion models the app offers, which are missing here, and how to get them.

Checked once at start-up from the local Hugging Face cache only (no network), so an offline start is
fast and never fails; a missing model stays selectable and a run with it says what to download.
"""

from __future__ import annotations

from dataclasses import dataclass

from pixelart.models.loading import missing_models
from workbench.errors import ConfigError
from pixelart.models.registry import CAPTIONER, DIFFUSION_MODELS, ENCODERS, DiffusionSpec

TINY_LABEL = "test model, random weights, images not meaningful"
_AUX = {name: spec.repo_id for name, spec in ENCODERS.items()} | {CAPTIONER.name: CAPTIONER.repo_id}


@dataclass(frozen=True)
class ModelRow:
    """One registry model and the hub ids it still lacks here (empty: ready)."""

    name: str
    spec: DiffusionSpec
    missing: tuple[str, ...]

    @property
    def label(self) -> str:
        """The dropdown text: tiny models say they are test models, missing ones how to get them."""
        if self.spec.tiny:
            return f"{self.name} — {TINY_LABEL}"
        if self.missing:
            return f"{self.name} — not downloaded (get it with: python -m pixelart download {self.name})"
        return f"{self.name} — {self.spec.description}"


@dataclass(frozen=True)
class ModelStatus:
    """The start-up check: every diffusion model and the helper models (CLIP, DINOv2, captioner)."""

    rows: tuple[ModelRow, ...]
    aux_missing: dict[str, list[str]]

    @property
    def choices(self) -> list[tuple[str, str]]:
        """(label, name) pairs for a dropdown, the usable models first."""
        return [(row.label, row.name) for row in sorted(self.rows, key=lambda r: bool(r.missing))]

    def check_ready(self, name: str) -> None:
        """Refuse a model that is not downloaded here, at once (before the run queue), saying what is
        missing and how to get it; a browser user is pointed to the tiny test models."""
        if name not in DIFFUSION_MODELS:
            return  # the engine's own check names an unknown model
        missing = missing_models([name]).get(name)  # looked up again: the cache may have changed since start-up
        if missing:
            raise ConfigError(
                f"model {name} is not downloaded here (missing {', '.join(missing)}): get it with "
                f"`python -m pixelart download {name}` on a machine with internet and copy the Hugging Face "
                "cache here, or choose a tiny test model to try without weights")

    @property
    def default(self) -> str:
        """The first real model that is ready, else the first tiny one (offline, nothing is cached)."""
        ready = [r.name for r in self.rows if not r.spec.tiny and not r.missing]
        return ready[0] if ready else next(r.name for r in self.rows if r.spec.tiny)

    @property
    def usable(self) -> bool:
        """Whether some diffusion model can run here (a tiny test model always can)."""
        return any(not r.missing for r in self.rows)

    @property
    def anything_missing(self) -> bool:
        """Whether some model or helper model is not here (the app then shows how to get it)."""
        return bool(self.aux_missing) or any(r.missing for r in self.rows)

    def markdown(self) -> str:
        """What is ready, what is missing and the commands that fetch it."""
        ready = [r.name for r in self.rows if not r.spec.tiny and not r.missing]
        missing = [r for r in self.rows if r.missing]
        lines = []
        if ready:
            lines.append(f"**Models ready:** {', '.join(ready)}.")
        if missing:
            items = [f"- `{r.name}`: {', '.join(f'`{m}`' for m in r.missing)}" for r in missing]
            lines.append("\n".join(["**Missing here** (not in the local Hugging Face cache):", *items]))
        if self.aux_missing:
            aux = ", ".join(f"{name} (`{ids[0]}`)" for name, ids in self.aux_missing.items())
            lines.append(f"**Helper models missing:** {aux}; real-model runs need them for CLIP / DINOv2 "
                         "curves and for the `auto` prompt.")
        if missing or self.aux_missing:
            lines.append(
                "To get them, on a machine with internet run `python -m pixelart download MODEL --with-encoders` "
                "(or `hf download REPO_ID`) and copy the Hugging Face cache (`HF_HOME`) here, then restart the app."
            )
        tiny = [r.name for r in self.rows if r.spec.tiny]
        lines.append(f"**Test models** ({', '.join(tiny)}) work offline: {TINY_LABEL}.")
        return "\n\n".join(lines)


def check_models() -> ModelStatus:
    """Look the registry's models up in the local cache (file checks only)."""
    missing = missing_models(list(DIFFUSION_MODELS))
    rows = tuple(ModelRow(name, spec, tuple(missing.get(name, ()))) for name, spec in DIFFUSION_MODELS.items())
    return ModelStatus(rows=rows, aux_missing=missing_models(list(_AUX)))
