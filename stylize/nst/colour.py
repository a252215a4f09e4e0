"""Keeping the content image's colours (Gatys, Bethge, Hertzmann & Shechtman, "Preserving Color in
Neural Artistic Style Transfer", arXiv 1606.05897, 2016). numpy only; the run applies these.

- ``keep_colours`` (colour mode "swap", neural-style's ``-original_colors 1``): after an ordinary colour
  transfer, keep the stylised image's luminance Y and take the content's chroma I, Q (YIQ).
- Luminance-only transfer (mode "luminance", the paper's §2.2): the optimisation itself runs on
  luminance images (``luminance``, ``match_luminance``, ``grey_rgb``), and its result is recombined with
  the content's I, Q by ``keep_colours``.
- Colour histogram matching (mode "histogram", the paper's §2.1): each style image's colours are
  linearly mapped, x' = A(x − μ_s) + μ_c, so that their mean and covariance equal the content's
  (``match_colour_histogram``), before an ordinary transfer.
"""

from __future__ import annotations

import numpy as np

# NTSC YIQ (the matrix of colorsys / Gatys et al. 2016).
RGB_TO_YIQ = np.array([
    [0.299, 0.587, 0.114],
    [0.596, -0.274, -0.322],
    [0.211, -0.523, 0.312],
])
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)
# A: "sqrt" = Σ_c^½ Σ_s^-½ with symmetric (eigen) square roots, the Image Analogies choice and the
# default of the public reference scripts (Neural-Tools' linear-color-transfer "pca" mode);
# "cholesky" = L_c L_s⁻¹ with Σ = L Lᵀ. Both give A Σ_s Aᵀ = Σ_c; they differ by a rotation.
HISTOGRAM_TRANSFORMS = ("sqrt", "cholesky")
COVARIANCE_EPS = 1e-5  # added to Σ_s so a flat (one-colour) style image stays invertible


def rgb_to_yiq(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB in [0, 1] -> (..., 3) YIQ."""
    return np.asarray(rgb, dtype=np.float64) @ RGB_TO_YIQ.T


def yiq_to_rgb(yiq: np.ndarray) -> np.ndarray:
    """(..., 3) YIQ -> (..., 3) RGB (not clipped)."""
    return np.asarray(yiq, dtype=np.float64) @ YIQ_TO_RGB.T


def keep_colours(stylised: np.ndarray, content: np.ndarray) -> np.ndarray:
    """uint8 RGB with the luminance of ``stylised`` and the chroma of ``content`` (same size, uint8)."""
    y = rgb_to_yiq(stylised / 255.0)[..., :1]
    iq = rgb_to_yiq(content / 255.0)[..., 1:]
    rgb = yiq_to_rgb(np.concatenate([y, iq], axis=-1))
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB in [0, 1] -> (...) the Y of YIQ."""
    return np.asarray(rgb, dtype=np.float64) @ RGB_TO_YIQ[0]


def match_luminance(style_y: np.ndarray, content_y: np.ndarray) -> np.ndarray:
    """Y_s' = σ_c/σ_s (Y_s − μ_s) + μ_c: the style luminance with the content's mean and standard
    deviation (not clipped). A flat style (σ_s = 0) becomes the content's mean."""
    style_y = np.asarray(style_y, dtype=np.float64)
    mu_s, sigma_s = style_y.mean(), style_y.std()
    mu_c, sigma_c = float(np.mean(content_y)), float(np.std(content_y))
    if sigma_s <= 0:
        return np.full_like(style_y, mu_c)
    return sigma_c / sigma_s * (style_y - mu_s) + mu_c


def grey_rgb(y: np.ndarray) -> np.ndarray:
    """(H, W) luminance -> (H, W, 3) uint8 grey image (clipped to [0, 1]): how VGG sees a luminance image."""
    grey = np.clip(np.rint(np.asarray(y, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def _sym_sqrt(cov: np.ndarray, inverse: bool = False) -> np.ndarray:
    values, vectors = np.linalg.eigh(cov)
    values = np.clip(values, 0.0, None)
    roots = 1.0 / np.sqrt(values) if inverse else np.sqrt(values)
    return (vectors * roots) @ vectors.T


def colour_transform(style: np.ndarray, content: np.ndarray, method: str = "sqrt",
                     eps: float = COVARIANCE_EPS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A, μ_s, μ_c) for pixels (..., 3) in [0, 1] of the style and the content image, so that
    x' = A(x − μ_s) + μ_c gives the style's pixels the content's mean and covariance."""
    if method not in HISTOGRAM_TRANSFORMS:
        raise ValueError(f"method must be one of {HISTOGRAM_TRANSFORMS}, got {method!r}")
    s = np.asarray(style, dtype=np.float64).reshape(-1, 3)
    c = np.asarray(content, dtype=np.float64).reshape(-1, 3)
    mu_s, mu_c = s.mean(0), c.mean(0)
    cov_s = np.cov(s, rowvar=False, bias=True) + eps * np.eye(3)
    cov_c = np.cov(c, rowvar=False, bias=True)
    if method == "sqrt":
        a = _sym_sqrt(cov_c) @ _sym_sqrt(cov_s, inverse=True)
    else:
        # A flat content has a singular Σ_c: a tiny ridge keeps its Cholesky factor defined.
        l_c = np.linalg.cholesky(cov_c + 1e-12 * np.eye(3))
        a = l_c @ np.linalg.inv(np.linalg.cholesky(cov_s))
    return a, mu_s, mu_c


def match_colour_histogram(style: np.ndarray, content: np.ndarray, method: str = "sqrt") -> np.ndarray:
    """uint8 style image (H, W, 3) whose colour mean and covariance are the uint8 content's, clipped."""
    a, mu_s, mu_c = colour_transform(style / 255.0, content / 255.0, method)
    matched = (np.asarray(style, dtype=np.float64) / 255.0 - mu_s) @ a.T + mu_c
    return np.clip(np.rint(matched * 255.0), 0, 255).astype(np.uint8)
