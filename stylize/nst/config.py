"""Options of a neural style transfer run (torch-free, so CLI help and the app's form import fast).

Every field carries its one-line help and, for numbers, its allowed range in ``metadata``; the app
builds its controls from ``NSTConfig.fields_info()`` and ``check()`` refuses a bad value with one
line before any image or model is loaded.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from stylize.nst.layers import check_layer

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "style", "noise")
POOLINGS = ("max", "avg")
DEVICES = ("auto", "cpu", "cuda")
# Gatys et al. 2016, "Preserving Color in Neural Artistic Style Transfer": none (colours of the style),
# swap (content chroma put back after the transfer), luminance (transfer on luminance only), histogram
# (style colours matched to the content first). See stylize/nst/colour.py.
COLOR_MODES = ("none", "swap", "luminance", "histogram")
HISTOGRAM_TRANSFORMS = ("sqrt", "cholesky")  # same as colour.HISTOGRAM_TRANSFORMS (this module is numpy-free)
GATYS_CONTENT_LAYERS = ("conv4_2",)
GATYS_STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
MAX_SIDE_LIMIT = 2048
MIN_SIDE = 32  # five 2x2 pools: conv5_x is 1/16 of the image, at least 2x2 maps


def _opt(help_text: str, lo: float | None = None, hi: float | None = None, **extra: Any) -> dict[str, Any]:
    return {"help": help_text, "range": (lo, hi), **extra}


@dataclass
class NSTConfig:
    """One Gatys et al. style transfer: defaults follow the paper's layers and the PyTorch tutorial's
    weights (content 1, style 1e6) for torchvision's ImageNet VGG19."""

    model: str = field(default="vgg19", metadata=_opt("VGG19 weights: vgg19, tiny, a .safetensors file/folder or hub id"))
    iterations: int = field(default=300, metadata=_opt("optimizer iterations in all (split over the scales)", 1, 100_000))
    max_side: int = field(default=512, metadata=_opt("the content image's long side is brought down to this (px)", MIN_SIDE, MAX_SIDE_LIMIT))
    content_layers: tuple[str, ...] = field(default=GATYS_CONTENT_LAYERS, metadata=_opt("layers of the content loss"))
    style_layers: tuple[str, ...] = field(default=GATYS_STYLE_LAYERS, metadata=_opt("layers of the Gram style loss"))
    style_layer_weights: tuple[float, ...] | None = field(default=None, metadata=_opt("weight per style layer (default 1 each)"))
    content_weight: float = field(default=1.0, metadata=_opt("α, weight of the content loss", 0.0, 1e12))
    style_weight: float = field(default=1e6, metadata=_opt("β, weight of the style loss (β/α is the style/content ratio)", 0.0, 1e15))
    tv_weight: float = field(default=0.0, metadata=_opt("γ, weight of the total-variation loss (0: off, as in Gatys et al.)", 0.0, 1e12))
    optimizer: str = field(default="lbfgs", metadata=_opt("lbfgs (Gatys et al.) or adam", choices=OPTIMIZERS))
    lr: float | None = field(default=None, metadata=_opt("step size (default: 1 for L-BFGS, 0.02 for Adam on [0,1] pixels)", 0.0, 1e3))
    lbfgs_history: int = field(default=100, metadata=_opt("L-BFGS memory (torch's default)", 1, 1000))
    line_search: bool = field(default=False, metadata=_opt("strong-Wolfe line search for L-BFGS (several evaluations a step)"))
    init: str = field(default="content", metadata=_opt("start from the content, the (first) style image, or noise", choices=INITS))
    seed: int = field(default=0, metadata=_opt("seed of the noise init", 0, 2**31 - 1))
    color_mode: str = field(default="none", metadata=_opt(
        "colours: none (the style's), swap (content chroma put back, YIQ), luminance (luminance-only transfer), "
        "histogram (style colours matched to the content first)", choices=COLOR_MODES))
    histogram_transform: str = field(default="sqrt", metadata=_opt(
        "histogram mode's A: sqrt (Σc^½ Σs^-½, symmetric roots) or cholesky (Lc Ls⁻¹)", choices=HISTOGRAM_TRANSFORMS))
    original_colors: bool = field(default=False, metadata=_opt("old alias: true means color_mode 'swap'"))
    style_blend: tuple[float, ...] | None = field(default=None, metadata=_opt("weight per style image (default equal)"))
    style_scale: float = field(default=1.0, metadata=_opt("style images' long side relative to the content's", 0.1, 4.0))
    num_scales: int = field(default=1, metadata=_opt("coarse-to-fine scales, each twice the previous side", 1, 4))
    pooling: str = field(default="max", metadata=_opt("max (the weights' own) or avg (Gatys et al.)", choices=POOLINGS))
    after_relu: bool = field(default=True, metadata=_opt("take conv layers after their ReLU (Caffe's in-place ReLU)"))
    device: str = field(default="auto", metadata=_opt("auto, cpu or cuda", choices=DEVICES))
    record_every: int = field(default=1, metadata=_opt("keep a frame every k-th step (metrics every step)", 1, 10_000))
    max_pixels: int = field(default=40_000_000, metadata=_opt("refuse input images over this many pixels", 1, 400_000_000))

    def __post_init__(self) -> None:
        # The old boolean stays accepted (saved bundles, callers): it names the "swap" mode.
        if self.original_colors is True and self.color_mode == "none":
            self.color_mode = "swap"

    @classmethod
    def fields_info(cls) -> dict[str, dict[str, Any]]:
        """name -> {"default", "help", "range", ["choices"]} for building forms."""
        info = {}
        for f in fields(cls):
            info[f.name] = {"default": f.default, **f.metadata}
        return info

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def effective_lr(self) -> float:
        """The step size used: ``lr`` or the optimizer's default."""
        if self.lr is not None:
            return float(self.lr)
        return 1.0 if self.optimizer == "lbfgs" else 0.02

    def scale_sides(self, long_side: int) -> list[int]:
        """The long side at each scale, coarse to fine (the last is ``long_side``)."""
        return [max(MIN_SIDE, round(long_side / 2 ** (self.num_scales - 1 - i))) for i in range(self.num_scales)]

    def scale_iterations(self) -> list[int]:
        """Iterations per scale: an even split of ``iterations``, the remainder to the finest scale."""
        base, extra = divmod(self.iterations, self.num_scales)
        return [base] * (self.num_scales - 1) + [base + extra]

    def check(self, num_styles: int | None = None) -> "NSTConfig":
        """Raise one-line ``ConfigError`` for the first bad option; return self when all are fine."""
        from workbench.errors import ConfigError

        info = self.fields_info()
        for name in ("iterations", "max_side", "lbfgs_history", "seed", "num_scales", "record_every", "max_pixels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ConfigError(f"{name} must be a whole number, got {value!r}")
            _in_range(name, value, info[name]["range"])
        for name in ("content_weight", "style_weight", "tv_weight", "style_scale", "lr"):
            value = getattr(self, name)
            if value is None and name == "lr":
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ConfigError(f"{name} must be a finite number, got {value!r}")
            _in_range(name, value, info[name]["range"])
        if self.lr is not None and self.lr <= 0:
            raise ConfigError(f"lr must be above 0, got {self.lr}")
        for name in ("optimizer", "init", "pooling", "device", "color_mode", "histogram_transform"):
            value = getattr(self, name)
            if value not in info[name]["choices"]:
                raise ConfigError(f"{name} '{value}' is not one of {', '.join(info[name]['choices'])}")
        for name in ("line_search", "original_colors", "after_relu"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.original_colors and self.color_mode != "swap":
            raise ConfigError(f"original_colors=true means color_mode 'swap' but color_mode is '{self.color_mode}'; "
                              "give only color_mode")
        if self.content_weight == 0 and self.style_weight == 0 and self.tv_weight == 0:
            raise ConfigError("content, style and tv weights are all 0: nothing to optimise")
        if not self.content_layers and self.content_weight > 0:
            raise ConfigError("content_layers is empty while content_weight > 0; name a layer such as conv4_2")
        if not self.style_layers and self.style_weight > 0:
            raise ConfigError("style_layers is empty while style_weight > 0; name layers such as conv1_1,conv2_1")
        for layer in self.content_layers:
            check_layer(layer, "content layer")
        for layer in self.style_layers:
            check_layer(layer, "style layer")
        _check_weights("style_layer_weights", self.style_layer_weights, len(self.style_layers), "style layers")
        if num_styles is not None:
            if num_styles < 1:
                raise ConfigError("give at least one style image")
            _check_weights("style_blend", self.style_blend, num_styles, "style images")
        if self.num_scales > 1 and self.iterations < self.num_scales:
            raise ConfigError(f"iterations ({self.iterations}) must be at least num_scales ({self.num_scales})")
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigError("model must be a registry name, a path or a hub id")
        from stylize.nst.models import model_spec

        model_spec(self.model)  # unknown names fail here, before any loading
        return self


def _in_range(name: str, value: float, bounds: tuple[float | None, float | None]) -> None:
    from workbench.errors import ConfigError

    lo, hi = bounds
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"{name} must be between {lo:g} and {hi:g}, got {value:g}")


def _check_weights(name: str, weights: tuple[float, ...] | None, count: int, what: str) -> None:
    from workbench.errors import ConfigError

    if weights is None:
        return
    if len(weights) != count:
        raise ConfigError(f"{name} has {len(weights)} values for {count} {what}")
    if any(isinstance(w, bool) or not isinstance(w, numbers.Real) or not math.isfinite(w) or w < 0 for w in weights):
        raise ConfigError(f"{name} must be finite numbers ≥ 0, got {list(weights)}")
    if sum(weights) <= 0:
        raise ConfigError(f"{name} must not be all 0")
