"""The app served in-process on the tiny back end and driven through ``gradio_client``, as a browser
would: upload, run, scrub, jump, download, open a bundle; bad uploads; sessions kept apart."""

from __future__ import annotations

import base64
import inspect
import io
import json
import re
import sys
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app import launch  # noqa: E402
from workbench.export import upscale, upscale_factor  # noqa: E402
from workbench.palette import read_hex  # noqa: E402
from pixelart.stopping import make_strategy  # noqa: E402
from workbench.trajectory import Trajectory  # noqa: E402
from ui.models import TINY_LABEL, check_models  # noqa: E402
from ui.progress import Throttle, progress_html  # noqa: E402
from ui.session import SessionStore  # noqa: E402
from ui.settings import build_settings, config_from_values  # noqa: E402

PHOTO = ROOT / "assets" / "fashion_polka.jpg"
STEPS = 20
RUN = dict(  # a short tiny-model run whose frames visibly move (no warm-up, a large learning rate)
    width=32, height=32, colors=8, palette_file=None, prompt="a red polka-dot dress", model="tiny-sd",
    steps=STEPS, seed=0, guidance_scale=40.0, negative_prompt="", schedule="bounded_max", lr=0.2,
    warmup_steps=0, semantic_every=5, encoders=["clip", "dino"], fit="crop", controlnets=False, tiny_vae=False,
    dtype="fp32", init_method="sdpixl", negative_zeros=False,
)
SETTING_NAMES = list(inspect.signature(config_from_values).parameters)
PREVIEW = dict(width=32, height=32, colors=8, palette_file=None, fit="crop", seed=0)


# -- helpers ----------------------------------------------------------------------------------------
def settings(**changes) -> list:
    values = {**RUN, **changes}
    return [values[name] for name in SETTING_NAMES]


def state_of(progress: str) -> str:
    return re.search(r'data-state="(\w+)"', progress).group(1)


def pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def plot(value: dict) -> dict:
    """The Plotly figure a gr.Plot sent, with numeric arrays decoded."""
    figure = json.loads(value["plot"])
    for trace in figure["data"]:
        for key in ("x", "y"):
            if isinstance(trace.get(key), dict):
                spec = trace[key]
                trace[key] = np.frombuffer(base64.b64decode(spec["bdata"]), dtype=spec["dtype"]).tolist()
    return figure


def upload(client: Client, path: Path | str, **preview) -> tuple:
    return client.predict(handle_file(str(path)), *{**PREVIEW, **preview}.values(), api_name="/photo")


def start(client: Client, **changes) -> None:
    client.predict(*settings(**changes), api_name="/start_run")


def damage_frames(path: Path, out: Path, steps: slice = slice(None)) -> Path:
    """A copy of a bundle whose manifest and series are fine but whose frame bytes of ``steps`` are zeroed."""
    with zipfile.ZipFile(path) as zf:
        members = [(info, zf.read(info.filename)) for info in zf.infolist()]
        offsets = np.load(io.BytesIO(zf.read("frames.idx.npy")))
    with zipfile.ZipFile(out, "w") as zf:
        for info, data in members:
            if info.filename == "frames.bin":
                data = bytearray(data)
                steps_ = range(len(offsets) - 1)[steps]
                data[offsets[steps_[0]]:offsets[steps_[-1] + 1]] = bytes(offsets[steps_[-1] + 1] - offsets[steps_[0]])
                data = bytes(data)
            zf.writestr(info, data)
    return out


def early_damaged_bundle(folder: Path, name: str, run_id: str = "damaged-early") -> Path:
    """``NAME.bundle``: 40 steps of 16x16 frames whose first 32 frames' bytes are zeroed; the newest
    frame (from the keyframe at step 32) still decodes."""
    traj = Trajectory(palette=np.array([[0, 0, 0], [255, 255, 255]], np.uint8), input_image=np.zeros((16, 16, 3),
                      np.uint8), frame_size=(16, 16), config={"run_id": run_id, "photo_name": f"{name}.jpg"})
    for t in range(40):
        traj.append((np.arange(256).reshape(16, 16) < 6 * t).astype(np.uint8), {"norm": 10.0 + t})
    source = traj.save(folder / f"{name}-intact.tmp")
    damaged = damage_frames(source, folder / f"{name}.bundle", slice(0, 32))
    source.unlink()
    return damaged


