"""The Stylize tab's Texture words and Questionnaire sections, served and driven through gradio_client
as a browser would: cluster a tiny synthetic collection (tiny VGG) into a gallery and a Plotly map,
send a cluster to style transfer, refuse a word with fewer images than k on the page, and run a
questionnaire: build, vote, change a vote, export the CSV tally."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from gradio_client import Client, handle_file

from app import launch
from stylize.study import load_study
from stylize.study_votes import VoteStore
from test_study import make_collection, texture
from ui.session import SessionStore


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    sessions = SessionStore(tmp_path_factory.mktemp("sessions"))
    demo, url = launch(sessions=sessions, prevent_thread_lock=True, quiet=True)
    base = tmp_path_factory.mktemp("words")
    content = base / "content.png"
    texture("checks", 5, size=48).save(content)
    yield SimpleNamespace(url=url, sessions=sessions, downloads=tmp_path_factory.mktemp("downloads"),
                          collection=make_collection(base / "collection"), content=content, base=base)
    demo.close()
    sessions.close_all()


def value(output):
    """A component's value from an output (an update dict carries it under "value")."""
    return output.get("value") if isinstance(output, dict) and output.get("__type__") == "update" else output


def client_of(app) -> Client:
    return Client(app.url, verbose=False, download_files=str(app.downloads))


def test_cluster_a_word_into_a_gallery_and_a_map_then_use_a_cluster(app):
    client = client_of(app)
    word, message = client.predict(str(app.collection), api_name="/words_open")
    assert value(word) == "fluffy" and "fluffy (6)" in message
    gallery, plot, pick, message = client.predict("fluffy", 3, "tiny", 0, api_name="/words_cluster")
    assert message.startswith("'fluffy': 6 images in 3 clusters")
    captions = [item["caption"] for item in gallery]
    assert len(captions) == 6 and captions.count("cluster 0, representative") == 1
    assert sorted(c for c in captions if c.endswith("representative")) == [f"cluster {i}, representative" for i in range(3)]
    figure = json.loads(plot["plot"])
    assert [t["name"] for t in figure["data"]] == ["cluster 0", "cluster 1", "cluster 2"]
    assert sum(len(t["x"]) for t in figure["data"]) == 6  # every image on the map
    assert value(pick) == 0
    styles, blend, *rest = client.predict(0, 2, api_name="/words_use")
    message = rest[-1]
    assert len(styles) == 2 and blend == "" and "2 images nearest the centroid" in message
    # the files sent to the style-transfer section are the cluster's two nearest images, in that order
    result = app.sessions.get(client.session_hash).inputs["words"]["result"]
    nearest = [p.read_bytes() for p in result.cluster_paths(0)[:2]]
    assert [Path(s).read_bytes() for s in styles] == nearest
    *_, message = client.predict(0, 9, api_name="/words_use")
    assert "blend 1 to" in message
    # with the fc6 content features mixed in (seed 002's option), the same word still clusters
    gallery, plot, pick, message = client.predict("fluffy", 3, "tiny", 0.5, api_name="/words_cluster")
    assert message.startswith("'fluffy': 6 images in 3 clusters") and len(gallery) == 6
    assert app.sessions.get(client.session_hash).inputs["words"]["result"].content_weight == 0.5


def test_bad_inputs_give_one_line_messages_on_the_page(app, tmp_path):
    client = client_of(app)
    *_, message = client.predict("fluffy", 3, "tiny", 0, api_name="/words_cluster")
    assert "open a collection folder or upload images" in message
    *_, message = client.predict(str(tmp_path / "missing"), api_name="/words_open")
    assert "does not exist" in message
    (tmp_path / "empty").mkdir()
    *_, message = client.predict(str(tmp_path / "empty"), api_name="/words_open")
    assert "is empty: put images in a folder per word" in message
    *_, message = client.predict(str(tmp_path / "empty"), "aki", api_name="/study_open")
    assert "it is not a study folder" in message
    *_, message = client.predict("aki", api_name="/study_next")
    assert "open a study folder or build one first" in message
    # an upload: two good images and one that is not an image; the word has fewer images than k
    good = [tmp_path / "a.png", tmp_path / "b.png"]
    texture("stripes", 1).save(good[0])
    texture("noise", 2).save(good[1])
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    word, message = client.predict("silky", [handle_file(str(p)) for p in [*good, bad]], api_name="/words_upload")
    assert value(word) == "silky" and "silky (2)" in message and "skipped: notes.png" in message
    *_, message = client.predict("silky", 3, "tiny", 0, api_name="/words_cluster")
    assert "has 2 image(s), fewer than the 3 clusters" in message and "\n" not in message
    word, message = client.predict("../up", [handle_file(str(good[0]))], api_name="/words_upload")
    assert "cannot name a folder" in message


