"""Typed configuration of a Council GAN face → full-body run (seed 001); no torch import.

Defaults follow the official Council GAN selfie2anime configuration
(``configs/anime2face_council_folder.yaml`` of Onr/Council-GAN); the two presets are the seed's:

* ``baseline``: the official configuration at 256 × 256 with 4 councils (seed §4.1);
* ``proposed``: 512 × 512, batch size 1, instance normalisation, 3 councils (seed §3.1).

A config file is YAML or JSON, either in this module's nested form (``to_dict``) or the official flat
form (``gan_w``, ``council: {council_size: ...}``, ``gen: {...}``, ``dis: {...}``), so the official
YAML files load as they are. ``validate`` raises one-line ``ConfigError``s before anything is built.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from workbench.errors import ConfigError

ACTIVATIONS = ("relu", "lrelu", "prelu", "selu", "tanh", "none")
PAD_TYPES = ("zero", "reflect", "replicate")
DIS_NORMS = ("none", "in", "bn")
INITS = ("kaiming", "gaussian", "xavier", "orthogonal", "default")
LR_POLICIES = ("step", "constant")
PRESETS = ("proposed", "baseline", "official")


@dataclass
class GenConfig:
    """Generator (official ``gen:`` section): content / style encoders, AdaIN decoder with masks, MLP."""

    dim: int = 64  # filters of the first layer
    mlp_dim: int = 256
    style_dim: int = 64  # length of the random vector z
    activ: str = "relu"
    n_downsample: int = 2
    n_res: int = 5
    pad_type: str = "zero"
    num_of_mask_dim_to_add: int = 3  # masked RGB outputs blended in turn with the input
    input_dim: int = 3
    init: str = "kaiming"  # official ``init``; discriminators are always initialised 'gaussian'


@dataclass
class DisConfig:
    """Multi-scale LSGAN discriminator and council discriminator (official ``dis:`` section)."""

    dim: int = 64
    norm: str = "none"
    activ: str = "lrelu"
    n_layer: int = 4
    gan_type: str = "lsgan"
    num_scales: int = 2
    pad_type: str = "zero"
    relative_iterations: int = 1  # official numberOf_dis_relative_iteration


@dataclass
class CouncilConfig:
    """The council (official ``council:`` section)."""

    council_size: int = 4
    dis_iterations: int = 4  # official numberOfCouncil_dis_relative_iteration
    less_style_by: float = 0.7  # official discriminetro_less_style_by: others' z scaled by this (α)
    start_at_iter: int = 1000  # official council_start_at_iter
    flip_on_off: bool = False
    flip_start_with: bool = True
    flip_on_iterations: int = 45
    flip_off_iterations: int = 5


@dataclass
class LossConfig:
    """Loss weights (official top-level keys and ``focus_loss:`` section)."""

    gan_w: float = 26.0
    council_w: float = 6.0
    council_abs_w: float = 0.0
    council_abs_gray_scale: bool = False
    mask_zero_or_one_w: float = 0.0  # focus loss, binary term
    mask_total_w: float = 0.0  # focus loss, size term
    mask_tv_w: float = 0.0
    mask_zero_or_one_center: float = 0.5
    mask_zero_or_one_epsilon: float = 0.01
    mask_small_use_abs: bool = False
    mask_small_use_square: bool = True
    focus_loss_start_at_iter: int = 2000
    abs_beginning_end: float = 0.0
    abs_beginning_end_less_by: float = 1.0
    abs_beginning_end_minimum: float = 0.0
    do_w_loss_matching: bool = True
    loss_matching_hist_size: int = 100
    # Terms that need the reverse (body → face) generators, which the official selfie2anime config
    # does not train (do_a2b xor do_b2a): kept so official files parse, refused when non-zero.
    recon_x_w: float = 0.0
    recon_s_w: float = 0.0
    recon_c_w: float = 0.0
    recon_x_cyc_w: float = 0.0
    vgg_w: float = 0.0


@dataclass
class OptimConfig:
    """Adam per member and network, step learning-rate schedule (official defaults)."""

    lr: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 1e-4
    lr_policy: str = "step"
    step_size: int = 100_000
    gamma: float = 0.5


@dataclass
class DataConfig:
    """Image size and augmentation (official: resize, random crop, flip, grayscale p=0.05)."""

    image_size: int = 256
    batch_size: int = 3
    hflip: bool = True
    grayscale_p: float = 0.05


@dataclass
class TrainConfig:
    """Run options: length, seed, how often frames, checkpoints and FID are made."""

    iterations: int = 400_000
    seed: int = 1
    sample_every: int = 1000  # a sample grid (the run's frame) every N iterations
    display_size: int = 4  # faces in the sample grid
    grid_tile: int = 128  # each grid tile's side in pixels
    checkpoint_every: int = 10_000
    log_every: int = 10  # a row of losses in RUN_DIR/curves.csv every N iterations (official log_iter)
    keep_checkpoints: int = 3
    fid_every: int = 0  # 0: no FID during training
    fid_num_images: int = 100
    fid_model: str = "pt_inception-2015-12-05"  # registry name, hub id or local file (facegen.fid_inception)
    device: str = "auto"


@dataclass
class FaceGenConfig:
    """Everything a training run and the networks need."""

    gen: GenConfig = field(default_factory=GenConfig)
    dis: DisConfig = field(default_factory=DisConfig)
    council: CouncilConfig = field(default_factory=CouncilConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    name: str = "custom"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able nested dict (the form saved beside checkpoints)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FaceGenConfig":
        """Read the nested form or the official flat form; unknown keys raise ``ConfigError``."""
        if not isinstance(data, Mapping):
            raise ConfigError("a facegen config must be a mapping of sections (gen, dis, council, ...)")
        if _looks_official(data):
            return from_official(data)
        sections = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(data) - set(sections))
        if unknown:
            raise ConfigError(f"unknown config section(s) {', '.join(unknown)}; known: {', '.join(sections)}")
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            if f.name == "name":
                kwargs["name"] = str(data["name"])
            else:
                kwargs[f.name] = _section(_SECTION_TYPES[f.name], data[f.name], f.name)
        return cls(**kwargs)

    def replace(self, **sections: Mapping[str, Any]) -> "FaceGenConfig":
        """A copy with some fields of some sections changed, e.g. ``replace(train={"iterations": 5})``."""
        data = self.to_dict()
        for name, values in sections.items():
            if name not in data or not isinstance(data[name], dict):
                raise ConfigError(f"unknown config section '{name}'")
            data[name].update(values)
        return FaceGenConfig.from_dict(data)

    def validate(self) -> "FaceGenConfig":
        """Check every option; raise one ``ConfigError`` line for the first problem found."""
        _validate(self)
        return self


_SECTION_TYPES = {"gen": GenConfig, "dis": DisConfig, "council": CouncilConfig, "loss": LossConfig,
                  "optim": OptimConfig, "data": DataConfig, "train": TrainConfig}


def _section(kind: type, values: Any, name: str) -> Any:
    if not isinstance(values, Mapping):
        raise ConfigError(f"config section '{name}' must be a mapping, got {type(values).__name__}")
    known = {f.name: f for f in fields(kind)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)} in section '{name}'; known: {', '.join(known)}")
    out = {}
    for key, value in values.items():
        default = getattr(kind(), key)
        out[key] = _coerce(value, default, f"{name}.{key}")
    return kind(**out)


def _coerce(value: Any, default: Any, where: str) -> Any:
    """Type-check one option against its default's type (ints accepted for floats)."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be a whole number, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where} must be finite, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    return value