def run_to_end(client: Client, **changes) -> tuple[list, float]:
    start(client, **changes)
    t0 = time.monotonic()
    job = client.submit(api_name="/run")
    job.result(timeout=180)
    return job.outputs(), time.monotonic() - t0


# -- the served app ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def app(tmp_path_factory):
    sessions = SessionStore(tmp_path_factory.mktemp("sessions"))
    demo, url = launch(sessions=sessions, prevent_thread_lock=True, quiet=True)
    yield SimpleNamespace(demo=demo, url=url, sessions=sessions)
    demo.close()
    sessions.close_all()


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


def new_client(app, downloads) -> Client:
    return Client(app.url, verbose=False, download_files=str(downloads))


@pytest.fixture(scope="module")
def finished(app, downloads):
    """One session that uploaded a photo and ran a 20-step trajectory to the end, plus its bundle."""
    client = new_client(app, downloads)
    preview, photo, message = upload(client, PHOTO)
    outputs, elapsed = run_to_end(client)
    files, _ = client.predict("gif", api_name="/export_run")
    bundle = Trajectory.load(next(f for f in files if f.endswith(".bundle")))
    return SimpleNamespace(client=client, preview=preview, photo=photo, message=message, outputs=outputs,
                           elapsed=elapsed, files=files, bundle=bundle)


# -- pieces without a server ------------------------------------------------------------------------
def test_settings_form_order_is_the_config_order():
    with gr.Blocks():
        panel = build_settings(check_models())
    assert panel.names == SETTING_NAMES
    config = config_from_values(**dict(zip(SETTING_NAMES, settings(width=48, steps=7.0))))
    assert config.size == (32, 48) and config.steps == 7 and config.optim.warmup_steps == 0
    assert config.metrics.encoders == ("clip", "dino") and not config.guidance.use_controlnets


def test_throttle_allows_one_update_per_interval():
    now = [0.0]
    throttle = Throttle(0.25, clock=lambda: now[0])
    due = []
    for _ in range(40):  # 40 steps at 50 steps a second = 0.8 s
        due.append(throttle.due())
        now[0] += 0.02
    assert due[0] and sum(due) == 4  # t = 0, 0.26, 0.52, 0.78


def test_progress_bar_shows_rate_and_time_left():
    html = progress_html("running", 50, 200, 25.0)
    assert "step 50 / 200" in html and "2.00 steps/s" in html and "1 min 15 s left" in html
    assert 'style="width: 25.0%"' in html and state_of(html) == "running"
    assert "took" in progress_html("stopped", 10, 200, 5.0)


def test_stop_is_checked_once_the_models_are_loaded():
    from workbench.loop import RunLoop
    from workbench.records import RunStart

    def prepared():  # stands for a run whose models took a while to load
        yield RunStart(kind="pixelart", total=5, input_image=np.zeros((4, 4, 3), np.uint8), frame_size=(2, 2),
                       curves=(), config={}, palette=np.zeros((2, 3), np.uint8))
        raise AssertionError("a step was made after Stop")

    result = RunLoop(prepared(), should_stop=lambda: True).run()
    assert result.stopped and len(result.trajectory) == 0


def test_live_markers_are_where_a_live_stop_on_would_stop():
    from pixelart.stopping import DEFAULT_PATIENCE, PIXELART_STRATEGIES
    from ui.stops import stop_markers
    from workbench.drift import standard_curves

    def series(n):
        t = np.arange(n, dtype=float)
        return {"norm": 10 + t, "rate": t / 10, "clip": 0.9 - 0.001 * (t - 10) ** 2}  # CLIP peaks at step 10

    def markers(values, params=None, final=True):
        return stop_markers(PIXELART_STRATEGIES, values, standard_curves(list(values)), params, final=final)

    short, long = series(50), series(DEFAULT_PATIENCE + 20)
    assert {m.name: m.step for m in markers(short)}["clip_max"] == 10  # offline: the argmax
    assert "clip_max" not in {m.name for m in markers(short, final=False)}  # live: not yet patient enough
    live = {m.name: m.step for m in markers(long, final=False)}
    assert live["clip_max"] == 10 and "dino_max" not in live
    assert {m.name: m.step for m in markers(short, {"fixed_step": 7})}["fixed_step"] == 7
    assert {m.name: m.metric for m in markers(short)}["norm_rate"] == "rate"  # the marker sits on its curve


