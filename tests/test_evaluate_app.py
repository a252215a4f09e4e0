"""The Evaluate tab served in-process and driven through ``gradio_client``, on the evaluation tests'
synthetic bundles whose every metric is known by hand (see tests/test_evaluation.py): Table 1 with
given parameters and with a sweep (in-sample and leave-one-out), the downloads, the figures, the
per-photo breakdown, several annotators, the Annotate tab's set, and bad inputs."""

from __future__ import annotations

import base64
import csv
import io
import math
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from gradio_client import Client, handle_file

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app import launch  # noqa: E402
from workbench.export import upscale  # noqa: E402
from pixelart.labels import LabelStore  # noqa: E402
from pixelart.stopping import NEW_STRATEGIES, SEED_STRATEGIES  # noqa: E402
from workbench.trajectory import Trajectory  # noqa: E402
from test_app import pixels, plot  # noqa: E402
from test_evaluation import NORMS, RANGES, S12, make_bundle  # noqa: E402
from ui.session import SessionStore  # noqa: E402

GIVEN = "fixed_step=8, norm_threshold=14.5, norm_rate=0.45"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    sessions = SessionStore(tmp_path_factory.mktemp("sessions"))
    demo, url = launch(sessions=sessions, prevent_thread_lock=True, quiet=True)
    yield SimpleNamespace(demo=demo, url=url, sessions=sessions, downloads=tmp_path_factory.mktemp("downloads"))
    demo.close()
    sessions.close_all()


@pytest.fixture()
def hand_case(tmp_path):
    """Bundles A, B, C (norms 10 + t, 10 + 2t, 20 + t) with aki's ranges A 4–8, B 0–2 and 10–14, C 6–12,
    labeled through the store as the Annotate tab does."""
    folder = tmp_path / "bundles"
    for name, norm in NORMS.items():
        make_bundle(folder, name, norm)
    store = LabelStore(folder / "labels.jsonl")
    for name, ranges in RANGES.items():
        for start, end in ranges:
            store.add(f"run-{name}", "aki", start, end, bundle=f"{name}.bundle", steps=21)
    return SimpleNamespace(folder=folder, store=store)


def client(app) -> Client:
    return Client(app.url, verbose=False, download_files=str(app.downloads))


def run(c: Client, folder: Path | str, *, labels: str = "", upload: str | None = None, seed=SEED_STRATEGIES,
        new=NEW_STRATEGIES, params: str = "", annotators: str = "", consensus: str = "majority",
        points: int = 41) -> SimpleNamespace:
    values = c.predict(str(folder), labels, handle_file(upload) if upload else None, list(seed), list(new), params,
                       annotators, consensus, points, api_name="/evaluate")
    names = ("message", "notes", "reference", "files", "agreement", "table", "sweeps", "centers", "strategy",
             "photo", "stopped", "center", "caption", "curve")
    return SimpleNamespace(**dict(zip(names, values, strict=True)))


def rows(table: dict) -> dict[str, dict]:
    return {row[0]: dict(zip(table["headers"], row, strict=True)) for row in table["data"]}


