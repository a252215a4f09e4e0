"""The engine contract every back end keeps (workbench.records): a fixed seed gives the same
trajectory; stopping early keeps the steps made and writes a valid bundle; the bundle round-trips;
each bad option is refused with a one-line message before any model is built.

A back end plugs in here with a ``Backend`` entry: how to build a small run of it on tiny models, and
options it must refuse.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np
import pytest
import torch
from PIL import Image

from workbench import hub
from workbench.errors import ConfigError
from workbench.loop import RunLoop, record_run
from workbench.records import RunStart, StepRecord
from workbench.trajectory import Trajectory


def _image(h: int, w: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 210, np.uint8)
    img[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = rng.integers(0, 256, 3)
    return Image.fromarray(np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8))


@dataclass
class Backend:
    name: str
    make: Callable[[Any], Any]  # config -> run
    config: Any  # a small valid config
    bad: list[tuple[Callable[[Any], Any], str]]  # config -> a bad config, and words its one-line message holds


def _pixelart() -> Backend:
    from pixelart.config import MetricsConfig, RunConfig
    from pixelart.run import PixelArtRun

    photo = _image(96, 64, 0)
    return Backend("pixelart", lambda c: PixelArtRun(photo, c),
                   RunConfig(model="tiny", prompt="a coat", size=(16, 16), colors=5, steps=8, seed=1,
                             metrics=MetricsConfig(semantic_every=3)),
                   _changes({"steps": 0}, "steps", {"prompt": " "}, "prompt", {"model": "nope"}, "unknown model"))


def _nst() -> Backend:
    from stylize.nst.config import NSTConfig
    from stylize.nst.run import NSTRun

    content, style = _image(40, 48, 1), _image(32, 32, 2)
    return Backend("nst", lambda c: NSTRun(content, [style], c),
                   NSTConfig(model="tiny", iterations=6, max_side=48, seed=3),
                   _changes({"iterations": 0}, "iterations", {"optimizer": "sgd"}, "optimizer",
                            {"content_layers": ("conv9_9",)}, "conv9_9"))


def _sms() -> Backend:
    from stylize.sms.config import SMSConfig
    from stylize.sms.run import SMSRun

    content = _image(48, 64, 4)
    return Backend("sms", lambda c: SMSRun(content, c),
                   SMSConfig(model="tiny-sd", style_lora="tiny", prompt="a cat", steps=5, resolution=48,
                             record_every=2, seed=5),
                   _changes({"steps": 0}, "steps", {"lambda_psr": -1.0}, "lambda", {"style": ""}, "style"))


def _councilgan() -> Backend:
    import tempfile
    from pathlib import Path

    from facegen.config import tiny_config
    from facegen.run import TrainRun

    root = Path(tempfile.mkdtemp(prefix="contract-facegen-"))
    for folder, count, size in (("faces", 4, (40, 36)), ("bodies", 4, (32, 48))):
        (root / folder).mkdir()
        for i in range(count):
            _image(size[1], size[0], 10 + i).save(root / folder / f"{i}.png")
    runs = iter(range(1_000_000))  # each run its own checkpoint folder: no run resumes another
    config = tiny_config().replace(train={"iterations": 4, "sample_every": 2, "checkpoint_every": 2})
    return Backend("councilgan",
                   lambda c: TrainRun(root / "faces", root / "bodies", c, out_dir=root / f"run{next(runs)}"),
                   config,
                   [(lambda c: c.replace(train={"iterations": 0}), "iterations"),
                    (lambda c: c.replace(council={"council_size": 0}), "council"),
                    (lambda c: c.replace(data={"image_size": 30}), "image")])


def _changes(*pairs: Any) -> list[tuple[Callable[[Any], Any], str]]:
    """(config -> config with these fields replaced, words) pairs from (changes, words, changes, words, ...)."""
    return [(lambda c, ch=ch: replace(c, **ch), words) for ch, words in zip(pairs[::2], pairs[1::2])]


BACKENDS = {"pixelart": _pixelart, "nst": _nst, "sms": _sms, "councilgan": _councilgan}


@pytest.fixture(scope="module", params=list(BACKENDS))
def backend(request) -> Backend:
    return BACKENDS[request.param]()


def _items(run) -> tuple[RunStart, list[StepRecord]]:
    items = list(run)
    start, steps = items[0], [i for i in items[1:] if isinstance(i, StepRecord)]
    assert isinstance(start, RunStart) and [s.step for s in steps] == list(range(len(steps)))
    return start, steps


def test_a_fixed_seed_gives_the_same_trajectory(backend):
    start_a, a = _items(backend.make(backend.config))
    start_b, b = _items(backend.make(backend.config))
    assert len(a) == len(b) == start_a.total + 1
    assert start_a.curves and start_a.curves == start_b.curves
    recorded = {name for record in a for name in record.metrics}
    assert {c.name for c in start_a.curves} <= recorded  # every declared curve is recorded
    for x, y in zip(a, b):
        assert (x.frame is None) == (y.frame is None)
        if x.frame is not None:
            np.testing.assert_array_equal(x.frame, y.frame)
        assert x.metrics.keys() == y.metrics.keys()
        np.testing.assert_allclose([x.metrics[k] for k in x.metrics], [y.metrics[k] for k in x.metrics], rtol=1e-6)
    pickle.dumps((start_a, a))  # everything a run yields crosses a process boundary (ZeroGPU)


def test_stopping_early_keeps_the_steps_made_in_a_valid_bundle(backend, tmp_path):
    loop = RunLoop(backend.make(backend.config), should_stop=lambda: len(loop.trajectory) >= 3,
                   out=tmp_path / "early.bundle")
    result = loop.run()
    assert result.stopped and len(result.trajectory) == 3
    saved = Trajectory.load(tmp_path / "early.bundle")
    assert len(saved) == 3 and saved.kind == backend.name and saved.curves == result.trajectory.curves
    for step in range(3):
        np.testing.assert_array_equal(saved.frame(step), result.trajectory.frame(step))
    for name in result.trajectory.series_names:
        np.testing.assert_array_equal(saved.series(name), result.trajectory.series(name))


def test_the_bundle_round_trips(backend, tmp_path):
    traj = record_run(backend.make(backend.config)).trajectory
    back = Trajectory.load(traj.save(tmp_path / "full.bundle"))
    assert len(back) == len(traj) and back.frame_steps == traj.frame_steps and back.run_id == traj.run_id
    assert back.series_names == traj.series_names and back.config["total_steps"] == traj.planned_steps
    for step in back.frame_steps:
        np.testing.assert_array_equal(back.rgb(step), traj.rgb(step))
    for name in traj.series_names:
        np.testing.assert_array_equal(back.series(name), traj.series(name))


def test_each_bad_option_is_refused_in_one_line_before_any_model_is_built(backend, monkeypatch):
    hub.clear_model_cache()  # a cached model would hide a load made before the check

    def no_models(self, *args, **kwargs):
        raise AssertionError("a model was built before the options were checked")

    for change, words in backend.bad:
        with monkeypatch.context() as m:
            m.setattr(torch.nn.Module, "__init__", no_models)
            with pytest.raises(ConfigError) as caught:
                backend.make(change(backend.config))
        message = str(caught.value)
        assert "\n" not in message and words in message, (words, message)
