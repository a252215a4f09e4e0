"""The Annotate tab served in-process and driven through ``gradio_client``: open a folder of synthetic
bundles, scrub, mark ranges (saved in the JSON Lines file at once, shaded on the chart), delete, notes,
next / previous and "n of N labeled", two annotators kept apart, resuming, export / import, bad inputs.

The bundles are the evaluation tests' synthetic ones (2x2 frames whose white cells grow with the step,
hand-written norm series), so every step's picture is known.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app import launch  # noqa: E402
from workbench.export import upscale, upscale_factor  # noqa: E402
from pixelart.labels import LabelStore, read_labels  # noqa: E402
from workbench.trajectory import Trajectory  # noqa: E402
from test_app import damage_frames, early_damaged_bundle, pixels, plot  # noqa: E402
from test_evaluation import NORMS, make_bundle  # noqa: E402
from ui.annotate_actions import NO_NAME  # noqa: E402
from ui.bundle_set import upload_labels_path  # noqa: E402
from ui.session import SessionStore  # noqa: E402

STEPS = len(next(iter(NORMS.values())))  # 21 recorded steps: 0..20
CLIP = np.linspace(0.5, 0.9, STEPS)


# -- fixtures and helpers ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def app(tmp_path_factory):
    sessions = SessionStore(tmp_path_factory.mktemp("sessions"))
    demo, url = launch(sessions=sessions, prevent_thread_lock=True, quiet=True)
    yield SimpleNamespace(demo=demo, url=url, sessions=sessions,
                          downloads=tmp_path_factory.mktemp("downloads"))
    demo.close()
    sessions.close_all()


def bundle_folder(folder: Path, *, broken: bool = True) -> Path:
    """A.bundle, B.bundle, C.bundle (21 steps each) and, with ``broken``, a damaged bundle and a stray file."""
    for name, norm in NORMS.items():
        make_bundle(folder, name, norm, clip=CLIP)
    if broken:
        (folder / "D_broken.bundle").write_bytes(b"PK\x03\x04 cut off in the middle of a copy")
        (folder / "notes.txt").write_text("not a bundle")
    return folder


@pytest.fixture()
def folder(tmp_path):
    return bundle_folder(tmp_path / "bundles")


def client(app) -> Client:
    return Client(app.url, verbose=False, download_files=str(app.downloads))


def view(values) -> SimpleNamespace:
    """The Annotate tab's full view, by name."""
    names = ("status", "info", "photo", "art", "slider", "caption", "chart", "ranges", "note", "message")
    return SimpleNamespace(**dict(zip(names, values, strict=True)))


def open_folder(c: Client, name: str, folder: Path, labels: str = "") -> SimpleNamespace:
    return view(c.predict(name, str(folder), labels, api_name="/annotate_open"))


def mark(c: Client, name: str, start: int, end: int, note: str = "") -> SimpleNamespace:
    status, message = c.predict(name, start, api_name="/annotate_start")
    assert f"start marked at step {start}" in status, message
    return view(c.predict(name, end, note, api_name="/annotate_end"))


def shaded(chart: dict) -> list[tuple[int, int]]:
    """The shaded bands (labeled ranges) on a trajectory chart."""
    return sorted((s["x0"], s["x1"]) for s in plot(chart)["layout"]["shapes"] if s["type"] == "rect")


def stored(folder: Path, annotator: str | None = None) -> list[tuple[str, int, int, str]]:
    """(bundle, start, end, note) of the current labels in the folder's file."""
    labels = read_labels(folder / "labels.jsonl")
    return sorted((lab.bundle, lab.start, lab.end, lab.note) for lab in labels
                  if annotator is None or lab.annotator == annotator)


def fields(path: Path | str) -> list[tuple]:
    """The labels of a file (store, export or CSV) without their ids and times."""
    return sorted((lab.bundle_id, lab.annotator, lab.start, lab.end, lab.note) for lab in read_labels(path))


def frame(folder: Path, name: str, step: int) -> np.ndarray:
    rgb = Trajectory.load(folder / name).rgb(step)
    return upscale(rgb, upscale_factor(rgb.shape[:2], 512))


