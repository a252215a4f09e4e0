"""The Stylize and Face → Body tabs, served and driven through gradio_client as a browser would: each
runs on the shared run panel (stream, slider, chart from the run's own curves, downloads, bundles,
errors on the page)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from app import launch
from ui.session import SessionStore
from workbench.trajectory import Trajectory

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "assets" / "fashion_polka.jpg"
STYLE = ROOT / "assets" / "fashion_stripes.jpg"


def state_of(progress: str) -> str:
    return re.search(r'data-state="(\w+)"', progress).group(1)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    sessions = SessionStore(tmp_path_factory.mktemp("sessions"))
    demo, url = launch(sessions=sessions, prevent_thread_lock=True, quiet=True)
    yield SimpleNamespace(url=url, sessions=sessions, downloads=tmp_path_factory.mktemp("downloads"))
    demo.close()
    sessions.close_all()


def client_of(app) -> Client:
    return Client(app.url, verbose=False, download_files=str(app.downloads))


def nst_settings(**changes):
    values = dict(content=handle_file(str(CONTENT)), styles=[handle_file(str(STYLE))], blend="", model="tiny",
                  ratio=6.0, iterations=6, max_side=64, optimizer="lbfgs", init="content", tv_weight=0.0, scales=1,
                  color_mode="none", seed=0)
    values.update(changes)
    return list(values.values())


def test_style_transfer_runs_scrubs_and_exports_on_the_run_panel(app):
    client = client_of(app)
    client.predict(*nst_settings(), api_name="/nst_start_run")
    job = client.submit(api_name="/nst_run")
    job.result(timeout=300)
    progress, notes, photo, art, slider, caption, chart, message = job.outputs()[-1]
    assert state_of(progress) == "finished" and message == ""
    assert "tiny test" in notes or "not meaningful" in notes
    assert "step 6" in caption and "d<sub>t</sub>" in caption  # the caption comes from the run's curves
    figure = json.loads(chart["plot"])
    assert {t.get("meta") for t in figure["data"]} >= {"loss", "norm", "rate"}
    assert figure["layout"]["yaxis"]["type"] == "log"  # losses on a log axis, as the run declared
    art3, _, caption3 = client.predict(3, api_name="/nst_scrub")
    assert "**step 3**" in caption3
    assert Image.open(art3).size == Image.open(art).size
    files, text = client.predict(3, api_name="/nst_export_step")
    assert files[0].endswith("_step00003.png") and "PNG" in text
    files, text = client.predict("gif", api_name="/nst_export_run")
    bundle = Trajectory.load(next(f for f in files if f.endswith(".bundle")))
    assert bundle.kind == "nst" and len(bundle) == 7 and bundle.palette is None
    gif = Image.open(next(f for f in files if f.endswith(".gif")))
    h, w = bundle.frame_size
    assert gif.n_frames == 7 and gif.width / gif.height == pytest.approx(2 * w / h, rel=0.05)  # content beside each step
    # the bundle opens in another session with no model loaded
    other = client_of(app)
    progress, notes, *_, caption, chart, message = other.predict(handle_file(files[0]), api_name="/nst_load_bundle")
    assert state_of(progress) == "loaded" and message == "" and "7 recorded steps" in notes


def test_bad_style_transfer_input_is_refused_with_the_reason(app):
    client = client_of(app)
    with pytest.raises(Exception, match="upload one or more style images"):
        client.predict(*nst_settings(styles=[]), api_name="/nst_start_run")
    with pytest.raises(Exception, match="iterations"):
        client.predict(*nst_settings(iterations=0), api_name="/nst_start_run")
    with pytest.raises(Exception, match="weights"):
        client.predict(*nst_settings(blend="a,b"), api_name="/nst_start_run")


def test_sms_stops_on_request_and_keeps_its_steps(app):
    client = client_of(app)
    values = dict(content=handle_file(str(CONTENT)), lora_file=None, lora_id="tiny", style="ghibli style",
                  prompt="a dress", model="tiny-sd", lambda_psr=-3.3, steps=200, strength=0.8, guidance=4.5, seed=0)
    client.predict(*values.values(), api_name="/sms_start_run")
    job = client.submit(api_name="/sms_run")
    session = app.sessions.get(client.session_hash).panel("sms")
    deadline = time.monotonic() + 120
    while (session.trajectory is None or len(session.trajectory) < 3) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert client.predict(api_name="/sms_stop") == "stopping after the current step…"
    job.result(timeout=120)
    progress = job.outputs()[-1][0]
    assert state_of(progress) == "stopped"
    made = len(session.trajectory)
    assert 3 <= made < 201 and session.trajectory.kind == "sms"


def test_face_to_body_trains_on_the_panel_and_translates(app, tmp_path):
    faces, bodies = [], []
    rng = np.random.default_rng(0)
    for i in range(3):
        for name, folder, size in (("face", faces, (40, 36)), ("body", bodies, (32, 48))):
            path = tmp_path / f"{name}{i}.png"
            Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
            folder.append(handle_file(str(path)))
    face = handle_file(str(tmp_path / "face0.png"))
    client = client_of(app)
    client.predict(faces, bodies, False, "tiny", 4, 2, 1, api_name="/gan_start_run")
    job = client.submit(api_name="/gan_run")
    job.result(timeout=300)
    progress, notes, photo, art, slider, caption, chart, message = job.outputs()[-1]
    assert state_of(progress) == "finished" and message == ""
    art1, _, caption1 = client.predict(1, api_name="/gan_scrub")
    assert "frame of step 0" in caption1  # sample grids every 2 iterations: the slider snaps to them
    gallery, files, text = client.predict(face, None, "all", 2, 0, 0.0, True, api_name="/gan_translate")
    assert len(gallery) == 2 * 2 * 2 and "4 images from 2 members" in text and files[0].endswith("_body.png")
    assert [g["caption"] for g in gallery[:2]] == ["member 0, sample 0", "member 0, sample 0: mask"]
    mask = np.asarray(Image.open(gallery[1]["image"]).convert("RGB"))
    assert (mask[..., 0] == mask[..., 1]).all() and (mask[..., 1] == mask[..., 2]).all()  # a grey map
    # one member, no masks: its two samples; the same seed gives the same images as with every member
    one, _, text = client.predict(face, None, "1", 2, 0, 0.0, False, api_name="/gan_translate")
    assert [g["caption"] for g in one] == ["member 1, sample 0", "member 1, sample 1"] and "2 images from 1 member" in text
    same = [g for g in gallery if g["caption"] == "member 1, sample 0"][0]
    assert np.array_equal(np.asarray(Image.open(one[0]["image"])), np.asarray(Image.open(same["image"])))
    _, _, text = client.predict(face, None, "7", 2, 0, 0.0, False, api_name="/gan_translate")
    assert "this council has 2" in text and "\n" not in text.strip()
    gallery, files, text = client_of(app).predict(face, None, "all", 2, 0, 0.0, True, api_name="/gan_translate")
    assert not gallery and "no checkpoint yet: train a model above" in text  # another session has no trained model


def test_face_to_body_puts_the_bodies_on_black_when_asked(app, tmp_path):
    """The tab's 'on black first' option: figures on white are prepared as `facegen prepare` does before
    training; images with no plain background are refused in one line before any training."""
    rng = np.random.default_rng(1)
    faces, bodies, plain = [], [], []
    for i in range(3):
        face = tmp_path / f"face{i}.png"
        Image.fromarray(rng.integers(0, 256, (36, 40, 3), dtype=np.uint8)).save(face)
        faces.append(handle_file(str(face)))
        body = np.full((96, 64, 3), 255, np.uint8)  # a figure on white, with a white shirt inside it
        body[10:90, 20:44] = (180, 40, 40)
        body[30:50, 26:38] = 255
        Image.fromarray(body).save(tmp_path / f"body{i}.png")
        bodies.append(handle_file(str(tmp_path / f"body{i}.png")))
        Image.new("RGB", (64, 96), (200, 200, 200)).save(tmp_path / f"plain{i}.png")  # nothing but background
        plain.append(handle_file(str(tmp_path / f"plain{i}.png")))
    client = client_of(app)
    with pytest.raises(Exception, match="no full-body image could be put on black"):
        client.predict(faces, plain, True, "tiny", 2, 2, 1, api_name="/gan_start_run")
    client.predict(faces, bodies, True, "tiny", 2, 2, 1, api_name="/gan_start_run")
    job = client.submit(api_name="/gan_run")
    job.result(timeout=300)
    assert state_of(job.outputs()[-1][0]) == "finished"
    run_dir = app.sessions.get(client.session_hash).inputs["facegen_run"]
    prepared = sorted((run_dir.parent / "bodies-on-black").glob("*.png"))
    assert len(prepared) == 3
    body = np.asarray(Image.open(prepared[0]).convert("RGB"))
    assert body.shape == (32, 32, 3) and (body[0, 0] == 0).all() and (body[:, 0] == 0).all()  # square, on black
    assert (body[10:15, 15:17] > 200).all()  # the white shirt inside the figure stays white
