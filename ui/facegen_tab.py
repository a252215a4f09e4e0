"""The Face → Body tab (seed 001): train a Council GAN on uploaded face and full-body images on the
shared run panel (losses and FID as curves, sample grids as frames, Stop, bundle), and translate a
face with the session's trained model or an uploaded checkpoint.

Only layout, form values -> the engine's config, and what the tab tells its run panel live here; the
engine is ``facegen``.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import gradio as gr

from workbench.errors import ConfigError
from workbench.export import safe_stem
from workbench.records import RunStart
from workbench.stopping import StrategySet
from workbench.stopping.rules import FixedStep
from workbench.trajectory import Trajectory
from ui.common import LIGHT, SessionActions
from ui.feedback import fail
from ui.run_panel import build_run_panel, run_controls
from ui.runner import RunRequest
from ui.session import Session, SessionStore
from ui.settings import number, whole

PRESETS = [("proposed — 512×512, 3 councils (the seed's model; a large GPU)", "proposed"),
           ("baseline — 256×256, 4 councils (the official selfie2anime setting)", "baseline"),
           ("tiny — test widths, 32×32: runs on a CPU, images not meaningful", "tiny")]
GAN_STRATEGIES = StrategySet((FixedStep,))  # a training run has no drift from its input to stop on
RUN_KEY = "facegen_run"  # the session's last training folder (``Session.inputs``), for translation


def _copy_images(values: Any, folder: Path, what: str) -> Path:
    paths = [str(getattr(v, "name", v)) for v in (values or [])]
    if not paths:
        raise ConfigError(f"upload the {what} images first (several image files)")
    folder.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(paths):
        shutil.copyfile(path, folder / f"{i:05d}_{safe_stem(Path(path).name)}")
    return folder


def _on_black(folder: Path, out: Path, size: int) -> Path:
    """The full-body images as ``facegen prepare`` makes them (on black, square, ``size`` px); a one-line
    error naming why when none can be used."""
    from facegen.prepare import PrepareOptions, prepare_folder

    # the figure's least size scales with the model (the CLI's 64 px suits 256-512 px models, not tiny ones)
    report = prepare_folder(folder, out, PrepareOptions(size=size, min_side=max(4, min(64, size // 8))))
    if not report.written:
        raise ConfigError(f"no full-body image could be put on black ({report.summary().split('; ', 1)[-1]}): "
                          "upload figures on a plain background, or untick 'Put the full-body images on black'")
    return out


class FaceGenBackend:
    """What the training section tells its run panel."""

    key = "gan"
    api_prefix = "gan_"
    strategies = GAN_STRATEGIES
    default_strategy = "fixed_step"
    frame_label = "Sample grid (face | each council member's body | masks)"
    input_label = "A face of the training set"

    def request(self, session: Session, values: dict[str, Any]) -> RunRequest:
        from facegen.config import load_config

        config = load_config(values["preset"]).replace(train={
            "iterations": whole(values["iterations"], "iterations"),
            "sample_every": whole(values["sample_every"], "the sample interval"),
            "seed": whole(values["seed"], "seed"),
            "checkpoint_every": max(1, whole(values["sample_every"], "the sample interval")),
        }).validate()
        work = session.subfolder("facegen") / uuid.uuid4().hex
        faces = _copy_images(values["faces"], work / "faces", "face")
        bodies = _copy_images(values["bodies"], work / "bodies", "full-body")
        if values["prepare"]:
            bodies = _on_black(bodies, work / "bodies-on-black", config.data.image_size)
        session.inputs[RUN_KEY] = work / "run"
        return RunRequest("councilgan", (faces, bodies), config, config.train.iterations, {"out_dir": work / "run"})

    def start_notes(self, start: RunStart) -> list[str]:
        return list(start.notes)

    def bundle_notes(self, trajectory: Trajectory, name: str) -> list[str]:
        return [f"opened {name}: {len(trajectory)} recorded iterations of a Council GAN training run"]

    def stem(self, trajectory: Trajectory) -> str:
        return "councilgan"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _member(value: Any) -> str:
    """The member dropdown's value for ``translate_face`` ('all' or a number; it checks the range)."""
    text = str(value if value is not None else "all").strip().lower()
    return text or "all"


