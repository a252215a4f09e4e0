"""DCNN content features (VGG19 fc6, seed 002) beside the style vector: fc6 against a hand computation
in both checkpoint layouts, the combined vector's norm and distances, clustering that follows the
content weight, the index cache with and without content vectors, and the collection commands."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from stylize.cli import main
from stylize.content_vector import check_content_weight, combine_vectors, content_vectors
from stylize.index import CONTENT_SHARD, StyleIndex
from stylize.nst import loading
from stylize.nst.vgg import VGG19Features, fc6_from_state
from stylize.style_vector import image_vectors, style_vectors
from stylize.word_clusters import cluster_word
from workbench.errors import ConfigError

SIZE = 128  # conv5 maps of 8x8: the Gram no longer sees the image's layout, fc6 (over 7x7 cells) does




def _ari(a, b) -> float:
    from sklearn.metrics import adjusted_rand_score

    return adjusted_rand_score(a, b)


def _image(texture: str, corner: str, i: int) -> Image.Image:
    """A texture (stripes or colour noise: the style) with a dark quarter top-left or bottom-right
    (the layout: the content)."""
    rng = np.random.default_rng(200 + i)
    yy, xx = np.indices((SIZE, SIZE))
    if texture == "stripes":
        a = (((xx + 2 * i) // 3) % 2) * 200 + rng.integers(0, 25, (SIZE, SIZE))
        rgb = np.stack([a, a * 0.3, 255 - a], -1).astype(float)
    else:
        rgb = rng.integers(0, 255, (SIZE, SIZE, 3)).astype(float)
    half = SIZE // 2
    if corner == "top-left":
        rgb[:half, :half] = 20
    else:
        rgb[half:, half:] = 20
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


@pytest.fixture()
def collection(tmp_path: Path) -> Path:
    root = tmp_path / "collection"
    (root / "word").mkdir(parents=True)
    for texture in ("stripes", "noise"):
        for corner in ("top-left", "bottom-right"):
            for i in range(3):
                _image(texture, corner, i).save(root / "word" / f"{texture}_{corner}_{i}.png")
    return root


# -- fc6 and the vectors ----------------------------------------------------------------------------
def test_fc6_is_torchvisions_pool_then_linear_in_both_checkpoint_layouts(vgg, tmp_path):
    x = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    pool5 = vgg.extract(x, ["pool5"])["pool5"]
    assert pool5.shape == (2, 16, 2, 3)
    weight, bias = vgg.pre_logits.fc1.weight, vgg.pre_logits.fc1.bias
    linear = weight.reshape(32, 16 * 49)  # torchvision's classifier.0 over the flattened (C, 7, 7) maps
    expected = F.adaptive_avg_pool2d(pool5, (7, 7)).flatten(1) @ linear.T + bias
    assert torch.allclose(vgg.fc6(pool5, after_relu=False), expected, atol=1e-5)
    assert torch.allclose(vgg.fc6(pool5), expected.clamp(min=0), atol=1e-5)
    # torchvision's names and shape map onto timm's 7x7 conv.
    state = {"classifier.0.weight": linear.clone(), "classifier.0.bias": bias.clone()}
    mapped = fc6_from_state(state, 16)
    assert torch.equal(mapped["pre_logits.fc1.weight"], weight) and fc6_from_state({}, 16) == {}
    with pytest.raises(ValueError, match="not \\(D, 16, 7, 7\\)"):
        fc6_from_state({"pre_logits.fc1.weight": torch.zeros(4, 8, 7, 7), "pre_logits.fc1.bias": torch.zeros(4)}, 16)
    from safetensors.torch import save_file

    features = {k: v.contiguous() for k, v in vgg.state_dict().items() if k.startswith("features.")}
    save_file({**features, **state}, str(tmp_path / "torchvision.safetensors"))
    loaded = loading.load_vgg(str(tmp_path / "torchvision.safetensors"), device=torch.device("cpu"), fc6=True)
    assert torch.allclose(loaded.fc6(pool5), vgg.fc6(pool5), atol=1e-6)


def test_a_checkpoint_without_fc6_is_one_line_naming_the_file(vgg, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "features_only.safetensors"
    save_file({k: v.contiguous() for k, v in vgg.state_dict().items() if k.startswith("features.")}, str(path))
    assert loading.load_vgg(str(path), device=torch.device("cpu")).pre_logits is None  # fine without content
    with pytest.raises(ConfigError) as err:
        loading.load_vgg(str(path), device=torch.device("cpu"), fc6=True)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "no fc6 weights" in message
    with pytest.raises(ConfigError, match="without fc6"):
        image_vectors([_image("noise", "top-left", 0)], VGG19Features(label="plain"), content=True)


def test_content_vectors_are_unit_fc6_and_the_combination_splits_distances(vgg):
    images = [_image("stripes", "top-left", 0), _image("noise", "bottom-right", 1), _image("noise", "top-left", 2)]
    style, content = image_vectors(images, vgg, size=SIZE, content=True)
    assert content.shape == (3, 32) and style.shape == (3, 16 * 17 // 2)
    np.testing.assert_allclose(np.linalg.norm(content, axis=1), 1.0, atol=1e-6)
    assert (content >= 0).all()  # after relu6, as Caffe's fc6 blob
    np.testing.assert_allclose(style, style_vectors(images, vgg, size=SIZE), atol=1e-6)  # the same style part
    np.testing.assert_allclose(content, content_vectors(images, vgg, size=SIZE, batch_size=2), atol=1e-6)
    raw = vgg.fc6(vgg.extract(torch.from_numpy(np.stack([np.asarray(im) for im in images]) / 255.0)
                              .permute(0, 3, 1, 2).float(), ["pool5"])["pool5"])
    np.testing.assert_allclose(content, (raw / raw.norm(dim=1, keepdim=True)).numpy(), atol=1e-5)
    for w in (0.0, 0.3, 1.0):
        v = combine_vectors(style, content, w)
        np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
        d = np.sum((v[0] - v[1]) ** 2)
        expected = (1 - w) * np.sum((style[0] - style[1]) ** 2) + w * np.sum((content[0] - content[1]) ** 2)
        assert d == pytest.approx(expected, rel=1e-4)
    assert combine_vectors(style, None, 0.0) is not None and combine_vectors(style, None, 0.0).shape == style.shape
    for bad in (-0.1, 1.5, float("nan"), True, "0.5"):
        with pytest.raises(ConfigError, match="content weight must be a number between 0"):
            check_content_weight(bad)


def test_clusters_follow_style_at_w0_and_content_at_w1(collection, vgg):
    style_only = cluster_word(collection, "word", k=2, model="tiny", size=SIZE, vgg=vgg)
    texture = ["stripes" in p for p in style_only.paths]
    corner = ["top-left" in p for p in style_only.paths]
    assert _ari(style_only.clustering.labels, texture) == 1.0 and _ari(style_only.clustering.labels, corner) < 0.5
    content_only = cluster_word(collection, "word", k=2, model="tiny", size=SIZE, vgg=vgg, content_weight=1.0)
    assert _ari(content_only.clustering.labels, corner) == 1.0 and _ari(content_only.clustering.labels, texture) < 0.5
    assert content_only.vectors.shape == (12, 136 + 32) and content_only.content_weight == 1.0


# -- the index cache --------------------------------------------------------------------------------
def test_content_vectors_are_cached_beside_old_style_entries(collection, vgg):
    loads = []

    def loader():
        loads.append(1)
        return vgg

    style_index = StyleIndex(collection, model="tiny", size=SIZE)
    assert len(style_index.update(loader=loader).computed) == 12  # an index as it was before content features
    with pytest.raises(ConfigError, match="no content features yet"):
        style_index.content_vectors(["word/noise_top-left_0.png"])
    index = StyleIndex(collection, model="tiny", size=SIZE, content=True)
    assert index.dir == style_index.dir  # the same cache: its old entries are extended, never misread
    assert len(index.stale(list(index.entries))) == 12
    report = index.update(loader=loader)
    assert len(report.computed) == 12 and len(loads) == 2
    path = "word/noise_top-left_0.png"
    direct = image_vectors([Image.open(collection / path)], vgg, size=SIZE, content=True)
    np.testing.assert_allclose(index.content_vectors([path])[0], direct[1][0], atol=2e-3)  # float16 on disk
    np.testing.assert_allclose(index.vectors([path])[0], direct[0][0], atol=2e-3)
    # Reused by both kinds of index, with no model load.
    assert StyleIndex(collection, model="tiny", size=SIZE, content=True).update(loader=loader).reused == 12
    assert StyleIndex(collection, model="tiny", size=SIZE).update(loader=loader).reused == 12 and len(loads) == 2
    # A file changed and refreshed by a style-only index loses its stale content vector.
    changed = collection / path
    _image("stripes", "bottom-right", 7).save(changed)
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10_000_000))
    plain = StyleIndex(collection, model="tiny", size=SIZE)
    assert plain.update(loader=loader).computed == [path]
    assert CONTENT_SHARD not in plain.entries[path]
    assert not any(p.name.endswith(".fc6.npy") and p.name.startswith(plain.entries[path]["shard"][:-4])
                   for p in plain.dir.iterdir())
    again = StyleIndex(collection, model="tiny", size=SIZE, content=True)
    assert again.stale([path]) == [path] and again.update(loader=loader).computed == [path]
    fresh = image_vectors([Image.open(changed)], vgg, size=SIZE, content=True)[1][0]
    np.testing.assert_allclose(again.content_vectors([path])[0], fresh, atol=2e-3)


# -- commands ---------------------------------------------------------------------------------------
def test_cli_content_weight_round_trip(collection, tmp_path, capsys, monkeypatch):
    base = ["--model", "tiny", "--size", str(SIZE), "--quiet"]
    assert main(["index", str(collection), "--content-features", *base]) == 0
    assert "12 computed" in capsys.readouterr().out
    out = tmp_path / "clusters"
    real_load = loading.load_vgg
    monkeypatch.setattr(loading, "load_vgg", lambda *a, **k: pytest.fail("the index should have been reused"))
    assert main(["clusters", str(collection), "word", "--k", "2", "--content-weight", "1", "--out", str(out), *base]) == 0
    assert "cluster 1:" in capsys.readouterr().out
    summary = json.loads((out / "clusters.json").read_text(encoding="utf-8"))
    assert summary["content_weight"] == 1.0
    groups = [sorted("top-left" in m for m in c["members"]) for c in summary["clusters"]]
    assert all(len(set(g)) == 1 for g in groups)  # each cluster is one layout
    monkeypatch.setattr(loading, "load_vgg", real_load)
    query = collection / "word" / "stripes_top-left_1.png"
    assert main(["retrieve", str(query), str(collection), "--content-weight", "0.5", "--top", "2", *base]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith("word/stripes_top-left_1.png") and float(first.split()[0]) == pytest.approx(1.0, abs=2e-3)
    assert main(["clusters", str(collection), "word", "--content-weight", "1.5", *base]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "content weight must be a number between 0" in err
