"""The pixel-art run: photo -> palette -> generator -> SDS loop, yielding one record per step.

``PixelArtRun`` follows the workbench run contract (``workbench.records``): created from a photo and a
config (every option checked before any model loads), iterating it yields a ``RunStart`` and then one
picklable ``StepRecord`` per step; ``workbench.loop.RunLoop`` turns them into the trajectory, for the
CLI, the batch runner and the app alike. Stopping (``StopRun`` raised into the run) embeds the frames
still waiting for their CLIP/DINOv2 batch and hands their values back in a last ``Flush``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.optimization import get_scheduler
from PIL import Image

from pixelart.baselines import INIT_METHODS, initial_image
from pixelart.config import AUTO_PROMPT, DTYPES, FALLBACK_PROMPT, PARTS_MODES, WEIGHTINGS, RunConfig
from workbench.errors import ConfigError, ModelNotAvailableError
from pixelart.generator import INIT_DISTANCES, RENDER_MODES, PixelGenerator
from pixelart.guidance.sds import ScoreDistillation
from workbench.images import validate_out_size, working_size
from pixelart.metrics import NormTable, SemanticScorer, nearest_upscale
from workbench.drift import relative_increase
from pixelart.models.loaded import GuidanceModels, SemanticEncoder
from pixelart.guidance.schedules import SCHEDULES
from pixelart.models.registry import ENCODERS, check_model_name
from pixelart.palette import MAX_KMEANS_COLORS, MIN_KMEANS_COLORS
from workbench.palette import MAX_FILE_COLORS, parse_hex
from pixelart.preparation import prepare
from pixelart.regularizers import fft_high_frequency_loss, high_frequency_mask
from pixelart.stopping.parts import PartMap, segment_parts
from workbench.timing import StepTimer
from workbench.drift import NORM_CURVES, SEMANTIC_CURVES
from workbench.hub import library_versions
from workbench.records import Flush, RunStart, StepRecord, StopRun

@dataclass
class RunSetup:
    """What the preparation decided, shown to the user before the loop starts."""

    prompt: str
    palette: np.ndarray
    photo: Image.Image  # the cropped / padded photo at the working resolution
    notes: list[str] = field(default_factory=list)


def check_config(config: RunConfig) -> None:
    """Raise ConfigError with a one-line reason for any out-of-range option."""
    validate_out_size(config.size)
    check_model_name(config.model)
    if config.palette_hex is None and not MIN_KMEANS_COLORS <= config.colors <= MAX_KMEANS_COLORS:
        raise ConfigError(
            f"palette size {config.colors} is out of range: choose {MIN_KMEANS_COLORS} to {MAX_KMEANS_COLORS} colours"
        )
    if config.palette_hex is not None and not 2 <= len(config.palette_hex) <= MAX_FILE_COLORS:
        raise ConfigError(f"a palette needs 2 to {MAX_FILE_COLORS} colours, got {len(config.palette_hex)}")
    if not 1 <= config.steps <= 1_000_000:
        raise ConfigError(f"steps must be 1 to 1,000,000, got {config.steps}")
    if config.guidance.guidance_scale < 0:
        raise ConfigError("guidance scale must be zero or positive")
    if config.metrics.semantic_every < 1:
        raise ConfigError("semantic_every must be at least 1 (1 = every step)")
    if config.metrics.parts not in PARTS_MODES:
        raise ConfigError(f"parts must be one of {', '.join(PARTS_MODES)}, got '{config.metrics.parts}'")
    if not config.prompt.strip():
        raise ConfigError("the prompt is empty: type a description of the photo, or use 'auto'")
    if config.generator.tau <= 0 or config.generator.tau_min <= 0 or config.generator.tau_max < config.generator.tau_min:
        raise ConfigError("temperatures must be positive with tau_min <= tau_max")
    if config.guidance.schedule not in SCHEDULES:
        raise ConfigError(f"unknown timestep schedule '{config.guidance.schedule}'; choose one of: {', '.join(SCHEDULES)}")
    if not config.optim.lr > 0 or config.optim.warmup_steps < 0:
        raise ConfigError("the learning rate must be positive and the warm-up steps zero or more")
    unknown = [e for e in config.metrics.encoders if e not in ENCODERS]
    if unknown:
        raise ConfigError(f"unknown encoder {', '.join(unknown)}; choose from {', '.join(ENCODERS)}")
    if config.fit not in ("crop", "pad"):
        raise ConfigError(f"fit must be crop or pad, got '{config.fit}'")
    gen = config.generator
    for value, allowed, what in ((gen.render, RENDER_MODES, "render mode"), (gen.init_distance, INIT_DISTANCES, "init distance"),
                                 (gen.init_method, INIT_METHODS, "init method"), (config.dtype, DTYPES, "dtype"),
                                 (gen.upsample, UPSAMPLE_MODES, "upsampling mode"),
                                 (config.guidance.weighting, WEIGHTINGS, "SDS weighting")):
        if value not in allowed:
            raise ConfigError(f"unknown {what} '{value}'; choose one of: {', '.join(allowed)}")
    if config.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"unknown device '{config.device}'; choose auto, cpu or cuda")


UPSAMPLE_MODES = ("bilinear", "nearest", "bicubic", "area", "nearest-exact")



def load_guidance(config: RunConfig) -> GuidanceModels:
    """The diffusion model (+ ControlNets, TAESD) a run of ``config`` uses, loaded once per process."""
    from pixelart.models import loading
    from workbench.hub import pick_device

    device, _ = pick_device(config.device)
    return loading.load_guidance_models(
        config.model, device=device, dtype=torch_dtype(config.dtype), use_tiny_vae=config.tiny_vae,
        controlnets=config.guidance.use_controlnets,
    )


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype of one of ``DTYPES``."""
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def load_encoders(config: RunConfig, models: GuidanceModels) -> dict[str, SemanticEncoder]:
    """The semantic encoders a run of ``config`` tracks, matching the model (tiny ones for a tiny one)."""
    from pixelart.models import loading

    return {
        name: loading.load_encoder(name, tiny=models.spec.tiny, device=models.device, dtype=models.dtype)
        for name in config.metrics.encoders
    }