def test_questionnaire_builds_votes_and_exports_the_tally(app):
    client = client_of(app)
    client.predict(str(app.collection), api_name="/words_open")
    folder, status, content, options, pick, message = client.predict(
        handle_file(str(app.content)), "fluffy", 3, "tiny", 0, 2, 32, "", "aki", api_name="/study_build")
    assert "built the study of 'fluffy'" in message, message
    assert "Question 1 of 1" in status and "0 of 1 answered" in status
    assert [o["caption"] for o in options] == ["A", "B", "C"]  # letters only: no cluster is named
    names = [Path(o["image"] if isinstance(o["image"], str) else o["image"]["path"]).name for o in options]
    assert not any("_c" in n or "cluster" in n for n in names)  # nor do the served files' names
    study = load_study(folder)
    order = VoteStore(study).order("aki", "q1")
    status, *_, message = client.predict("aki", "B", api_name="/study_vote")
    assert "1 of 1 answered" in status and "saved your pick B" in message
    client.predict("aki", "C", api_name="/study_vote")  # changed their mind: the last pick counts
    *_, message = client.predict("", "A", api_name="/study_vote")
    assert "type your name" in message
    # a second participant opens the same study folder
    other = client_of(app)
    *_, message = other.predict(folder, "ben", api_name="/study_open")
    assert "opened the study" in message
    other.predict("ben", "A", api_name="/study_vote")
    ben_order = VoteStore(study).order("ben", "q1")
    files, plot, message = client.predict(api_name="/study_export")
    assert "2 current vote(s) by 2 participant(s)" in message
    tally = next(f for f in files if f.endswith("tally.csv"))
    counts = {(r["question"], int(r["cluster"])): int(r["votes"]) for r in csv.DictReader(open(tally))}
    expected = {("q1", c): 0 for c in range(3)}
    expected[("q1", order[2])] += 1
    expected[("q1", ben_order[0])] += 1
    assert {k: v for k, v in counts.items() if k[0] == "q1"} == expected
    assert sum(v for k, v in counts.items() if k[0] == "ALL") == 2
    figure = json.loads(plot["plot"])
    assert len(figure["data"]) == 3 and all(t["type"] == "bar" for t in figure["data"])
    votes = next(f for f in files if f.endswith("votes.csv"))
    rows = list(csv.DictReader(open(votes)))
    assert {(r["participant"], int(r["chosen_cluster"]), r["changes"]) for r in rows} == {
        ("aki", order[2], "1"), ("ben", ben_order[0], "0")}


def test_on_zero_gpu_the_study_is_built_by_the_gpu_function(app, monkeypatch):
    """On a ZeroGPU Space the build goes through ``build_study_on_gpu`` (the ``spaces.GPU`` function:
    no progress callback crosses into its worker) and gives the same study page."""
    import ui.study_tab as study_tab

    calls = []
    real = study_tab.build_study_on_gpu
    monkeypatch.setattr(study_tab, "build_study_on_gpu", lambda job: calls.append(job) or real(job))
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    client = client_of(app)
    client.predict(str(app.collection), api_name="/words_open")
    folder, status, content, options, pick, message = client.predict(
        handle_file(str(app.content)), "fluffy", 3, "tiny", 0, 2, 32, "", "aki", api_name="/study_build")
    assert "built the study of 'fluffy'" in message and [o["caption"] for o in options] == ["A", "B", "C"]
    assert len(calls) == 1 and "progress" not in calls[0] and calls[0]["k"] == 3
