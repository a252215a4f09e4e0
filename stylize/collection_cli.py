"""Commands of the texture-word collections: ``index``, ``clusters`` (alias ``cluster``), ``retrieve``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stylize.cli import command
from stylize.clusters import DEFAULT_K
from stylize.style_vector import DEFAULT_LAYER, DEFAULT_SIZE
from workbench.errors import ConfigError


def _vector_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="vgg19", help="VGG19 weights (vgg19, tiny, a file or a hub id)")
    p.add_argument("--layer", default=DEFAULT_LAYER, help=f"Gram layer of the style vector (default {DEFAULT_LAYER})")
    p.add_argument("--size", type=int, default=DEFAULT_SIZE, help=f"images are centre-cropped to this square (default {DEFAULT_SIZE})")
    p.add_argument("--before-relu", action="store_true", help="raw conv output instead of the rectified one")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--cache-dir", default=None, help="where the index lives (default COLLECTION/.stylize_cache)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))


def _index(args: argparse.Namespace):
    from stylize.index import StyleIndex

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {args.batch_size}")
    content = bool(getattr(args, "content_features", False)) or _content_weight(args) > 0
    return StyleIndex(args.collection, model=args.model, layer=args.layer, size=args.size,
                      after_relu=not args.before_relu, cache_dir=args.cache_dir, content=content)


def _content_weight_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--content-weight", type=float, default=0.0, metavar="W",
                   help="share of DCNN content features (VGG19 fc6) in the vectors, 0..1: "
                        "[√(1−W)·style, √W·content] (default 0: style vectors only)")


def _content_weight(args: argparse.Namespace) -> float:
    from stylize.content_vector import check_content_weight

    return check_content_weight(getattr(args, "content_weight", 0.0))


def _index_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("collection", help="COLLECTION_DIR with a folder of images per word")
    p.add_argument("--content-features", action="store_true",
                   help="also compute the DCNN content vectors (VGG19 fc6) that --content-weight uses")
    p.add_argument("--quiet", action="store_true")
    _vector_options(p)


@command("index", "Compute the style vectors of a collection (only new or changed images)", _index_arguments)
def index_command(args: argparse.Namespace) -> int:
    from stylize.collection import list_images

    index = _index(args)
    paths = list_images(index.root)
    if not paths:
        raise ConfigError(f"collection {index.root} is empty: put images in a folder per word (WORD/*.jpg)")
    report = index.update(paths, progress=not args.quiet, device=args.device, batch_size=args.batch_size)
    for path, reason in report.failed.items():
        print(f"skipped {path}: {reason}")
    print(f"{len(paths)} images: {report.summary()} ({index.dir})")
    return 0


def _clusters_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("collection", help="COLLECTION_DIR with a folder of images per word")
    p.add_argument("word_pos", nargs="?", metavar="WORD", help="the word (its folder name)")
    p.add_argument("--word", default=None, help="the word (same as the positional WORD)")
    p.add_argument("--k", default=str(DEFAULT_K), help=f"number of clusters or 'auto' (silhouette) (default {DEFAULT_K})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="output folder (default clusters_WORD)")
    p.add_argument("--stylize", default=None, metavar="CONTENT", help="also transfer each cluster's style image onto this image")
    p.add_argument("--iterations", type=int, default=300, help="NST iterations for --stylize")
    p.add_argument("--max-side", type=int, default=512, help="NST size cap for --stylize")
    p.add_argument("--quiet", action="store_true")
    _content_weight_option(p)
    _vector_options(p)


def _parse_k(text: str) -> int | str:
    if text == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"--k must be a whole number or 'auto', got '{text}'") from None


@command("clusters", "Cluster a word's images by style vector and pick a style image per cluster",
         _clusters_arguments, aliases=("cluster",))
def clusters_command(args: argparse.Namespace) -> int:
    from stylize.word_clusters import cluster_word, save_outputs

    if args.word and args.word_pos and args.word != args.word_pos:
        raise ConfigError(f"two different words given: '{args.word_pos}' and --word '{args.word}'")
    word = args.word or args.word_pos
    k = _parse_k(args.k)
    content_weight = _content_weight(args)
    out = Path(args.out or f"clusters_{word or Path(args.collection).name}")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder")
    nst_config = None
    if args.stylize:
        from stylize.nst.config import NSTConfig
        from stylize.nst.run import load_image

        nst_config = NSTConfig(model=args.model, iterations=args.iterations, max_side=args.max_side,
                               device=args.device, seed=args.seed).check(num_styles=1)
        load_image(args.stylize, max_pixels=nst_config.max_pixels, what="content image")  # fail before indexing
    result = cluster_word(args.collection, word, k=k, model=args.model, layer=args.layer, size=args.size,
                          after_relu=not args.before_relu, seed=args.seed, device=args.device,
                          progress=not args.quiet, batch_size=args.batch_size, cache_dir=args.cache_dir,
                          content_weight=content_weight)
    written = save_outputs(result, out)
    c = result.clustering
    for i in range(c.k):
        print(f"cluster {i}: {len(c.members(i))} image(s), style image {result.paths[c.representatives[i]]}")
    if nst_config is not None:
        from stylize.nst.cli import run_transfer

        for i in range(c.k):
            target = out / f"cluster_{i}_stylized.png"
            run_transfer(args.stylize, [result.style_image(i)], nst_config, out=target, progress=not args.quiet)
            written.append(target)
    print(f"wrote {len(written)} file(s) to {out}")
    return 0


def _retrieve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", help="query image")
    p.add_argument("collection", help="COLLECTION_DIR")
    p.add_argument("--word", default=None, help="search one word's folder only")
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    _content_weight_option(p)
    _vector_options(p)


@command("retrieve", "The collection images nearest a query image in style (cosine of style vectors, "
                     "optionally combined with fc6 content vectors)", _retrieve_arguments)
def retrieve_command(args: argparse.Namespace) -> int:
    from stylize.clusters import nearest
    from stylize.collection import list_images
    from stylize.nst.loading import load_vgg, pick_device
    from stylize.content_vector import combine_vectors, combined_vector
    from workbench.images import load_photo

    if args.top < 1:
        raise ConfigError(f"--top must be at least 1, got {args.top}")
    weight = _content_weight(args)
    query = load_photo(args.query)
    index = _index(args)
    paths = list_images(index.root, args.word)
    if not paths:
        raise ConfigError(f"collection {index.root} is empty: put images in a folder per word (WORD/*.jpg)")
    vgg = load_vgg(args.model, device=pick_device(args.device), fc6=weight > 0)
    report = index.update(paths, vgg=vgg, progress=not args.quiet,
                          batch_size=args.batch_size)
    paths = [p for p in paths if p not in report.failed]
    vectors = combine_vectors(index.vectors(paths), index.content_vectors(paths) if weight > 0 else None, weight)
    q = combined_vector(query, vgg, weight, layer=args.layer, size=args.size, after_relu=not args.before_relu)
    hits = [{"path": paths[i], "similarity": s} for i, s in nearest(q, vectors, args.top)]
    if args.json:
        print(json.dumps(hits, ensure_ascii=False, indent=2))
    else:
        for hit in hits:
            print(f"{hit['similarity']:.4f}  {hit['path']}")
    return 0
