"""The Stylize tab: Gatys neural style transfer (seed 002) and Style Matching Score (seed 003), each a
settings column beside the shared run panel (``ui.run_panel``): live image and loss curves, Stop, the
step slider, stopping rules, bundles and downloads, exactly as on the Pixel Art tab.

Only layout, the translation of form values into each engine's config, and what each section tells its
run panel live here; the engines are ``stylize.nst`` and ``stylize.sms``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import gradio as gr

from workbench.hub import cached_file, cached_snapshot, PIPELINE
from workbench.errors import ConfigError
from workbench.export import safe_stem
from workbench.images import load_photo
from workbench.records import RunStart
from workbench.trajectory import Trajectory
from stylize.stopping import STYLE_STRATEGIES
from ui.run_panel import build_run_panel, run_controls
from ui.runner import RunRequest
from ui.session import Session, SessionStore
from ui.settings import number, whole

MAX_INPUT_PIXELS = 40_000_000
TINY = "test model, random weights, images not meaningful"


def _file_path(value: Any) -> str | None:
    """A gradio File value (path string or file object) as a path."""
    if not value:
        return None
    return str(getattr(value, "name", value))


def _image(value: Any, what: str):
    path = _file_path(value)
    if path is None:
        raise ConfigError(f"upload {what} first")
    return load_photo(path, max_pixels=MAX_INPUT_PIXELS), Path(path).name


def _loaded_notes(trajectory: Trajectory, name: str, kind: str) -> list[str]:
    notes = [f"opened {name}: {len(trajectory)} recorded steps ({kind}), "
             f"{trajectory.frame_size[1]}×{trajectory.frame_size[0]} pixels"]
    if trajectory.config.get("tiny_model"):
        notes.append("made with a tiny test model: its images are not meaningful")
    return notes + [str(n) for n in trajectory.config.get("notes", [])]


class _StyleBackend:
    """What both sections tell their run panels alike: image frames, the drift rules, notes."""

    key = api_prefix = kind = fallback_stem = ""
    strategies = STYLE_STRATEGIES
    default_strategy = "norm_rate"
    frame_label = "Stylised image at the selected step"
    input_label = "Content image (as the run sees it)"

    def start_notes(self, start: RunStart) -> list[str]:
        return list(start.notes)

    def bundle_notes(self, trajectory: Trajectory, name: str) -> list[str]:
        return _loaded_notes(trajectory, name, self.kind)

    def stem(self, trajectory: Trajectory) -> str:
        """Downloads are named after the content image."""
        return safe_stem(Path(str(trajectory.config.get("content_name") or self.fallback_stem)).stem, self.fallback_stem)


# -- Gatys neural style transfer --------------------------------------------------------------------
class NSTBackend(_StyleBackend):
    """What the style-transfer section tells its run panel."""

    key, api_prefix, kind, fallback_stem = "nst", "nst_", "style transfer", "styled"

    def request(self, session: Session, values: dict[str, Any]) -> RunRequest:
        from stylize.nst.config import NSTConfig

        if values["model"] == "vgg19" and not _vgg_here():
            raise ConfigError(_not_downloaded("vgg19", "python -m stylize download vgg19"))
        content, name = _image(values["content"], "a content image")
        style_paths = [_file_path(v) for v in (values["styles"] or [])]
        if not style_paths:
            raise ConfigError("upload one or more style images first")
        styles = [load_photo(p, max_pixels=MAX_INPUT_PIXELS) for p in style_paths]
        blend = str(values["blend"] or "").strip()
        try:
            weights = tuple(float(x) for x in blend.split(",")) if blend else None
        except ValueError:
            raise ConfigError(f"style weights '{blend}' are not numbers separated by commas, e.g. 0.7,0.3") from None
        ratio = number(values["ratio"], "the style/content ratio")
        config = NSTConfig(
            model=values["model"], iterations=whole(values["iterations"], "iterations"),
            max_side=whole(values["max_side"], "the size cap"), style_weight=10.0 ** ratio,
            tv_weight=number(values["tv_weight"], "the TV weight"), optimizer=values["optimizer"], init=values["init"],
            color_mode=str(values["color_mode"] or "none"), style_blend=weights,
            num_scales=whole(values["scales"], "scales"), seed=whole(values["seed"], "seed"),
        )
        config.check(num_styles=len(styles))
        names = [Path(p).name for p in style_paths]
        return RunRequest("nst", (content, styles), config, config.iterations, {"content_name": name, "names": names})


def _not_downloaded(model: str, command: str) -> str:
    """The Run refusal for a model not downloaded here: what is missing and how to get it."""
    return (f"model {model} is not downloaded here: get it with `{command}` on a machine with internet and copy the "
            "Hugging Face cache here, or choose a tiny test model to try without weights")


def _vgg_here() -> bool:
    from stylize.nst.models import VGG_MODELS

    spec = VGG_MODELS["vgg19"]
    return cached_file(spec.repo_id, spec.filename) is not None


def _vgg_choices() -> tuple[list[tuple[str, str]], str]:
    """The VGG dropdown, the usable models first."""
    tiny = (f"tiny — {TINY}", "tiny")
    if _vgg_here():
        return [("vgg19 — VGG19, ImageNet weights", "vgg19"), tiny], "vgg19"
    return [tiny, ("vgg19 — not downloaded (get it with: python -m stylize download vgg19)", "vgg19")], "tiny"


def _build_nst(sessions: SessionStore, upload_limit: str) -> dict[str, Any]:
    """Lay out the style-transfer section; returns its setting components (the Texture words section
    fills ``styles``)."""
    from stylize.nst.config import INITS, NSTConfig, OPTIMIZERS

    base = NSTConfig()
    choices, default = _vgg_choices()
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            c: dict[str, Any] = {}
            c["content"] = gr.File(label="Content image", type="filepath", height=100, elem_id="nst-content")
            c["styles"] = gr.File(label="Style image(s)", type="filepath", file_count="multiple", height=100,
                                  elem_id="nst-styles")
            c["blend"] = gr.Textbox("", label="Style weights (one per style image, e.g. 0.7,0.3; blank = equal)")
            c["model"] = gr.Dropdown(choices, value=default, label="Network")
            c["ratio"] = gr.Slider(2, 10, value=round(math.log10(base.style_weight), 1), step=0.5,
                                   label="Style / content ratio (log₁₀ β/α)")
            with gr.Row():
                c["iterations"] = gr.Number(base.iterations, label="Iterations", precision=0)
                c["max_side"] = gr.Number(base.max_side, label="Size cap (long side, px)", precision=0)
            with gr.Accordion("Advanced settings", open=False):
                c["optimizer"] = gr.Radio(list(OPTIMIZERS), value=base.optimizer, label="Optimizer")
                c["init"] = gr.Radio(list(INITS), value=base.init, label="Start from")
                c["tv_weight"] = gr.Number(base.tv_weight, label="Total-variation weight γ")
                c["scales"] = gr.Slider(1, 4, value=base.num_scales, step=1, label="Coarse-to-fine scales")
                # NSTConfig.color_mode in words (Gatys et al., "Preserving Color in Neural Artistic Style Transfer").
                colour_modes = [("the style's colours", "none"), ("content's colours put back after", "swap"),
                                ("luminance-only transfer", "luminance"),
                                ("style colours matched to the content first", "histogram")]
                c["color_mode"] = gr.Radio(colour_modes, value=base.color_mode, label="Colours",
                                           info="keep the content's colours (Gatys et al. 2016)", elem_id="nst-color-mode")
                c["seed"] = gr.Number(base.seed, label="Seed", precision=0)
            controls = run_controls("nst")
        with gr.Column(scale=3, min_width=420):
            build_run_panel(sessions, NSTBackend(), list(c), list(c.values()), controls.run, controls.stop,
                            upload_limit=upload_limit, run_message=controls.message)
    return c


# -- Style Matching Score ---------------------------------------------------------------------------
class SMSBackend(_StyleBackend):
    """What the SMS section tells its run panel."""

    key, api_prefix, kind, fallback_stem = "sms", "sms_", "SMS", "sms"

    @property
    def side_images(self) -> dict[str, str]:
        """The map R of each step, shown beside the frame (``stylize.sms.config.SIDE_LABELS``)."""
        from stylize.sms.config import SIDE_LABELS

        return dict(SIDE_LABELS)

    def request(self, session: Session, values: dict[str, Any]) -> RunRequest:
        from stylize.sms.config import MODELS, SMSConfig

        if values["model"] == "sd15" and cached_snapshot(MODELS["sd15"], PIPELINE) is None:
            raise ConfigError(_not_downloaded("sd15", f"hf download {MODELS['sd15']}"))
        content, name = _image(values["content"], "a content image")
        lora = _file_path(values["lora_file"]) or str(values["lora_id"] or "").strip()
        if not lora:
            raise ConfigError("give a style LoRA: upload a .safetensors file or type a hub id (tiny for the test model)")
        config = SMSConfig(
            model=values["model"], style_lora=lora, style=str(values["style"] or "").strip(),
            prompt=str(values["prompt"] or "").strip() or "auto",
            lambda_psr=10.0 ** number(values["lambda_psr"], "the content / style balance"),
            steps=whole(values["steps"], "steps"), lora_strength=number(values["strength"], "the LoRA strength"),
            guidance_scale=number(values["guidance"], "the guidance scale"), seed=whole(values["seed"], "seed"),
        )
        config.check()
        return RunRequest("sms", (content,), config, config.steps, {"content_name": name})

    def start_notes(self, start: RunStart) -> list[str]:
        return [*start.notes, f'prompt used: "{start.config.get("target_prompt", "")}"']


def _build_sms(sessions: SessionStore, upload_limit: str) -> None:
    from stylize.sms.config import MODELS, SMSConfig

    base = SMSConfig()
    here = cached_snapshot(MODELS["sd15"], PIPELINE) is not None
    real = "sd15 — Stable Diffusion 1.5" if here else "sd15 — not downloaded (get it with: hf download " + MODELS["sd15"] + ")"
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            c: dict[str, Any] = {}
            c["content"] = gr.File(label="Content image", type="filepath", height=100, elem_id="sms-content")
            c["lora_file"] = gr.File(label="Style LoRA (.safetensors)", type="filepath", height=90, elem_id="sms-lora")
            c["lora_id"] = gr.Textbox("" if here else "tiny", label="…or a LoRA hub id / local path (tiny = test LoRA)")
            c["style"] = gr.Textbox(base.style, label="Style words (prompt: \"{style}, {caption}\")")
            c["prompt"] = gr.Textbox("auto", label="Content caption ('auto' captions the image)")
            sd_choices = [(real, "sd15"), (f"tiny-sd — {TINY}", "tiny-sd")]
            c["model"] = gr.Dropdown(sd_choices if here else sd_choices[::-1],  # the usable models first
                                     value="sd15" if here else "tiny-sd", label="Base model")
            c["lambda_psr"] = gr.Slider(-6, 0, value=round(math.log10(base.lambda_psr), 1), step=0.1,
                                        label="Content ⟷ style balance: log₁₀ λ (higher keeps more content)")
            c["steps"] = gr.Number(base.steps, label="Steps", precision=0)
            with gr.Accordion("Advanced settings", open=False):
                c["strength"] = gr.Slider(0, 1.5, value=base.lora_strength, step=0.05, label="LoRA strength")
                c["guidance"] = gr.Number(base.guidance_scale, label="Guidance scale")
                c["seed"] = gr.Number(base.seed, label="Seed", precision=0)
            controls = run_controls("sms")
        with gr.Column(scale=3, min_width=420):
            build_run_panel(sessions, SMSBackend(), list(c), list(c.values()), controls.run, controls.stop,
                            upload_limit=upload_limit, run_message=controls.message)


def build_stylize_tab(sessions: SessionStore, *, upload_limit: str, server_folders: bool) -> None:
    """Lay out the sections inside the current Blocks. ``server_folders``: whether folders on the server
    may be typed (the app decides it at launch, see ``ui.bundle_set.server_folders_default``)."""
    from ui.study_tab import build_study_tab
    from ui.words_tab import build_words_tab

    with gr.Tabs() as tabs:
        with gr.Tab("Neural style transfer", id="nst"):
            nst = _build_nst(sessions, upload_limit)
        with gr.Tab("Style Matching Score", id="sms"):
            _build_sms(sessions, upload_limit)
        with gr.Tab("Texture words", id="words"):
            words = build_words_tab(sessions, nst, tabs, model_choices=_vgg_choices(), server_folders=server_folders)
        with gr.Tab("Questionnaire", id="study"):
            build_study_tab(sessions, words, server_folders=server_folders)