# -- labelling --------------------------------------------------------------------------------------
def test_open_scrub_mark_delete_and_the_file_has_it_at_once(app, folder):
    c = client(app)
    v = open_folder(c, "aki", folder)
    assert "opened 3 bundle(s); 1 unreadable" in v.message
    assert v.status.startswith("**A.bundle** · bundle 1 of 3") and "**0 of 3 labeled** by aki" in v.status
    assert f"`{folder / 'labels.jsonl'}`" in v.info and "D_broken.bundle" in v.info
    assert "D_broken.bundle is truncated at" in v.info and "notes.txt" not in v.info  # what the file is
    assert v.slider["maximum"] == STEPS - 1 and v.slider["value"] == 0 and shaded(v.chart) == []
    assert np.array_equal(pixels(v.art), frame(folder, "A.bundle", 0))
    assert not [t for t in plot(v.chart)["data"] if str(t.get("meta")).startswith("stop:")]  # no strategy bias

    art, chart, caption = c.predict(12, "aki", api_name="/annotate_scrub")
    assert caption.startswith("**step 12** of 20") and np.array_equal(pixels(art), frame(folder, "A.bundle", 12))
    assert not np.array_equal(pixels(art), pixels(v.art))

    v = mark(c, "aki", 4, 8, "sleeves still clear")
    assert v.message == "saved 4–8 on A.bundle to labels.jsonl" and v.note == ""  # the note went with the range
    assert stored(folder) == [("A.bundle", 4, 8, "sleeves still clear")]
    assert shaded(v.chart) == [(4, 8)] and "**1 of 3 labeled** by aki" in v.status
    selected = [t for t in plot(v.chart)["data"] if t.get("meta") == "selected"]
    assert selected and selected[0]["x"] == [8]  # the view stays at the end just marked

    v = mark(c, "aki", 10, 14)
    assert stored(folder) == [("A.bundle", 4, 8, "sleeves still clear"), ("A.bundle", 10, 14, "")]
    assert shaded(v.chart) == [(4, 8), (10, 14)] and "your ranges here: 4–8, 10–14" in v.status
    choices = {label: label_id for label, label_id in v.ranges["choices"]}
    assert set(choices) == {"4–8 · sleeves still clear", "10–14"}
    # scrubbing keeps the bands
    _, chart, _ = c.predict(3, "aki", api_name="/annotate_scrub")
    assert shaded(chart) == [(4, 8), (10, 14)]

    v = view(c.predict("aki", choices["10–14"], api_name="/annotate_delete"))
    assert v.message == "deleted 10–14" and shaded(v.chart) == [(4, 8)]
    assert stored(folder) == [("A.bundle", 4, 8, "sleeves still clear")]
    assert [label for label, _ in v.ranges["choices"]] == ["4–8 · sleeves still clear"]


def test_next_previous_and_n_of_n_labeled(app, folder):
    c = client(app)
    open_folder(c, "aki", folder)
    v = view(c.predict("aki", api_name="/annotate_previous"))
    assert v.message == "this is the first bundle of the set"
    v = view(c.predict("aki", api_name="/annotate_next"))
    assert v.status.startswith("**B.bundle** · bundle 2 of 3") and v.slider["value"] == 0 and v.note == ""
    assert np.array_equal(pixels(v.photo), np.zeros((4, 4, 3), np.uint8))  # the bundle's own input
    v = mark(c, "aki", 10, 14)
    assert "**1 of 3 labeled**" in v.status and stored(folder) == [("B.bundle", 10, 14, "")]
    v = view(c.predict("aki", api_name="/annotate_next"))
    assert v.status.startswith("**C.bundle**") and shaded(v.chart) == [] and v.ranges["choices"] == []
    v = mark(c, "aki", 6, 12)
    assert "**2 of 3 labeled**" in v.status
    v = view(c.predict("aki", api_name="/annotate_next"))
    assert v.message == "this is the last bundle of the set"
    v = view(c.predict("aki", api_name="/annotate_previous"))
    assert v.status.startswith("**B.bundle**") and shaded(v.chart) == [(10, 14)]  # its range, from the file


