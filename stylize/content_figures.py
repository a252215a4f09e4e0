"""Content-preservation figures of stylized images, computable offline: L2 and SSIM to the content
image at a stated resolution, and the CLIP score to a text prompt when CLIP weights are here.

Definitions (what the CSV columns mean):

- Both images are resized to the same size before L2 and SSIM: the content image's aspect ratio with
  its short side ``size`` pixels (PIL Lanczos filter, RGB), each image resized directly to it.
- ``l2``: the root mean square difference over every pixel and channel, RGB scaled to [0, 1]
  (0 = identical, 1 = black against white).
- ``ssim``: scikit-image's ``structural_similarity`` on the [0, 1] RGB images with ``channel_axis=-1``,
  ``data_range=1.0`` and its defaults: a 7×7 uniform window, K1 = 0.01, K2 = 0.03, the mean over
  channels (1 = identical).
- ``clip``: 100 · max(cos(image embedding, text embedding), 0), as torchmetrics' ``CLIPScore``. The
  image is resized (PIL bicubic) to the model's input size on its short side, centre-cropped and
  normalised with the OpenAI CLIP mean and std, as ``CLIPImageProcessor`` does by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from stylize.style_vector import square_crop
from workbench.errors import ConfigError, ModelNotAvailableError

DEFAULT_SIZE = 512
DEFAULT_CLIP = "openai/clip-vit-base-patch16"  # the CLIP the pixel-art back end loads too
TINY_CLIP = "pixelart-tiny/clip"  # built in-process (random weights) for tests
NO_CLIP = "none"
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class Figures:
    """The figures of one image against the content image (``clip`` None when not computed)."""

    name: str
    l2: float
    ssim: float
    clip: float | None = None

    def row(self) -> dict[str, Any]:
        """CSV / table row."""
        return {"image": self.name, "l2_rms": self.l2, "ssim": self.ssim, "clip_score": self.clip}


def compared_size(content: Image.Image, size: int) -> tuple[int, int]:
    """(width, height) both images are compared at: the content's aspect ratio, short side ``size``."""
    if isinstance(size, bool) or not isinstance(size, int) or not 16 <= size <= 4096:
        raise ConfigError(f"the comparison size must be a whole number of pixels in [16, 4096], got {size!r}")
    w, h = content.size
    scale = size / min(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def as_unit_rgb(image: Image.Image | np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An image as (H, W, 3) float64 in [0, 1] at ``size`` (width, height), Lanczos-resized."""
    pil = Image.fromarray(np.asarray(image, dtype=np.uint8)) if isinstance(image, np.ndarray) else image
    pil = pil.convert("RGB")
    if pil.size != size:
        pil = pil.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(pil, dtype=np.float64) / 255.0


def l2_rms(a: np.ndarray, b: np.ndarray) -> float:
    """Root mean square difference of two same-shape [0, 1] images."""
    return float(np.sqrt(np.mean((a - b) ** 2)))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """scikit-image SSIM of two same-shape [0, 1] RGB images (7×7 uniform window, channel mean)."""
    try:
        from skimage.metrics import structural_similarity
    except ImportError:
        raise ConfigError("SSIM needs scikit-image: pip install scikit-image") from None
    if min(a.shape[:2]) < 7:
        raise ConfigError(f"SSIM needs images of at least 7×7 pixels, got {a.shape[1]}×{a.shape[0]}")
    return float(structural_similarity(a, b, channel_axis=-1, data_range=1.0))


def content_figures(content: Image.Image, images: Sequence[Image.Image | np.ndarray], names: Sequence[str],
                    *, size: int = DEFAULT_SIZE) -> list[Figures]:
    """L2 and SSIM of every image to the content image at the stated resolution (see the module)."""
    wh = compared_size(content, size)
    reference = as_unit_rgb(content, wh)
    out = []
    for image, name in zip(images, names, strict=True):
        other = as_unit_rgb(image, wh)
        out.append(Figures(name=name, l2=l2_rms(reference, other), ssim=ssim(reference, other)))
    return out


class ClipScorer:
    """CLIP score of images to one text: 100 · max(cos, 0), with a transformers ``CLIPModel``."""

    def __init__(self, model: Any, tokenizer: Any, device: torch.device | str = "cpu") -> None:
        self.model, self.tokenizer, self.device = model.eval(), tokenizer, torch.device(device)
        self.image_size = int(model.config.vision_config.image_size)

    def pixels(self, images: Sequence[Image.Image | np.ndarray]) -> torch.Tensor:
        """CLIP's preprocessing (short side resize, bicubic; centre crop; mean/std) -> (B, 3, S, S)."""
        s = self.image_size
        batch = []
        for image in images:
            pil = Image.fromarray(np.asarray(image, dtype=np.uint8)) if isinstance(image, np.ndarray) else image
            x = np.asarray(square_crop(pil, s, Image.Resampling.BICUBIC), dtype=np.float32) / 255.0
            batch.append((x - np.asarray(CLIP_MEAN, np.float32)) / np.asarray(CLIP_STD, np.float32))
        return torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).contiguous()

    @torch.no_grad()
    def __call__(self, images: Sequence[Image.Image | np.ndarray], text: str) -> list[float]:
        """One score per image, in [0, 100]."""
        dtype = next(self.model.parameters()).dtype
        tokens = self.tokenizer([text], padding=True, truncation=True, return_tensors="pt").to(self.device)
        text_features = _features(self.model.get_text_features(**tokens)).float()
        image_features = _features(self.model.get_image_features(
            pixel_values=self.pixels(images).to(self.device, dtype))).float()
        cos = torch.nn.functional.cosine_similarity(image_features, text_features, dim=-1)
        return [float(100.0 * max(c, 0.0)) for c in cos.tolist()]


def _features(out: Any) -> torch.Tensor:
    """``get_*_features`` returns a tensor (transformers 4) or an output whose pooler is it (5)."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def load_clip_scorer(model_id: str, *, device: torch.device | str = "cpu") -> ClipScorer:
    """Load CLIP (local folder, hub cache, or the tiny test model); raises ``ModelNotAvailableError``."""
    from transformers import CLIPModel, CLIPTokenizer

    from workbench.hub import freeze, load_error, resolve_local

    import pixelart.models.loading  # noqa: F401  (registers the tiny builds, e.g. pixelart-tiny/clip)

    path = resolve_local(model_id, name=model_id, package="stylize")
    try:
        model = CLIPModel.from_pretrained(path, dtype=torch.float32)
        tokenizer = CLIPTokenizer.from_pretrained(path)
    except (OSError, ValueError, KeyError) as exc:
        raise load_error(model_id, model_id, path, exc, package="stylize") from exc
    return ClipScorer(freeze(model, torch.device(device)), tokenizer, device)


def add_clip_scores(figures: list[Figures], images: Sequence[Image.Image | np.ndarray], prompt: str | None,
                    clip: str) -> str:
    """Fill ``clip`` of every figure when possible; returns a line saying why it is empty otherwise ('')."""
    if clip.strip().lower() == NO_CLIP:
        return "CLIP score not computed (--clip none)"
    if not prompt or not prompt.strip():
        return "CLIP score not computed: give the style prompt with --prompt"
    try:
        scorer = load_clip_scorer(clip)
    except ModelNotAvailableError:
        return (f"CLIP score not computed: the CLIP weights '{clip}' are not here (not cached and no download); "
                f"on a machine with internet run `hf download {clip}` and copy the Hugging Face cache here, "
                "or pass --clip FOLDER")
    for fig, score in zip(figures, scorer(list(images), prompt.strip()), strict=True):
        fig.clip = score
    return ""


def format_table(figures: Sequence[Figures], size: tuple[int, int]) -> str:
    """A plain-text table of the figures."""
    lines = [f"compared at {size[0]}×{size[1]} px (Lanczos); L2 = RMS on [0,1] RGB; SSIM 7×7 uniform window",
             f"{'image':<32} {'L2 (RMS)':>9} {'SSIM':>7} {'CLIP':>7}"]
    for f in figures:
        clip = f"{f.clip:7.2f}" if f.clip is not None else f"{'':>7}"
        lines.append(f"{f.name[:32]:<32} {f.l2:9.4f} {f.ssim:7.4f} {clip}")
    return "\n".join(lines)
