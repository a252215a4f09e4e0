"""Batch runs: one bundle per photo, resumable, atomic, unreadable photos skipped, sharded by rank;
setup errors stop the batch before its first photo."""

import numpy as np
import pytest
from PIL import Image

from pixelart.batch import PARTIAL_PREFIX, Shard, bundle_names, iter_batch, list_photos, shard_from_env
from pixelart.cli import main
from pixelart.config import RunConfig
from workbench.errors import ConfigError, ImageInputError, ModelNotAvailableError
from workbench.trajectory import Trajectory

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
    # the suffix keeps its case, and names are distinct even on a case-insensitive file system
    names = bundle_names([tmp_path / n for n in ("a.jpg", "a.JPG", "B.png", "b.png")])
    assert [names[tmp_path / n] for n in ("a.JPG", "a.jpg", "B.png", "b.png")] == [
        "a_JPG.bundle", "a_jpg_2.bundle", "B_png.bundle", "b_png_2.bundle"]
    assert names == bundle_names(list(reversed(names)))  # the same on every rerun and in every process
    names = bundle_names([tmp_path / n for n in ("a.jpg", "a.png", "a_jpg.png")])
    assert [names[tmp_path / n] for n in ("a_jpg.png", "a.jpg", "a.png")] == [
        "a_jpg.bundle", "a_jpg_2.bundle", "a_png.bundle"]  # a stem of its own keeps its plain name


def test_photos_differing_only_in_suffix_case_both_run(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.jpg", "a.JPG"):
        Image.fromarray(np.full((40, 40, 3), 200, np.uint8)).save(photos / name, format="JPEG")
    if len(list(photos.iterdir())) < 2:
        pytest.skip("this file system does not tell a.jpg from a.JPG")
    out = tmp_path / "bundles"

    def runner(photo, config, path, **kw):
        _fake_bundle(path)
        return {"steps_recorded": 3}

    results = list(iter_batch(photos, out, RunConfig(), shard=Shard(), runner=runner))
    assert [r.status for r in results] == ["done", "done"]  # the second is not "already finished"
    assert sorted(p.name for p in out.glob("*.bundle")) == ["a_JPG.bundle", "a_jpg_2.bundle"]


def test_batch_runs_skips_broken_photos_and_resumes(photo_dir, tmp_path, capsys):
    out = tmp_path / "bundles"
    assert [p.name for p in list_photos(photo_dir)] == ["broken.jpg", "look0.png", "look1.png", "look2.png"]
    assert main(["batch", str(photo_dir), "--out", str(out), *RUN]) == 1  # a photo was unusable
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
    assert main(["batch", str(photo_dir), "--out", str(out), *RUN]) == 1
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
    assert main(["batch", str(photo_dir), "--out", str(out), *RUN]) == 0  # broken.jpg is rank 0's
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


@pytest.mark.parametrize("change, message", [
    (["--size", "300"], "output size 300×300 is out of range"),
    (["--colors", "100"], "palette size 100 is out of range"),
    (["--stop-on", "clip_max"], "needs the clip similarity"),  # RUN records no encoders: it could never fire
    (["--stop-on", "part_rate", "--parts", "off"], "needs per-part norms"),
    (["--model", "sd15"], "sd15"),  # not in the (empty) cache, and no network here
])
def test_setup_errors_stop_the_batch_before_its_first_photo(photo_dir, tmp_path, capsys, empty_hf_cache,
                                                            change, message):
    out = tmp_path / "bundles"
    assert main(["batch", str(photo_dir), "--out", str(out), *RUN, *change]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1 and message in captured.err
    assert "skipped" not in captured.out and "done" not in captured.out  # not one failure per photo
    assert not list(out.glob("*.bundle")) and not list(out.glob(f"{PARTIAL_PREFIX}*"))


def test_a_file_as_the_output_folder_is_refused_before_any_work(photo_dir, tmp_path, capsys):
    out = tmp_path / "bundles"
    out.write_text("a file")
    assert main(["batch", str(photo_dir), "--out", str(out), *RUN]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main(["batch", str(photo_dir), "--out", str(out / "sub"), *RUN]) == 2
    assert "cannot be created" in capsys.readouterr().err


def test_only_an_unusable_photo_is_a_per_photo_failure(photo_dir, tmp_path):
    def runner(photo, config, path, **kw):
        if photo.name == "look0.png":
            raise ImageInputError("photo 'look0.png' is too small")
        if photo.name == "look1.png":
            raise ModelNotAvailableError("sdxl", "stabilityai/stable-diffusion-xl-base-1.0", "offline")
        _fake_bundle(path)
        return {"steps_recorded": 3}

    results = []
    with pytest.raises(ModelNotAvailableError):  # concerns every photo: the batch stops
        for r in iter_batch(photo_dir, tmp_path / "out", RunConfig(), shard=Shard(), runner=runner):
            results.append(r)
    assert [(r.photo.name, r.status) for r in results] == [("broken.jpg", "done"), ("look0.png", "failed")]
    assert not list((tmp_path / "out").glob(f"{PARTIAL_PREFIX}*"))
    with pytest.raises(ConfigError, match="palette size"):  # options are checked before any photo
        next(iter_batch(photo_dir, tmp_path / "out", RunConfig(colors=100), shard=Shard(), runner=runner))