def test_table1_with_given_values_matches_the_hand_computation(app, hand_case):
    r = run(client(app), hand_case.folder, seed=["fixed_step", "norm_threshold", "norm_rate"], new=[], params=GIVEN)
    assert r.message == "evaluated 3 of 3 strategies against aki" and r.reference["visible"] is False
    table = rows(r.table)
    assert list(table) == ["fixed_step", "norm_threshold", "norm_rate"]
    # fixed step 8: A hit (c 6, w 4), B miss (nearest range 10–14: c 12, w 4), C hit (c 9, w 6)
    fixed = table["fixed_step"]
    assert fixed["value"] == 8 and fixed["value chosen"] == "given" and fixed["photos"] == 3
    assert fixed["hit rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert fixed["rel. centre error"] == pytest.approx((0.5 + 1.0 + 1 / 6) / 3, abs=1e-4)
    assert fixed["image norm error"] == pytest.approx(S12 / 3, abs=1e-4)  # only B's frames differ, by one cell
    # norm threshold 14.5 stops A at 5, B at 3, C at 0; norm rate 0.45 at 5, 3, 10
    assert table["norm_threshold"]["hit rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert table["norm_threshold"]["rel. centre error"] == pytest.approx((0.25 + 1.0 + 1.5) / 3, abs=1e-4)
    assert table["norm_rate"]["hit rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert table["norm_rate"]["rel. centre error"] == pytest.approx((0.25 + 1.0 + 1 / 6) / 3, abs=1e-4)
    # nothing was chosen, so leave-one-out equals in-sample
    assert fixed["LOO hit rate"] == fixed["hit rate"] and fixed["LOO values chosen"] == "8 ×3"

    # the downloads: Table 1 at full precision, every CSV zipped, the report with every figure
    by_name = {Path(f).name: f for f in r.files}
    assert set(by_name) == {"table1.csv", "evaluation_csvs.zip", "report.html"}
    with open(by_name["table1.csv"], newline="") as fh:
        csv_rows = {row["strategy"]: row for row in csv.DictReader(fh)}
    assert float(csv_rows["fixed_step"]["image_norm_error"]) == pytest.approx(S12 / 3, rel=1e-5)
    with zipfile.ZipFile(by_name["evaluation_csvs.zip"]) as zf:
        assert set(zf.namelist()) == {"table1.csv", "sweeps.csv", "per_photo.csv", "loo.csv", "centers.csv"}
        per_photo = list(csv.DictReader(io.TextIOWrapper(zf.open("per_photo.csv"), "utf-8")))
    assert {(row["strategy"], row["bundle"], row["step"]) for row in per_photo} >= {
        ("fixed_step", "B.bundle", "8"), ("norm_threshold", "C.bundle", "0"), ("norm_rate", "C.bundle", "10")}
    report = Path(by_name["report.html"]).read_text()
    assert "plotly" in report.lower() and "fig4_curves_aki_B" in report and "fig3_centers_aki" in report

    # Fig. 3: one centre per range (1, 6, 9, 12)
    centers = plot(r.centers)["data"][0]
    assert sum(centers["y"]) == 4
    # the breakdown opens on the first strategy and photo: fixed step on A stops at 8, centre frame 6
    assert r.strategy["value"] == "fixed_step" and r.photo["value"] == "run-A"
    assert "stops at step **8**" in r.caption and "**hit** of the range 4–8 (centre frame 6)" in r.caption


def test_breakdown_shows_both_frames_and_the_photos_curves(app, hand_case):
    c = client(app)
    run(c, hand_case.folder, seed=["fixed_step", "norm_threshold", "norm_rate"], new=[], params=GIVEN)
    stopped, center, caption, curve, message = c.predict("fixed_step", "run-B", api_name="/evaluate_breakdown")
    bundle = Trajectory.load(hand_case.folder / "B.bundle")
    assert message == "" and np.array_equal(pixels(stopped), upscale(bundle.rgb(8), 128))
    assert np.array_equal(pixels(center), upscale(bundle.rgb(12), 128))  # B's reference range is 10–14
    assert not np.array_equal(pixels(stopped), pixels(center))
    assert "**miss** of the range 10–14" in caption and "rel. centre error 1.000" in caption
    assert f"image norm error {S12:.3f}" in caption
    figure = plot(curve)
    bands = sorted((s["x0"], s["x1"]) for s in figure["layout"]["shapes"] if s["type"] == "rect")
    assert bands == [(0, 2), (10, 14)]  # both of B's ranges shaded
    stops = {t["meta"]: t["x"][0] for t in figure["data"] if str(t.get("meta")).startswith("stop:")}
    assert stops == {"stop:fixed_step": 8, "stop:norm_threshold": 3, "stop:norm_rate": 3}
    assert [t["x"][0] for t in figure["data"] if t.get("meta") == "selected"] == [8]  # the chosen stop
    assert "L2 norm d<sub>t</sub>" in [t["name"] for t in figure["data"]]


def test_a_sweep_reports_the_in_sample_best_and_leave_one_out(app, tmp_path):
    # fixed step over the grid 0, 20, 40: in-sample 20 hits B and C; leave-one-out picks 20, 0, 0 and
    # misses every held-out photo (the numbers of tests/test_evaluation.py)
    folder = tmp_path / "flat"
    for name in "ABC":
        make_bundle(folder, name, np.full(41, 10.0))
    store = LabelStore(folder / "labels.jsonl")
    for name, start, end in (("A", 0, 4), ("B", 14, 26), ("C", 11, 29)):
        store.add(f"run-{name}", "aki", start, end, bundle=f"{name}.bundle", steps=41)
    r = run(client(app), folder, seed=["fixed_step"], new=[], points=3)
    row = rows(r.table)["fixed_step"]
    assert row["value"] == 20 and row["value chosen"] == "in-sample best"
    assert row["hit rate"] == pytest.approx(2 / 3, abs=1e-4) and row["rel. centre error"] == pytest.approx(1.5)
    assert row["LOO hit rate"] == 0 and row["LOO values chosen"] == "0 ×2, 20 ×1"
    assert row["LOO rel. centre error"] == pytest.approx((4.5 + 20 / 12 + 20 / 18) / 3, abs=1e-4)
    # Fig. 2: the three metrics against N, and the best value marked on each
    traces = plot(r.sweeps)["data"]
    curves = [t for t in traces if t["name"].startswith("fixed_step ")]
    assert [t["name"] for t in curves] == ["fixed_step hit_rate", "fixed_step rel_center_error",
                                           "fixed_step image_norm_error"]
    assert list(curves[0]["x"]) == [0, 20, 40] and list(curves[0]["y"]) == pytest.approx([1 / 3, 2 / 3, 0])
    assert [t["x"] for t in traces if t["name"] == "best"] == [[20]] * 3


def test_several_annotators_agreement_and_reference_selector(app, hand_case):
    hand_case.store.add("run-A", "ben", 6, 10, bundle="A.bundle", steps=21)  # overlaps aki's 4–8 on 6–8
    hand_case.store.add("run-B", "ben", 12, 16, bundle="B.bundle", steps=21)
    c = client(app)
    r = run(c, hand_case.folder, seed=["fixed_step"], new=[], params="fixed_step=8")
    assert r.reference["visible"] is True and r.reference["value"] == "consensus (majority)"
    assert [name for name, _ in r.reference["choices"]] == ["aki", "ben", "consensus (majority)"]
    heatmap = plot(r.agreement["value"])["data"][0]
    assert heatmap["type"] == "heatmap" and r.agreement["visible"] is True
    # A: IoU of 4–8 and 6–10 = 3/7; B: {0–2, 10–14} and 12–16 = 3/10 (3 steps shared of 10)
    z = heatmap["z"]  # a typed array: base64 bytes and a shape
    z = np.frombuffer(base64.b64decode(z["bdata"]), z["dtype"]).reshape([int(n) for n in z["shape"].split(",")])
    assert z[0, 1] == pytest.approx((3 / 7 + 3 / 10) / 2)
    # consensus of two = the intersection: A 6–8 (8 hits), B 12–14 (8 misses); C has aki alone: 6–12
    assert rows(r.table)["fixed_step"]["hit rate"] == pytest.approx(2 / 3, abs=1e-4)
    message, table, *_ = c.predict("ben", api_name="/evaluate_reference")
    assert message == "" and rows(table)["fixed_step"]["hit rate"] == pytest.approx(0.5)  # A hit, B miss
    assert rows(table)["fixed_step"]["photos"] == 2
    stopped, center, caption, curve, _ = c.predict("fixed_step", "run-B", api_name="/evaluate_breakdown")
    assert "range 12–16" in caption  # the breakdown follows the chosen reference
    only_ben = run(c, hand_case.folder, seed=["fixed_step"], new=[], params="fixed_step=8", annotators="ben")
    assert only_ben.reference["choices"] == [["ben", "ben"]] and only_ben.agreement["visible"] is False


def test_the_annotate_tabs_set_and_an_uploaded_labels_file(app, hand_case, tmp_path):
    c = client(app)
    folder, labels, message = c.predict(api_name="/evaluate_use_set")
    assert message.startswith("⚠️") and "no bundle set open" in message
    c.predict("aki", str(hand_case.folder), "", api_name="/annotate_open")
    folder, labels, message = c.predict(api_name="/evaluate_use_set")
    assert folder == str(hand_case.folder) and labels == str(hand_case.folder / "labels.jsonl")
    r = run(c, folder, labels=labels, seed=["fixed_step"], new=[], params="fixed_step=8")
    assert rows(r.table)["fixed_step"]["hit rate"] == pytest.approx(2 / 3, abs=1e-4)
    # an uploaded CSV export with only A's range is used instead of the folder's file
    export = tmp_path / "a_only.csv"
    LabelStore(hand_case.folder / "labels.jsonl").export_csv(export)
    kept = [line for line in export.read_text().splitlines() if "run-A" in line or line.startswith("label_id")]
    export.write_text("\n".join(kept) + "\n")
    r = run(c, folder, upload=str(export), seed=["fixed_step"], new=[], params="fixed_step=8")
    assert rows(r.table)["fixed_step"]["photos"] == 1 and rows(r.table)["fixed_step"]["hit rate"] == 1


def test_all_strategies_by_default_and_the_ones_without_their_series_are_named(app, hand_case):
    r = run(client(app), hand_case.folder, points=5)
    scored = list(rows(r.table))
    assert scored == ["fixed_step", "norm_threshold", "norm_rate", "norm_rate_cap"]  # no CLIP/DINO/parts here
    assert r.message.startswith("evaluated 4 of 8 strategies") and "notes say why" in r.message
    for name, why in (("clip_max", "not recorded: clip"), ("dino_max", "not recorded: dino"),
                      ("part_rate", "part"), ("norm_rate_clip", "not recorded: clip")):
        assert f"- {name}: 3 photo(s) left out" in r.notes and why in r.notes, name
    assert all(math.isfinite(rows(r.table)[n]["LOO hit rate"]) for n in scored)


def test_bad_inputs_get_readable_messages(app, hand_case, tmp_path):
    c = client(app)
    latin1 = tmp_path / "latin1.csv"  # a spreadsheet's export in its own encoding
    latin1.write_bytes("label_id,bundle_id,annotator,start,end\n1,run-A,Jos\xe9,4,8\n".encode("latin-1"))
    cases = [
        (dict(folder=""), "type a bundle folder path"),
        (dict(folder=tmp_path / "nowhere"), "does not exist"),
        (dict(seed=[], new=[]), "tick at least one strategy"),
        (dict(params="fixed_step=eight"), "must be a number"),
        (dict(params="oracle=3"), "unknown stopping strategy 'oracle'"),
        (dict(params="fixed_step"), "write NAME=VALUE"),
        (dict(seed=["norm_rate"], new=[], params="fixed_step=8"), "fixed_step has a value but is not ticked"),
        (dict(params="clip_max=1"), "clip_max has no parameter"),
        (dict(labels="missing.jsonl"), "does not exist"),
        (dict(annotators="nobody"), "no labels match these bundles"),
        (dict(upload=str(latin1)), "latin1.csv is not UTF-8 text: save the labels CSV as UTF-8"),
    ]
    for changes, words in cases:
        values = dict(folder=hand_case.folder, seed=["fixed_step"], new=[], params="")
        values.update(changes)
        folder = values.pop("folder")
        r = run(c, folder, **values)
        assert r.message.startswith("⚠️") and words in r.message and "\n" not in r.message, (changes, r.message)
    # a damaged bundle in the folder is skipped and named, the rest is evaluated
    (hand_case.folder / "D.bundle").write_bytes(b"not a zip")
    r = run(c, hand_case.folder, seed=["fixed_step"], new=[], params="fixed_step=8")
    assert rows(r.table)["fixed_step"]["photos"] == 3 and "D.bundle is not a bundle (not a zip archive)" in r.notes


def test_a_stale_strategy_or_reference_choice_is_named_not_an_internal_error(hand_case, tmp_path):
    """The breakdown and reference handlers given names the session's evaluation lacks (the dropdowns
    still show an earlier evaluation's while a new one lands; gradio's own choice check cannot see that)."""
    import gradio as gr

    from ui.evaluate_tab import build_evaluate_tab

    sessions = SessionStore(tmp_path / "sessions")
    with gr.Blocks():
        actions = build_evaluate_tab(sessions, server_folders=True)
    request, ui = SimpleNamespace(session_hash="stale"), actions.ui
    try:
        done = actions.run(str(hand_case.folder), "", None, ["fixed_step"], [], "fixed_step=8", "", "majority", 41,
                           request, progress=lambda *args, **kwargs: None)
        assert done[ui.message] == "evaluated 1 of 1 strategies against aki"
        message = actions.breakdown("norm_rate", "run-A", request)[ui.message]
        assert message == "⚠️ norm_rate was not scored against aki; choose one of the scored ones: fixed_step"
        message = actions.choose_reference("ben", request)[ui.message]
        assert message == "⚠️ no reference named 'ben' in this evaluation; choose one of: aki"
    finally:
        sessions.close_all()
