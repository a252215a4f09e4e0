"""CLI commands of the annotation/evaluation work: ``batch``, ``evaluate`` and ``labels``.

    python -m pixelart batch PHOTO_DIR --out BUNDLE_DIR [run options]
    python -m pixelart evaluate BUNDLE_DIR LABELS [--strategies ...] [--out DIR]
    python -m pixelart labels LABELS {list,add,edit,delete,export,import,compact} ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pixelart.cli import _add_run_arguments, command, config_from_args
from workbench.cli import check_out_folder
from workbench.errors import ConfigError


# -- batch ----------------------------------------------------------------------------------------
def _add_batch_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("photo_dir", type=Path, help="folder of photos (jpg, png, webp, ...; not recursive)")
    p.add_argument("--out", type=Path, required=True, metavar="BUNDLE_DIR",
                   help="folder for one NAME.bundle (+ NAME.png, NAME_xF.png, NAME.hex) per photo")
    # the same options as `run`, taken from its parser so the two never drift apart
    template = argparse.ArgumentParser(add_help=False)
    _add_run_arguments(template)
    for action in template._actions:
        if action.dest not in ("photo", "out", "help"):
            p._add_action(action)


@command("batch", "run every photo of a folder to a bundle (resumable; under accelerate/torchrun one share per GPU)",
         _add_batch_arguments)
def cmd_batch(args: argparse.Namespace) -> int:
    from pixelart.batch import run_batch, shard_from_env

    check_out_folder(args.out)
    config = config_from_args(args)
    shard = shard_from_env()
    summary = run_batch(args.photo_dir, args.out, config, shard=shard, stop_on=args.stop_on, patience=args.patience,
                        save_every=args.save_every, quiet=args.quiet, log=print)
    where = "" if shard.world_size == 1 else f" (rank {shard.rank} of {shard.world_size})"
    print(f"{summary.count('done')} done, {summary.count('skipped')} already finished, "
          f"{summary.count('failed')} skipped as unusable{where}; bundles in {args.out}")
    return summary.exit_code  # 1 when a photo was skipped, so scripts notice


# -- evaluate -------------------------------------------------------------------------------------
def _add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    from pixelart.evaluation import CONSENSUS_RULES, DEFAULT_POINTS
    from pixelart.stopping import STRATEGIES

    p.add_argument("bundle_dir", type=Path, help="folder of trajectory bundles")
    p.add_argument("labels", type=Path, help="labels file (.jsonl store or export, or .csv export)")
    p.add_argument("--strategies", action="append", metavar="NAME[=PARAM],...",
                   help=f"strategies to score, comma-separated or repeated; NAME sweeps its parameter and picks "
                        f"the best, NAME=PARAM uses that value (default: all of {', '.join(STRATEGIES)})")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="write CSVs, report.html (every figure, works offline) and per-photo PNGs here")
    p.add_argument("--annotator", action="append", metavar="NAME", help="only these annotators (repeatable)")
    p.add_argument("--consensus", choices=CONSENSUS_RULES, default="majority",
                   help="with several annotators, also score against this consensus (default majority)")
    p.add_argument("--points", type=int, default=DEFAULT_POINTS, help=f"sweep grid size (default {DEFAULT_POINTS})")
    p.add_argument("--part-masks", type=Path, default=None, metavar="DIR",
                   help="label-map PNGs (ATR ids) named BUNDLE_STEM.png, for bundles recorded without part series")
    p.add_argument("--no-photos", action="store_true", help="do not write the per-photo PNGs")


@command("evaluate", "score stopping strategies against labeled good ranges (Table 1, Fig. 2, Fig. 3)",
         _add_evaluate_arguments)
def cmd_evaluate(args: argparse.Namespace) -> int:
    from pixelart.evaluation import check_points, evaluate, format_table, open_photos, write_outputs
    from pixelart.labels import read_labels
    from pixelart.stopping.parts import PartMap

    check_points(args.points)  # before any bundle is opened
    if args.out is not None:
        check_out_folder(args.out)
    photos = open_photos(args.bundle_dir)
    labels = read_labels(args.labels)
    masks = {}
    if args.part_masks is not None:
        for p in photos:
            png = args.part_masks / f"{Path(p.name).stem}.png"
            if png.is_file():
                masks[p.bundle_id] = PartMap.from_png(png, p.traj.input_image.shape[:2])
    strategies = [s.strip() for item in (args.strategies or []) for s in item.split(",") if s.strip()]
    result = evaluate(photos, labels, strategies or None, points=args.points, annotators=args.annotator,
                      consensus=args.consensus, part_masks=masks)
    for ref in result.references:
        print(format_table(ref))
        print()
    if result.agreement is not None:
        a = result.agreement
        pairs = ", ".join(f"{x}–{y} {v:.3f}" for (x, y), v in a.pairwise.items())
        print(f"agreement: mean pairwise IoU {a.mean_iou:.3f} over {len(a.per_photo)} photos ({pairs})")
    for note in result.notes:
        print(f"note: {note}")
    if args.out is not None:
        written = write_outputs(result, args.out, photos=not args.no_photos)
        print(f"wrote {len(written)} files to {args.out} (report.html, table1.csv, sweeps.csv, per_photo.csv, ...)")
    return 0


# -- labels ---------------------------------------------------------------------------------------
def _add_labels_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("store", type=Path, help="the labels file (JSON Lines; created on first add)")
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = sub.add_parser("list", help="print the current labels")
    ls.add_argument("--annotator", default=None)
    ls.add_argument("--bundle-id", default=None)
    add = sub.add_parser("add", help="mark a good range on a bundle")
    add.add_argument("bundle", type=Path, help="the trajectory bundle")
    add.add_argument("--annotator", required=True)
    add.add_argument("--start", type=int, required=True)
    add.add_argument("--end", type=int, required=True)
    add.add_argument("--note", default="")
    edit = sub.add_parser("edit", help="change a label's range or note")
    edit.add_argument("label_id")
    edit.add_argument("--start", type=int, default=None)
    edit.add_argument("--end", type=int, default=None)
    edit.add_argument("--note", default=None)
    delete = sub.add_parser("delete", help="remove a label")
    delete.add_argument("label_id")
    exp = sub.add_parser("export", help="write the current labels to FILE.jsonl or FILE.csv")
    exp.add_argument("file", type=Path)
    exp.add_argument("--annotator", default=None)
    exp.add_argument("--bundles", type=Path, default=None, metavar="DIR",
                     help="also check the ranges against the bundles of this folder (unknown bundles, steps)")
    imp = sub.add_parser("import", help="merge labels from FILE.jsonl or FILE.csv (no duplicates)")
    imp.add_argument("file", type=Path)
    sub.add_parser("compact", help="rewrite the file as its current labels (drops edit/delete history)")


@command("labels", "list, add, edit, delete, export and import labeled good step ranges", _add_labels_arguments)
def cmd_labels(args: argparse.Namespace) -> int:
    from pixelart.labels import LabelStore, set_aside, set_aside_notes
    from workbench.trajectory import Trajectory

    store = LabelStore(args.store)
    if args.action == "list":
        labels = store.labels(annotator=args.annotator, bundle_id=args.bundle_id)
        print(f"{'id':<10}{'annotator':<14}{'bundle':<28}{'start':>7}{'end':>7}  note")
        for lab in labels:
            print(f"{lab.label_id[:8]:<10}{lab.annotator:<14}{(lab.bundle or lab.bundle_id)[:27]:<28}"
                  f"{lab.start:>7}{lab.end:>7}  {lab.note}")
        print(f"{len(labels)} label(s)")
    elif args.action == "add":
        lab = store.add_for(Trajectory.load(args.bundle), args.annotator, args.start, args.end, args.note)
        print(f"added {lab.label_id}: {lab.annotator} {lab.start}..{lab.end} on {lab.bundle}")
    elif args.action == "edit":
        lab = store.edit(_full_id(store, args.label_id), start=args.start, end=args.end, note=args.note)
        print(f"edited {lab.label_id}: {lab.start}..{lab.end}")
    elif args.action == "delete":
        label_id = _full_id(store, args.label_id)
        store.delete(label_id)
        print(f"deleted {label_id}")
    elif args.action == "export":
        suffix = args.file.suffix.lower()
        if suffix == ".csv":
            store.export_csv(args.file, annotator=args.annotator)
        elif suffix in (".jsonl", ".json"):
            store.export_jsonl(args.file, annotator=args.annotator)
        else:
            raise ConfigError(f"export to .jsonl or .csv, not '{suffix or args.file.name}'")
        labels = store.labels(annotator=args.annotator)
        aside = set_aside(labels, _steps_of(args.bundles) if args.bundles is not None else None)
        print(f"wrote {len(labels)} label(s) to {args.file}"
              + (f"; {len(aside)} cannot apply (copied as they are):" if aside else ""))
        for line in set_aside_notes(aside, "cannot apply"):
            print(f"warning: {line}")
    elif args.action == "import":
        report = store.import_file(args.file)
        print(f"imported {args.file.name}: {report.added} added, {report.updated} updated, "
              f"{report.skipped} already here")
    elif args.action == "compact":
        store.compact()
        print(f"compacted {args.store.name}: {len(store.labels())} label(s)")
    return 0


def _steps_of(folder: Path) -> dict[str, int]:
    """Recorded steps of each run in a bundle folder (bundles that do not open are named, then left out)."""
    from workbench.trajectory import scan_bundles

    scan = scan_bundles(folder)
    for line in scan.skipped:
        print(f"note: bundle left out: {line}")
    return {t.run_id: len(t) for t in scan.trajectories}


def _full_id(store, prefix: str) -> str:
    """A label id from its first characters (as `list` prints them)."""
    from pixelart.labels import LabelError

    matches = [lab.label_id for lab in store.labels() if lab.label_id.startswith(prefix)]
    if len(matches) != 1:
        raise LabelError(f"{'no' if not matches else 'more than one'} label id starts with '{prefix}'")
    return matches[0]
