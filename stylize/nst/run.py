"""A Gatys et al. style transfer run: ``NSTRun(content, styles, config)`` yields ``RunStart`` and then
one ``StepRecord`` per optimizer iteration (the workbench run contract, ``workbench.records``).

Steps. Step 0 is the initial image; step t the image after t optimizer iterations. An L-BFGS
iteration is one ``LBFGS.step`` with ``max_iter=1``, which keeps the whole L-BFGS state between calls,
so t calls make exactly the iterates of one call with ``max_iter=t`` (the reference codes' "500
iterations"): without line search one iteration is one function evaluation, as the references count
them. Each call evaluates the loss at the image it starts from, so step t's record (frame and losses
of the same image) is yielded right after the call that evaluated it, and the last step's losses come
from one more evaluation without gradients.

Coarse-to-fine: with ``num_scales`` > 1 the image is optimised at sides L/2^(n-1), …, L/2, L (the
iterations split evenly) and upsampled bilinearly between scales; frames of coarse scales are
upsampled to the final size so every frame has one size.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from stylize.nst.colour import grey_rgb, keep_colours, luminance, match_colour_histogram, match_luminance
from stylize.nst.config import NSTConfig
from stylize.nst.losses import blended_gram, content_loss, gram_matrix, style_loss, tv_loss
from stylize.nst.vgg import VGG19Features
from workbench.errors import ConfigError, ImageInputError
from workbench.images import load_photo
from workbench.drift import norm_curves
from workbench.hub import library_versions
from workbench.records import Curve, Item, RunStart, StepRecord

MIN_SCALE_SIDE = 16  # conv5_x maps are 1/16 of the image: at least 1x1

CURVES = {
    "loss": Curve("loss", "total loss", panel=0, axis_title="loss", log=True, colour="#222222"),
    "content": Curve("content", "α·content", panel=0, log=True, colour="#1f77b4"),
    "style": Curve("style", "β·style", panel=0, log=True, colour="#d62728"),
    "tv": Curve("tv", "γ·TV", panel=0, log=True, colour="#2ca02c", caption=False),
    **{c.name: c for c in norm_curves(panel=1)},  # d_t and r_t to the content image, as every back end
}




def load_image(source, *, max_pixels: int, what: str) -> Image.Image:
    """A checked RGB PIL image from a path, bytes, PIL image or uint8 (H, W, 3) array."""
    if isinstance(source, np.ndarray):
        if source.dtype != np.uint8 or source.ndim != 3 or source.shape[2] != 3:
            raise ImageInputError(f"{what} array must be uint8 (H, W, 3), got {source.dtype} {source.shape}")
        source = Image.fromarray(source, "RGB")
    return load_photo(source, max_pixels=max_pixels)


def fit_long_side(image: Image.Image, long_side: int) -> Image.Image:
    """Resize so the long side is ``long_side`` (Lanczos), keeping the aspect ratio."""
    w, h = image.size
    scale = long_side / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)


def to_tensor(image: Image.Image, device: torch.device) -> torch.Tensor:
    """PIL RGB -> (1, 3, H, W) float32 in [0, 1]."""
    array = np.asarray(image, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous().to(device)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [0, 1] (clipped) -> (H, W, 3) uint8."""
    array = image.detach().clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()
    return np.rint(array * 255.0).astype(np.uint8)


@dataclass
class LossValues:
    """Weighted loss terms of one evaluated image."""

    total: float
    content: float
    style: float
    tv: float


