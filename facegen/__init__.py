"""Council GAN translation of an anime face (shoulders up) to a full-body image (seed 001).

Engine API (no Gradio):

* ``FaceGenConfig`` / ``load_config(name_or_file)``: presets ``proposed`` (512 px, batch 1, instance
  norm, 3 councils), ``baseline`` (256 px, 4 councils), ``official``, ``tiny``; YAML / JSON files in this
  package's nested form or the official Council GAN flat form; ``config.validate()``.
* ``TrainRun(faces_dir, bodies_dir, config, out_dir=..., resume=False)``: a workbench run (``RunStart``
  then ``StepRecord``s: losses per member and averaged, FID, sample grids), checkpointed atomically.
* ``translate(face, checkpoint, seed, member) -> list[PIL.Image]`` and ``translate_face`` (with masks).
* ``frechet_distance`` and ``load_feature_extractor`` (pytorch-fid's Inception-v3 in plain torch).

Heavy modules (torch) load on first use of these names, so ``import facegen`` stays cheap.
"""

from __future__ import annotations

from typing import Any

from facegen.config import FaceGenConfig, load_config

__all__ = ["FaceGenConfig", "TrainRun", "frechet_distance", "load_config", "load_feature_extractor", "translate",
           "translate_face"]

_LAZY = {
    "TrainRun": "facegen.run",
    "translate": "facegen.inference",
    "translate_face": "facegen.inference",
    "frechet_distance": "facegen.fid",
    "load_feature_extractor": "facegen.fid",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'facegen' has no attribute {name!r}")
