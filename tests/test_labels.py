"""The label store: validation, the JSON Lines format, export/import, atomicity and locking."""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from pixelart.cli import main
from pixelart.labels import FORMAT, LabelError, LabelStore, read_labels
from workbench.trajectory import Trajectory


def _lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_add_list_edit_delete_and_the_file_format(tmp_path):
    store = LabelStore(tmp_path / "labels.jsonl")
    a = store.add("run-1", "aki", 100, 400, bundle="look.bundle", note="サングラス, \"clear\"", steps=10_001)
    b = store.add("run-1", "aki", 900, 950, bundle="look.bundle")
    c = store.add("run-2", "ben", 0, 10, bundle="other.bundle")
    assert store.ranges("run-1", "aki") == [(100, 400), (900, 950)]
    assert store.annotators() == ["aki", "ben"] and store.labeled_bundles("ben") == {"run-2"}
    edited = store.edit(a.label_id, end=500, note="ok")
    assert (edited.start, edited.end, edited.note) == (100, 500, "ok") and edited.label_id == a.label_id
    store.delete(b.label_id)
    assert [lab.label_id for lab in store.labels()] == [a.label_id, c.label_id]
    assert LabelStore(store.path).labels(annotator="aki")[0].end == 500  # another reader sees it
    lines = _lines(store.path)
    assert lines[0] == {"format": FORMAT, "version": 1}
    assert [r["op"] for r in lines[1:]] == ["add", "add", "add", "edit", "delete"]
    first = lines[1]
    assert {"label_id", "bundle_id", "bundle", "annotator", "start", "end", "note", "time", "steps"} <= set(first)
    assert first["time"].startswith("20") and "T" in first["time"]
    assert "サングラス" in store.path.read_text(encoding="utf-8")  # readable, not \u-escaped


@pytest.mark.parametrize("kwargs, message", [
    (dict(annotator="  ", start=1, end=2), "annotator name is empty"),
    (dict(annotator="aki", start=5, end=2), "start 5 is after its end 2"),
    (dict(annotator="aki", start=0, end=100, steps=100), "outside the bundle's steps 0..99"),
    (dict(annotator="aki", start=-1, end=3), "before step 0"),
    (dict(annotator="aki", start=1.5, end=3), "whole step number"),
])
def test_validation_is_a_one_line_error(tmp_path, kwargs, message):
    store = LabelStore(tmp_path / "l.jsonl")
    with pytest.raises(LabelError, match=message) as info:
        store.add("run-1", **kwargs)
    assert "\n" not in str(info.value)
    assert store.labels() == []
    store.add("run-1", "aki", 0, 99, steps=100)  # the last step is inside
    with pytest.raises(LabelError, match="no label with id"):
        store.edit("nope", start=1)


def test_export_import_round_trips_without_duplicates(tmp_path):
    src = LabelStore(tmp_path / "a.jsonl")
    src.add("run-1", "aki", 1, 5, bundle="x.bundle", note='comma, "quote"\nnew line', steps=50)
    src.add("run-2", "aki", 7, 9)
    gone = src.add("run-3", "ben", 0, 0)
    src.delete(gone.label_id)
    for suffix in ("jsonl", "csv"):
        exported = tmp_path / f"export.{suffix}"
        (src.export_csv if suffix == "csv" else src.export_jsonl)(exported)
        dst = LabelStore(tmp_path / f"dst-{suffix}.jsonl")
        report = dst.import_file(exported)
        assert (report.added, report.skipped) == (2, 0)
        assert dst.labels() == src.labels()
        again = dst.import_file(exported)
        assert (again.added, again.updated, again.skipped) == (0, 0, 2) and len(dst.labels()) == 2
    assert set(read_labels(tmp_path / "export.csv")) == set(src.labels()) == set(read_labels(tmp_path / "export.jsonl"))
    # the log itself imports too; a same-range label with another id is a duplicate, not a new label
    dst = LabelStore(tmp_path / "dst-csv.jsonl")
    dup = LabelStore(tmp_path / "dup.jsonl")
    dup.add("run-1", "aki", 1, 5)
    dup.add("run-9", "cy", 3, 4)
    assert dst.import_file(dup.path).added == 1
    # a newer edit wins; a label deleted here stays deleted
    lab = src.labels(bundle_id="run-2")[0]
    time.sleep(0.002)
    src.edit(lab.label_id, start=8)
    assert dst.import_file(src.path).updated == 1 and dst.get(lab.label_id).start == 8
    dst.delete(lab.label_id)
    assert dst.import_file(src.path).added == 0 and dst.labels(bundle_id="run-2") == []


