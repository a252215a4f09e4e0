"""The run panel stays responsive and quick (issue 12), checked without a browser: animations of long runs
are spaced, capped, palette GIFs; a streaming run sends its chart far less often than its frames;
bundle errors name the person's file in the message next to the upload."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image, ImageSequence

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app import launch  # noqa: E402
from bench.bench_export import long_run  # noqa: E402
from ui.session import SessionStore  # noqa: E402
from workbench.errors import ConfigError  # noqa: E402
from workbench.export import ANIMATION_MAX_FRAMES, animation_steps, save_animation, upscale  # noqa: E402
from workbench.trajectory import Trajectory  # noqa: E402


@pytest.fixture(scope="module")
def long_bundle(tmp_path_factory) -> Path:
    return long_run(1000, size=32).save(tmp_path_factory.mktemp("long") / "long.bundle")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    sessions = SessionStore(tmp_path_factory.mktemp("sessions"))
    demo, url = launch(sessions=sessions, prevent_thread_lock=True, quiet=True)
    yield url, tmp_path_factory.mktemp("downloads")
    demo.close()
    sessions.close_all()


def test_a_long_runs_gif_is_spaced_capped_and_one_palette(long_bundle, tmp_path):
    traj = Trajectory.load(long_bundle)
    path = save_animation(traj, tmp_path / "run.gif", max_frames=50, seconds=5)
    assert Image.open(path).mode == "P"  # indices and one palette (frames after the first decode as RGBA)
    gif = Image.open(path)
    frames = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(gif)]
    assert len(frames) == 50 and gif.info["duration"] == 100
    assert gif.size == (2 * 32 * 8, 32 * 8)  # the photo beside the art, crisp 8x (256 px)
    steps = [traj.frame_steps[i] for i in animation_steps(traj.num_frames, 50)]
    assert steps[0] == 0 and steps[-1] == 1000
    for k in (0, 25, 49):  # every frame shows its step exactly (below the label), nearest-neighbour blocks
        art = frames[k][40:, 256:]
        assert np.array_equal(art, upscale(traj.rgb(steps[k]), 8)[40:]), k
    colours = {tuple(c) for f in frames for c in f[:, 256:].reshape(-1, 3)}
    assert colours <= {tuple(c) for c in traj.palette} | {(255, 255, 255), (0, 0, 0)}
    for bad in (0, ANIMATION_MAX_FRAMES + 1):
        with pytest.raises(ConfigError, match="animation frames must be 1 to 300"):
            save_animation(traj, tmp_path / "bad.gif", max_frames=bad)


def test_rgb_runs_export_as_one_palette_gif_too(tmp_path):
    rng = np.random.default_rng(0)
    base = (np.linspace(0, 255, 96)[None, :, None] * np.ones((96, 1, 3))).astype(np.uint8)
    traj = Trajectory(input_image=base, frame_size=(96, 96), config={"run_id": "rgb"})
    for t in range(40):
        frame = base.copy()
        frame[t:t + 10, :, 0] = rng.integers(0, 255)
        traj.append(frame, {"norm": float(t)})
    gif = Image.open(save_animation(traj, tmp_path / "rgb.gif", max_frames=20, seconds=2))
    frames = [np.asarray(f.convert("RGB"), np.int16) for f in ImageSequence.Iterator(gif)]
    assert len(frames) == 20 and gif.info["duration"] == 100
    want = upscale(traj.rgb(traj.frame_steps[-1]), 3).astype(np.int16)  # 96 px -> 288 px, crisp
    assert np.abs(frames[-1][30:, 288:] - want[30:]).mean() < 8  # close to the frame, one 255-colour palette


def test_export_takes_frames_and_seconds_and_says_what_it_made(app, long_bundle):
    url, downloads = app
    client = Client(url, verbose=False, download_files=str(downloads))
    client.predict(handle_file(str(long_bundle)), api_name="/load_bundle")
    files, message = client.predict("gif", 40, 4, api_name="/export_run")
    gif = Image.open(next(f for f in files if f.endswith(".gif")))
    assert gif.n_frames == 40 and gif.info["duration"] == 100
    assert message == "1001 steps: bundle and a 40-frame GIF ready below"
    files, message = client.predict("gif", api_name="/export_run")  # the defaults: 120 frames in 6 s
    assert Image.open(next(f for f in files if f.endswith(".gif"))).n_frames == 120 and "120-frame" in message
    with pytest.raises(AppError, match="greater than maximum value 300"):  # gradio's own check of the field
        client.predict("gif", 1000, 4, api_name="/export_run")


def test_bundle_errors_name_the_file_next_to_the_upload(app, tmp_path):
    url, downloads = app
    client = Client(url, verbose=False, download_files=str(downloads))
    empty = tmp_path / "my run.bundle"
    empty.write_bytes(b"")
    *_, said = client.predict(handle_file(str(empty)), api_name="/load_bundle")
    assert said.startswith("⚠️") and "my run.bundle" in said and re.search(r"[0-9a-f]{32}", said) is None
    assert "\n" not in said


def test_a_streaming_run_sends_its_chart_far_less_often_than_its_frames(app):
    url, downloads = app
    client = Client(url, verbose=False, download_files=str(downloads))
    photo = ROOT / "assets" / "fashion_polka.jpg"
    client.predict(handle_file(str(photo)), 16, 16, 8, None, "crop", 0, api_name="/photo")
    from test_app import SETTING_NAMES, settings  # one form order for every served-app test

    assert SETTING_NAMES  # the settings form's order, as the app's own tests use it
    client.predict(*settings(width=16, height=16, steps=60, encoders=[]), api_name="/start_run")
    t0 = time.monotonic()
    job = client.submit(api_name="/run")
    job.result(timeout=180)
    outputs = job.outputs()
    live = [o for o in outputs if 'data-state="running"' in o[0] and 'data-step="0"' not in o[0]]
    frames = [o for o in live if isinstance(o[3], str)]
    charts = [o for o in live if o[6] is not None and not (isinstance(o[6], dict) and o[6].get("__type__"))]
    assert len(frames) >= 4, len(frames)
    assert len(charts) <= 1 + (time.monotonic() - t0) / 8 and len(charts) < len(frames) / 2, (len(charts), len(frames))
    assert outputs[-1][6] is not None and "took" in outputs[-1][0]  # the final view has the whole chart


def test_a_model_not_downloaded_is_listed_last_and_refused_before_queueing(empty_hf_cache):
    from types import SimpleNamespace

    from ui.models import check_models
    from ui.pixel_actions import PixelArtBackend

    status = check_models()
    labels = [label for label, _ in status.choices]
    downloaded = [not label.split(" — ")[1].startswith("not downloaded") for label in labels]
    assert downloaded == sorted(downloaded, reverse=True), labels  # usable first, then the others
    session = SimpleNamespace(photo=Image.new("RGB", (64, 64)), photo_name="p.png")
    with pytest.raises(ConfigError) as refused:
        PixelArtBackend(status).request(session, {"model": "sdxl"})
    said = str(refused.value)
    assert said.startswith("model sdxl is not downloaded here") and "stabilityai/stable-diffusion-xl" in said
    assert "choose a tiny test model" in said and "--model" not in said and "\n" not in said


def test_stylize_models_not_downloaded_are_listed_last_and_refused_at_once(empty_hf_cache):
    from ui.stylize_tab import NSTBackend, SMSBackend, _vgg_choices

    choices, default = _vgg_choices()
    assert default == "tiny" and [n for _, n in choices] == ["tiny", "vgg19"] and "not downloaded" in choices[1][0]
    for backend, model, command in ((NSTBackend(), "vgg19", "python -m stylize download vgg19"),
                                    (SMSBackend(), "sd15", "hf download")):
        with pytest.raises(ConfigError) as refused:  # before the inputs are even looked at
            backend.request(None, {"model": model})
        said = str(refused.value)
        assert said.startswith(f"model {model} is not downloaded here") and command in said
        assert "choose a tiny test model" in said and "--model" not in said