# --- the official flat form ---------------------------------------------------------------------

_OFFICIAL_GEN = {"dim", "mlp_dim", "style_dim", "activ", "n_downsample", "n_res", "pad_type",
                 "num_of_mask_dim_to_add"}
_OFFICIAL_DIS = {"dim", "norm", "activ", "n_layer", "gan_type", "num_scales", "pad_type"}
_OFFICIAL_LOSS = {"gan_w", "council_w", "council_abs_w", "council_abs_gray_scale", "mask_zero_or_one_w",
                  "mask_total_w", "mask_tv_w", "abs_beginning_end", "abs_beginning_end_less_by",
                  "do_w_loss_matching", "loss_matching_hist_size", "recon_x_w", "recon_s_w", "recon_c_w",
                  "recon_x_cyc_w", "vgg_w"}
_OFFICIAL_FOCUS = {"mask_zero_or_one_center", "mask_zero_or_one_epsilon", "mask_small_use_abs",
                   "mask_small_use_square", "focus_loss_start_at_iter"}
_OFFICIAL_OPTIM = {"lr", "beta1", "beta2", "weight_decay", "lr_policy", "step_size", "gamma"}


def _looks_official(data: Mapping[str, Any]) -> bool:
    return "gan_w" in data or "council_w" in data or "max_iter" in data


