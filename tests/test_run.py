"""Whole runs on the tiny back end: determinism, palette strictness, metrics, stopping early."""

import math

import numpy as np
import pytest
from PIL import Image

from pixelart.config import GeneratorConfig, MetricsConfig, RunConfig
from workbench.errors import ConfigError
from pixelart.metrics import art_at_working
from workbench.drift import l2_distance
from pixelart.run import PixelArtRun
from workbench.loop import RunLoop, record_run
from workbench.records import RunStart, StepRecord


@pytest.fixture(scope="module")
def photo():
    # a stylised figure: background, coat, trousers, a face, so the palette has structure
    img = np.full((240, 160, 3), (225, 220, 210), np.uint8)
    img[40:140, 40:120] = (150, 30, 40)
    img[140:220, 55:105] = (30, 40, 90)
    img[10:40, 65:95] = (230, 180, 150)
    return Image.fromarray(img)


def _config(**kw):
    base = dict(model="tiny-sd", prompt="a woman in a red coat", size=(24, 24), colors=6, steps=12, seed=3,
                metrics=MetricsConfig(semantic_every=4))
    base.update(kw)
    return RunConfig(**base)


def _steps(run):
    """The run's step records (after its RunStart)."""
    items = list(run)
    assert isinstance(items[0], RunStart) and all(isinstance(i, StepRecord) for i in items[1:])
    return items[1:]


def _frames(run):
    records = _steps(run)
    return records, np.stack([r.frame for r in records])


def test_same_seed_gives_the_same_trajectory(photo):
    recs_a, frames_a = _frames(PixelArtRun(photo, _config()))
    recs_b, frames_b = _frames(PixelArtRun(photo, _config()))
    assert np.array_equal(frames_a, frames_b)
    assert [r.metrics["norm"] for r in recs_a] == [r.metrics["norm"] for r in recs_b]
    assert [r.metrics["timestep"] for r in recs_a[1:]] == [r.metrics["timestep"] for r in recs_b[1:]]


def test_another_seed_gives_another_trajectory(photo):
    a = [r.metrics.get("timestep") for r in _steps(PixelArtRun(photo, _config(seed=1)))]
    b = [r.metrics.get("timestep") for r in _steps(PixelArtRun(photo, _config(seed=2)))]
    assert a != b


def test_records_frames_metrics_and_palette_strictness(photo):
    run = PixelArtRun(photo, _config(model="tiny", steps=9))
    loop = RunLoop(run)
    records = [item for item in loop if isinstance(item, StepRecord)]
    traj = loop.result.trajectory
    assert [r.step for r in records] == list(range(10)) and len(traj) == 10
    k = len(traj.palette)
    assert k <= 6
    for r in records:
        assert r.frame.shape == (24, 24) and r.frame.max() < k
        assert np.array_equal(traj.frame(r.step), r.frame)
        colours = set(map(tuple, traj.rgb(r.step).reshape(-1, 3).tolist()))
        assert colours <= set(map(tuple, traj.palette.tolist()))
    # d_t is measured at the working resolution against the resized input
    d0 = l2_distance(art_at_working(records[0].frame, traj.palette, run.photo_work.shape[:2]),
                     run.photo_work / 255.0)
    assert traj.series("norm")[0] == pytest.approx(d0, rel=1e-5)
    assert traj.series("rate")[0] == 0
    norm, rate = traj.series("norm"), traj.series("rate")
    assert np.allclose(rate, (norm - norm[0]) / norm[0], rtol=0, atol=1e-12)
    for t in (3, 9):  # the recorded d_t is the plain L2 distance at the working resolution
        art = art_at_working(records[t].frame, traj.palette, run.photo_work.shape[:2])
        assert norm[t] == pytest.approx(l2_distance(art, run.photo_work / 255.0), rel=1e-5)
    # semantic similarity exists for every step (batches of 4 plus the last, partial one)
    for name in ("clip", "dino"):
        values = traj.series(name)
        assert np.isfinite(values).all() and (values <= 1.0 + 1e-6).all()
    assert records[-1].backfill["clip"][0] == [8, 9] and records[7].backfill["dino"][0] == [4, 5, 6, 7]
    assert records[6].backfill == {} and math.isnan(records[6].metrics.get("clip", math.nan))
    assert {"render", "vae_encode", "unet", "backward", "metrics"} <= set(records[-1].timings_ms)
    assert traj.config["prompt_used"] == "a woman in a red coat"
    assert traj.config["tiny_model"] is True and "versions" in traj.config
    assert len(traj.config["run_id"]) == 32


