"""Side images beside a run's frame (``StepRecord.side_images``): SMS's map R, coloured and enlarged by
nearest neighbour, kept per step in the session's trajectory and shown live and when scrubbing by the
served app's run panel; back ends without side images (NST) have no such output."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from workbench.colormap import VIRIDIS, colorize, enlarge_nearest
from workbench.records import RunStart, StepRecord
from workbench.trajectory import Trajectory

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "assets" / "fashion_polka.jpg"


def test_colorize_maps_zero_to_one_onto_viridis_ends():
    rgb = colorize(np.array([[0.0, 1.0], [0.5, 2.0]]))
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 2, 3)
    assert tuple(rgb[0, 0]) == tuple(VIRIDIS[0]) and tuple(rgb[0, 1]) == tuple(VIRIDIS[-1])
    assert tuple(rgb[1, 0]) == tuple(VIRIDIS[5]) and tuple(rgb[1, 1]) == tuple(VIRIDIS[-1])  # clipped


def test_enlarge_nearest_makes_solid_blocks():
    image = np.arange(6, dtype=np.uint8).reshape(2, 3)
    big = enlarge_nearest(image, (4, 9))
    assert big.shape == (4, 9)
    assert (big[:2, :3] == 0).all() and (big[2:, 6:] == 5).all() and (big[:2, 3:6] == 1).all()


def test_trajectory_keeps_side_images_of_frame_steps_and_the_newest():
    start = RunStart(kind="sms", total=6, input_image=np.zeros((8, 8, 3), np.uint8), frame_size=(8, 8), curves=(),
                     config={}, side_labels={"r": "map R"}, record_every=2)
    traj = Trajectory.from_start(start)
    assert traj.side_labels == {"r": "map R"} and traj.side_images(0) == {}

    def step(k: int) -> None:  # as the run panel records a run: the step, then its side images
        traj.append(np.zeros((8, 8, 3), np.uint8) if k % 2 == 0 else None, {"norm": 1.0})
        if k:
            traj.add_side_images(k, {"r": np.full((2, 2, 3), 10 * k, np.uint8)})

    for k in range(4):
        step(k)
    assert traj.side_images(0) == {}
    assert traj.side_images(3)["r"][0, 0, 0] == 30  # the newest, shown live, though step 3 has no frame
    step(4)
    assert traj._side_steps == [2, 4]  # step 1 and 3 (no frame) were dropped when a newer one came
    assert traj.side_images(3)["r"][0, 0, 0] == 20 and traj.side_images(9)["r"][0, 0, 0] == 40
    traj.add_side_images(4, {"r": np.full((2, 2, 3), 99, np.uint8)})  # the newest again: replaced
    assert traj.side_images(4)["r"][0, 0, 0] == 99
    with pytest.raises(ValueError):
        traj.add_side_images(3, {"r": np.zeros((2, 2, 3), np.uint8)})


def side_trajectory(steps: int = 4) -> Trajectory:
    start = RunStart(kind="sms", total=steps, input_image=np.zeros((8, 8, 3), np.uint8), frame_size=(8, 8),
                     curves=(), config={}, side_labels={"r": "map R"})
    traj = Trajectory.from_start(start)
    for step in range(steps):
        traj.append(np.full((8, 8, 3), step, np.uint8), {"norm": float(step)})
        if step:
            traj.add_side_images(step, {"r": np.full((2, 2, 3), 10 * step, np.uint8)})
    return traj


def test_side_images_round_trip_through_a_bundle(tmp_path):
    path = side_trajectory().save(tmp_path / "run.bundle")
    loaded = Trajectory.load(path)
    assert loaded.side_labels == {"r": "map R"} and loaded.side_images(0) == {}
    assert [int(loaded.side_images(s)["r"][0, 0, 0]) for s in (1, 2, 3)] == [10, 20, 30]
    # a bundle without side images (every bundle written before them) opens with none
    plain = Trajectory.from_start(RunStart(kind="nst", total=1, input_image=np.zeros((8, 8, 3), np.uint8),
                                           frame_size=(8, 8), curves=(), config={}))
    plain.append(np.zeros((8, 8, 3), np.uint8), {})
    reopened = Trajectory.load(plain.save(tmp_path / "plain.bundle"))
    assert reopened.side_images(0) == {} and reopened.side_labels == {}


def test_damaged_side_images_are_refused_in_one_line(tmp_path):
    import io
    import zipfile

    from workbench.errors import BundleError

    path = side_trajectory().save(tmp_path / "run.bundle")
    damaged = tmp_path / "damaged.bundle"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(damaged, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "side.npz":
                buf = io.BytesIO()
                np.savez(buf, **{"r": np.zeros((3, 2, 2, 3), np.uint8), "r.steps": np.array([1, 9, 2])})
                data = buf.getvalue()
            dst.writestr(info, data)
    with pytest.raises(BundleError, match="damaged.bundle: its side images 'r' are damaged"):
        Trajectory.load(damaged)


def test_side_images_keep_one_shape_per_key():
    traj = side_trajectory(2)
    with pytest.raises(ValueError, match="changed shape"):
        traj.add_side_images(5, {"r": np.zeros((3, 3, 3), np.uint8)})


def test_sms_records_carry_the_coloured_r_map_and_pickle():
    from stylize.sms.config import R_MAP, SMSConfig
    from stylize.sms.run import SMSRun

    config = SMSConfig(model="tiny-sd", style_lora="tiny", prompt="a dress", steps=2, resolution=64).check()
    run = SMSRun(Image.open(CONTENT), config)
    items = list(run)
    start, steps = items[0], [i for i in items if isinstance(i, StepRecord)]
    assert isinstance(start, RunStart) and R_MAP in start.side_labels
    assert steps[0].side_images == {}  # step 0 (the content) has no R
    last = steps[-1].side_images[R_MAP]
    assert last.dtype == np.uint8 and last.shape == (*run.source.shape[-2:], 3)
    assert np.array_equal(last, colorize(run.latest_r_map))
    assert pickle.loads(pickle.dumps(steps[-1])).side_images[R_MAP].tobytes() == last.tobytes()


# -- the served app ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from app import launch
    from ui.session import SessionStore

    sessions = SessionStore(tmp_path_factory.mktemp("sessions"))
    demo, url = launch(sessions=sessions, prevent_thread_lock=True, quiet=True)
    yield SimpleNamespace(url=url, sessions=sessions, demo=demo, downloads=tmp_path_factory.mktemp("downloads"))
    demo.close()
    sessions.close_all()


def test_the_served_sms_panel_shows_r_live_and_when_scrubbing_and_nst_has_none(app):
    from ui.run_panel import side_picture

    ids = {getattr(block, "elem_id", None) for block in app.demo.blocks.values()}
    assert "sms-side-r_map" in ids and not any(str(i).startswith("nst-side") for i in ids)

    client = Client(app.url, verbose=False, download_files=str(app.downloads))
    values = dict(content=handle_file(str(CONTENT)), lora_file=None, lora_id="tiny", style="ghibli style",
                  prompt="a dress", model="tiny-sd", lambda_psr=-3.3, steps=3, strength=0.8, guidance=4.5, seed=0)
    client.predict(*values.values(), api_name="/sms_start_run")
    job = client.submit(api_name="/sms_run")
    job.result(timeout=300)
    updates = job.outputs()
    final = updates[-1]
    live = [u for u in updates[:-1] if re.search(r"\*\*step [1-9]", str(u[5]))]
    assert all(u[8] is not None for u in live)  # every streamed view of a step after 0 shows its R
    assert len(final) == 9  # the eight outputs of every panel, then R
    art, r_path = final[3], final[8]
    r_image = np.asarray(Image.open(r_path).convert("RGB"))
    assert r_image.shape[:2] == np.asarray(Image.open(art)).shape[:2]  # enlarged to the frame size
    trajectory = app.sessions.get(client.session_hash).panel("sms").trajectory
    latent = trajectory.side_images(3)["r_map"]
    assert np.array_equal(r_image, side_picture(latent, trajectory.frame_size))  # the last step's R
    block = r_image.shape[0] // latent.shape[0]
    assert block > 1 and (r_image[:block, :block] == r_image[0, 0]).all()  # one solid block per latent cell

    # scrubbing shows R with the frame it belongs to: steps 1-2 show step 0's frame (frames every 10
    # steps and at the last), which has no R; step 3 its own
    assert trajectory.frame_steps == [0, 3]
    _, _, caption2, r2 = client.predict(2, api_name="/sms_scrub")
    assert "**step 2**" in caption2 and r2 is None
    _, _, caption3, r3 = client.predict(3, api_name="/sms_scrub")
    assert "**step 3**" in caption3 and np.array_equal(np.asarray(Image.open(r3).convert("RGB")), r_image)

    # the run's bundle keeps R: opened in another session, the last step shows it
    files, _ = client.predict("gif", api_name="/sms_export_run")
    bundle = next(f for f in files if f.endswith(".bundle"))
    other = Client(app.url, verbose=False, download_files=str(app.downloads))
    *_, bundle_message, r_loaded = other.predict(handle_file(bundle), api_name="/sms_load_bundle")
    assert bundle_message == "" and np.array_equal(np.asarray(Image.open(r_loaded).convert("RGB")), r_image)