def test_zero_gpu_says_how_runs_get_a_gpu(monkeypatch, tmp_path):
    from ui import build_demo

    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    demo = build_demo(SessionStore(tmp_path / "s"))
    notes = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "zero-gpu-note"]
    assert len(notes) == 1 and "Running on ZeroGPU" in notes[0].value and "keeping every step made" in notes[0].value
    monkeypatch.delenv("SPACES_ZERO_GPU")


def test_offline_start_lists_missing_models_and_labels_the_tiny_ones(empty_hf_cache):
    status = check_models()
    labels = dict((name, label) for label, name in status.choices)
    assert "not downloaded" in labels["sdxl"] and "python -m pixelart download sdxl" in labels["sdxl"]
    order = [name for _, name in status.choices]
    assert order.index("tiny") < order.index("sdxl")  # the usable models first
    assert TINY_LABEL in labels["tiny"] and "random weights" in labels["tiny"]
    assert status.default == "tiny"
    text = status.markdown()
    assert "stabilityai/stable-diffusion-xl-base-1.0" in text and "--with-encoders" in text
    assert "openai/clip-vit-base-patch16" in text


def test_scrub_benchmark_writes_its_csv(tmp_path, capsys):
    from bench import bench_scrub

    out = tmp_path / "scrub.csv"
    assert bench_scrub.main(["--steps", "300", "--size", "32", "--samples", "5", "--csv", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].split(",") == bench_scrub.COLUMNS and len(lines) == 1 + len(bench_scrub.SCENARIOS)
    assert "median" in capsys.readouterr().out


# -- upload and preview -----------------------------------------------------------------------------
def test_upload_shows_the_classical_preview_at_once(finished):
    art = pixels(finished.preview)
    assert art.shape == (512, 512, 3) and finished.message == ""
    assert np.array_equal(art[::16, ::16], art[8::16, 8::16])  # crisp 16x blocks, no smoothing
    assert 2 < len(np.unique(art.reshape(-1, 3), axis=0)) <= 8
    assert pixels(finished.photo).shape == (256, 256, 3)


def test_preview_compares_the_two_initialisations_of_a_run(app, downloads):
    """Issue 11: the first frame of a run under SD-πXL's initialisation beside the PIL one the person
    could choose, each equal to the engine's own ``initial_frame``, with the share of pixels that differ."""
    from pixelart.baselines import classical_pixel_art, initial_frame
    from workbench.images import load_photo

    client = new_client(app, downloads)
    upload(client, PHOTO)
    prep, _ = classical_pixel_art(load_photo(PHOTO), (32, 32), colors=8, fit="crop", seed=0)
    for chosen, other in (("sdpixl", "area"), ("lanczos", "lanczos")):
        gallery, note = client.predict(*PREVIEW.values(), chosen, api_name="/initials")
        assert len(gallery) == 2
        assert gallery[0]["caption"].startswith("sdpixl") and gallery[1]["caption"].startswith(other)
        assert ("chosen" in gallery[0]["caption"]) == (chosen == "sdpixl")
        frames = [initial_frame(prep, "sdpixl"), initial_frame(prep, other)]
        for item, frame in zip(gallery, frames):
            art = pixels(item["image"])
            block = art.shape[0] // 32
            assert np.array_equal(art[block // 2::block, block // 2::block], prep.palette[frame])
        share = float(np.mean(frames[0] != frames[1]))
        assert f"**{share:.0%}**" in note and "1,024 pixels" in note
    # another photo with the same settings: its own frames, not the last photo's kept preview
    other = ROOT / "assets" / "fashion_stripes.jpg"
    upload(client, other)
    gallery, _ = client.predict(*PREVIEW.values(), "sdpixl", api_name="/initials")
    prep, _ = classical_pixel_art(load_photo(other), (32, 32), colors=8, fit="crop", seed=0)
    art = pixels(gallery[0]["image"])
    block = art.shape[0] // 32
    assert np.array_equal(art[block // 2::block, block // 2::block], prep.palette[initial_frame(prep, "sdpixl")])


def test_bad_uploads_get_a_readable_message_and_the_server_keeps_serving(app, downloads, tmp_path):
    client = new_client(app, downloads)
    good = np.asarray(Image.open(PHOTO))
    jpeg = io.BytesIO()
    Image.fromarray(good).save(jpeg, format="JPEG")
    cases = {
        "notes.txt": (b"just some text, not a photo\n" * 20, "not an image"),
        "cut.jpg": (jpeg.getvalue()[: len(jpeg.getvalue()) // 3], "truncated or corrupt"),
        "empty.png": (b"", "empty"),
        "archive.png": (b"PK\x03\x04" + bytes(200), "ZIP archive"),
    }
    bomb = tmp_path / "bomb.png"
    Image.new("L", (9000, 5000)).save(bomb)  # 45 MP in a small file: refused from its header
    tiny = tmp_path / "tiny.png"
    Image.fromarray(good[::40, ::40]).save(tiny)  # 10x15 pixels, smaller than the 32x32 output
    for name, (data, _) in cases.items():
        (tmp_path / name).write_bytes(data)
    expected = {**{n: e for n, (_, e) in cases.items()}, "bomb.png": "over the limit", "tiny.png": "smaller than"}
    for name, words in expected.items():
        preview, photo, message = upload(client, tmp_path / name)
        assert preview is None and photo is None, name
        assert message.startswith("⚠️") and words in message and "\n" not in message, (name, message)
        assert "Traceback" not in message
    # odd but valid modes are converted and previewed: CMYK, 16-bit gray, palette with transparency
    cmyk, gray16, pal = tmp_path / "cmyk.jpg", tmp_path / "gray16.png", tmp_path / "pal.png"
    Image.fromarray(good).convert("CMYK").save(cmyk)
    Image.fromarray((good[..., 0].astype(np.uint16) * 257)).save(gray16)
    Image.fromarray(good).convert("P", palette=Image.Palette.ADAPTIVE).save(pal, transparency=0)
    for path in (cmyk, gray16, pal):
        preview, photo, message = upload(client, path)
        assert message == "" and pixels(preview).shape == (512, 512, 3), path.name
    # and the server still answers normally
    preview, photo, message = upload(client, PHOTO, width=48)
    factor = upscale_factor((32, 48), 512)
    assert message == "" and pixels(preview).shape == (32 * factor, 48 * factor, 3)


def test_settings_errors_are_reported_before_waiting_for_the_gpu(app, downloads, tmp_path):
    client = new_client(app, downloads)
    with pytest.raises(AppError, match="upload a photo"):
        start(client)
    upload(client, PHOTO)
    with pytest.raises(AppError, match="steps must be 1 to"):
        start(client, steps=0)
    with pytest.raises(AppError, match="greater than maximum value 256"):  # gradio's own slider check
        start(client, width=300)
    with pytest.raises(AppError, match="guidance scale must be zero or positive"):
        start(client, guidance_scale=-1)
    with pytest.raises(AppError, match="prompt is empty"):
        start(client, prompt="  ")
    with pytest.raises(AppError, match="nothing to run"):
        client.predict(api_name="/run")
    # a photo too small for the output is refused here too, not after waiting for the GPU
    small = tmp_path / "small.png"
    Image.fromarray(np.asarray(Image.open(PHOTO).convert("RGB"))[:40, :40]).save(small)
    upload(client, small)
    with pytest.raises(AppError, match="smaller than the 64×64 pixel-art output"):
        start(client, width=64, height=64)
    assert app.sessions.get(client.session_hash).panel("px").run_state == "idle"


# -- a run ------------------------------------------------------------------------------------------
def test_the_run_streams_throttled_updates_and_keeps_every_step(finished):
    outputs = finished.outputs
    states = [state_of(o[0]) for o in outputs]
    assert states[0] == "preparing" and states[-1] == "finished" and "running" in states
    live = [o for o in outputs if state_of(o[0]) == "running"]
    assert 2 <= len(live) <= finished.elapsed * 4 + 3  # at most ~4 updates a second
    # the slider grows with the run and follows the newest step
    maxima = [o[4]["maximum"] for o in outputs if isinstance(o[4], dict) and "maximum" in o[4]]
    assert maxima == sorted(maxima) and maxima[-1] == STEPS
    final = outputs[-1]
    assert final[4]["value"] == STEPS and f"step {STEPS} / {STEPS}" in final[0]
    assert "tiny test model" in final[1] and 'prompt used: "a red polka-dot dress"' in final[1]
    assert final[5].startswith(f"**step {STEPS}** of {STEPS}") and "CLIP = 0." in final[5]
    assert final[7] == ""
    names = [t["name"] for t in plot(final[6])["data"]]
    assert {"L2 norm d<sub>t</sub>", "CLIP similarity", "DINOv2 similarity"} <= set(names)
    assert any("CLIP similarity maximum → step" in n for n in names)
    # the live image moved while the run went
    arts = [pixels(o[3]) for o in outputs if isinstance(o[3], str)]
    assert len(arts) >= 2 and not np.array_equal(arts[0], arts[-1])
    assert len(finished.bundle) == STEPS + 1


def test_scrub_shows_any_step_crisply_and_marks_it_on_the_chart(finished):
    bundle = finished.bundle
    seen = {}
    for step in (0, 7, STEPS):
        art, chart, caption = finished.client.predict(step, api_name="/scrub")
        seen[step] = pixels(art)
        assert np.array_equal(seen[step], upscale(bundle.rgb(step), 16)), step
        assert caption.startswith(f"**step {step}** of {STEPS}")
        selected = [t for t in plot(chart)["data"] if t.get("meta") == "selected"]
        assert selected and all(t["x"] == [step] for t in selected)
    assert not np.array_equal(seen[0], seen[STEPS])
    with pytest.raises(AppError, match=f"greater than maximum value {STEPS}"):  # this session's slider range
        finished.client.predict(STEPS + 1, api_name="/scrub")


def test_jump_goes_to_the_step_a_strategy_detects(finished):
    series = {k: finished.bundle.series(k) for k in finished.bundle.series_names}
    for name, param in (("clip_max", ""), ("dino_max", ""), ("fixed_step", "7"), ("norm_rate", "0.01")):
        slider, art, chart, caption, message = finished.client.predict(name, param, api_name="/jump")
        expected = make_strategy(name, float(param) if param else None).decide(series)
        assert slider["value"] == expected.step, name
        assert np.array_equal(pixels(art), upscale(finished.bundle.rgb(expected.step), 16))
        assert f"step {expected.step}" in message
    stops = {t["meta"]: t["x"][0] for t in plot(chart)["data"] if str(t.get("meta")).startswith("stop:")}
    assert stops["stop:fixed_step"] == 7  # the chart marks the strategy with the parameter just used
    *_, message = finished.client.predict("norm_rate", "a lot", api_name="/jump")
    assert message.startswith("⚠️") and "the parameter must be a number" in message


def test_every_download(finished):
    client, bundle = finished.client, finished.bundle
    files, message = client.predict(5, api_name="/export_step")
    by_suffix = {Path(f).name: f for f in files}
    png = by_suffix["fashion_polka_step00005.png"]
    assert np.array_equal(pixels(png), bundle.rgb(5))
    assert np.array_equal(pixels(by_suffix["fashion_polka_step00005_x16.png"]), upscale(bundle.rgb(5), 16))
    assert np.array_equal(read_hex(by_suffix["fashion_polka_step00005.hex"]), bundle.palette)
    assert "step 5" in message
    # the run: bundle with every frame, and the animation
    assert bundle.config["prompt_used"] == "a red polka-dot dress" and bundle.frame_size == (32, 32)
    assert np.isfinite(bundle.series("dino")).all()
    gif = Image.open(next(f for f in finished.files if f.endswith(".gif")))
    assert gif.n_frames == STEPS + 1
    files, message = client.predict("mp4", api_name="/export_run")
    import imageio.v3 as iio

    movie = iio.imread(next(f for f in files if f.endswith(".mp4")))
    assert movie.shape[0] == STEPS + 1 and "MP4" in message


def test_stop_ends_the_run_and_keeps_what_was_made(app, downloads):
    client = new_client(app, downloads)
    upload(client, PHOTO, width=16, height=16)
    start(client, width=16, height=16, steps=500, encoders=[])
    job = client.submit(api_name="/run")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        live = [o for o in job.outputs() if 'data-state="running"' in o[0] and 'data-step="0"' not in o[0]]
        if len(live) >= 2:
            break
        time.sleep(0.1)
    # other events answer while the run holds the GPU queue: this session scrubs, another previews
    t0 = time.monotonic()
    art, chart, caption = client.predict(1, api_name="/scrub")
    preview, *_ = upload(new_client(app, downloads), PHOTO)
    assert time.monotonic() - t0 < 10 and caption.startswith("**step 1**") and isinstance(preview, str)
    n_before = len(job.outputs())
    time.sleep(0.6)
    later = job.outputs()[n_before:]
    assert later and all(not isinstance(o[3], str) for o in later)  # the run no longer moves the view
    client.predict(api_name="/stop")
    job.result(timeout=60)
    final = job.outputs()[-1]
    assert state_of(final[0]) == "stopped"
    made = final[4]["maximum"]
    assert 1 <= made < 500
    art, chart, caption = client.predict(made, api_name="/scrub")
    assert caption.startswith(f"**step {made}** of {made}")
    files, _ = client.predict("gif", api_name="/export_run")
    assert len(Trajectory.load(next(f for f in files if f.endswith(".bundle")))) == made + 1


def test_a_failing_run_keeps_the_steps_it_made(app, downloads, monkeypatch):
    from pixelart.guidance.sds import ScoreDistillation

    original, calls = ScoreDistillation.__call__, []

    def flaky(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > 4:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ScoreDistillation, "__call__", flaky)
    client = new_client(app, downloads)
    upload(client, PHOTO, width=16, height=16)
    outputs, _ = run_to_end(client, width=16, height=16, steps=30, encoders=["clip"])
    final = outputs[-1]
    assert state_of(final[0]) == "failed" and "internal error while running" in final[7]
    assert final[4]["maximum"] == 4
    art, chart, caption = client.predict(4, api_name="/scrub")
    assert caption.startswith("**step 4** of 4") and "CLIP = 0." in caption  # similarities still filled


def test_a_missing_model_says_how_to_get_it(app, downloads, empty_hf_cache, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # fail at once instead of trying the network
    client = new_client(app, downloads)
    upload(client, PHOTO)
    # refused at once, before queueing (issue 12), saying what is missing and how to get it
    with pytest.raises(AppError, match="model sd15 is not downloaded here") as refused:
        start(client, model="sd15")
    assert "python -m pixelart download sd15" in str(refused.value) and "choose a tiny test model" in str(refused.value)
    assert app.sessions.get(client.session_hash).panel("px").run_state == "idle"


def test_run_is_refused_while_queued_and_runs_with_the_photo_it_was_pressed_with(app, downloads):
    small = dict(width=16, height=16)
    blocker = new_client(app, downloads)  # another session's long run holds the one GPU queue
    upload(blocker, PHOTO, **small)
    start(blocker, **small, steps=5000, encoders=[])
    hold = blocker.submit(api_name="/run")
    deadline = time.monotonic() + 60
    while not app.sessions.get(blocker.session_hash).running and time.monotonic() < deadline:
        time.sleep(0.05)

    queued = new_client(app, downloads)
    upload(queued, PHOTO, **small)
    start(queued, **small, steps=2, encoders=[])
    job = queued.submit(api_name="/run")
    with pytest.raises(AppError, match="already waiting for the GPU"):  # Run pressed twice
        start(queued, **small, steps=2, encoders=[])
    preview, photo, message = upload(queued, ROOT / "assets" / "fashion_stripes.jpg", **small)  # while queued
    assert message == "" and isinstance(preview, str)

    again = new_client(app, downloads)  # Stop cancels a queued run; Run may be pressed again at once
    upload(again, PHOTO, **small)
    start(again, **small, steps=2, encoders=[])
    again_first = again.submit(api_name="/run")
    assert "cancelled" in again.predict(api_name="/stop")
    start(again, **small, steps=3, encoders=[])
    again_second = again.submit(api_name="/run")
    cancelled = new_client(app, downloads)  # Stop while queued, and no Run again
    upload(cancelled, PHOTO, **small)
    start(cancelled, **small, steps=2, encoders=[])
    cancelled_job = cancelled.submit(api_name="/run")
    cancelled.predict(api_name="/stop")

    blocker.predict(api_name="/stop")
    hold.result(timeout=60)
    job.result(timeout=120)
    assert state_of(job.outputs()[-1][0]) == "finished"
    ran = app.sessions.get(queued.session_hash).panel("px").trajectory
    assert ran.config["photo_name"] == "fashion_polka.jpg"  # the photo Run was pressed with
    assert np.array_equal(ran.input_image, pixels(upload(new_client(app, downloads), PHOTO, **small)[1]))
    again_first.result(timeout=120)
    again_second.result(timeout=120)
    progress = [o[0] for j in (again_first, again_second) for o in j.outputs() if isinstance(o[0], str)]
    assert [state_of(p) for p in progress].count("finished") == 1 and "step 3 / 3" in progress[-1]
    cancelled_job.result(timeout=60)
    final = cancelled_job.outputs()[-1]
    assert state_of(final[0]) == "stopped" and final[7] == "stopped before the run started"
    assert all(app.sessions.get(c.session_hash).panel("px").run_state == "idle" for c in (queued, again, cancelled))


# -- bundles ----------------------------------------------------------------------------------------
def test_a_bundle_from_another_session_scrubs_with_no_model_loaded(app, downloads, finished, monkeypatch):
    from pixelart.models import loading

    def no_models(*args, **kwargs):
        raise AssertionError("a model was loaded to view a bundle")

    for fn in ("load_guidance_models", "load_encoder", "load_captioner", "load_clothes_segmenter"):
        monkeypatch.setattr(loading, fn, no_models)
    path = next(f for f in finished.files if f.endswith(".bundle"))
    client = new_client(app, downloads)
    progress, notes, photo, art, slider, caption, chart, message = client.predict(
        handle_file(path), api_name="/load_bundle")
    assert state_of(progress) == "loaded" and message == ""
    assert f"{STEPS + 1} recorded steps" in notes and "a red polka-dot dress" in notes
    assert slider["maximum"] == STEPS and np.array_equal(pixels(art), upscale(finished.bundle.rgb(STEPS), 16))
    assert np.array_equal(pixels(photo), finished.bundle.input_image)
    art, chart, caption = client.predict(3, api_name="/scrub")
    assert np.array_equal(pixels(art), upscale(finished.bundle.rgb(3), 16))
    slider, *_ = client.predict("dino_max", "", api_name="/jump")
    assert slider["value"] == make_strategy("dino_max").decide(
        {k: finished.bundle.series(k) for k in finished.bundle.series_names}).step


def test_a_broken_bundle_gets_a_message(app, downloads, tmp_path):
    client = new_client(app, downloads)
    broken = tmp_path / "broken.bundle"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    *_, message = client.predict(handle_file(str(broken)), api_name="/load_bundle")
    assert message.startswith("⚠️") and "broken.bundle is truncated at 21 bytes" in message


def test_a_bundle_with_damaged_frames_gets_a_message_and_the_session_keeps_working(
        app, downloads, finished, tmp_path):
    good = Path(next(f for f in finished.files if f.endswith(".bundle")))
    client = new_client(app, downloads)
    session = app.sessions.get(client.session_hash)
    client.predict(handle_file(str(good)), api_name="/load_bundle")
    # manifest and series fine, every frame's bytes zeroed: refused when opened, with the reason
    zeroed = damage_frames(good, tmp_path / "zeroed.bundle")
    progress, notes, photo, art, slider, caption, chart, message = client.predict(
        handle_file(str(zeroed)), api_name="/load_bundle")
    assert message.startswith("⚠️") and "zeroed.bundle: frame" in message and "damaged" in message, message
    assert "Traceback" not in message and not isinstance(art, str)
    art, chart, caption = client.predict(3, api_name="/scrub")  # the bundle opened before is still shown
    assert np.array_equal(pixels(art), upscale(finished.bundle.rgb(3), 16))
    assert len(list((session.folder / "bundles").iterdir())) == 1  # the refused copy is gone

    # a bundle whose early frames are damaged opens (its newest frame is fine); their views say why
    early = early_damaged_bundle(tmp_path, "early")
    *_, message = client.predict(handle_file(str(early)), api_name="/load_bundle")
    assert message == ""
    assert len(list((session.folder / "bundles").iterdir())) == 1  # the copy of the bundle before is deleted
    art, chart, caption = client.predict(5, api_name="/scrub")
    assert caption.startswith("⚠️") and "frame 0 is damaged" in caption
    *_, message = client.predict("fixed_step", "5", api_name="/jump")
    assert message.startswith("⚠️") and "frame 0 is damaged" in message
    files, message = client.predict(5, api_name="/export_step")
    assert files is None and "frame 0 is damaged" in message
    art, chart, caption = client.predict(39, api_name="/scrub")
    assert caption.startswith("**step 39** of 39")
    # a photo uploaded now shows in the preview, but the viewer keeps the bundle's own photo
    preview, photo, message = upload(client, PHOTO)
    assert isinstance(preview, str) and not isinstance(photo, str) and message == ""


# -- sessions ---------------------------------------------------------------------------------------
def test_sessions_see_only_their_own_runs_and_files(app, downloads, finished):
    other = new_client(app, downloads)
    art, chart, caption = other.predict(1, api_name="/scrub")
    assert not isinstance(art, str) and "no trajectory yet" in caption  # no image: nothing to show
    files, message = other.predict(1, api_name="/export_step")
    assert files is None and "nothing to download" in message
    *_, message = other.predict("clip_max", "", api_name="/jump")
    assert "no trajectory yet" in message
    with pytest.raises(AppError, match="upload a photo"):
        start(other)  # the first session's photo is not this session's
    mine, theirs = app.sessions.get(finished.client.session_hash), app.sessions.get(other.session_hash)
    assert mine is not theirs and mine.folder != theirs.folder
    assert list((mine.folder / "exports").iterdir()) and not (theirs.folder / "exports").exists()
    # closing a session (the browser tab went away) deletes its files and nothing else
    app.sessions.close(other.session_hash)
    assert not theirs.folder.exists() and mine.folder.exists()
    art, _, caption = finished.client.predict(2, api_name="/scrub")
    assert caption.startswith("**step 2**")


def test_runs_share_one_gpu_queue_and_light_events_do_not_wait(app):
    deps = {d.api_name: d for d in app.demo.fns.values()}
    assert deps["run"].concurrency_limit == 1 and deps["run"].concurrency_id == "gpu"
    for name in ("scrub", "jump", "start_run", "stop", "export_step"):
        assert deps[name].concurrency_limit is None and deps[name].concurrency_id != "gpu", name


def test_closed_tabs_and_idle_sessions_are_cleaned_up(app, tmp_path, monkeypatch):
    import ui.session

    assert any(t[1] == "unload" for dep in app.demo.fns.values() for t in dep.targets)
    store = SessionStore(tmp_path / "s", grace_s=0.05, idle_ttl_s=3600)
    rmtree, deleted = ui.session.shutil.rmtree, []

    def outside_the_lock(path, **kwargs):  # every handler takes the store's lock: never delete under it
        assert not store._lock.locked()
        deleted.append(path)
        rmtree(path, **kwargs)

    monkeypatch.setattr(ui.session.shutil, "rmtree", outside_the_lock)
    gone, back, kept = store.get("gone"), store.get("back"), store.get("kept")
    (gone.subfolder("exports") / "x.png").write_bytes(b"x")
    gone.panel("px").run_state = "running"
    store.release("gone")  # the page's heartbeat dropped...
    assert gone.panel("px").stop_requested  # gradio cancels the gone page's events: its run stops at once
    store.release("back")
    assert gone.folder.exists()  # ...but it may reconnect: nothing is deleted yet
    store.get("back")  # this one came back and used the app again
    time.sleep(0.06)
    store.sweep()
    assert not gone.folder.exists() and len(store) == 2 and gone.folder in deleted
    assert back.folder.exists() and kept.folder.exists() and len(store) == 2
    idle = SessionStore(tmp_path / "i", idle_ttl_s=0.0)
    lazy = idle.get("lazy")
    idle.sweep()
    assert not lazy.folder.exists()
    store.close_all()
    assert not back.folder.exists() and not kept.folder.exists()