def test_compact_keeps_current_labels_only(tmp_path):
    store = LabelStore(tmp_path / "l.jsonl")
    keep = store.add("r", "aki", 1, 2)
    store.delete(store.add("r", "aki", 3, 4).label_id)
    store.compact()
    assert [r.get("op") for r in _lines(store.path)] == [None, "add"]
    assert store.labels() == [keep]


def test_exports_are_synced_once(tmp_path, monkeypatch):
    store = LabelStore(tmp_path / "l.jsonl")
    store.add("r", "aki", 1, 2)
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real(fd))
    store.export_jsonl(tmp_path / "out.jsonl")
    store.export_csv(tmp_path / "out.csv")
    assert len(synced) == 2  # atomic_path's one fsync per file, not a second one of our own
    assert [lab.start for lab in read_labels(tmp_path / "out.csv")] == [1]


def test_add_for_uses_the_run_id_or_the_file_name(tmp_path):
    traj = Trajectory(palette=np.array([[0, 0, 0], [255, 255, 255]], np.uint8),
                      input_image=np.zeros((4, 4, 3), np.uint8), frame_size=(2, 2), config={})
    traj.append(np.zeros((2, 2), np.uint8), {"norm": 1.0})
    path = traj.save(tmp_path / "old.bundle")
    loaded = Trajectory.load(path)
    loaded.config.pop("run_id", None)  # an old bundle without a run id
    lab = LabelStore(tmp_path / "l.jsonl").add_for(loaded, "aki", 0, 0)
    assert lab.bundle_id == "old.bundle" == loaded.run_id


def test_torn_last_line_is_ignored_and_repaired(tmp_path):
    store = LabelStore(tmp_path / "l.jsonl")
    first = store.add("r", "aki", 1, 2)
    with open(store.path, "ab") as fh:
        fh.write(b'{"op": "add", "label_id": "x", "bundle_id": "r", "annot')  # a save cut short
    assert LabelStore(store.path).labels() == [first]
    second = store.add("r", "aki", 5, 6)
    assert [lab.label_id for lab in LabelStore(store.path).labels()] == [first.label_id, second.label_id]
    assert all(_lines(store.path))  # every line parses again
    # a hand-edited file without its final newline keeps its last record
    text = store.path.read_text().rstrip("\n")
    store.path.write_text(text)
    assert len(LabelStore(store.path).labels()) == 2
    store.add("r", "aki", 7, 8)
    assert len(store.labels()) == 3


def test_damage_in_the_middle_is_reported(tmp_path):
    path = tmp_path / "l.jsonl"
    store = LabelStore(path)
    store.add("r", "aki", 1, 2)
    store.add("r", "aki", 3, 4)
    lines = path.read_text().splitlines()
    lines[1] = lines[1][:20]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(LabelError, match="line 2 is damaged"):
        LabelStore(path).labels()


def _writer(path: str, who: str, count: int, barrier) -> None:
    store = LabelStore(path)
    barrier.wait(30)  # both start appending at the same moment
    for i in range(count):
        store.add(f"run-{i % 7}", who, i, i + 3, note=f"{who} {i}")
        time.sleep(0.001)  # give the lock up now and then: on a loaded machine one writer could run alone


def test_two_writer_processes_lose_nothing(tmp_path):
    path = tmp_path / "shared.jsonl"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(str(path), who, 150, barrier)) for who in ("aki", "ben")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    labels = LabelStore(path).labels()
    assert len(labels) == 300 and len({lab.label_id for lab in labels}) == 300
    for who in ("aki", "ben"):
        assert sorted(lab.start for lab in labels if lab.annotator == who) == list(range(150))
    assert sum(1 for r in _lines(path) if "format" in r) == 1
    order = [r["annotator"] for r in _lines(path) if "op" in r]
    assert sum(a != b for a, b in zip(order, order[1:], strict=False)) > 1  # the writers really interleaved