def test_stopping_keeps_what_was_made_with_semantics(photo):
    run = PixelArtRun(photo, _config(steps=50, metrics=MetricsConfig(semantic_every=10)))
    loop = RunLoop(run, should_stop=lambda: len(loop.trajectory) == 7)
    result = loop.run()
    traj = result.trajectory
    assert len(traj) == 7 and result.stopped and not result.interrupted
    assert np.isfinite(traj.series("clip")).all()  # the pending batch was embedded on stop


def test_closing_a_run_without_the_stop_signal_ends_it_cleanly(photo):
    gen = iter(PixelArtRun(photo, _config(steps=50)))
    assert isinstance(next(gen), RunStart) and next(gen).step == 0
    gen.close()  # e.g. the browser went away: no error, no further steps
    with pytest.raises(StopIteration):
        next(gen)


def test_the_photo_is_cropped_or_padded_to_the_output_aspect(photo):
    crop = PixelArtRun(photo, _config(size=(16, 32), steps=1, fit="crop"))
    pad = PixelArtRun(photo, _config(size=(16, 32), steps=1, fit="pad"))
    assert crop.photo_work.shape == pad.photo_work.shape == (128, 256, 3)
    assert crop.start.frame_size == (16, 32)
    # padding keeps the whole (tall) figure, so the sides show the border colour
    assert abs(pad.photo_work[:, :20].astype(int) - [225, 220, 210]).max() < 12


def test_fixed_palette_is_used_as_given(photo):
    hexes = ("000000", "ffffff", "ff0000", "0000ff")
    run = PixelArtRun(photo, _config(palette_hex=hexes, steps=2))
    assert run.start.palette.tolist() == [[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 0, 255]]
    assert all(r.frame.max() < 4 for r in _steps(run))


def test_no_encoders_means_no_semantic_series(photo):
    traj = record_run(PixelArtRun(photo, _config(metrics=MetricsConfig(encoders=()), steps=3))).trajectory
    assert "clip" not in traj.series_names and "norm" in traj.series_names
    assert [c.name for c in traj.curves] == ["norm", "rate"]


@pytest.mark.parametrize(
    "change, message",
    [({"steps": 0}, "steps"), ({"size": (8, 8)}, "out of range"), ({"colors": 1}, "palette size"),
     ({"model": "nope"}, "unknown model"), ({"prompt": "  "}, "prompt is empty"),
     ({"metrics": MetricsConfig(semantic_every=0)}, "semantic_every"),
     ({"generator": GeneratorConfig(render="foo")}, "render mode"),
     ({"generator": GeneratorConfig(upsample="cubic")}, "upsampling mode"),
     ({"generator": GeneratorConfig(init_method="magic")}, "init method"),
     ({"device": "tpu"}, "unknown device")],
)
def test_bad_options_are_refused_before_any_work(photo, change, message, monkeypatch):
    from pixelart.models import loading

    def no_models(*args, **kwargs):
        raise AssertionError("a model was loaded before the options were checked")

    monkeypatch.setattr(loading, "load_guidance_models", no_models)
    with pytest.raises(ConfigError, match=message) as caught:
        PixelArtRun(photo, _config(**change))
    assert "\n" not in str(caught.value)


def test_a_run_is_a_generator_of_records(photo):
    gen = iter(PixelArtRun(photo, _config(steps=2)))
    start, first = next(gen), next(gen)
    assert start.total == 2 and start.kind == "pixelart" and start.frame_kind == "palette"
    assert first.step == 0 and first.total == 2 and math.isfinite(first.metrics["norm"])
    gen.close()


def test_auto_prompt_uses_the_captioner(photo):
    run = PixelArtRun(photo, _config(prompt="auto", steps=1), captioner=lambda image: "a red coat on a woman")
    assert run.setup.prompt == "a red coat on a woman"
    assert any("captioning model" in note for note in run.setup.notes)


def test_auto_prompt_falls_back_with_a_clear_note_when_the_captioner_is_missing(photo):
    from pixelart.config import FALLBACK_PROMPT
    from workbench.errors import ModelNotAvailableError

    def missing(image):
        raise ModelNotAvailableError("blip", "Salesforce/blip-image-captioning-large", "offline")

    run = PixelArtRun(photo, _config(prompt="auto", steps=1), captioner=missing)
    assert run.setup.prompt == FALLBACK_PROMPT == run.start.config["prompt_used"]
    note = next(n for n in run.setup.notes if "fallback prompt" in n)
    assert "Salesforce/blip-image-captioning-large" in note


def test_tiny_models_say_their_images_are_not_meaningful(photo):
    run = PixelArtRun(photo, _config(steps=1))
    assert any("not meaningful" in note for note in run.setup.notes)
    assert run.start.config["notes"] == run.setup.notes == run.start.notes
