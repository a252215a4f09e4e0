"""Clustering a texture word's images by style (seed 002): k-means on Neural Style Vectors, the image
nearest each centroid as the cluster's style image, and a 2-D map of the vectors.

k is 3 by default, as in the seed's experiments; ``k="auto"`` picks k in [2, k_max] with the best
silhouette score. k-means runs on the L2-normalised vectors with scikit-learn (k-means++, 10 starts,
seeded), so the result is deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.errors import ConfigError

DEFAULT_K = 3
AUTO_K_MAX = 8


@dataclass
class Clustering:
    """Cluster labels of N vectors, their centroids, and each cluster's representative."""

    labels: np.ndarray  # (N,) int, clusters numbered by size (0 = largest)
    centroids: np.ndarray  # (k, D)
    representatives: list[int]  # per cluster: index of the member nearest its centroid
    distances: np.ndarray  # (N,) distance of each vector to its own centroid
    silhouette: float  # mean silhouette (NaN for k = 1 or k = N)
    k_scores: dict[int, float]  # k -> silhouette, for k="auto"

    @property
    def k(self) -> int:
        return len(self.centroids)

    def members(self, cluster: int) -> list[int]:
        """Indices of a cluster's vectors, nearest its centroid first."""
        idx = np.flatnonzero(self.labels == cluster)
        return [int(i) for i in idx[np.argsort(self.distances[idx], kind="stable")]]


def check_k(k: int | str, n: int, what: str = "the word") -> None:
    """One-line ConfigError for an impossible k (before any model loads)."""
    if n == 0:
        raise ConfigError(f"{what} has no images: the collection is empty")
    if k == "auto":
        if n < 3:
            raise ConfigError(f"{what} has {n} image(s): k=auto needs at least 3")
        return
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"k must be a whole number ≥ 1 or 'auto', got {k!r}")
    if n < k:
        raise ConfigError(f"{what} has {n} image(s), fewer than the {k} clusters asked for; add images or lower --k")


def _kmeans(vectors: np.ndarray, k: int, seed: int):
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit(vectors)


def cluster_vectors(vectors: np.ndarray, k: int | str = DEFAULT_K, *, seed: int = 0, k_max: int = AUTO_K_MAX) -> Clustering:
    """k-means of (N, D) vectors; ``k="auto"`` chooses k by the silhouette score."""
    from sklearn.metrics import silhouette_score

    vectors = np.asarray(vectors, dtype=np.float64)
    n = len(vectors)
    check_k(k, n)
    scores: dict[int, float] = {}
    if k == "auto":
        fits = {}
        for kk in range(2, min(k_max, n - 1) + 1):
            fits[kk] = _kmeans(vectors, kk, seed)
            labels = fits[kk].labels_
            scores[kk] = float(silhouette_score(vectors, labels)) if len(set(labels)) > 1 else -1.0
        k = max(scores, key=lambda kk: (scores[kk], -kk))
        fit = fits[k]
    else:
        fit = _kmeans(vectors, int(k), seed)
    # Number clusters by size (largest first, ties by first member) so outputs are stable to read.
    raw = fit.labels_
    order = sorted(range(int(k)), key=lambda c: (-int(np.sum(raw == c)), int(np.argmax(raw == c))))
    remap = np.empty(int(k), dtype=int)
    remap[order] = np.arange(int(k))
    labels = remap[raw]
    centroids = fit.cluster_centers_[order]
    distances = np.linalg.norm(vectors - centroids[labels], axis=1)
    reps = []
    for c in range(int(k)):
        idx = np.flatnonzero(labels == c)
        reps.append(int(idx[np.argmin(distances[idx])]) if len(idx) else -1)
    sil = float(silhouette_score(vectors, labels)) if 1 < int(k) < n and len(set(labels)) > 1 else float("nan")
    return Clustering(labels, centroids, reps, distances, sil, scores)


def project_2d(vectors: np.ndarray) -> np.ndarray:
    """(N, 2) PCA coordinates of the vectors (zeros when there is nothing to spread)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    if len(vectors) < 2:
        return np.zeros((len(vectors), 2))
    from sklearn.decomposition import PCA

    comps = min(2, len(vectors) - 1, vectors.shape[1])
    coords = PCA(n_components=comps, random_state=0).fit_transform(vectors)
    return np.pad(coords, ((0, 0), (0, 2 - comps)))


def nearest(query: np.ndarray, vectors: np.ndarray, top: int = 5) -> list[tuple[int, float]]:
    """Indices and cosine similarities of the ``top`` vectors nearest ``query`` (unit vectors)."""
    sims = np.asarray(vectors, dtype=np.float64) @ np.asarray(query, dtype=np.float64)
    order = np.argsort(-sims, kind="stable")[:top]
    return [(int(i), float(sims[i])) for i in order]
