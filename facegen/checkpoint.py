"""Checkpoints: this project's safetensors files (weights, optimiser state, random streams, config)
and the official Council GAN ``.pt`` generator files.

A training checkpoint is one file ``RUN_DIR/checkpoints/councilgan_{iteration:08d}.safetensors``,
written through ``atomic_path`` (never half-written under its name) with the config JSON, the
iteration and a SHA-256 of all tensors in its metadata; a damaged file is detected on load and the
previous checkpoint is used. Nothing is ever unpickled: official files load with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from facegen.config import FaceGenConfig, official_config
from workbench.atomic import atomic_path
from workbench.errors import UserError
from workbench.untrusted import loads_json

FORMAT = "facegen-councilgan/1"
CKPT_DIR = "checkpoints"
CKPT_RE = re.compile(r"^councilgan_(\d{8})\.safetensors$")
OFFICIAL_RE = re.compile(r"^(a2b|b2a)_gen_(\d+)_(\d{8})\.pt$")
NETS = ("gen", "dis", "dis_council")


class CheckpointError(UserError, ValueError):
    """A checkpoint is missing, damaged or from another configuration."""


def checkpoint_path(run_dir: str | Path, iteration: int) -> Path:
    return Path(run_dir) / CKPT_DIR / f"councilgan_{iteration:08d}.safetensors"


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """(iteration, path) of every checkpoint file in the run folder, newest first."""
    folder = Path(run_dir) / CKPT_DIR
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := CKPT_RE.match(p.name))]
    return sorted(found, reverse=True)


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key].detach().cpu().contiguous()
        h.update(key.encode())
        h.update(str(t.dtype).encode() + str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _flatten_optimizer(prefix: str, state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Optimiser tensors into ``tensors``; the JSON-able rest (param groups, scalar steps) returned."""
    scalars: dict[str, Any] = {}
    for idx, entry in state["state"].items():
        for name, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.{idx}.{name}"] = value.detach().cpu().contiguous().clone()
            else:
                scalars[f"{idx}.{name}"] = value
    return {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(prefix: str, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            idx, name = key[len(prefix) + 1:].split(".", 1)
            state.setdefault(int(idx), {})[name] = value
    for key, value in meta["scalars"].items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(trainer: Any, run_dir: str | Path, iteration: int, *, history: dict[str, Any] | None = None,
                    keep: int = 3) -> Path:
    """Write the trainer's full state at ``iteration``; keep the newest ``keep`` checkpoints."""
    tensors: dict[str, torch.Tensor] = {}
    for net in NETS:
        for i, module in enumerate(getattr(trainer, "gens" if net == "gen" else net)):
            for key, value in module.state_dict().items():
                tensors[f"{net}.{i}.{key}"] = value.detach().cpu().contiguous().clone()
    opt_meta = {}
    for net, opts in (("gen", trainer.gen_opts), ("dis", trainer.dis_opts), ("dis_council", trainer.dis_council_opts)):
        for i, opt in enumerate(opts):
            opt_meta[f"{net}.{i}"] = _flatten_optimizer(f"opt.{net}.{i}", opt.state_dict(), tensors)
    for i, matcher in enumerate(trainer.matchers):
        tensors[f"matcher.{i}"] = matcher.state()
    tensors["rng.z"] = trainer.z_rng.get_state().clone()
    tensors["rng.torch"] = torch.get_rng_state().clone()
    py_state = trainer.py_rng.getstate()
    metadata = {
        "format": FORMAT,
        "iteration": str(iteration),
        "config": json.dumps(trainer.config.to_dict()),
        "optimizers": json.dumps(opt_meta),
        "rng_python": json.dumps([py_state[0], list(py_state[1]), py_state[2]]),
        "history": json.dumps(history or {}),
        "sha256": _digest(tensors),
    }
    path = checkpoint_path(run_dir, iteration)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    for _, old in list_checkpoints(run_dir)[keep:]:
        old.unlink(missing_ok=True)
    return path


@dataclass
class Checkpoint:
    """A verified checkpoint: its tensors, iteration, config and training metadata."""

    path: Path
    iteration: int
    config: FaceGenConfig
    tensors: dict[str, torch.Tensor]
    metadata: dict[str, str] = field(default_factory=dict)

    def state_dict(self, net: str, member: int) -> dict[str, torch.Tensor]:
        prefix = f"{net}.{member}."
        return {k[len(prefix):]: v for k, v in self.tensors.items() if k.startswith(prefix)}

    @property
    def history(self) -> dict[str, Any]:
        return json.loads(self.metadata.get("history", "{}"))


def read_checkpoint(path: str | Path, *, prefixes: tuple[str, ...] | None = None, verify: bool = True) -> Checkpoint:
    """Open and verify one checkpoint file (all of it, or only keys starting with ``prefixes``)."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            keys = [k for k in f.keys() if prefixes is None or k.startswith(prefixes)]
            tensors = {k: f.get_tensor(k) for k in keys}
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except Exception as exc:  # truncated header or data, not a safetensors file
        raise CheckpointError(f"checkpoint {path} is damaged or not a facegen checkpoint ({type(exc).__name__})") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a facegen Council GAN checkpoint (format {metadata.get('format')!r})")
    if verify and prefixes is None and _digest(tensors) != metadata.get("sha256"):
        raise CheckpointError(f"checkpoint {path} is damaged (its contents do not match their checksum)")
    try:  # safetensors bounds the header (100 MB) and every tensor by the file's size; JSON depth is ours
        config = FaceGenConfig.from_dict(loads_json(metadata["config"].encode()))
        iteration = int(metadata["iteration"])
    except UserError:
        raise
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        reason = " ".join(str(exc).split())[:120]
        raise CheckpointError(f"checkpoint {path} has unreadable metadata ({reason})") from None
    return Checkpoint(path, iteration, config, tensors, metadata)


def latest_checkpoint(run_dir: str | Path, *, notes: list[str] | None = None) -> Checkpoint | None:
    """The newest checkpoint of a run folder that verifies; damaged ones are skipped with a note."""
    for _, path in list_checkpoints(run_dir):
        try:
            return read_checkpoint(path)
        except CheckpointError as exc:
            if notes is not None:
                notes.append(f"{exc}; using the previous checkpoint")
    return None


def same_architecture(a: FaceGenConfig, b: FaceGenConfig) -> str | None:
    """None when checkpoints of ``a`` load into ``b``'s networks, else what differs."""
    for section in ("gen", "dis"):
        da, db = getattr(a, section).__dict__, getattr(b, section).__dict__
        diff = [k for k in da if k not in ("init", "relative_iterations", "norm", "gan_type") and da[k] != db[k]]
        if diff:
            return f"{section}.{diff[0]} is {da[diff[0]]!r} in the checkpoint but {db[diff[0]]!r} in the config"
    if a.council.council_size != b.council.council_size:
        return (f"council.council_size is {a.council.council_size} in the checkpoint but "
                f"{b.council.council_size} in the config")
    return None


def restore(trainer: Any, ckpt: Checkpoint) -> None:
    """Load weights, optimiser states, loss histories and random streams into a trainer."""
    problem = same_architecture(ckpt.config, trainer.config)
    if problem:
        raise CheckpointError(f"checkpoint {ckpt.path} is from another config: {problem}")
    for net in NETS:
        for i, module in enumerate(getattr(trainer, "gens" if net == "gen" else net)):
            module.load_state_dict(ckpt.state_dict(net, i))
    opt_meta = json.loads(ckpt.metadata["optimizers"])
    for net, opts in (("gen", trainer.gen_opts), ("dis", trainer.dis_opts), ("dis_council", trainer.dis_council_opts)):
        for i, opt in enumerate(opts):
            opt.load_state_dict(_unflatten_optimizer(f"opt.{net}.{i}", opt_meta[f"{net}.{i}"], ckpt.tensors))
    for i, matcher in enumerate(trainer.matchers):
        matcher.load_state(ckpt.tensors[f"matcher.{i}"])
    trainer.z_rng.set_state(ckpt.tensors["rng.z"])
    torch.set_rng_state(ckpt.tensors["rng.torch"])
    version, internal, gauss = json.loads(ckpt.metadata["rng_python"])
    trainer.py_rng.setstate((version, tuple(internal), gauss))


# --- generators for inference -------------------------------------------------------------------

@dataclass
class GeneratorSet:
    """The council's generators loaded for translation, with the config that built them."""

    config: FaceGenConfig
    state_dicts: list[dict[str, torch.Tensor]]
    source: str


def _official_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"official checkpoint {path} cannot be read safely ({type(exc).__name__}: "
                              f"{' '.join(str(exc).split())[:120]})") from None
    if isinstance(data, dict) and len(data) == 1 and next(iter(data)) in ("a2b", "b2a"):
        data = next(iter(data.values()))
    if not isinstance(data, dict) or not all(torch.is_tensor(v) for v in data.values()):
        raise CheckpointError(f"{path} does not hold a Council GAN generator state dict ({{'a2b': ...}} or {{'b2a': ...}})")
    return data


def load_generators(source: str | Path, config: FaceGenConfig | None = None) -> GeneratorSet:
    """Generators from a run folder (its newest good checkpoint), a facegen ``.safetensors`` file, an
    official ``a2b_gen_*.pt`` / ``b2a_gen_*.pt`` file (one member) or a folder of them (the newest
    iteration of every member). Official files use ``config`` (default: the official selfie2anime)."""
    path = Path(source).expanduser()
    hint = ("train one with `python -m facegen train FACES BODIES --out RUN_DIR`, or pass a run folder, a "
            "facegen .safetensors checkpoint or official a2b_gen_*.pt / b2a_gen_*.pt files")
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}; {hint}")
    if path.is_file() and path.suffix == ".safetensors":
        ckpt = read_checkpoint(path, prefixes=("gen.",))
        return GeneratorSet(ckpt.config, [ckpt.state_dict("gen", i) for i in range(ckpt.config.council.council_size)], str(path))
    if path.is_file() and path.suffix == ".pt":
        return GeneratorSet(config or official_config(), [_official_state(path)], str(path))
    if path.is_dir():
        notes: list[str] = []
        if list_checkpoints(path):
            for _, file in list_checkpoints(path):
                try:
                    ckpt = read_checkpoint(file, prefixes=("gen.",))
                except CheckpointError as exc:
                    notes.append(str(exc))
                    continue
                n = ckpt.config.council.council_size
                return GeneratorSet(ckpt.config, [ckpt.state_dict("gen", i) for i in range(n)], str(file))
            raise CheckpointError(f"every checkpoint in {path / CKPT_DIR} is damaged ({notes[0]})")
        official: dict[int, tuple[int, Path]] = {}
        for p in path.iterdir():
            if m := OFFICIAL_RE.match(p.name):
                member, it = int(m.group(2)), int(m.group(3))
                if member not in official or it > official[member][0]:
                    official[member] = (it, p)
        if official:
            files = [official[m][1] for m in sorted(official)]
            return GeneratorSet(config or official_config(), [_official_state(f) for f in files], str(path))
    raise CheckpointError(f"no checkpoint found in {path}; {hint}")