def from_official(h: Mapping[str, Any]) -> FaceGenConfig:
    """Map the official Council GAN hyperparameters (flat YAML) to a ``FaceGenConfig``.

    Options of the official trainer that this project does not have (telegram, tensorboard, data
    folders, unused augmentations) are ignored; the ones that change training are mapped.
    """
    def pick(src: Any, keys: set[str]) -> dict[str, Any]:
        return {k: src[k] for k in keys if isinstance(src, Mapping) and k in src}

    gen = pick(h.get("gen", {}), _OFFICIAL_GEN)
    if "input_dim_a" in h:
        gen["input_dim"] = h["input_dim_a"]
    if "init" in h:
        gen["init"] = h["init"]
    dis = pick(h.get("dis", {}), _OFFICIAL_DIS)
    if "numberOf_dis_relative_iteration" in h.get("dis", {}):
        dis["relative_iterations"] = h["dis"]["numberOf_dis_relative_iteration"]
    c = h.get("council", {}) or {}
    council = {k2: c[k1] for k1, k2 in [
        ("council_size", "council_size"), ("numberOfCouncil_dis_relative_iteration", "dis_iterations"),
        ("discriminetro_less_style_by", "less_style_by"), ("council_start_at_iter", "start_at_iter"),
        ("flipOnOff", "flip_on_off"), ("flipOnOff_start_with", "flip_start_with"),
        ("flipOnOff_On_iteration", "flip_on_iterations"), ("flipOnOff_Off_iteration", "flip_off_iterations"),
    ] if k1 in c}
    loss = pick(h, _OFFICIAL_LOSS)
    loss.update(pick(h.get("focus_loss", {}) or {}, _OFFICIAL_FOCUS))
    if "abs_beginning_end_minimume" in h:
        loss["abs_beginning_end_minimum"] = h["abs_beginning_end_minimume"]
    for key in ("gan_w", "council_w", "council_abs_w", "mask_zero_or_one_w", "mask_total_w", "mask_tv_w",
                "abs_beginning_end", "abs_beginning_end_less_by", "abs_beginning_end_minimum", "recon_x_w",
                "recon_s_w", "recon_c_w", "recon_x_cyc_w", "vgg_w", "mask_zero_or_one_center",
                "mask_zero_or_one_epsilon"):
        if key in loss and isinstance(loss[key], int) and not isinstance(loss[key], bool):
            loss[key] = float(loss[key])
    optim = pick(h, _OFFICIAL_OPTIM)
    for key in ("lr", "beta1", "beta2", "weight_decay", "gamma"):
        if key in optim and isinstance(optim[key], int):
            optim[key] = float(optim[key])
    data: dict[str, Any] = {}
    if "crop_image_height" in h:
        data["image_size"] = h["crop_image_height"]
    if "batch_size" in h:
        data["batch_size"] = h["batch_size"]
    if "do_HorizontalFlip" in h:
        data["hflip"] = h["do_HorizontalFlip"]
    if "do_RandomGrayscale" in h:
        data["grayscale_p"] = float(h.get("RandomGrayscale_P", 0.05)) if h["do_RandomGrayscale"] else 0.0
    train: dict[str, Any] = {}
    for k1, k2 in [("max_iter", "iterations"), ("random_seed", "seed"), ("image_save_iter", "sample_every"),
                   ("snapshot_save_iter", "checkpoint_every"), ("log_iter", "log_every")]:
        if k1 in h:
            train[k2] = h[k1]
    misc = h.get("misc", {}) or {}
    if misc.get("do_test_Fid"):
        train["fid_every"] = misc.get("test_Fid_iter", 1000)
        train["fid_num_images"] = misc.get("test_Fid_num_of_im", 100)
    return FaceGenConfig.from_dict({"gen": gen, "dis": dis, "council": council, "loss": loss, "optim": optim,
                                    "data": data, "train": train, "name": "official-file"})


# --- presets ------------------------------------------------------------------------------------

def official_config() -> FaceGenConfig:
    """The official selfie2anime configuration as this project runs it (the reference state keys)."""
    return FaceGenConfig(data=DataConfig(image_size=256, batch_size=3), name="official")


def baseline_config() -> FaceGenConfig:
    """Seed §4.1 baseline: the official anime-to-face Council GAN at 256 × 256, 4 councils."""
    return FaceGenConfig(data=DataConfig(image_size=256, batch_size=3), name="baseline")


def proposed_config() -> FaceGenConfig:
    """Seed §3.1 proposal: 512 × 512 input and output, batch 1, instance normalisation, 3 councils.

    The official generator already normalises its content encoder with instance norm; the
    discriminators have none (``dis.norm: none``). The seed's added instance normalisation is read as
    the discriminators' (``dis.norm: in``), which adds no parameters, so official checkpoints load.
    """
    return FaceGenConfig(
        dis=DisConfig(norm="in"),
        council=CouncilConfig(council_size=3),
        data=DataConfig(image_size=512, batch_size=1),
        train=TrainConfig(iterations=313_000),
        name="proposed",
    )