def test_annotators_stay_apart_and_each_resumes_at_their_first_unlabeled_bundle(app, folder):
    aki, ben = client(app), client(app)
    open_folder(aki, "aki", folder)
    mark(aki, "aki", 4, 8)
    aki.predict("aki", api_name="/annotate_next")
    mark(aki, "aki", 0, 2)

    v = open_folder(ben, "ben", folder)  # same folder, same file, another person
    assert v.status.startswith("**A.bundle**") and "**0 of 3 labeled** by ben" in v.status
    assert shaded(v.chart) == []  # aki's ranges are not ben's
    v = mark(ben, "ben", 6, 16)
    assert shaded(v.chart) == [(6, 16)] and "**1 of 3 labeled** by ben" in v.status
    assert stored(folder, "aki") == [("A.bundle", 4, 8, ""), ("B.bundle", 0, 2, "")]
    assert stored(folder, "ben") == [("A.bundle", 6, 16, "")]
    aki_a = next(lab.label_id for lab in read_labels(folder / "labels.jsonl") if lab.annotator == "aki")
    with pytest.raises(AppError, match="not in the list of choices"):  # ben is offered only his own ranges
        ben.predict("ben", aki_a, api_name="/annotate_delete")
    assert len(stored(folder, "aki")) == 2

    # reopening resumes: aki at C (A and B labeled), ben at B
    v = open_folder(client(app), "aki", folder)
    assert v.status.startswith("**C.bundle** · bundle 3 of 3") and "**2 of 3 labeled** by aki" in v.status
    v = open_folder(client(app), "ben", folder)
    assert v.status.startswith("**B.bundle** · bundle 2 of 3")
    # a name typed after opening: the set resumes for that name
    c = client(app)
    v = open_folder(c, "", folder)
    assert v.status.startswith("**A.bundle**") and "type your name to label" in v.status
    v = view(c.predict("aki", api_name="/annotate_name"))
    assert v.status.startswith("**C.bundle**") and "**2 of 3 labeled** by aki" in v.status
    v = view(c.predict("aki", api_name="/annotate_name"))  # the box merely lost focus again: nothing moves
    assert v.status == {"__type__": "update"}


def test_export_and_import_round_trip_through_an_uploaded_set(app, folder, tmp_path):
    c = client(app)
    open_folder(c, "aki", folder)
    mark(c, "aki", 4, 8, "a note, with a comma")
    c.predict("aki", api_name="/annotate_next")
    mark(c, "aki", 10, 14)
    files, message = c.predict(api_name="/annotate_export")
    assert "2 label(s) exported" in message
    jsonl = next(f for f in files if f.endswith(".jsonl"))
    csv = next(f for f in files if f.endswith(".csv"))
    want = fields(folder / "labels.jsonl")
    assert len(want) == 2 and fields(jsonl) == want and fields(csv) == want

    # another person on a Space: uploads the bundles (labels then live in the app's labels folder, in the
    # file of these runs) and imports the CSV
    other = client(app)
    uploads = [handle_file(str(folder / f"{n}.bundle")) for n in "ABC"]
    v = view(other.predict("ben", [*uploads, handle_file(str(folder / "D_broken.bundle"))],
                           api_name="/annotate_upload"))
    own_file = upload_labels_path(app.sessions.labels_root, ["run-A", "run-B", "run-C"])
    assert "opened 3 bundle(s); 1 unreadable" in v.message and f"`{own_file.name}`" in v.info and "Export" in v.info
    v = view(other.predict("ben", handle_file(csv), api_name="/annotate_import"))
    assert "2 added, 0 updated, 0 skipped" in v.message
    v = view(other.predict("ben", handle_file(jsonl), api_name="/annotate_import"))
    assert "0 added, 0 updated, 2 skipped" in v.message
    assert fields(own_file) == want
    v = view(other.predict("aki", api_name="/annotate_name"))  # aki's imported labels show on aki's bundles
    assert v.status.startswith("**C.bundle**") and "**2 of 3 labeled** by aki" in v.status
    assert not (folder / "annotate").exists()  # the uploads never touched the server folder


def test_uploaded_labels_come_back_after_a_reload_and_follow_a_growing_set(app, tmp_path):
    folder = tmp_path / "mine"
    for name, norm in NORMS.items():  # run ids of this test's own, so other tests' labels never mix in
        make_bundle(folder, name, norm, run_id=f"reload-{name}")
    files = {n: handle_file(str(folder / f"{n}.bundle")) for n in "ABC"}
    first = client(app)
    v = view(first.predict("aki", [files["A"], files["B"]], api_name="/annotate_upload"))
    assert "of 2 labeled" in v.status
    mark(first, "aki", 4, 8)  # on A
    v = view(first.predict("aki", [files["C"]], api_name="/annotate_upload"))  # the set grows to A, B, C
    assert v.status.startswith("**B.bundle** · bundle 2 of 3") and "**1 of 3 labeled** by aki" in v.status
    first.predict("aki", api_name="/annotate_next")
    mark(first, "aki", 6, 12)  # on C
    app.sessions.close(first.session_hash)  # the page is gone, and its session folder with it

    again = client(app)  # a reload is a new session: the same bundles uploaded again bring the labels back
    v = view(again.predict("aki", list(files.values()), api_name="/annotate_upload"))
    assert "your labels on 2 of them are back" in v.message
    assert v.status.startswith("**B.bundle**") and "**2 of 3 labeled** by aki" in v.status
    v = view(again.predict("aki", api_name="/annotate_previous"))
    assert shaded(v.chart) == [(4, 8)]
    store = app.sessions.labels_root / upload_labels_path(app.sessions.labels_root, ["reload-A", "reload-B",
                                                                                    "reload-C"]).name
    assert sorted((lab.bundle, lab.start, lab.end) for lab in read_labels(store)) == [
        ("A.bundle", 4, 8), ("C.bundle", 6, 12)]
    assert not str(store).startswith(str(app.sessions.get(again.session_hash).folder))