class NSTRun:
    """One style transfer of ``content`` with ``styles`` (one or more, blended by ``config.style_blend``).

    Everything is checked in ``__init__`` (options, then images, then the model, which loads last);
    iterate it for records. ``vgg`` passes an already loaded network (tests, the app's cache).
    """

    def __init__(self, content, styles: Sequence, config: NSTConfig | None = None, *,
                 vgg: VGG19Features | None = None, names: Sequence[str] | None = None,
                 content_name: str = "") -> None:
        # 1. Options, before anything is read or loaded.
        self.config = config = config or NSTConfig()
        if isinstance(styles, (str, bytes, Image.Image, np.ndarray)) or hasattr(styles, "__fspath__"):
            styles = [styles]
        styles = list(styles)
        config.check(num_styles=len(styles))
        from stylize.nst.loading import pick_device

        self.device = pick_device(config.device) if vgg is None else next(vgg.parameters()).device
        # 2. Images: checked and brought to the working size.
        content_image = load_image(content, max_pixels=config.max_pixels, what="content image")
        w, h = content_image.size
        long_side = min(config.max_side, max(w, h))
        self.content = fit_long_side(content_image, long_side)
        self.styles = [load_image(s, max_pixels=config.max_pixels, what="style image") for s in styles]
        self.frame_size = (self.content.height, self.content.width)
        self.sides = config.scale_sides(long_side)
        self.scale_sizes = [self._size_at(side) for side in self.sides]
        if min(self.scale_sizes[0]) < MIN_SCALE_SIDE:
            raise ImageInputError(
                f"the content image is {self.content.width}×{self.content.height} after resizing: its short "
                f"side must be at least {MIN_SCALE_SIDE * 2 ** (config.num_scales - 1)} px for "
                f"{config.num_scales} scale(s); use a larger image or fewer scales"
            )
        for i, style in enumerate(self.styles):
            side = round(self.sides[0] * config.style_scale)
            fitted = fit_long_side(style, side)
            if min(fitted.size) < MIN_SCALE_SIDE:
                raise ImageInputError(
                    f"style image {i + 1} ({style.width}×{style.height}) is too narrow: at {side} px on the long "
                    f"side its short side is {min(fitted.size)} px (at least {MIN_SCALE_SIDE}); crop it or raise style_scale"
                )
        self.names = list(names) if names else [f"style {i + 1}" for i in range(len(self.styles))]
        self.content_name = content_name
        blend = config.style_blend or tuple(1.0 for _ in self.styles)
        self.blend = [float(b) for b in blend]
        self.layer_weights = dict(zip(config.style_layers, config.style_layer_weights or [1.0] * len(config.style_layers)))
        # 3. The network (loaded once per process and device).
        if vgg is None:
            from stylize.nst.loading import load_vgg

            vgg = load_vgg(config.model, device=self.device)
        self.vgg = vgg
        self.content_array = np.asarray(self.content, dtype=np.uint8)
        # What the optimisation sees under the colour mode (the recorded frames are always in colour).
        cap = max(round(self.sides[-1] * config.style_scale), max(self.frame_size))
        self.work_content, self.work_styles = _colour_inputs(self.content, self.styles, config, cap)
        self.curves = tuple(c for name, c in CURVES.items() if self._has_curve(name))

    # -- set-up helpers -------------------------------------------------------------------------
    def _size_at(self, side: int) -> tuple[int, int]:
        h, w = self.frame_size
        scale = side / max(h, w)
        return max(1, round(h * scale)), max(1, round(w * scale))

    def _has_curve(self, name: str) -> bool:
        weight = {"content": self.config.content_weight, "style": self.config.style_weight,
                  "tv": self.config.tv_weight}.get(name)
        return weight is None or weight > 0

    def _extract(self, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        return self.vgg.extract(image, layers, after_relu=self.config.after_relu, pooling=self.config.pooling)

    def _targets(self, size: tuple[int, int], side: int) -> tuple[torch.Tensor, dict, dict]:
        """Content image at ``size``, content features, blended style Grams at this scale."""
        cfg = self.config
        content = to_tensor(self.work_content.resize(size[::-1], Image.Resampling.LANCZOS), self.device)
        with torch.no_grad():
            content_feats = {k: v.detach() for k, v in self._extract(content, cfg.content_layers).items()} \
                if cfg.content_weight > 0 else {}
            style_targets: dict[str, torch.Tensor] = {}
            if cfg.style_weight > 0:
                per_image = []
                for style in self.work_styles:
                    image = to_tensor(fit_long_side(style, round(side * cfg.style_scale)), self.device)
                    feats = self._extract(image, cfg.style_layers)
                    per_image.append({k: gram_matrix(v) for k, v in feats.items()})
                style_targets = {k: blended_gram([g[k] for g in per_image], self.blend) for k in cfg.style_layers}
        return content, content_feats, style_targets

    def _initial(self, content: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        cfg = self.config
        if cfg.init == "content":
            return content.clone()
        if cfg.init == "style":
            return to_tensor(self.work_styles[0].resize(size[::-1], Image.Resampling.LANCZOS), self.device)
        gen = torch.Generator().manual_seed(cfg.seed)
        if cfg.color_mode == "luminance":  # a grey start: the optimisation works on luminance images
            return torch.rand((1, 1, *size), generator=gen).to(self.device).repeat(1, 3, 1, 1)
        return torch.rand((1, 3, *size), generator=gen).to(self.device)

    def _losses(self, x: torch.Tensor, content_feats: dict, style_targets: dict) -> tuple[torch.Tensor, LossValues]:
        cfg = self.config
        layers = list(content_feats) + [k for k in style_targets if k not in content_feats]
        feats = self._extract(x, layers) if layers else {}
        zero = x.new_zeros(())
        lc = cfg.content_weight * sum((content_loss(feats[k], t) for k, t in content_feats.items()), zero)
        ls = cfg.style_weight * style_loss(feats, style_targets, self.layer_weights) if style_targets else zero
        ltv = cfg.tv_weight * tv_loss(x) if cfg.tv_weight > 0 else zero
        total = lc + ls + ltv
        return total, LossValues(*(float(v.detach()) for v in (total, lc, ls, ltv)))

    def _optimizer(self, x: torch.Tensor) -> torch.optim.Optimizer:
        cfg = self.config
        if cfg.optimizer == "adam":
            return torch.optim.Adam([x], lr=cfg.effective_lr())
        return torch.optim.LBFGS([x], lr=cfg.effective_lr(), max_iter=1, history_size=cfg.lbfgs_history,
                                 line_search_fn="strong_wolfe" if cfg.line_search else None)

    # -- records --------------------------------------------------------------------------------
    def run_start(self) -> RunStart:
        """The first record (also useful to the app before the run starts)."""
        cfg = self.config
        # The style images as the optimisation uses them (grey or colour-matched under those modes).
        extras = {f"style_{i}": np.asarray(fit_long_side(s, max(self.frame_size)), dtype=np.uint8)
                  for i, s in enumerate(self.work_styles)}
        config = {
            "backend": "nst", **cfg.to_dict(), "model_label": self.vgg.label, "device": str(self.device),
            "style_names": self.names, "content_name": self.content_name, "content_size": [self.content.width, self.content.height],
            "scale_sides": self.sides, "lr_used": cfg.effective_lr(),
            "versions": library_versions(("torch", "numpy", "safetensors")),
        }
        notes = []
        if self.vgg.label == "tiny":
            notes.append("tiny random VGG19: images not meaningful")
        return RunStart(kind="nst", total=cfg.iterations, input_image=self.content_array,
                        frame_size=self.frame_size, curves=self.curves, config=config, notes=notes,
                        extras=extras, record_every=cfg.record_every, frame_label="Stylised")

    def __iter__(self) -> Iterator[Item]:
        cfg = self.config
        yield self.run_start()
        norms = _NormTracker(self.content_array)
        start = time.perf_counter()
        step, total = 0, cfg.iterations
        iterations = cfg.scale_iterations()
        x = None
        for scale, (size, side, count) in enumerate(zip(self.scale_sizes, self.sides, iterations)):
            content, content_feats, style_targets = self._targets(size, side)
            if x is None:
                x = self._initial(content, size)
            else:
                x = F.interpolate(x.detach(), size=size, mode="bilinear", align_corners=False)
            x = x.detach().requires_grad_(True)
            optimizer = self._optimizer(x)
            status = f"{'L-BFGS' if cfg.optimizer == 'lbfgs' else 'Adam'}, scale {scale + 1} of {cfg.num_scales} ({side} px)"
            for _ in range(count):
                t0 = time.perf_counter()
                before = x.detach().clone()
                values: list[LossValues] = []

                def closure() -> torch.Tensor:
                    optimizer.zero_grad(set_to_none=True)
                    loss, vals = self._losses(x, content_feats, style_targets)
                    loss.backward()
                    if not values:  # the first evaluation is at the image this step starts from
                        values.append(vals)
                    return loss

                optimizer.step(closure)
                if not math.isfinite(values[0].total):
                    raise ConfigError(f"the loss became {values[0].total} at step {step}; lower lr or the weights")
                ms = (time.perf_counter() - t0) * 1000.0
                yield self._record(step, total, before, values[0], norms, start, status, ms)
                step += 1
            del optimizer
        with torch.no_grad():
            _, last = self._losses(x, content_feats, style_targets)
        yield self._record(step, total, x.detach(), last, norms, start, "done", 0.0, final=True)

    def _record(self, step: int, total: int, image: torch.Tensor, values: LossValues, norms: "_NormTracker",
                start: float, status: str, ms: float, final: bool = False) -> StepRecord:
        if image.shape[-2:] != self.frame_size:
            image = F.interpolate(image, size=self.frame_size, mode="bilinear", align_corners=False)
        frame = to_uint8(image)
        if self.config.color_mode in ("swap", "luminance"):
            # swap: content chroma over a colour result; luminance: over the optimised luminance image.
            frame = keep_colours(frame, self.content_array)
        metrics = {"loss": values.total, "norm": float("nan"), "rate": float("nan")}
        for name in ("content", "style", "tv"):
            if self._has_curve(name):
                metrics[name] = getattr(values, name)
        metrics["norm"], metrics["rate"] = norms.add(frame)
        keep = final or step % self.config.record_every == 0
        return StepRecord(step=step, total=total, frame=frame if keep else None, metrics=metrics,
                          timings_ms={"step": ms}, elapsed_s=time.perf_counter() - start, status=status)


def _colour_inputs(content: Image.Image, styles: list[Image.Image], config: NSTConfig,
                   cap: int) -> tuple[Image.Image, list[Image.Image]]:
    """The content and style images the optimisation sees under ``config.color_mode`` (Gatys et al. 2016).

    luminance: grey images of the content's Y and of each style's Y matched to the content's mean and
    standard deviation; histogram: each style with the content's colour mean and covariance; else as given.
    Statistics are those of the content at the working size (the run's ``content``); styles are first
    brought down to ``cap`` px on the long side.
    """
    mode = config.color_mode
    if mode not in ("luminance", "histogram"):
        return content, list(styles)
    content_rgb = np.asarray(content, dtype=np.uint8)
    # Never larger than the run uses them (``cap`` px on the long side): a 40-Mpx style stays cheap.
    styles = [fit_long_side(s, cap) if max(s.size) > cap else s for s in styles]
    if mode == "histogram":
        return content, [Image.fromarray(match_colour_histogram(np.asarray(s, dtype=np.uint8), content_rgb,
                                                                config.histogram_transform)) for s in styles]
    content_y = luminance(content_rgb / 255.0)
    grey_styles = [Image.fromarray(grey_rgb(match_luminance(luminance(np.asarray(s, dtype=np.float64) / 255.0), content_y)))
                   for s in styles]
    return Image.fromarray(grey_rgb(content_y)), grey_styles


class _NormTracker:
    """d_t = ‖frame_t − content‖₂ on RGB in [0, 1] at the frame size, and r_t = (d_t − d_ref)/d_ref.

    d_ref is d_0; a run that starts from the content image itself has d_0 = 0, so there d_ref is the
    first non-zero distance (its rate is NaN until then) rather than a division by zero.
    """

    def __init__(self, content: np.ndarray) -> None:
        self.content = content.astype(np.float32) / 255.0
        self.ref: float | None = None

    def add(self, frame: np.ndarray) -> tuple[float, float]:
        d = float(np.sqrt(np.sum((frame.astype(np.float32) / 255.0 - self.content) ** 2, dtype=np.float64)))
        if self.ref is None and d > 0:
            self.ref = d
        return d, (d - self.ref) / self.ref if self.ref else float("nan")


def run_nst(content, styles, config: NSTConfig | None = None, **kwargs) -> NSTRun:
    """Make a run (checks everything, loads the model); iterate it for records."""
    return NSTRun(content, styles, config, **kwargs)
