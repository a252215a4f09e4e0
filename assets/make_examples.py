"""Re-create the example photos in this folder: ``python assets/make_examples.py``.

- ``astronaut.jpg``: scikit-image's bundled ``skimage.data.astronaut()`` (NASA, public domain), as JPEG.
- ``fashion_polka.jpg``, ``fashion_stripes.jpg``: full-body fashion figures drawn here with PIL
  (patterned dress, sunglasses, bag, shoes), released under CC0. See LICENSES.md.

The drawings are deterministic (fixed seeds), so re-running gives the same pictures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent
W, H = 384, 576  # 2:3 portrait, a full-body shot
SS = 2  # drawn at twice the size and reduced, for smooth edges


@dataclass(frozen=True)
class Look:
    """The colours and pattern of one outfit."""

    wall: tuple[int, int, int]
    floor: tuple[int, int, int]
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    dress: tuple[int, int, int]
    pattern: str  # "polka" or "stripes"
    pattern_colour: tuple[int, int, int]
    shoes: tuple[int, int, int]
    bag: tuple[int, int, int]
    lenses: tuple[int, int, int]
    seed: int


def _s(*values: float) -> list[float]:
    return [v * SS for v in values]


def _background(look: Look) -> Image.Image:
    y = np.linspace(0.0, 1.0, H * SS)[:, None, None]
    wall = np.array(look.wall, float) * (1.05 - 0.25 * y)
    floor = np.array(look.floor, float) * (0.9 + 0.15 * (y - 0.78) / 0.22)
    rgb = np.where(y < 0.78, wall, floor) * np.ones((1, W * SS, 1))
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def _dress_mask(size: tuple[int, int]) -> Image.Image:
    mask = Image.new("L", size, 0)
    d = ImageDraw.Draw(mask)
    d.polygon(_s(150, 150, 234, 150, 246, 250, 226, 262, 158, 262, 138, 250), fill=255)  # bodice
    d.polygon(_s(158, 255, 226, 255, 286, 400, 98, 400), fill=255)  # A-line skirt
    return mask


def _pattern(look: Look, size: tuple[int, int]) -> Image.Image:
    layer = Image.new("RGB", size, look.dress)
    d = ImageDraw.Draw(layer)
    rng = np.random.default_rng(look.seed)
    if look.pattern == "polka":
        for row, y in enumerate(range(140, 410, 22)):
            for x in range(90 + 11 * (row % 2), 300, 22):
                r = 4.5 + rng.uniform(-0.5, 0.5)
                d.ellipse(_s(x - r, y - r, x + r, y + r), fill=look.pattern_colour)
    else:
        for i, y in enumerate(range(140, 410, 14)):
            colour = look.pattern_colour if i % 2 else look.dress
            d.polygon(_s(80, y, 310, y - 6, 310, y + 1, 80, y + 7), fill=colour)
    return layer


def draw(look: Look) -> Image.Image:
    """One full-body figure in the given look."""
    img = _background(look)
    d = ImageDraw.Draw(img)
    size = img.size
    # shadow on the floor
    d.ellipse(_s(120, 520, 270, 545), fill=tuple(int(c * 0.7) for c in look.floor))
    # legs and shoes
    for x in (168, 204):
        d.rounded_rectangle(_s(x, 390, x + 16, 515), radius=6 * SS, fill=look.skin)
        d.rounded_rectangle(_s(x - 6, 508, x + 22, 526), radius=7 * SS, fill=look.shoes)
        d.rectangle(_s(x + 14, 516, x + 18, 530), fill=tuple(int(c * 0.6) for c in look.shoes))  # heel
    # arms (behind the dress at the shoulders)
    d.line(_s(148, 160, 122, 250, 132, 325), fill=look.skin, width=15 * SS, joint="curve")
    d.line(_s(236, 160, 262, 245, 256, 320), fill=look.skin, width=15 * SS, joint="curve")
    # dress with its pattern
    img.paste(_pattern(look, size), (0, 0), _dress_mask(size))
    d = ImageDraw.Draw(img)
    d.line(_s(156, 258, 228, 258), fill=tuple(int(c * 0.55) for c in look.dress), width=5 * SS)  # belt
    # bag on the right hand, strap over the shoulder
    d.line(_s(232, 158, 268, 300), fill=tuple(int(c * 0.7) for c in look.bag), width=4 * SS)
    d.rounded_rectangle(_s(244, 296, 300, 340), radius=6 * SS, fill=look.bag)
    d.rectangle(_s(266, 312, 276, 318), fill=(214, 180, 90))  # clasp
    # neck, head, hair
    d.rectangle(_s(182, 128, 202, 152), fill=look.skin)
    d.ellipse(_s(163, 70, 221, 136), fill=look.skin)
    d.pieslice(_s(158, 62, 226, 130), 180, 360, fill=look.hair)
    d.rounded_rectangle(_s(156, 92, 170, 168), radius=6 * SS, fill=look.hair)
    d.rounded_rectangle(_s(214, 92, 228, 168), radius=6 * SS, fill=look.hair)
    # sunglasses
    for x in (171, 195):
        d.rounded_rectangle(_s(x, 95, x + 19, 108), radius=5 * SS, fill=look.lenses)
    d.line(_s(189, 99, 196, 99), fill=look.lenses, width=2 * SS)
    d.line(_s(166, 98, 172, 100), fill=look.lenses, width=2 * SS)
    d.line(_s(213, 100, 219, 98), fill=look.lenses, width=2 * SS)
    d.arc(_s(182, 114, 202, 126), 20, 160, fill=(170, 70, 80), width=2 * SS)  # smile
    img = img.resize((W, H), Image.Resampling.LANCZOS).filter(ImageFilter.GaussianBlur(0.6))
    # a little sensor noise so it behaves like a photo, not a flat drawing
    noise = np.random.default_rng(look.seed).normal(0, 3.0, (H, W, 3))
    return Image.fromarray(np.clip(np.asarray(img, float) + noise, 0, 255).astype(np.uint8))


LOOKS = {
    "fashion_polka.jpg": Look(wall=(226, 222, 214), floor=(180, 160, 140), skin=(226, 180, 150), hair=(60, 40, 30),
                              dress=(196, 32, 48), pattern="polka", pattern_colour=(250, 246, 240),
                              shoes=(30, 30, 34), bag=(196, 150, 96), lenses=(20, 20, 24), seed=1),
    "fashion_stripes.jpg": Look(wall=(200, 216, 226), floor=(150, 150, 160), skin=(150, 104, 78),
                                hair=(24, 20, 20), dress=(28, 52, 110), pattern="stripes",
                                pattern_colour=(236, 230, 210), shoes=(200, 40, 60), bag=(240, 200, 60),
                                lenses=(40, 30, 20), seed=2),
}


def main() -> None:
    from skimage import data

    Image.fromarray(data.astronaut()).save(HERE / "astronaut.jpg", quality=88, optimize=True)
    for name, look in LOOKS.items():
        draw(look).save(HERE / name, quality=90, optimize=True)
    for path in sorted(HERE.glob("*.jpg")):
        print(f"{path.name}: {path.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
