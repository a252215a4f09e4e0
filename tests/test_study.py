"""The seed's user study: the vote store (crash safety, last vote wins, reproducible order), the CSV
tally against hand counts, building a study on a tiny synthetic collection with the tiny VGG, and the
``study`` commands end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylize.cli import main
from stylize.nst.config import NSTConfig
from stylize.study import MANIFEST, StudyError, load_study, make_study
from stylize.study_export import ALL, export_results
from stylize.study_votes import VOTES_NAME, VoteStore, option_order
from workbench import jsonl_log
from workbench.errors import ConfigError

TINY = NSTConfig(model="tiny", iterations=2, max_side=32, device="cpu")



def texture(kind: str, seed: int, size: int = 40) -> Image.Image:
    """Three clearly different textures: red stripes, blue noise, green checks."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size]
    if kind == "stripes":
        base = ((x // 4) % 2)[..., None] * np.array([220, 30, 30])
    elif kind == "noise":
        base = rng.integers(0, 2, (size, size, 1)) * np.array([30, 30, 220])
    else:
        base = (((x // 8) + (y // 8)) % 2)[..., None] * np.array([30, 200, 30])
    return Image.fromarray(np.clip(base + rng.integers(0, 20, (size, size, 3)), 0, 255).astype(np.uint8))


def make_collection(root: Path, word: str = "fluffy", per_kind: int = 2) -> Path:
    folder = root / word
    folder.mkdir(parents=True)
    for kind in ("stripes", "noise", "checks"):
        for i in range(per_kind):
            texture(kind, i).save(folder / f"{kind}{i}.png")
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One study made once for the module: 3 clusters x 2 content images."""
    base = tmp_path_factory.mktemp("built")
    collection = make_collection(base / "collection")
    contents = []
    for i, kind in enumerate(("checks", "stripes")):
        path = base / f"content{i}.png"
        texture(kind, 10 + i, size=48).save(path)
        contents.append(path)
    seen = []
    study = make_study(collection, "fluffy", contents, base / "study", k=3, config=TINY,
                       progress=lambda done, total, text: seen.append((done, total, text)))
    return study, seen, collection, contents


def test_make_study_writes_every_result_and_a_manifest(built):
    study, seen, collection, _ = built
    assert [q.id for q in study.questions] == ["q1", "q2"]
    for q in study.questions:
        assert q.clusters == [0, 1, 2] and q.word == "fluffy"
        for o in q.options:
            result = Image.open(study.path(o.image))
            assert result.size == (32, 32)  # the content's long side capped at max_side
            assert study.path(o.style_image).is_file()
    # each cluster's style image is a copy of its own source, and the three come from the three textures
    sources = [c["source"] for c in study.clusters]
    assert sorted(s.split("/")[1].rstrip("0123456789.png") for s in sources) == ["checks", "noise", "stripes"]
    for c in study.clusters:
        assert study.path(c["style_image"]).read_bytes() == (collection / c["source"]).read_bytes()
    # different style images give different results for one content
    q1 = [np.asarray(Image.open(study.path(o.image)), np.float32) for o in study.questions[0].options]
    assert np.abs(q1[0] - q1[1]).mean() > 0.5
    assert seen[-1][0] == seen[-1][1] == 6 and any("cluster 3 of 3" in t for _, _, t in seen)
    manifest = json.loads((study.folder / MANIFEST).read_text())
    assert manifest["nst"]["model"] == "tiny" and manifest["k"] == 3


def test_make_study_refuses_bad_inputs_before_any_work(tmp_path, built):
    collection = make_collection(tmp_path / "c", per_kind=1)  # 3 images
    content = built[3][0]
    with pytest.raises(ConfigError, match="fewer than the 4 clusters"):
        make_study(collection, "fluffy", [content], tmp_path / "s", k=4, config=TINY)
    with pytest.raises(ConfigError, match="no folder for the word 'silky'"):
        make_study(collection, "silky", [content], tmp_path / "s", config=TINY)
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(Exception, match="bad.png"):
        make_study(collection, "fluffy", [bad], tmp_path / "s", config=TINY)
    with pytest.raises(ConfigError, match="already holds a study"):
        make_study(collection, "fluffy", [content], built[0].folder, config=TINY)
    assert not (tmp_path / "s" / MANIFEST).exists()


def test_load_study_refuses_folders_that_are_not_studies(tmp_path):
    with pytest.raises(StudyError, match="no study.json"):
        load_study(tmp_path)
    (tmp_path / MANIFEST).write_text('{"format": "stylize-study", "id": "x", "word": "w", "questions": '
                                     '[{"id": "q1", "word": "w", "content": "c.png", "options": '
                                     '[{"cluster": 0, "image": "../../etc/passwd", "style_image": "s"}, '
                                     '{"cluster": 1, "image": "b.png", "style_image": "s"}]}]}')
    with pytest.raises(StudyError, match="outside the study folder"):
        load_study(tmp_path)


# -- votes ------------------------------------------------------------------------------------------
def copy_study(study, tmp_path: Path):
    """A fresh copy of the built study with no votes."""
    import shutil

    target = tmp_path / "study"
    shutil.copytree(study.folder, target, ignore=shutil.ignore_patterns("votes.jsonl", ".votes.jsonl.lock"))
    return load_study(target)


def test_option_order_is_random_but_reproducible():
    clusters = [0, 1, 2, 3, 4]
    a = option_order("study", "aki", "q1", clusters)
    assert a == option_order("study", "aki", "q1", clusters) and sorted(a) == clusters
    orders = {tuple(option_order("study", f"person{i}", "q1", clusters)) for i in range(40)}
    assert len(orders) > 10  # not one fixed order
    firsts = [option_order("study", f"p{i}", "q1", clusters)[0] for i in range(400)]
    assert set(firsts) == set(clusters)  # every cluster gets shown first to someone


def test_last_vote_wins_and_history_stays(built, tmp_path):
    study = copy_study(built[0], tmp_path)
    store = VoteStore(study)
    first = store.vote("aki", "q1", 2)
    assert list(first.shown) == store.order("aki", "q1")
    store.vote("ben", "q1", 0)
    store.vote(" aki ", "q1", 1)  # aki changes their mind (names are trimmed)
    assert {k: v.chosen for k, v in store.current().items()} == {("aki", "q1"): 1, ("ben", "q1"): 0}
    assert [v.chosen for v in store.history()] == [2, 0, 1]
    assert set(VoteStore(load_study(study.folder)).answers("aki")) == {"q1"}  # reopened: still there
    with pytest.raises(StudyError, match="type your name"):
        store.vote("  ", "q1", 0)
    with pytest.raises(StudyError, match="no option for cluster 7"):
        store.vote("aki", "q1", 7)
    with pytest.raises(StudyError, match="no question 'q9'"):
        store.vote("aki", "q9", 0)


def test_a_torn_last_line_loses_only_the_interrupted_vote(built, tmp_path, monkeypatch):
    study = copy_study(built[0], tmp_path)
    store = VoteStore(study)
    store.vote("aki", "q1", 0)
    store.vote("ben", "q2", 1)

    def torn(fh, data):  # the process dies halfway through writing its line
        fh.write(data[: len(data) // 2])
        fh.flush()
        raise KeyboardInterrupt

    monkeypatch.setattr(jsonl_log, "write_durably", torn)
    with pytest.raises(KeyboardInterrupt):
        store.vote("cai", "q1", 2)
    monkeypatch.undo()
    raw = (study.folder / VOTES_NAME).read_bytes()
    assert not raw.endswith(b"\n")  # the torn line is there...
    assert {k: v.chosen for k, v in VoteStore(study).current().items()} == {("aki", "q1"): 0, ("ben", "q2"): 1}
    store.vote("cai", "q1", 2)  # ...and the next writer cuts it off before appending
    lines = (study.folder / VOTES_NAME).read_text().splitlines()
    assert all(json.loads(line) for line in lines) and len(lines) == 4  # header + 3 votes
    # damage before the last line is reported, not silently skipped
    (study.folder / VOTES_NAME).write_text("\n".join([lines[0], "{broken", *lines[1:]]) + "\n")
    with pytest.raises(StudyError, match="line 2 is damaged"):
        VoteStore(study).current()


def test_csv_tally_matches_hand_counts(built, tmp_path):
    study = copy_study(built[0], tmp_path)
    store = VoteStore(study)
    # q1: aki 0 -> 2 (changed), ben 2, cai 1; q2: aki 0, ben 0
    for who, q, c in [("aki", "q1", 0), ("ben", "q1", 2), ("cai", "q1", 1), ("aki", "q2", 0), ("ben", "q2", 0),
                      ("aki", "q1", 2)]:
        store.vote(who, q, c)
    votes_csv, tally_csv = export_results(study, tmp_path / "out")
    votes = list(csv.DictReader(votes_csv.open()))
    assert len(votes) == 5
    aki_q1 = next(r for r in votes if r["participant"] == "aki" and r["question"] == "q1")
    assert aki_q1["chosen_cluster"] == "2" and aki_q1["changes"] == "1"
    assert aki_q1["shown_order"] == " ".join(map(str, store.order("aki", "q1")))
    assert int(aki_q1["position_shown"]) == store.order("aki", "q1").index(2) + 1
    tally = {(r["question"], int(r["cluster"])): r for r in csv.DictReader(tally_csv.open())}
    expected = {("q1", 0): 0, ("q1", 1): 1, ("q1", 2): 2, ("q2", 0): 2, ("q2", 1): 0, ("q2", 2): 0,
                (ALL, 0): 2, (ALL, 1): 1, (ALL, 2): 2}
    assert {k: int(r["votes"]) for k, r in tally.items()} == expected
    assert tally[("q1", 2)]["share"] == "0.6667" and tally[("q2", 0)]["share"] == "1.0000"
    assert tally[(ALL, 0)]["share"] == "0.4000" and tally[(ALL, 0)]["answers"] == "5"
    assert all(r["word"] == "fluffy" for r in tally.values())


# -- the commands -----------------------------------------------------------------------------------
def test_study_commands_round_trip(tmp_path, capsys, built):
    collection = make_collection(tmp_path / "collection")
    content = built[3][0]
    out = tmp_path / "study"
    code = main(["study", "make", str(collection), "fluffy", str(content), "--out", str(out), "--k", "2",
                 "--model", "tiny", "--iterations", "2", "--max-side", "32", "--device", "cpu",
                 "--cluster-content-weight", "0.5"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "[0/2] q1" in printed.out and "wrote study" in printed.out and "1 question(s)" in printed.out
    study = load_study(out)
    assert json.loads((out / "study.json").read_text())["content_weight"] == 0.5  # fc6 features were mixed in
    VoteStore(study).vote("aki", "q1", 1)
    assert main(["study", "export", str(out), "--out", str(tmp_path / "csv")]) == 0
    assert "1 current vote(s) by 1 participant(s)" in capsys.readouterr().out
    tally = list(csv.DictReader((tmp_path / "csv" / "tally.csv").open()))
    assert [(r["question"], r["cluster"], r["votes"]) for r in tally] == [
        ("q1", "0", "0"), ("q1", "1", "1"), (ALL, "0", "0"), (ALL, "1", "1")]
    assert main(["study", "show", str(out)]) == 0
    assert "cluster 1: 1 vote(s), share 1.0000" in capsys.readouterr().out
    # errors: one line, status 2
    assert main(["study", "make", str(collection), "fluffy", str(content), "--out", str(tmp_path / "s2"),
                 "--k", "9", "--model", "tiny"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fewer than the 9 clusters" in err
    assert main(["study", "make", str(collection), "fluffy", str(content), "--out", str(tmp_path / "s3"),
                 "--model", "tiny", "--cluster-content-weight", "2"]) == 2
    assert "between 0 (style only) and 1" in capsys.readouterr().err
    assert main(["study", "export", str(tmp_path / "nothing"), "--out", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err