KILLED_WRITER = textwrap.dedent("""
    import os, sys, time
    import pixelart.labels as labels
    import workbench.jsonl_log as jsonl_log

    store = labels.LabelStore(sys.argv[1])
    for i in range(20):
        lab = store.add("run-1", "aki", i, i + 1)
        print(lab.label_id, flush=True)

    def half_then_hang(fh, data):
        fh.write(data[: len(data) // 2])
        fh.flush()
        os.fsync(fh.fileno())
        print("HALF", flush=True)
        time.sleep(60)

    jsonl_log.write_durably = half_then_hang  # the label store appends through the shared log
    store.add("run-1", "aki", 100, 200, note="never finished")
""")


def test_a_writer_killed_mid_save_leaves_a_valid_file(tmp_path):
    path = tmp_path / "l.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    saved = []
    for line in proc.stdout:
        if line.strip() == "HALF":
            break
        saved.append(line.strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert len(saved) == 20
    assert not path.read_bytes().endswith(b"\n")  # the kill really tore the last line
    store = LabelStore(path)
    assert [lab.label_id for lab in sorted(store.labels(), key=lambda x: x.start)] == saved
    store.add("run-1", "ben", 0, 1)  # the lock died with the writer; the torn line is cut off
    assert len(store.labels()) == 21 and all(_lines(path))


def test_labels_cli_round_trip(tmp_path, capsys):
    traj = Trajectory(palette=np.array([[0, 0, 0], [255, 255, 255]], np.uint8),
                      input_image=np.zeros((4, 4, 3), np.uint8), frame_size=(2, 2), config={"run_id": "abc"})
    for _ in range(30):
        traj.append(np.zeros((2, 2), np.uint8), {"norm": 1.0})
    bundle = traj.save(tmp_path / "look.bundle")
    store = tmp_path / "labels.jsonl"
    assert main(["labels", str(store), "add", str(bundle), "--annotator", "aki", "--start", "3", "--end", "9"]) == 0
    assert main(["labels", str(store), "add", str(bundle), "--annotator", "aki", "--start", "3", "--end", "30"]) == 2
    assert "outside the bundle's steps 0..29" in capsys.readouterr().err
    label_id = LabelStore(store).labels()[0].label_id
    assert main(["labels", str(store), "edit", label_id[:6], "--end", "12"]) == 0
    assert main(["labels", str(store), "export", str(tmp_path / "out.csv")]) == 0
    assert main(["labels", str(tmp_path / "copy.jsonl"), "import", str(tmp_path / "out.csv")]) == 0
    assert "1 added" in capsys.readouterr().out
    assert main(["labels", str(tmp_path / "copy.jsonl"), "list"]) == 0
    listing = capsys.readouterr().out
    assert "look.bundle" in listing and "12" in listing and "1 label(s)" in listing
    assert main(["labels", str(store), "delete", label_id]) == 0
    assert LabelStore(store).labels() == []


def test_a_csv_that_is_not_utf8_text_or_not_csv_is_a_one_line_label_error(tmp_path):
    """Uploads the Evaluate and Annotate tabs take: a spreadsheet saved in another encoding, or a file
    that is not a CSV at all, is a LabelError saying what to do (not a UnicodeDecodeError or csv.Error)."""
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("label_id,bundle_id,annotator,start,end\n1,r,Jos\xe9,1,2\n".encode("latin-1"))
    huge = tmp_path / "huge.csv"
    huge.write_text("label_id,bundle_id,annotator,start,end\n1,r," + "a" * 200_000 + ",1,2\n")
    for path, words in ((latin1, "latin1.csv is not UTF-8 text: save the labels CSV as UTF-8"),
                        (huge, "huge.csv is not a readable CSV (field larger than field limit")):
        for read in (read_labels, LabelStore(tmp_path / "store.jsonl").import_file):
            with pytest.raises(LabelError) as info:
                read(path)
            assert str(info.value).startswith(words) and "\n" not in str(info.value)
