"""Image folders for training: listing, checking, and a deterministic stream of augmented batches.

Each batch is a pure function of (seed, domain, iteration): the order is a fresh permutation per pass
over the folder and the augmentation has its own seeded generator per sample, so a resumed run reads
exactly the batches an uninterrupted run would, with no data-loader state to save.
Augmentation follows the official loader: random grayscale (p = 0.05), horizontal flip, resize of the
short side to the image size, random crop, values in [−1, 1].
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from facegen.config import DataConfig
from workbench.errors import ConfigError, ImageInputError
from workbench.images import load_photo

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def list_images(folder: str | os.PathLike, *, what: str = "image folder") -> list[Path]:
    """The image files directly in ``folder`` (sorted by name); ``ConfigError`` when there are none."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ConfigError(f"{what} '{folder}' is not a folder")
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ConfigError(f"{what} '{folder}' holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def readable(files: list[Path]) -> tuple[list[Path], list[str]]:
    """Files whose header PIL can read, and one line per skipped file."""
    ok, skipped = [], []
    for f in files:
        try:
            with Image.open(f) as im:
                im.size  # header only: cheap even for thousands of files
            ok.append(f)
        except Exception as exc:  # unreadable, truncated header, not an image
            skipped.append(f"skipped {f.name}: {type(exc).__name__}")
    return ok, skipped


def mixed_seed(*parts: int) -> int:
    """A 63-bit seed from several integers (numpy's SeedSequence mixing)."""
    return int(np.random.SeedSequence([int(p) % (2 ** 63) for p in parts]).generate_state(2, np.uint64)[0] >> 1)


def to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL → (3, H, W) float in [−1, 1]."""
    arr = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [−1, 1] → (B, H, W, 3) uint8."""
    arr = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return arr.permute(0, 2, 3, 1).cpu().numpy()


def resize_short_side(image: Image.Image, size: int) -> Image.Image:
    w, h = image.size
    scale = size / min(w, h)
    new = (max(size, round(w * scale)), max(size, round(h * scale)))
    return image if new == (w, h) else image.resize(new, Image.Resampling.BILINEAR)


def center_crop(image: Image.Image, size: int) -> Image.Image:
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return image.crop((left, top, left + size, top + size))


def prepare_face(image: Image.Image, size: int) -> Image.Image:
    """Test-time preprocessing (official): resize the short side, centre crop."""
    return center_crop(resize_short_side(image, size), size)


@dataclass
class ImageDomain:
    """One domain's training images (faces = A, bodies = B)."""

    files: list[Path]
    domain: int  # 0 = A, 1 = B: separates the two random streams
    data: DataConfig
    cache_bytes: int = 512 * 2 ** 20

    def __post_init__(self) -> None:
        self._cache: dict[int, Image.Image] = {}
        self._cached = 0

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, index: int) -> Image.Image:
        if index in self._cache:
            return self._cache[index]
        try:
            image = resize_short_side(load_photo(self.files[index]), self.data.image_size)
        except ImageInputError as exc:
            raise ImageInputError(f"training image {self.files[index]} cannot be used: {exc}") from None
        size = image.width * image.height * 3
        if self._cached + size <= self.cache_bytes:
            self._cache[index] = image
            self._cached += size
        return image

    def index_at(self, position: int, seed: int) -> int:
        """The file shown at ``position`` of the endless stream: a fresh permutation per pass."""
        n = len(self.files)
        epoch, offset = divmod(position, n)
        g = torch.Generator().manual_seed(mixed_seed(seed, self.domain, epoch))
        return int(torch.randperm(n, generator=g)[offset])

    def sample(self, position: int, seed: int) -> torch.Tensor:
        """The augmented image at ``position`` of the stream, (3, S, S) in [−1, 1]."""
        image = self._load(self.index_at(position, seed))
        g = torch.Generator().manual_seed(mixed_seed(seed, self.domain, position, 1))
        u = torch.rand(4, generator=g).tolist()
        size = self.data.image_size
        if u[0] < self.data.grayscale_p:
            image = image.convert("L").convert("RGB")
        if self.data.hflip and u[1] < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        left = int(u[2] * (image.width - size + 1))
        top = int(u[3] * (image.height - size + 1))
        return to_tensor(image.crop((left, top, left + size, top + size)))

    def batch(self, step: int, seed: int) -> torch.Tensor:
        """Batch number ``step`` (0-based) of the stream, (B, 3, S, S)."""
        b = self.data.batch_size
        return torch.stack([self.sample(step * b + i, seed) for i in range(b)])

    def fixed(self, count: int) -> torch.Tensor:
        """``count`` evenly spaced images, centre-cropped, no augmentation (sample grids)."""
        idx = np.linspace(0, len(self.files) - 1, num=min(count, len(self.files))).round().astype(int)
        return torch.stack([to_tensor(center_crop(self._load(int(i)), self.data.image_size)) for i in idx])
