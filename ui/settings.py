"""The run settings panel and its translation into the engine's ``RunConfig``.

The panel's components are kept by name, so an event passes their values in one known order and
``config_from_values`` receives them as keyword arguments. Range checks are the engine's
(``check_config``), whose messages name the field, so the number fields set no ``minimum`` of their own
(gradio would refuse such values with a message that does not say which field); this module only
turns form values (floats, empty fields) into typed options.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gradio as gr
import torch

from pixelart.baselines import INIT_METHODS
from pixelart.config import AUTO_PROMPT, DTYPES, GeneratorConfig, MetricsConfig, OptimConfig, RunConfig, SDSConfig
from workbench.errors import ConfigError
from pixelart.guidance.schedules import SCHEDULES
from workbench.images import FITS, OUT_SIDE_MAX, OUT_SIDE_MIN
from pixelart.models.registry import ENCODERS
from pixelart.palette import MAX_KMEANS_COLORS, MIN_KMEANS_COLORS
from workbench.palette import hex_codes, read_hex
from pixelart.run import check_config
from ui.models import ModelStatus

DEFAULT_STEPS = 1000  # a real model's first try (the seed runs 10,000)
TINY_STEPS = 60  # a tiny test model's first try: about 20 s on a 2-core CPU
# Seconds per step for the estimate next to Steps, per (tiny model?, device). Configured, not measured here:
# tiny on a 2-core CPU was timed at ~0.3 s (issue 12: 1,000 steps in about 5 minutes); the real-model
# figures are rough (a GPU SDS step with ControlNets; fp32 SD on a CPU) and say only the order of magnitude.
SECONDS_PER_STEP = {(True, "cpu"): 0.3, (True, "cuda"): 0.05, (False, "cpu"): 30.0, (False, "cuda"): 0.5}

# Settings that change the preview (the classical pixelization) as well as the run.
PREVIEW_KEYS = ("width", "height", "colors", "palette_file", "fit", "seed")


@dataclass
class SettingsPanel:
    """The settings components by name; ``inputs`` lists them in ``names`` order."""

    components: dict[str, gr.components.Component]

    @property
    def names(self) -> list[str]:
        return list(self.components)

    @property
    def inputs(self) -> list[gr.components.Component]:
        return list(self.components.values())

    def subset(self, names: tuple[str, ...]) -> list[gr.components.Component]:
        """Some of the components, in the order given."""
        return [self.components[n] for n in names]


def build_settings(models: ModelStatus) -> SettingsPanel:
    """The settings form: the main options, with the rest folded in an "Advanced" accordion."""
    base = RunConfig()
    c: dict[str, gr.components.Component] = {}
    with gr.Row():
        c["width"] = gr.Slider(OUT_SIDE_MIN, OUT_SIDE_MAX, value=base.size[1], step=1, label="Width (pixels)")
        c["height"] = gr.Slider(OUT_SIDE_MIN, OUT_SIDE_MAX, value=base.size[0], step=1, label="Height (pixels)")
    with gr.Row():
        c["colors"] = gr.Slider(MIN_KMEANS_COLORS, MAX_KMEANS_COLORS, value=base.colors, step=1,
                                label="Palette size (k-means on the photo)")
        c["palette_file"] = gr.File(label="…or a .hex palette file", type="filepath", height=90)
    c["prompt"] = gr.Textbox(value=AUTO_PROMPT, label="Prompt",
                             info="describe the photo, or 'auto' to caption it with BLIP")
    c["model"] = gr.Dropdown(models.choices, value=models.default, label="Model")
    first = default_steps(models, models.default)
    with gr.Row():
        c["steps"] = gr.Number(first, precision=0, label="Steps", info=steps_estimate(models, models.default, first))
        c["seed"] = gr.Number(base.seed, precision=0, label="Seed")
        c["guidance_scale"] = gr.Number(base.guidance.guidance_scale, label="Guidance scale")
    with gr.Accordion("Advanced settings", open=False):
        c["negative_prompt"] = gr.Textbox(value=base.negative_prompt, label="Negative prompt")
        with gr.Row():
            c["schedule"] = gr.Dropdown(list(SCHEDULES), value=base.guidance.schedule, label="Timestep schedule")
            c["lr"] = gr.Number(base.optim.lr, label="Learning rate")
            c["warmup_steps"] = gr.Number(base.optim.warmup_steps, precision=0, label="Warm-up steps")
        with gr.Row():
            c["semantic_every"] = gr.Number(base.metrics.semantic_every, precision=0,
                                            label="CLIP / DINOv2 every k steps")
            c["encoders"] = gr.CheckboxGroup([(e.label, n) for n, e in ENCODERS.items()],
                                             value=list(base.metrics.encoders), label="Similarity encoders")
        with gr.Row():
            c["fit"] = gr.Radio(list(FITS), value=base.fit, label="Fit the photo by",
                                info="crop keeps the centre; pad keeps head and feet")
            c["controlnets"] = gr.Checkbox(base.guidance.use_controlnets, label="ControlNets (canny + depth)")
            c["tiny_vae"] = gr.Checkbox(base.tiny_vae, label="TAESD encoder (SD-πXL's; off: the model's VAE)")
        with gr.Row():
            c["dtype"] = gr.Dropdown(list(DTYPES), value=base.dtype, label="Precision",
                                     info="fp32 is SD-πXL's; bf16 / fp16 are faster on a GPU")
            c["init_method"] = gr.Dropdown(list(INIT_METHODS), value=base.generator.init_method,
                                           label="Initial frame", info="sdpixl: SD-πXL's torch bilinear")
            c["negative_zeros"] = gr.Checkbox(base.guidance.negative_zeros,
                                              label="Empty negative prompt as zero embeddings (not SD-πXL's)")
    for name, component in c.items():  # stable handles for browser tests and custom CSS
        component.elem_id = f"px-{name.replace('_', '-')}"
    # a model's own first-try step count (unless the person typed their own), and the estimate next to Steps
    c["model"].change(lambda m, n: _model_steps(models, m, n), [c["model"], c["steps"]], [c["steps"]],
                      api_name=False, show_progress="hidden")
    c["steps"].change(lambda m, n: gr.update(info=steps_estimate(models, m, n)), [c["model"], c["steps"]],
                      [c["steps"]], api_name=False, show_progress="hidden")
    return SettingsPanel(c)


def _model_steps(models: ModelStatus, name: str, steps: Any) -> dict:
    """Steps for a newly chosen model: its default when Steps still holds a default, else as typed."""
    if steps in (TINY_STEPS, DEFAULT_STEPS):
        steps = default_steps(models, name)
    return gr.update(value=steps, info=steps_estimate(models, name, steps))


def _is_tiny(models: ModelStatus, name: str) -> bool:
    return any(r.spec.tiny for r in models.rows if r.name == name)


def default_steps(models: ModelStatus, name: str) -> int:
    """Steps that finish a first try in well under a minute with a tiny model; a real model's default."""
    return TINY_STEPS if _is_tiny(models, name) else DEFAULT_STEPS


