"""From a texture word to style images (seed 002): a word's images -> style vectors (indexed once) ->
k-means clusters -> the image nearest each centroid as the cluster's style image; saved as contact
sheets, a 2-D map and an assignments table.

``content_weight`` w > 0 clusters the seed's combination of the style vector with DCNN content features
(VGG19 fc6): [√(1−w)·style, √w·content] (``stylize.content_vector``); w = 0 is style alone."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from stylize.clusters import DEFAULT_K, Clustering, check_k, cluster_vectors, project_2d
from stylize.collection import check_collection, list_images
from stylize.content_vector import check_content_weight, combine_vectors
from stylize.index import StyleIndex
from stylize.sheets import cluster_map, contact_sheet
from stylize.style_vector import DEFAULT_LAYER, DEFAULT_SIZE
from workbench.atomic import atomic_path
from workbench.errors import ConfigError
from workbench.images import load_photo


@dataclass
class WordClusters:
    """A word's clustering: image paths (relative to ``root``), their vectors, clusters and map."""

    root: Path
    word: str
    paths: list[str]
    vectors: np.ndarray
    clustering: Clustering
    coords: np.ndarray
    skipped: dict[str, str]
    content_weight: float = 0.0  # the fc6 content share of the vectors (0: style vectors only)

    def style_image(self, cluster: int) -> Path:
        """The representative (nearest the centroid) image of a cluster."""
        return self.root / self.paths[self.clustering.representatives[cluster]]

    def cluster_paths(self, cluster: int) -> list[Path]:
        """A cluster's images, nearest its centroid first."""
        return [self.root / self.paths[i] for i in self.clustering.members(cluster)]


def cluster_word(root: str | os.PathLike, word: str | None, *, k: int | str = DEFAULT_K, model: str = "vgg19",
                 layer: str = DEFAULT_LAYER, size: int = DEFAULT_SIZE, after_relu: bool = True, seed: int = 0,
                 vgg=None, device: str = "auto", progress: bool = False, batch_size: int = 16,
                 cache_dir: str | os.PathLike | None = None, content_weight: float = 0.0) -> WordClusters:
    """Cluster the images of ``root/word`` (all of ``root`` when ``word`` is None) by style vector, or
    with ``content_weight`` w in (0, 1] by [√(1−w)·style, √w·fc6 content] (``vgg`` then needs fc6)."""
    # 1. Inputs, before any model loads.
    content_weight = check_content_weight(content_weight)
    root = check_collection(root)
    paths = list_images(root, word)
    label = f"word '{word}'" if word else f"collection {root}"
    check_k(k, len(paths), label)
    index = StyleIndex(root, model=model, layer=layer, size=size, after_relu=after_relu, cache_dir=cache_dir,
                       content=content_weight > 0)
    # 2. Vectors (only new or changed files are computed).
    report = index.update(paths, vgg=vgg, progress=progress, device=device, batch_size=batch_size)
    paths = [p for p in paths if p not in report.failed]
    check_k(k, len(paths), f"{label} (readable images)")
    content = index.content_vectors(paths) if content_weight > 0 else None
    vectors = combine_vectors(index.vectors(paths), content, content_weight)
    # 3. Clusters and map.
    clustering = cluster_vectors(vectors, k, seed=seed)
    return WordClusters(root, word or "", paths, vectors, clustering, project_2d(vectors), dict(report.failed),
                        content_weight)


def save_outputs(result: WordClusters, out: str | os.PathLike, *, thumb: int = 128) -> list[Path]:
    """Write ``cluster_<i>.png`` contact sheets (representative framed), ``map.png``,
    ``assignments.csv`` and ``clusters.json`` into ``out``; returns the files written."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    c = result.clustering
    for cluster in range(c.k):
        members = c.members(cluster)
        images = [load_photo(result.root / result.paths[i]) for i in members]
        sheet = contact_sheet(images, thumb=thumb, highlight=0)  # members are nearest-first
        written.append(_save_png(sheet, out / f"cluster_{cluster}.png"))
    what = "style vectors" if not result.content_weight else f"style + fc6 content vectors, w={result.content_weight:g}"
    title = f"{result.word or result.root.name}: {c.k} clusters (PCA of {what})"
    written.append(_save_png(cluster_map(result.coords, c.labels, c.representatives, title=title), out / "map.png"))
    with atomic_path(out / "assignments.csv") as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["path", "cluster", "distance_to_centroid", "representative", "x", "y"])
            reps = set(c.representatives)
            for i, path in enumerate(result.paths):
                writer.writerow([path, int(c.labels[i]), f"{c.distances[i]:.6f}", int(i in reps),
                                 f"{result.coords[i, 0]:.6f}", f"{result.coords[i, 1]:.6f}"])
    written.append(out / "assignments.csv")
    summary = {
        "word": result.word, "collection": str(result.root), "k": c.k, "content_weight": result.content_weight,
        "silhouette": _finite(c.silhouette),
        "k_scores": {str(k): v for k, v in c.k_scores.items()},
        "clusters": [{"cluster": i, "size": len(c.members(i)), "style_image": result.paths[c.representatives[i]],
                      "members": [result.paths[j] for j in c.members(i)]} for i in range(c.k)],
        "skipped": result.skipped,
    }
    with atomic_path(out / "clusters.json") as tmp:
        tmp.write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    written.append(out / "clusters.json")
    return written


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None


def _save_png(image: Image.Image, path: Path) -> Path:
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return path
