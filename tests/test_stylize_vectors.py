"""Neural Style Vector (hand-computed cases, dimension, norm, signs), the index cache, clustering of
known groups, and the collection commands on the tiny VGG."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylize.cli import main
from stylize.clusters import check_k, cluster_vectors, nearest
from stylize.index import StyleIndex
from stylize.nst import loading
from stylize.nst.vgg import VGG19Features
from stylize.style_vector import style_vectors, style_vectors_from_features, vector_length
from stylize.word_clusters import cluster_word, save_outputs
from workbench.errors import ConfigError




def _ari(a, b) -> float:
    from sklearn.metrics import adjusted_rand_score

    return adjusted_rand_score(a, b)


# -- the vector -------------------------------------------------------------------------------------
def test_style_vector_of_a_hand_computed_case():
    # Two maps of 1x2: F = [[1, -2], [3, 0]] -> G = F Fᵀ / 2 = [[2.5, 1.5], [1.5, 4.5]]
    feats = torch.tensor([[[[1.0, -2.0]], [[3.0, 0.0]]]])
    v = style_vectors_from_features(feats)[0].numpy()
    raw = np.array([2.5, 1.5, 4.5])  # [G11, G21, G22]
    expected = np.sqrt(raw) / np.linalg.norm(np.sqrt(raw))
    np.testing.assert_allclose(v, expected, rtol=1e-6)
    # Negative entries keep their sign: F = [[1, 1], [-1, -1]] -> G = [[1, -1], [-1, 1]]
    v = style_vectors_from_features(torch.tensor([[[[1.0, 1.0]], [[-1.0, -1.0]]]]))[0].numpy()
    np.testing.assert_allclose(v, np.array([1.0, -1.0, 1.0]) / np.sqrt(3), rtol=1e-6)


def test_style_vector_matches_a_loop_and_ignores_the_hw_normalisation():
    feats = torch.randn(2, 5, 3, 4, generator=torch.Generator().manual_seed(0))
    v = style_vectors_from_features(feats).numpy()
    for b in range(2):
        f = feats[b].reshape(5, 12).double().numpy()
        g = f @ f.T  # the seed's unnormalised Gram
        seq = [g[i, j] for i in range(5) for j in range(i + 1)]  # G11, G21, G22, G31, ...
        s = np.sign(seq) * np.sqrt(np.abs(seq))
        np.testing.assert_allclose(v[b], s / np.linalg.norm(s), rtol=1e-5, atol=1e-7)
    assert v.shape == (2, vector_length(5)) == (2, 15)
    assert (v < 0).any()  # raw features: signed entries
    assert np.allclose(style_vectors_from_features(torch.zeros(1, 3, 2, 2)).numpy(), 0)  # no NaN


def test_conv5_1_vector_of_vgg19_has_131328_unit_norm_non_negative_values():
    torch.manual_seed(0)
    model = VGG19Features().eval().requires_grad_(False)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8))
    v = style_vectors([image], model, size=32)
    assert v.shape == (1, 131_328) == (1, 512 * 513 // 2)
    assert np.linalg.norm(v[0]) == pytest.approx(1.0, abs=1e-5)
    assert (v >= 0).all()  # after the ReLU every Gram entry is ≥ 0
    signed = style_vectors([image], model, size=32, after_relu=False)
    assert (signed < 0).any() and np.linalg.norm(signed[0]) == pytest.approx(1.0, abs=1e-5)


def test_batched_vectors_equal_one_at_a_time(vgg):
    rng = np.random.default_rng(1)
    images = [Image.fromarray(rng.integers(0, 255, (64, 80 + 8 * i, 3), dtype=np.uint8)) for i in range(5)]
    batched = style_vectors(images, vgg, size=64, batch_size=2)
    single = np.concatenate([style_vectors([im], vgg, size=64) for im in images])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert batched.shape == (5, vector_length(16))


def test_bad_layer_is_refused(vgg):
    with pytest.raises(ConfigError, match="does not exist"):
        style_vectors([], vgg, layer="fc6")


# -- clustering -------------------------------------------------------------------------------------
def _blobs(seed=0, sizes=(7, 5, 6), dim=40):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), dim)) * 3
    x = np.concatenate([c + rng.normal(scale=0.3, size=(n, dim)) for c, n in zip(centres, sizes)])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    truth = np.repeat(np.arange(len(sizes)), sizes)
    return x, truth


def test_kmeans_recovers_known_groups_and_picks_the_nearest_member():
    x, truth = _blobs()
    c = cluster_vectors(x, 3)
    assert _ari(c.labels, truth) == 1.0
    assert [len(c.members(i)) for i in range(3)] == [7, 6, 5]  # numbered by size
    for i in range(3):
        members = np.flatnonzero(c.labels == i)
        centroid = x[members].mean(0)  # independent centroid
        d = np.linalg.norm(x[members] - centroid, axis=1)
        assert c.representatives[i] == members[np.argmin(d)]
    auto = cluster_vectors(x, "auto")
    assert auto.k == 3 and max(auto.k_scores, key=auto.k_scores.get) == 3
    assert nearest(x[0], x, 2)[0] == (0, pytest.approx(1.0))


def test_impossible_k_is_one_line():
    with pytest.raises(ConfigError, match="fewer than the 3 clusters"):
        check_k(3, 2)
    with pytest.raises(ConfigError, match="empty"):
        check_k(3, 0)
    with pytest.raises(ConfigError, match="whole number"):
        check_k(0, 5)


# -- collections, index cache -----------------------------------------------------------------------
def _texture(kind: str, i: int, size: int = 72) -> Image.Image:
    rng = np.random.default_rng(100 + i)
    yy, xx = np.indices((size, size))
    if kind == "stripes":
        period = 6 + i % 3
        a = (((xx + 2 * i) // (period // 2)) % 2) * 200 + rng.integers(0, 25, (size, size))
        rgb = np.stack([a, a * 0.3, 255 - a], -1)
    else:  # fine colour noise
        rgb = rng.integers(0, 255, (size, size, 3))
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


@pytest.fixture()
def collection(tmp_path: Path) -> Path:
    root = tmp_path / "collection"
    for word, kind in (("ふさふさ", None), ("ざらざら", "noise")):
        (root / word).mkdir(parents=True)
    for i in range(5):
        _texture("stripes", i).save(root / "ふさふさ" / f"stripes_{i}.png")
        _texture("noise", i).save(root / "ふさふさ" / f"noise_{i}.jpg", quality=95)
    for i in range(2):
        _texture("noise", 10 + i).save(root / "ざらざら" / f"n{i}.png")
    return root


def test_index_is_reused_and_refreshed_for_changed_files(collection, vgg):
    loads = []

    def loader():
        loads.append(1)
        return vgg

    index = StyleIndex(collection, model="tiny", size=64)
    first = index.update(loader=loader)
    assert len(first.computed) == 12 and first.reused == 0 and len(loads) == 1
    before = index.vectors(["ふさふさ/stripes_0.png"])
    again = StyleIndex(collection, model="tiny", size=64).update(loader=loader)
    assert again.computed == [] and again.reused == 12 and len(loads) == 1  # no model load at all
    # Change one file (new content and a new mtime), add one, remove one.
    changed = collection / "ふさふさ" / "stripes_0.png"
    _texture("noise", 42).save(changed)
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10_000_000))
    _texture("stripes", 9).save(collection / "ざらざら" / "new.png")
    (collection / "ざらざら" / "n0.png").unlink()
    index = StyleIndex(collection, model="tiny", size=64)
    third = index.update(loader=loader)
    assert sorted(third.computed) == ["ざらざら/new.png", "ふさふさ/stripes_0.png"]
    assert third.reused == 10 and third.removed == 1 and len(loads) == 2
    after = index.vectors(["ふさふさ/stripes_0.png"])
    assert not np.allclose(before, after)
    direct = style_vectors([Image.open(changed)], vgg, size=64)
    np.testing.assert_allclose(after, direct, atol=2e-3)  # float16 on disk
    # A different setting is a different index.
    assert StyleIndex(collection, model="tiny", size=96).stale(["ふさふさ/noise_0.jpg"]) == ["ふさふさ/noise_0.jpg"]


def test_unreadable_images_are_skipped(collection, vgg):
    (collection / "ふさふさ" / "broken.jpg").write_bytes(b"\xff\xd8\xff broken")
    report = StyleIndex(collection, model="tiny", size=64).update(vgg=vgg)
    assert list(report.failed) == ["ふさふさ/broken.jpg"] and len(report.computed) == 12


def test_word_clusters_recover_two_textures_and_write_outputs(collection, vgg, tmp_path):
    result = cluster_word(collection, "ふさふさ", k=2, model="tiny", size=64, vgg=vgg)
    truth = [0 if "stripes" in p else 1 for p in result.paths]
    assert _ari(result.clustering.labels, truth) == 1.0
    reps = [result.paths[r] for r in result.clustering.representatives]
    assert sorted("stripes" in r for r in reps) == [False, True]
    files = save_outputs(result, tmp_path / "out")
    names = sorted(f.name for f in files)
    assert names == ["assignments.csv", "cluster_0.png", "cluster_1.png", "clusters.json", "map.png"]
    rows = (tmp_path / "out" / "assignments.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 11 and rows[0].startswith("path,cluster")
    assert Image.open(tmp_path / "out" / "map.png").size == (512, 512)


def test_fewer_images_than_clusters_fails_before_any_model_load(collection, monkeypatch):
    monkeypatch.setattr(loading, "load_vgg", lambda *a, **k: pytest.fail("model loaded before the checks"))
    with pytest.raises(ConfigError, match="word 'ざらざら' has 2 image"):
        cluster_word(collection, "ざらざら", k=3, model="tiny")
    with pytest.raises(ConfigError, match="no folder for the word"):
        cluster_word(collection, "もふもふ", k=3, model="tiny")


# -- commands ---------------------------------------------------------------------------------------
def test_cli_index_clusters_retrieve_round_trip(collection, tmp_path, capsys):
    assert main(["index", str(collection), "--model", "tiny", "--size", "64", "--quiet"]) == 0
    assert "12 computed" in capsys.readouterr().out
    assert main(["index", str(collection), "--model", "tiny", "--size", "64", "--quiet"]) == 0
    assert "0 computed, 12 reused" in capsys.readouterr().out
    out = tmp_path / "clusters"
    assert main(["cluster", str(collection), "--word", "ふさふさ", "--k", "2", "--model", "tiny", "--size", "64",
                 "--out", str(out), "--quiet"]) == 0
    assert (out / "cluster_1.png").is_file() and "style image" in capsys.readouterr().out
    query = collection / "ふさふさ" / "stripes_3.png"
    assert main(["retrieve", str(query), str(collection), "--model", "tiny", "--size", "64", "--top", "3", "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("ふさふさ/stripes_3.png") and float(lines[0].split()[0]) == pytest.approx(1.0, abs=1e-3)


def test_cli_errors_are_one_line_with_status_2(collection, tmp_path, capsys):
    assert main(["clusters", str(collection), "ざらざら", "--k", "3", "--model", "tiny"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "fewer than the 3 clusters" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["index", str(empty), "--model", "tiny"]) == 2
    assert "empty" in capsys.readouterr().err
    assert main(["index", str(collection), "--model", "tiny", "--layer", "conv6_1"]) == 2
    assert "does not exist in VGG19" in capsys.readouterr().err