class PixelArtRun:
    """A prepared run; iterate it for step records. Models are loaded (once per process) on creation."""

    def __init__(
        self,
        photo: Image.Image,
        config: RunConfig,
        *,
        models: GuidanceModels | None = None,
        encoders: Mapping[str, SemanticEncoder] | None = None,
        captioner: Callable[[Image.Image], str] | None = None,
        photo_name: str = "",
        stage_timings: bool | None = None,
    ) -> None:
        # 1. Check inputs
        check_config(config)
        self.config = config
        notes: list[str] = []

        # 2. + 3. Crop/pad the photo to the output's aspect ratio; k-means palette or the given one
        fixed = parse_hex("\n".join(config.palette_hex)) if config.palette_hex is not None else None
        prep = prepare(photo, config.size, colors=config.colors, palette=fixed, fit=config.fit, seed=config.seed)
        out, prepared, work, palette = prep.out_size, prep.photo, prep.work, prep.palette
        self.photo_work = prep.work_array

        # 4. Load models (cached per process) and pick the device from them
        from pixelart.models import loading

        if models is None:
            models = load_guidance(config)
        self.models = models
        spec = models.spec  # a registry entry, or one read from a local pipeline folder
        if spec.tiny:
            notes.insert(0, f"'{spec.name}' is a tiny test model with random weights: its images are not meaningful")
        if encoders is None:
            encoders = load_encoders(config, models)
        self.scorer = SemanticScorer(encoders, self.photo_work) if encoders else None
        self.parts = self._part_map(work, spec.tiny, models, notes)
        self.norm_table = NormTable(self.photo_work, palette, out,
                                    regions=self.parts.regions() if self.parts is not None else None)
        self._d0 = 0.0

        # 5. Prompt: typed, or a caption of the photo
        prompt = config.prompt.strip()
        if prompt == AUTO_PROMPT:
            try:
                if captioner is None:
                    captioner = loading.load_captioner(tiny=spec.tiny, device=models.device, dtype=models.dtype)
                prompt = captioner(prepared).strip() or FALLBACK_PROMPT
                notes.append(f"prompt from the captioning model: \"{prompt}\"")
            except ModelNotAvailableError as exc:
                prompt = FALLBACK_PROMPT
                notes.append(f"no captioning model ({exc}); using the fallback prompt \"{prompt}\"")

        # 6. Generator initialised from the downsampled photo
        torch.manual_seed(config.seed)
        small = initial_image(prepared, out, config.generator.init_method)
        self.generator = PixelGenerator.from_image(small, palette, distance=config.generator.init_distance)
        self.generator.to(models.device)

        # 7. Guidance at the model's resolution, with the output's aspect ratio
        self.model_size = self._model_size(out, spec.resolution)
        model_photo = prepared.resize(self.model_size[::-1], Image.Resampling.LANCZOS)
        self.sds = ScoreDistillation(
            models, prompt=prompt, negative_prompt=config.negative_prompt, photo=model_photo,
            size=self.model_size, config=config.guidance, seed=config.seed,
        )

        # 8. Optimiser, schedule, and the run's start record (what its trajectory is built from)
        opt = config.optim
        self.optimizer = torch.optim.AdamW(
            self.generator.parameters(), lr=opt.lr, betas=opt.betas, weight_decay=opt.weight_decay, eps=1e-8
        )
        self.lr_schedule = get_scheduler(
            "constant_with_warmup", optimizer=self.optimizer, num_warmup_steps=opt.warmup_steps,
            num_training_steps=config.steps,
        )
        self.fft_mask = high_frequency_mask(*out, device=models.device)
        self.cpu_generator = torch.Generator().manual_seed(config.seed + 2)
        self.render_generator = torch.Generator(device=models.device).manual_seed(config.seed + 3)
        self.setup = RunSetup(prompt=prompt, palette=palette, photo=work, notes=notes)
        self.palette = palette
        self.start = RunStart(
            kind="pixelart",
            total=config.steps,
            palette=palette,
            input_image=self.photo_work,
            frame_size=out,
            curves=NORM_CURVES + tuple(c for c in SEMANTIC_CURVES if c.name in (encoders or {})),
            notes=notes,
            frame_label="Pixel art",
            extras={"parts": self.parts.labels} if self.parts is not None else {},
            config={
                "run": config.to_dict(),
                "prompt_used": prompt,
                "model_id": spec.repo_id,
                "model_family": spec.family,
                "model_resolution": list(self.model_size),
                "tiny_model": spec.tiny,
                "device": str(models.device),
                "dtype": str(models.dtype).replace("torch.", ""),
                "photo_name": photo_name,
                "norm_resolution": list(self.photo_work.shape[:2]),
                "semantic_encoders": {n: e.spec.repo_id for n, e in (encoders or {}).items()},
                "versions": library_versions(),
                "notes": notes,
                **(self.parts.config() if self.parts is not None else {}),
            },
        )
        # per-stage times synchronise CUDA around every stage, which stalls the GPU's queue: on a GPU
        # only when asked for (the benchmark does); on a CPU they cost nothing
        if stage_timings is None:
            stage_timings = models.device.type != "cuda"
        self.timer = StepTimer(models.device, enabled=stage_timings)
        self._pending: list[tuple[int, np.ndarray]] = []

    def _part_map(self, photo: Image.Image, tiny: bool, models: GuidanceModels, notes: list[str]) -> PartMap | None:
        """The photo's clothes parts for per-part norm series, or None (off, or no segmenter here)."""
        mode = self.config.metrics.parts
        if mode == "off":
            return None
        if mode == "auto" and not tiny:
            from workbench.hub import cached_snapshot
            from pixelart.models.registry import CLOTHES_SEGMENTER

            if cached_snapshot(CLOTHES_SEGMENTER.repo_id) is None:  # "auto" never downloads
                notes.append("no clothes segmenter in the local cache: per-part norms are not recorded")
                return None
        try:
            return segment_parts(photo, self.photo_work.shape[:2], tiny=tiny, device=models.device,
                                 dtype=models.dtype)
        except ModelNotAvailableError as exc:
            if mode == "on":
                raise
            notes.append(f"no clothes segmenter ({exc}): per-part norms are not recorded")
            return None

    def _model_size(self, out: tuple[int, int], resolution: int) -> tuple[int, int]:
        """The model-resolution size with the output's aspect ratio, divisible by the UNet's stride."""
        pipe = self.models.pipe
        stride = pipe.vae_scale_factor * 2 ** (len(pipe.unet.config.block_out_channels) - 1)
        h, w = working_size(out, resolution)
        return max(stride, round(h / stride) * stride), max(stride, round(w / stride) * stride)

    def _record(self, step: int, frame: np.ndarray, metrics: dict[str, float], start: float) -> StepRecord:
        with self.timer.section("metrics"):
            measured = self.norm_table.measure(frame)  # d_t and the per-part norms, exact
            if step == 0:
                self._d0 = measured["norm"]
            metrics.update(measured, rate=float(relative_increase(measured["norm"], self._d0)))
            backfill = {}
            if self.scorer is not None:
                art = self.palette[nearest_upscale(frame, self.photo_work.shape[:2])]
                self._pending.append((step, art))
                if len(self._pending) >= self.config.metrics.semantic_every or step == self.config.steps:
                    backfill = self._flush_semantic()
                    metrics.update({name: values[-1] for name, (_, values) in backfill.items()})
        return StepRecord(
            step=step, total=self.config.steps, frame=frame, metrics=metrics,
            timings_ms=dict(self.timer.ms), elapsed_s=time.perf_counter() - start, backfill=backfill,
        )

    def _flush_semantic(self) -> dict[str, tuple[list[int], list[float]]]:
        """Embed the buffered frames in one batch; their similarities by encoder as (steps, values)."""
        if not self._pending or self.scorer is None:
            return {}
        steps = [s for s, _ in self._pending]
        sims = self.scorer.similarities([img for _, img in self._pending])
        self._pending = []
        return {name: (steps, [float(v) for v in values]) for name, values in sims.items()}

    def __iter__(self) -> Iterator[RunStart | StepRecord | Flush]:
        cfg, gen = self.config, self.generator
        start = time.perf_counter()
        yield self.start
        try:
            self.timer.reset()
            yield self._record(0, gen.hard_indices(), {}, start)
            for step in range(1, cfg.steps + 1):
                self.timer.reset()
                tau = cfg.generator.tau
                if cfg.generator.random_tau and cfg.generator.render == "gumbel":
                    u = float(torch.rand((), generator=self.cpu_generator))
                    tau = cfg.generator.tau_min + (cfg.generator.tau_max - cfg.generator.tau_min) * u
                with self.timer.section("render"):
                    image = gen(mode=cfg.generator.render, tau=tau, hard=cfg.generator.hard,
                                generator=self.render_generator)
                    upsampled = F.interpolate(image.permute(2, 0, 1)[None], size=self.model_size,
                                              mode=cfg.generator.upsample)
                out = self.sds(upsampled, step - 1, cfg.steps, timer=self.timer)
                with self.timer.section("backward"):
                    fft = fft_high_frequency_loss(image, self.fft_mask)
                    loss = out.loss + cfg.optim.fft_scale * fft
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(gen.parameters(), cfg.optim.max_grad_norm)
                    self.optimizer.step()
                    self.lr_schedule.step()
                    gen.balance()
                    frame = gen.hard_indices()
                loss_sds, loss_fft = torch.stack([out.loss.detach(), fft.detach()]).tolist()  # one sync
                metrics = {
                    "loss_sds": loss_sds, "loss_fft": loss_fft,
                    "timestep": float(out.timestep), "tau": tau, "lr": self.lr_schedule.get_last_lr()[0],
                }
                yield self._record(step, frame, metrics, start)
        except StopRun:
            # a run stopped early still gets similarities for the steps it made
            yield Flush(self._flush_semantic())