def test_a_bundle_uploaded_again_under_the_same_name_never_overwrites_the_open_one(app, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    make_bundle(one, "look", NORMS["A"], run_id="look-1")
    make_bundle(two, "look", NORMS["B"], run_id="look-2")
    c = client(app)
    c.predict("aki", [handle_file(str(one / "look.bundle"))], api_name="/annotate_upload")
    v = view(c.predict("aki", [handle_file(str(two / "look.bundle"))], api_name="/annotate_upload"))
    assert v.message.startswith("opened 2 bundle(s)")
    uploaded = app.sessions.get(c.session_hash).folder / "annotate" / "bundles"
    names = sorted(p.name for p in uploaded.iterdir())
    assert len(names) == 2 and "look.bundle" in names and all(n.startswith("look") for n in names)
    assert Trajectory.load(uploaded / "look.bundle").run_id == "look-1"  # the first file is untouched
    v = view(c.predict("aki", [handle_file(str(one / "look.bundle"))], api_name="/annotate_upload"))
    assert "opened 2 bundle(s); 1 unreadable" in v.message and "the same run as" in v.info


def test_damaged_frames_are_named_and_never_blamed_on_the_labels_file(app, tmp_path):
    folder = tmp_path / "set"
    make_bundle(folder, "A", NORMS["A"], run_id="damage-A")
    damage_frames(make_bundle(tmp_path / "src", "Z", NORMS["B"], run_id="damage-Z"), folder / "Z.bundle")
    early_damaged_bundle(folder, "E", run_id="damage-E")
    c = client(app)
    v = open_folder(c, "aki", folder)  # A and E open (E's newest frame is fine); Z is skipped, with the reason
    assert "opened 2 bundle(s); 1 unreadable" in v.message and "Z.bundle: frame 0 is damaged" in v.info
    v = view(c.predict("aki", api_name="/annotate_next"))
    assert v.status.startswith("**E.bundle**") and v.message.startswith("⚠️") and "frame 0 is damaged" in v.message
    assert "labels file" not in v.message
    art, chart, caption = c.predict(5, "aki", api_name="/annotate_scrub")
    assert caption.startswith("⚠️") and "frame 0 is damaged" in caption and "labels file" not in caption
    art, chart, caption = c.predict(39, "aki", api_name="/annotate_scrub")
    assert caption.startswith("**step 39** of 39")
    v = mark(c, "aki", 33, 39)  # the intact steps can still be labeled
    assert v.message.startswith("saved 33–39 on E.bundle")


def test_server_folders_are_off_unless_the_app_serves_only_this_machine(app, folder, tmp_path, monkeypatch):
    from ui.bundle_set import server_folders_default

    monkeypatch.delenv("PIXELART_SERVER_FOLDERS", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert all(server_folders_default(host) for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"))
    assert not any(server_folders_default(host) for host in ("0.0.0.0", "192.168.1.5", "::", "example.org", None))
    assert not server_folders_default("127.0.0.1", share=True)
    monkeypatch.setenv("SPACE_ID", "someone/workbench")
    assert not server_folders_default("127.0.0.1")
    monkeypatch.setenv("PIXELART_SERVER_FOLDERS", "1")
    assert server_folders_default("0.0.0.0", share=True)
    monkeypatch.setenv("PIXELART_SERVER_FOLDERS", "0")
    assert not server_folders_default("127.0.0.1")
    monkeypatch.delenv("PIXELART_SERVER_FOLDERS")
    monkeypatch.delenv("SPACE_ID")
    assert app.demo.server_folders is True  # the tests' app is bound to 127.0.0.1

    # an app serving the network: typed server paths are refused; uploads, labels and Evaluate still work
    sessions = SessionStore(tmp_path / "public")
    demo, url = launch(sessions=sessions, host="0.0.0.0", prevent_thread_lock=True, quiet=True)
    try:
        assert demo.server_folders is False
        c = Client(url, verbose=False, download_files=str(app.downloads))
        v = open_folder(c, "aki", folder)
        assert v.message.startswith("⚠️") and "turned off here" in v.message
        c.predict("aki", [handle_file(str(folder / f"{n}.bundle")) for n in "ABC"], api_name="/annotate_upload")
        mark(c, "aki", 4, 8)
        bundles, labels, message = c.predict(api_name="/evaluate_use_set")
        result = c.predict(bundles, labels, None, ["fixed_step"], [], "fixed_step=8", "", "majority", 41,
                           api_name="/evaluate")
        assert result[0] == "evaluated 1 of 1 strategies against aki", result[0]
        result = c.predict(str(folder), "", None, ["fixed_step"], [], "", "", "majority", 41, api_name="/evaluate")
        assert "turned off here" in result[0]
    finally:
        demo.close()
        sessions.close_all()


# -- bad inputs -------------------------------------------------------------------------------------
def test_bad_inputs_get_readable_messages_and_the_server_keeps_serving(app, folder, tmp_path):
    c = client(app)
    v = view(c.predict("aki", 0, "", api_name="/annotate_end"))  # before any set is open
    assert v.message.startswith("⚠️") and "open a bundle folder or upload" in v.message
    cases = {
        str(tmp_path / "nowhere"): "does not exist",
        "": "type a folder path",
        str(folder / "A.bundle"): "is not a folder",
        str(tmp_path): "no .bundle files",
    }
    for path, words in cases.items():
        v = view(c.predict("aki", path, "", api_name="/annotate_open"))
        assert v.message.startswith("⚠️") and words in v.message and "\n" not in v.message, (path, v.message)
    only_broken = tmp_path / "broken"
    only_broken.mkdir()
    (only_broken / "x.bundle").write_bytes(b"\x00" * 100)
    v = view(c.predict("aki", str(only_broken), "", api_name="/annotate_open"))
    assert "no readable bundle" in v.message and "x.bundle is not a bundle (not a zip archive)" in v.message
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text('{"format": "pixelart-labels", "version": 1}\n{oops\n{"op": "add"}\n')
    v = open_folder(c, "aki", folder, str(damaged))
    assert "damaged.jsonl line 2 is damaged" in v.message
    v = open_folder(c, "aki", folder, "labels.csv")
    assert "must be a .jsonl file" in v.message

    v = open_folder(c, "", folder)
    status, message = c.predict("", 3, api_name="/annotate_start")
    assert message == f"⚠️ {NO_NAME}"
    v = view(c.predict("  ", 3, "", api_name="/annotate_end"))
    assert v.message == f"⚠️ {NO_NAME}"
    v = view(c.predict("aki", 3, "", api_name="/annotate_end"))
    assert "mark the start first" in v.message
    c.predict("aki", 12, api_name="/annotate_start")
    v = view(c.predict("aki", 5, "", api_name="/annotate_end"))  # an end before the start: the range is swapped
    assert v.message.startswith("saved 5–12") and "swapped" in v.message
    v = view(c.predict("aki", 15, "", api_name="/annotate_end"))  # that range is saved: no start is marked now
    assert "mark the start first" in v.message
    v = view(c.predict("aki", None, api_name="/annotate_delete"))
    assert "choose one of your ranges" in v.message
    assert stored(folder) == [("A.bundle", 5, 12, "")]
    # and the server still answers normally
    art, chart, caption = c.predict(7, "aki", api_name="/annotate_scrub")
    assert caption.startswith("**step 7**") and shaded(chart) == [(5, 12)]


def test_labels_another_process_writes_show_and_ours_reach_it(app, folder):
    # the store is shared with the CLI and other app processes: their labels appear here, ours there
    c = client(app)
    open_folder(c, "aki", folder)
    outside = LabelStore(folder / "labels.jsonl")
    outside.add("run-A", "aki", 1, 2, bundle="A.bundle", steps=STEPS)
    v = mark(c, "aki", 5, 6)
    assert shaded(v.chart) == [(1, 2), (5, 6)]
    assert {(lab.start, lab.end) for lab in outside.labels(annotator="aki")} == {(1, 2), (5, 6)}