def steps_estimate(models: ModelStatus, name: str, steps: Any) -> str:
    """"about N s on this machine" for a model and step count (the configured ``SECONDS_PER_STEP``)."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        seconds = SECONDS_PER_STEP[(_is_tiny(models, name), device)] * whole(steps, "steps")
    except ConfigError:
        return "the seed uses 10,000"
    took = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
    return f"about {took} on this machine ({device.upper()}); the seed uses 10,000"


def config_from_values(
    *,
    width: Any, height: Any, colors: Any, palette_file: str | None, prompt: str | None, model: str, steps: Any,
    seed: Any, guidance_scale: Any, negative_prompt: str | None, schedule: str, lr: Any, warmup_steps: Any,
    semantic_every: Any, encoders: list[str] | None, fit: str, controlnets: bool, tiny_vae: bool, dtype: str,
    init_method: str, negative_zeros: bool,
) -> RunConfig:
    """A checked RunConfig from the form's values; raises UserError with a one-line reason."""
    config = RunConfig(
        model=model,
        prompt=(prompt or "").strip(),
        negative_prompt=(negative_prompt or "").strip(),
        size=(whole(height, "height"), whole(width, "width")),
        colors=whole(colors, "palette size"),
        palette_hex=hex_codes(read_hex(palette_file)) if palette_file else None,
        steps=whole(steps, "steps"),
        seed=whole(seed, "seed"),
        fit=fit,
        tiny_vae=bool(tiny_vae),
        dtype=dtype,
        generator=GeneratorConfig(init_method=init_method),
        guidance=SDSConfig(guidance_scale=number(guidance_scale, "guidance scale"), schedule=schedule,
                           use_controlnets=bool(controlnets), negative_zeros=bool(negative_zeros)),
        optim=OptimConfig(lr=number(lr, "learning rate"), warmup_steps=whole(warmup_steps, "warm-up steps")),
        metrics=MetricsConfig(encoders=tuple(encoders or ()), semantic_every=whole(semantic_every, "k")),
    )
    check_config(config)
    return config


def number(value: Any, what: str) -> float:
    """A form value as a finite float; empty fields and text get a message naming the field."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigError(f"{what} is empty: enter a number")
    try:
        x = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        x = math.nan
    if not math.isfinite(x):
        raise ConfigError(f"{what} must be a number, got {value!r}")
    return x


def whole(value: Any, what: str) -> int:
    """A form number that must be a whole number (sliders and Number fields give floats)."""
    x = number(value, what)
    if not x.is_integer():
        raise ConfigError(f"{what} must be a whole number, got {x:g}")
    return int(x)