def tiny_config(image_size: int = 32, council_size: int = 2) -> FaceGenConfig:
    """Tiny widths for tests and CPU benchmarks (same code paths, seconds per iteration)."""
    return FaceGenConfig(
        gen=GenConfig(dim=4, mlp_dim=8, style_dim=4, n_res=1),
        dis=DisConfig(dim=4, n_layer=2),
        council=CouncilConfig(council_size=council_size, dis_iterations=2, start_at_iter=1),
        loss=LossConfig(mask_zero_or_one_w=1.0, mask_total_w=1.0, mask_tv_w=0.5, focus_loss_start_at_iter=1,
                        loss_matching_hist_size=4),
        data=DataConfig(image_size=image_size, batch_size=2),
        train=TrainConfig(iterations=4, sample_every=2, display_size=2, grid_tile=image_size,
                          checkpoint_every=2, keep_checkpoints=2, log_every=1),
        name="tiny",
    )


_PRESETS = {"proposed": proposed_config, "baseline": baseline_config, "official": official_config,
            "tiny": tiny_config}


def load_config(spec: str | Path | Mapping[str, Any] | FaceGenConfig) -> FaceGenConfig:
    """A preset name (proposed, baseline, official, tiny), a YAML / JSON file, a dict or a config."""
    if isinstance(spec, FaceGenConfig):
        return spec
    if isinstance(spec, Mapping):
        return FaceGenConfig.from_dict(spec)
    text = str(spec)
    if text in _PRESETS:
        return _PRESETS[text]()
    path = Path(text).expanduser()
    if not path.is_file():
        raise ConfigError(f"config '{text}' is neither a preset ({', '.join(_PRESETS)}) nor an existing file")
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ConfigError(f"config file {path} is not valid JSON: {exc}") from None
    else:
        try:
            import yaml  # PyYAML: only needed for YAML config files
        except ImportError:  # pragma: no cover - depends on the environment
            raise ConfigError("reading a YAML config needs PyYAML (pip install pyyaml); or use a .json config") from None
        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {' '.join(str(exc).split())}") from None
    return FaceGenConfig.from_dict(data or {})


def save_config(config: FaceGenConfig, path: str | Path) -> None:
    """Write the config as JSON (atomically)."""
    from workbench.atomic import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(config.to_dict(), indent=2), encoding="utf-8")


# --- validation ---------------------------------------------------------------------------------

def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


def _in_range(value: float, lo: float, hi: float, name: str) -> None:
    _check(lo <= value <= hi, f"{name} must be between {lo:g} and {hi:g}, got {value:g}")