class TranslateActions(SessionActions):
    """Translate a face with the session's last trained model or an uploaded checkpoint."""

    def translate(self, face: str | None, checkpoint: str | None, member: str, samples: float, seed: float,
                  shift: float, masks: bool, request: gr.Request) -> tuple[Any, Any, str]:
        from facegen.inference import save_outputs, translate_face

        session = self.session(request)
        try:
            if not face:
                raise ConfigError("upload a face image (shoulders up) first")
            source = checkpoint or session.inputs.get(RUN_KEY)
            if source is None:
                raise ConfigError("no checkpoint yet: train a model above, or upload a checkpoint (this project's "
                                  ".safetensors from `python -m facegen train`, or an official a2b_gen_*.pt)")
            result = translate_face(face, source, member=_member(member), samples=whole(samples, "samples"),
                                    seed=whole(seed, "seed"), z_shift=number(shift, "the z shift"))
            paths = save_outputs(result, session.subfolder("exports") / f"{safe_stem(Path(face).stem)}_body.png")
        except Exception as exc:
            return None, None, fail(exc, "translating the face")
        gallery = []
        for img, mask, m, k in zip(result.images, result.masks, result.members, result.samples):
            gallery.append((img, f"member {m}, sample {k}"))
            if masks:  # the focus mask: where the translation replaced the input (white) or kept it (black)
                gallery.append((mask, f"member {m}, sample {k}: mask"))
        return gallery, [str(p) for p in paths], f"{len(result.images)} images from {_count(len(set(result.members)), 'member')}"


def build_facegen_tab(sessions: SessionStore, *, upload_limit: str) -> None:
    """Lay out the tab inside the current Blocks and wire its events."""
    from facegen.config import load_config

    base = load_config("tiny").train
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            gr.Markdown("**Train** a Council GAN: faces (shoulders up) → full-body images on a black background.")
            c: dict[str, Any] = {}
            c["faces"] = gr.File(label="Face images (domain A)", file_count="multiple", type="filepath", height=100,
                                 elem_id="gan-faces")
            c["bodies"] = gr.File(label="Full-body images (domain B)", file_count="multiple", type="filepath",
                                  height=100, elem_id="gan-bodies")
            c["prepare"] = gr.Checkbox(False, elem_id="gan-prepare",
                                       label="Put the full-body images on black first (as python -m facegen prepare: "
                                             "the background around the figure, square, the model's size)")
            c["preset"] = gr.Dropdown(PRESETS, value="tiny", label="Model")
            with gr.Row():
                c["iterations"] = gr.Number(200, label="Iterations", precision=0)
                c["sample_every"] = gr.Number(20, label="Sample grid every", precision=0)
                c["seed"] = gr.Number(base.seed, label="Seed", precision=0)
            controls = run_controls("gan", "Train")
        with gr.Column(scale=3, min_width=420):
            build_run_panel(sessions, FaceGenBackend(), list(c), list(c.values()), controls.run, controls.stop,
                            upload_limit=upload_limit, run_message=controls.message)
    with gr.Accordion("Translate a face", open=True):
        with gr.Row():
            with gr.Column(scale=2, min_width=320):
                face = gr.Image(label="Face (shoulders up)", type="filepath", elem_id="gan-face")
                checkpoint = gr.File(label="Checkpoint (blank: this session's last training run)", type="filepath",
                                     height=90, elem_id="gan-checkpoint")
                with gr.Row():
                    samples = gr.Slider(1, 8, value=4, step=1, label="Samples per member")
                    seed = gr.Number(0, label="Seed", precision=0)
                member = gr.Dropdown(["all", "0", "1", "2", "3"], value="all", allow_custom_value=True,
                                     label="Council member (all, or its number from 0)", elem_id="gan-member")
                shift = gr.Slider(-3, 3, value=0, step=0.1, label="Move z along one direction")
                masks = gr.Checkbox(True, label="Show each output's mask beside it", elem_id="gan-masks")
                go = gr.Button("Translate", variant="primary", elem_id="gan-translate")
            with gr.Column(scale=3, min_width=420):
                message = gr.Markdown(elem_id="gan-translate-message")
                gallery = gr.Gallery(label="Full-body images (and masks)", columns=4, height=360, format="png",
                                     elem_id="gan-gallery")
                files = gr.File(label="Downloads", file_count="multiple", interactive=False, height=110)
    actions = TranslateActions(sessions)
    go.click(actions.translate, [face, checkpoint, member, samples, seed, shift, masks], [gallery, files, message],
             api_name="gan_translate", **LIGHT)
