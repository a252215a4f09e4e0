"""Fréchet Inception Distance (Heusel et al. 2017), as pytorch-fid computes it.

FID = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁ Σ₂)^{1/2}

μ, Σ: mean and covariance (N − 1 denominator) of the 2048-d pool features of Inception-v3
(pytorch-fid's FID weights, ``facegen.fid_inception``). tr (Σ₁ Σ₂)^{1/2} is computed as
Σ √λ over the eigenvalues λ of the symmetric PSD matrix Σ₁^{1/2} Σ₂ Σ₁^{1/2} (same spectrum as Σ₁ Σ₂),
which needs no complex matrix square root; tests compare it with ``scipy.linalg.sqrtm``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from workbench.errors import ConfigError, ModelNotAvailableError

FeatureExtractor = Callable[[torch.Tensor], torch.Tensor]  # (B, 3, H, W) in [0, 1] → (B, D)

PYTORCH_FID_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                   "pt_inception-2015-12-05-6726825d.pth")
# name → (hub repo id or "", file name). pytorch-fid publishes its weights on GitHub, not on the hub:
# a local copy (the .pth or a safetensors conversion) is the usual way in.
FID_MODELS = {"pt_inception-2015-12-05": ("", "pt_inception-2015-12-05-6726825d.pth")}


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """The Fréchet distance between N(μ₁, Σ₁) and N(μ₂, Σ₂)."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    s1, s2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape:
        raise ValueError("the two distributions have different dimensions")
    r1 = _psd_sqrt(s1)
    inner = r1 @ s2 @ r1
    eig = np.linalg.eigvalsh((inner + inner.T) / 2)
    tr_covmean = float(np.sum(np.sqrt(np.clip(eig, 0, None))))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (rows are samples)."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError("FID statistics need at least 2 feature vectors")
    return features.mean(0), np.atleast_2d(np.cov(features, rowvar=False))


@torch.no_grad()
def extract(images: Sequence[np.ndarray], extractor: FeatureExtractor, device: torch.device | str = "cpu",
            batch_size: int = 16) -> np.ndarray:
    """Features of uint8 (H, W, 3) images (one size per batch), in batches."""
    feats = []
    for start in range(0, len(images), batch_size):
        chunk = np.stack(images[start: start + batch_size])
        x = torch.from_numpy(chunk).permute(0, 3, 1, 2).float().div(255).to(device)
        feats.append(extractor(x).float().cpu().numpy())
    return np.concatenate(feats)


def image_statistics(images: Sequence[np.ndarray], extractor: FeatureExtractor,
                     device: torch.device | str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    return statistics(extract(images, extractor, device))


def _load_images(files: Sequence[Path], size: int | None) -> list[np.ndarray]:
    from PIL import Image

    from workbench.images import load_photo

    out = []
    for f in files:
        im = load_photo(f)
        if size is not None and im.size != (size, size):
            im = im.resize((size, size), Image.Resampling.BICUBIC)
        out.append(np.asarray(im))
    return out


def folder_statistics(files: Sequence[Path], extractor: FeatureExtractor, device: torch.device | str = "cpu",
                      size: int = 299) -> tuple[np.ndarray, np.ndarray]:
    """Statistics of image files, each resized to ``size`` × ``size`` first so batches stack."""
    return image_statistics(_load_images(files, size), extractor, device)


def fid_of_folders(real_dir: str | os.PathLike, fake_dir: str | os.PathLike, extractor: FeatureExtractor,
                   device: torch.device | str = "cpu") -> float:
    """FID between two image folders."""
    from facegen.data import list_images

    real = list_images(real_dir, what="real images folder")
    fake = list_images(fake_dir, what="generated images folder")
    if min(len(real), len(fake)) < 2:
        raise ConfigError("FID needs at least 2 images in each folder")
    return frechet_distance(*folder_statistics(real, extractor, device), *folder_statistics(fake, extractor, device))


class FIDWeightsMissing(ModelNotAvailableError):
    """pytorch-fid's Inception weights are not here (they come from GitHub, not the hub)."""

    def __init__(self, spec: str, reason: str) -> None:
        self.name, self.repo_id, self.package = spec, spec, "facegen"
        Exception.__init__(self, f"FID Inception weights '{spec}' not found ({reason}); download {PYTORCH_FID_URL} "
                           "on a machine with internet and pass its path with --fid-model PATH (a .pth or a "
                           "safetensors copy), or a Hugging Face 'org/repo/file' holding it")


def _weights_file(spec: str) -> Path:
    name, filename = FID_MODELS.get(spec, ("", ""))
    local = Path(spec).expanduser()
    if local.is_file():
        return local
    if spec in FID_MODELS:
        cached = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints" / filename
        if cached.is_file():  # where pytorch-fid itself saves it
            return cached
        raise FIDWeightsMissing(spec, f"no {filename} in {cached.parent}")
    parts = spec.split("/")
    if len(parts) >= 3:  # org/repo/path/in/repo
        from workbench.hub import resolve_file

        try:
            return resolve_file("/".join(parts[:2]), "/".join(parts[2:]), name=spec, package="facegen")
        except ModelNotAvailableError as exc:
            raise FIDWeightsMissing(spec, str(exc).split(";")[0]) from None
    raise FIDWeightsMissing(spec, "not a file, a known name or an 'org/repo/file' hub path")


def load_state(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from safetensors, or from a .pth with ``weights_only=True`` (nothing unpickled)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(str(path), map_location="cpu", weights_only=True)


def load_feature_extractor(spec: str, device: torch.device | str = "cpu") -> FeatureExtractor:
    """pytorch-fid's Inception-v3 with its FID weights, by name, local file or hub path."""
    from facegen.fid_inception import FIDInceptionV3

    path = _weights_file(spec)
    try:
        state = load_state(path)
    except Exception as exc:
        raise FIDWeightsMissing(spec, f"{path} cannot be read: {type(exc).__name__}") from None
    model = FIDInceptionV3()
    wanted = model.state_dict()
    missing = [k for k in wanted if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        raise FIDWeightsMissing(spec, f"{path} is not pytorch-fid's Inception (missing {missing[0]})")
    bad = [k for k in wanted if k in state and state[k].shape != wanted[k].shape]
    if bad:
        raise FIDWeightsMissing(spec, f"{path} has {bad[0]} of shape {tuple(state[bad[0]].shape)}")
    model.load_state_dict({k: v for k, v in state.items() if k in wanted}, strict=False)
    return model.to(device).eval().requires_grad_(False)