def _validate(c: FaceGenConfig) -> None:
    g, d, k, l, o, data, t = c.gen, c.dis, c.council, c.loss, c.optim, c.data, c.train
    for name, value in [("gen.dim", g.dim), ("gen.mlp_dim", g.mlp_dim), ("gen.style_dim", g.style_dim),
                        ("dis.dim", d.dim)]:
        _in_range(value, 1, 4096, name)
    _in_range(g.n_downsample, 0, 6, "gen.n_downsample")
    _in_range(g.n_res, 0, 32, "gen.n_res")
    _in_range(g.num_of_mask_dim_to_add, 1, 16, "gen.num_of_mask_dim_to_add")
    _check(g.input_dim == 3, f"gen.input_dim must be 3 (RGB), got {g.input_dim}")
    _check(g.activ in ACTIVATIONS, f"gen.activ must be one of {', '.join(ACTIVATIONS)}, got '{g.activ}'")
    _check(d.activ in ACTIVATIONS, f"dis.activ must be one of {', '.join(ACTIVATIONS)}, got '{d.activ}'")
    _check(g.pad_type in PAD_TYPES, f"gen.pad_type must be one of {', '.join(PAD_TYPES)}, got '{g.pad_type}'")
    _check(d.pad_type in PAD_TYPES, f"dis.pad_type must be one of {', '.join(PAD_TYPES)}, got '{d.pad_type}'")
    _check(g.init in INITS, f"gen.init must be one of {', '.join(INITS)}, got '{g.init}'")
    _check(d.norm in DIS_NORMS, f"dis.norm must be one of {', '.join(DIS_NORMS)}, got '{d.norm}'")
    _check(d.gan_type == "lsgan", f"dis.gan_type '{d.gan_type}' is not supported; only lsgan (the official default)")
    _in_range(d.n_layer, 1, 8, "dis.n_layer")
    _in_range(d.num_scales, 1, 6, "dis.num_scales")
    _in_range(d.relative_iterations, 1, 16, "dis.relative_iterations")
    _in_range(k.council_size, 1, 16, "council.council_size")
    _in_range(k.dis_iterations, 0, 64, "council.dis_iterations")
    _in_range(k.less_style_by, 0.0, 10.0, "council.less_style_by")
    _check(k.start_at_iter >= 0, "council.start_at_iter must be 0 or more")
    _check(k.flip_on_iterations >= 1 and k.flip_off_iterations >= 0,
           "council.flip_on_iterations must be 1 or more and flip_off_iterations 0 or more")
    for name in ("gan_w", "council_w", "council_abs_w", "mask_zero_or_one_w", "mask_total_w", "mask_tv_w",
                 "abs_beginning_end", "abs_beginning_end_minimum"):
        _in_range(getattr(l, name), 0.0, 1e6, f"loss.{name}")
    _check(l.gan_w > 0, "loss.gan_w must be positive: without the adversarial loss nothing learns the bodies")
    for name in ("recon_x_w", "recon_s_w", "recon_c_w", "recon_x_cyc_w", "vgg_w"):
        _check(getattr(l, name) == 0, f"loss.{name} needs the reverse (body → face) generators, which this "
               "project does not train (as the official selfie2anime config); set it to 0")
    _in_range(l.mask_zero_or_one_epsilon, 1e-8, 10.0, "loss.mask_zero_or_one_epsilon")
    _in_range(l.mask_zero_or_one_center, 0.0, 1.0, "loss.mask_zero_or_one_center")
    _check(l.mask_total_w == 0 or l.mask_small_use_abs or l.mask_small_use_square,
           "loss.mask_total_w needs mask_small_use_abs or mask_small_use_square set to true")
    _in_range(l.abs_beginning_end_less_by, 0.0, 1.0, "loss.abs_beginning_end_less_by")
    _check(l.focus_loss_start_at_iter >= 0, "loss.focus_loss_start_at_iter must be 0 or more")
    _in_range(l.loss_matching_hist_size, 1, 100_000, "loss.loss_matching_hist_size")
    _check(0 < o.lr <= 1.0, f"optim.lr must be in (0, 1], got {o.lr:g}")
    _in_range(o.beta1, 0.0, 0.999999, "optim.beta1")
    _in_range(o.beta2, 0.0, 0.999999, "optim.beta2")
    _in_range(o.weight_decay, 0.0, 1.0, "optim.weight_decay")
    _check(o.lr_policy in LR_POLICIES, f"optim.lr_policy must be one of {', '.join(LR_POLICIES)}, got '{o.lr_policy}'")
    _check(o.step_size >= 1, "optim.step_size must be 1 or more")
    _in_range(o.gamma, 0.0, 1.0, "optim.gamma")
    min_side = max(2 ** (d.n_layer + d.num_scales - 1), 2 ** g.n_downsample, 8)
    _check(min_side <= data.image_size <= 2048, f"data.image_size must be between {min_side} and 2048 for these "
           f"networks, got {data.image_size}")
    _check(data.image_size % (2 ** g.n_downsample) == 0,
           f"data.image_size must be a multiple of {2 ** g.n_downsample} (gen.n_downsample = {g.n_downsample}), "
           f"got {data.image_size}")
    _in_range(data.batch_size, 1, 256, "data.batch_size")
    _in_range(data.grayscale_p, 0.0, 1.0, "data.grayscale_p")
    _in_range(t.iterations, 1, 100_000_000, "train.iterations")
    _check(0 <= t.seed < 2 ** 63, "train.seed must be a whole number from 0 to 2^63 - 1")
    _in_range(t.sample_every, 1, 100_000_000, "train.sample_every")
    _in_range(t.display_size, 1, 64, "train.display_size")
    _in_range(t.grid_tile, 16, 1024, "train.grid_tile")
    _in_range(t.checkpoint_every, 0, 100_000_000, "train.checkpoint_every")
    _in_range(t.log_every, 1, 100_000_000, "train.log_every")
    _in_range(t.keep_checkpoints, 1, 1000, "train.keep_checkpoints")
    _in_range(t.fid_every, 0, 100_000_000, "train.fid_every")
    _in_range(t.fid_num_images, 2, 100_000, "train.fid_num_images")
    _check(t.device in ("auto", "cpu", "cuda") or t.device.startswith("cuda:"),
           f"train.device must be auto, cpu, cuda or cuda:N, got '{t.device}'")
