"""Translate one face with a trained council: several z samples, one member or all of them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from facegen.checkpoint import CheckpointError, GeneratorSet, load_generators
from facegen.config import FaceGenConfig
from facegen.data import prepare_face, to_tensor, to_uint8
from facegen.grid import mask_to_rgb
from facegen.networks import AdaINGen
from workbench.errors import ConfigError
from workbench.images import load_photo


@dataclass
class Translation:
    """Outputs of one translation: ``images[k]`` / ``masks[k]`` came from ``members[k]`` and ``samples[k]``."""

    images: list[Image.Image]
    masks: list[Image.Image]
    members: list[int]
    samples: list[int]
    input: Image.Image


def build_generators(gens: GeneratorSet, device: torch.device | str = "cpu") -> list[AdaINGen]:
    """Networks from loaded state dicts; a shape mismatch is a one-line ``CheckpointError``."""
    out = []
    for i, state in enumerate(gens.state_dicts):
        gen = AdaINGen(gens.config.gen)
        try:
            gen.load_state_dict(state)
        except RuntimeError as exc:
            first = next((line.strip() for line in str(exc).splitlines()[1:] if line.strip()), str(exc))
            raise CheckpointError(f"{gens.source} (member {i}) does not fit the config's generator: {first[:160]}; "
                                  "pass the config it was trained with (--config)") from None
        out.append(gen.to(device).eval().requires_grad_(False))
    return out


def parse_member(member: int | str | None, size: int) -> list[int]:
    if member is None or member == "all":
        return list(range(size))
    try:
        m = int(member)
    except (TypeError, ValueError):
        raise ConfigError(f"member must be a number from 0 to {size - 1} or 'all', got {member!r}") from None
    if not 0 <= m < size:
        raise ConfigError(f"member must be from 0 to {size - 1} (this council has {size}), got {m}")
    return [m]


@torch.no_grad()
def translate_face(face_image: str | os.PathLike | bytes | Image.Image, checkpoint: str | os.PathLike | GeneratorSet,
                   *, seed: int = 0, member: int | str | None = "all", samples: int = 4,
                   config: FaceGenConfig | None = None, device: torch.device | str = "cpu",
                   z_shift: float = 0.0) -> Translation:
    """Translate a face: ``samples`` random vectors z (seeded) through the chosen member(s).
    ``z_shift`` moves every z along one fixed random direction (the tab's slider)."""
    if not isinstance(samples, int) or isinstance(samples, bool) or not 1 <= samples <= 64:
        raise ConfigError(f"samples must be a whole number from 1 to 64, got {samples!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2 ** 63:
        raise ConfigError(f"seed must be a whole number from 0 to 2^63 - 1, got {seed!r}")
    face = load_photo(face_image)
    gens = checkpoint if isinstance(checkpoint, GeneratorSet) else load_generators(checkpoint, config)
    members = parse_member(member, len(gens.state_dicts))
    networks = build_generators(gens, device)
    size = gens.config.data.image_size
    x = to_tensor(prepare_face(face, size))[None].to(device)
    g = torch.Generator().manual_seed(seed)
    dim = gens.config.gen.style_dim
    z = torch.randn(samples, dim, 1, 1, generator=g)
    direction = torch.randn(1, dim, 1, 1, generator=torch.Generator().manual_seed(seed + 1))
    z = (z + z_shift * direction / direction.norm()).to(device)
    images, masks, who, which = [], [], [], []
    for m in members:
        out, mask = networks[m](x.expand(samples, -1, -1, -1), z)
        images += [Image.fromarray(a) for a in to_uint8(out)]
        masks += [Image.fromarray(a) for a in to_uint8(mask_to_rgb(mask))]
        who += [m] * samples
        which += list(range(samples))
    return Translation(images, masks, who, which, Image.fromarray(to_uint8(x)[0]))


def translate(face_image: str | os.PathLike | bytes | Image.Image, checkpoint: str | os.PathLike | GeneratorSet,
              seed: int = 0, member: int | str | None = "all", *, samples: int = 4,
              config: FaceGenConfig | None = None, device: torch.device | str = "cpu") -> list[Image.Image]:
    """The translated images (member-major: every sample of the first member, then the next)."""
    return translate_face(face_image, checkpoint, seed=seed, member=member, samples=samples, config=config,
                          device=device).images


def contact_sheet(result: Translation) -> Image.Image:
    """One image: the input, then one row per member of its samples (and masks below each row)."""
    tile = result.input.width
    members = sorted(set(result.members))
    per = max(result.samples) + 1
    sheet = Image.new("RGB", (tile * (per + 1), tile * 2 * len(members)))
    for r, m in enumerate(members):
        sheet.paste(result.input, (0, tile * 2 * r))
        for img, mask, who, k in zip(result.images, result.masks, result.members, result.samples):
            if who == m:
                sheet.paste(img, (tile * (k + 1), tile * 2 * r))
                sheet.paste(mask, (tile * (k + 1), tile * (2 * r + 1)))
    return sheet


def save_outputs(result: Translation, out: str | os.PathLike) -> list[Path]:
    """Save the contact sheet to ``out`` and each image beside it (``OUT_m{member}_s{sample}.png``)."""
    from workbench.atomic import atomic_path

    out = Path(out)
    written = []
    with atomic_path(out) as tmp:
        contact_sheet(result).save(tmp, format="PNG")
    written.append(out)
    for img, m, k in zip(result.images, result.members, result.samples):
        path = out.with_name(f"{out.stem}_m{m}_s{k}.png")
        with atomic_path(path) as tmp:
            img.save(tmp, format="PNG")
        written.append(path)
    return written
