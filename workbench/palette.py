"""Palettes as data: Lospec-style ``.hex`` text in and out, and palette-index images to RGB.

A palette is a ``(K, 3)`` uint8 array of RGB colours; palette-index frames are stored as uint8, so a
palette has at most 256 colours. (How a back end *chooses* a palette, e.g. k-means, is its own.)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from workbench.errors import PaletteError

MAX_FILE_COLORS = 256  # indices are stored as uint8
MAX_HEX_BYTES = 64 * 1024  # 256 lines of "#rrggbb" with comments fit many times over


def parse_hex(text: str, *, source: str = "palette") -> np.ndarray:
    """Parse a Lospec ``.hex`` palette: one RRGGBB colour per line ('#' prefix and blank lines allowed)."""
    colours = []
    for lineno, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(";") or line.startswith("//"):
            continue
        value = line[1:] if line.startswith("#") else line
        if len(value) != 6 or any(c not in "0123456789abcdefABCDEF" for c in value):
            raise PaletteError(
                f"{source} line {lineno}: '{line[:20]}' is not a 6-digit hex colour (RRGGBB)"
            )
        colours.append([int(value[i : i + 2], 16) for i in (0, 2, 4)])
    if len(colours) < 2:
        raise PaletteError(f"{source} has {len(colours)} colour(s); a palette needs at least 2")
    if len(colours) > MAX_FILE_COLORS:
        raise PaletteError(f"{source} has {len(colours)} colours; at most {MAX_FILE_COLORS} are supported")
    return np.asarray(colours, dtype=np.uint8)


def read_hex(path: str | os.PathLike) -> np.ndarray:
    """Read a ``.hex`` palette file (colour order is kept as the file gives it)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_HEX_BYTES:  # checked before reading: a palette is a few kB at most
            raise PaletteError(f"palette file {path.name} is {path.stat().st_size:,} bytes; a .hex palette of "
                               f"{MAX_FILE_COLORS} colours is under {MAX_HEX_BYTES // 1024} kB: is it a palette?")
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise PaletteError(f"palette file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PaletteError(f"palette file {path} cannot be read as text ({exc.__class__.__name__})") from None
    return parse_hex(text, source=path.name)


def to_hex(palette: np.ndarray) -> str:
    """The ``.hex`` text of a palette (lower-case RRGGBB lines, as Lospec writes them)."""
    return "".join(f"{r:02x}{g:02x}{b:02x}\n" for r, g, b in np.asarray(palette, dtype=np.uint8))


def hex_codes(palette: np.ndarray) -> tuple[str, ...]:
    """The palette as "rrggbb" strings (how a RunConfig and a bundle's manifest hold it)."""
    return tuple(to_hex(palette).split())


def indices_to_rgb(indices: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Colour an (H, W) index image with its palette -> (H, W, 3) uint8."""
    return np.asarray(palette, dtype=np.uint8)[np.asarray(indices)]
