"""The questionnaire's commands: ``study make`` (build a study folder), ``study export`` (votes.csv and
tally.csv) and ``study show`` (questions and the current tally)."""

from __future__ import annotations

import argparse
from pathlib import Path

from stylize.cli import command


def _study_arguments(p: argparse.ArgumentParser) -> None:
    from stylize.nst.cli import add_nst_options

    sub = p.add_subparsers(dest="study_command", required=True, metavar="ACTION")
    make = sub.add_parser("make", help="cluster a word and stylise content images with each cluster's style image",
                          description="Cluster WORD of COLLECTION, stylise each CONTENT with each cluster's style "
                          "image and write a questionnaire folder.")
    make.add_argument("collection", help="COLLECTION_DIR with a folder of images per word")
    make.add_argument("word", help="the word (its folder name)")
    make.add_argument("contents", nargs="+", metavar="CONTENT", help="content image(s): one question each")
    make.add_argument("--out", required=True, help="the study folder to create")
    make.add_argument("--k", type=int, default=3, help="number of clusters (default 3, as in the seed)")
    make.add_argument("--cluster-content-weight", type=float, default=0.0, metavar="W",
                      help="share of VGG19 fc6 content features in the clustering, 0-1 (default 0: style only; clusters calls it --content-weight, which here is NST's α)")
    make.add_argument("--cache-dir", default=None, help="where the style-vector index lives (default COLLECTION/.stylize_cache)")
    make.add_argument("--quiet", action="store_true", help="no progress lines")
    add_nst_options(make)
    make.set_defaults(study_handler=_make)
    export = sub.add_parser("export", help="write votes.csv and tally.csv of a study")
    export.add_argument("study", help="STUDY_DIR")
    export.add_argument("--out", required=True, help="folder for votes.csv and tally.csv")
    export.set_defaults(study_handler=_export)
    show = sub.add_parser("show", help="list a study's questions and its current tally")
    show.add_argument("study", help="STUDY_DIR")
    show.set_defaults(study_handler=_show)


@command("study", "The seed's user study: make a questionnaire, export or show its votes", _study_arguments)
def study_command(args: argparse.Namespace) -> int:
    return args.study_handler(args)


def _make(args: argparse.Namespace) -> int:
    from stylize.nst.cli import config_from_args
    from stylize.study import make_study

    def progress(done: int, total: int, text: str) -> None:
        if not args.quiet:
            print(f"[{done}/{total}] {text}", flush=True)

    study = make_study(args.collection, args.word, args.contents, args.out, k=args.k, config=config_from_args(args), content_weight=args.cluster_content_weight,
                       seed=args.seed, cache_dir=args.cache_dir, progress=progress)
    options = sum(len(q.options) for q in study.questions)
    print(f"wrote study {study.folder}: word '{study.word}', {len(study.questions)} question(s), "
          f"{options} result image(s)")
    return 0


def _export(args: argparse.Namespace) -> int:
    from stylize.study import load_study
    from stylize.study_export import export_results
    from stylize.study_votes import VoteStore

    study = load_study(args.study)
    store = VoteStore(study)
    written = export_results(study, Path(args.out), store)
    people = {p for p, _ in store.current()}
    print(f"{len(store.current())} current vote(s) by {len(people)} participant(s): wrote "
          + ", ".join(str(p) for p in written))
    return 0


def _show(args: argparse.Namespace) -> int:
    from stylize.study import load_study
    from stylize.study_export import ALL, tally_rows
    from stylize.study_votes import VoteStore

    study = load_study(args.study)
    print(f"study {study.folder}: word '{study.word}', {len(study.questions)} question(s)")
    for q in study.questions:
        print(f"  {q.id}: {q.content_name}, clusters {q.clusters}")
    for row in tally_rows(study, VoteStore(study).current()):
        if row["question"] == ALL:
            print(f"cluster {row['cluster']}: {row['votes']} vote(s), share {row['share'] or '-'}")
    return 0
