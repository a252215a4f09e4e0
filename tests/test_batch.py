"""Batch runs: one bundle per photo, resumable, atomic, unreadable photos skipped, sharded by rank."""

import numpy as np
import pytest
from PIL import Image

from pixelart.batch import PARTIAL_PREFIX, Shard, bundle_names, iter_batch, list_photos, shard_from_env
from pixelart.cli import main
from pixelart.config import RunConfig
from pixelart.errors import ConfigError
from pixelart.trajectory import Trajectory

RUN = ["--model", "tiny-sd", "--steps", "1", "--size", "16", "--colors", "4", "--encoders", "none",
       "--prompt", "a coat", "--save-every", "0", "--quiet"]


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for i, colour in enumerate([(150, 30, 40), (30, 90, 160), (40, 140, 60)]):
        img = np.full((120, 80, 3), 230, np.uint8)
        img[30:100, 20:60] = colour
        Image.fromarray(img).save(folder / f"look{i}.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    (folder / "notes.txt").write_text("not a photo")  # not an image suffix: not even listed
    return folder


def test_shards_from_the_launcher_environment():
    assert shard_from_env({}) == Shard(0, 1, 0)
    s = shard_from_env({"RANK": "1", "WORLD_SIZE": "3", "LOCAL_RANK": "1"})
    assert s.take(list("abcdefg")) == ["b", "e"]
    parts = [shard_from_env({"RANK": str(r), "WORLD_SIZE": "3"}).take(list(range(10))) for r in range(3)]
    assert sorted(sum(parts, [])) == list(range(10))  # every photo once, by exactly one process
    with pytest.raises(ConfigError, match="bad launcher environment"):
        shard_from_env({"RANK": "3", "WORLD_SIZE": "3"})


def test_bundle_names_stay_apart_when_stems_collide(tmp_path):
    names = bundle_names([tmp_path / "a.jpg", tmp_path / "a.png", tmp_path / "b.webp"])
    assert sorted(names.values()) == ["a_jpg.bundle", "a_png.bundle", "b.bundle"]


def test_batch_runs_skips_broken_photos_and_resumes(photo_dir, tmp_path, capsys):
    out = tmp_path / "bundles"
    assert [p.name for p in list_photos(photo_dir)] == ["broken.jpg", "look0.png", "look1.png", "look2.png"]
    assert main(["batch", str(photo_dir), "--out", str(out), *RUN]) == 0
    text = capsys.readouterr().out
    assert "skipped broken.jpg:" in text and "3 done, 0 already finished, 1 skipped as unusable" in text
    for i in range(3):
        traj = Trajectory.load(out / f"look{i}.bundle")
        assert len(traj) == 2 and traj.config["photo_name"] == f"look{i}.png"
        assert (out / f"look{i}.png").is_file() and (out / f"look{i}.hex").is_file()
    assert not list(out.glob(f"{PARTIAL_PREFIX}*"))
    ids = {Trajectory.load(out / f"look{i}.bundle").config["run_id"] for i in range(3)}
    stamp = (out / "look1.bundle").stat().st_mtime_ns

    # resume: finished bundles are skipped; a crashed photo (its work folder left behind) runs again
    (out / "look2.bundle").unlink()
    (out / f"{PARTIAL_PREFIX}look2").mkdir()
    (out / f"{PARTIAL_PREFIX}look2" / "look2.bundle").write_bytes(b"half a bundle")
    assert main(["batch", str(photo_dir), "--out", str(out), *RUN]) == 0
    assert "1 done, 2 already finished, 1 skipped as unusable" in capsys.readouterr().out
    assert (out / "look1.bundle").stat().st_mtime_ns == stamp
    assert len(Trajectory.load(out / "look2.bundle")) == 2
    assert Trajectory.load(out / "look0.bundle").config["run_id"] in ids
    assert not list(out.glob(f"{PARTIAL_PREFIX}*"))


def test_each_rank_takes_its_share(photo_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    out = tmp_path / "bundles"
    assert main(["batch", str(photo_dir), "--out", str(out), *RUN]) == 0
    # sorted photos: broken.jpg, look0, look1, look2 -> rank 1 of 2 takes look0 and look2
    assert sorted(p.name for p in out.glob("*.bundle")) == ["look0.bundle", "look2.bundle"]
    assert "(rank 1 of 2)" in capsys.readouterr().out


def _fake_bundle(out, steps=3):
    traj = Trajectory(palette=np.array([[0, 0, 0], [9, 9, 9]], np.uint8), input_image=np.zeros((4, 4, 3), np.uint8),
                      frame_size=(2, 2), config={"run_id": out.stem})
    for _ in range(steps):
        traj.append(np.zeros((2, 2), np.uint8), {"norm": 1.0})
    traj.save(out)
    out.with_suffix(".png").write_bytes(b"png")


def test_a_crash_mid_photo_leaves_no_bundle_under_its_name(photo_dir, tmp_path):
    out = tmp_path / "bundles"

    def crashing(photo, config, path, **kw):
        _fake_bundle(path)  # an intermediate save, as --save-every makes
        if photo.name == "look1.png":
            raise RuntimeError("power cut")
        return {"steps_recorded": 3}

    results = []
    with pytest.raises(RuntimeError, match="power cut"):
        for r in iter_batch(photo_dir, out, RunConfig(), shard=Shard(), runner=crashing):
            results.append(r)
    assert [r.status for r in results] == ["done", "done"]  # broken.jpg went through the fake runner
    assert sorted(p.name for p in out.glob("*.bundle")) == ["broken.bundle", "look0.bundle"]
    assert not list(out.glob(f"{PARTIAL_PREFIX}*"))


def test_an_interrupt_stops_the_batch_without_promoting(photo_dir, tmp_path):
    out = tmp_path / "bundles"

    def interrupted(photo, config, path, **kw):
        _fake_bundle(path)
        return {"steps_recorded": 3, "interrupted": photo.name == "look0.png"}

    statuses = [(r.photo.name, r.status) for r in iter_batch(photo_dir, out, RunConfig(), shard=Shard(),
                                                             runner=interrupted)]
    assert statuses == [("broken.jpg", "done"), ("look0.png", "interrupted")]
    assert [p.name for p in out.glob("*.bundle")] == ["broken.bundle"]
