"""GPU path (bf16 weights, CUDA generators, synchronised stage timings). Skipped without CUDA."""

import numpy as np
import pytest
import torch
from PIL import Image

from pixelart.config import MetricsConfig, RunConfig
from pixelart.run import PixelArtRun
from workbench.loop import RunLoop
from workbench.records import StepRecord

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("model", ["tiny", "tiny-sd"])
def test_tiny_run_on_cuda_in_bf16(model):
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (128, 96, 3), dtype=np.uint8))
    cfg = RunConfig(model=model, prompt="a coat", size=(32, 32), colors=8, steps=10, device="cuda",
                    metrics=MetricsConfig(semantic_every=5))
    run = PixelArtRun(photo, cfg)
    assert run.models.device.type == "cuda" and run.models.dtype == torch.bfloat16
    loop = RunLoop(run)
    records = [item for item in loop if isinstance(item, StepRecord)]
    traj = loop.result.trajectory
    assert len(traj) == 11 and all(r.frame.max() < len(traj.palette) for r in records)
    for name in ("norm", "clip", "dino"):
        assert np.isfinite(traj.series(name)).all()
    assert records[-1].timings_ms["unet"] > 0
