"""Gatys neural style transfer: formulas against independent computations, the VGG19 layout and
loading, config checks before loading, and the run contract on the tiny VGG."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stylize.nst import loading
from stylize.nst.colour import rgb_to_yiq
from stylize.nst.config import NSTConfig
from stylize.nst.layers import LAYER_NAMES, LAYERS
from stylize.nst.losses import blended_gram, content_loss, gram_matrix, style_layer_loss, style_loss, tv_loss
from stylize.nst.run import NSTRun
from stylize.nst.vgg import VGG19Features, tiny_vgg
from workbench.errors import ConfigError, ImageInputError, ModelNotAvailableError
from workbench.records import RunStart, StepRecord




def _images(seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.indices((48, 64))
    content = np.stack([xx * 4, yy * 5, (xx + yy) * 2], -1).clip(0, 255).astype(np.uint8)
    stripes = (((xx // 4) % 2) * 220 + rng.integers(0, 30, xx.shape)).astype(np.uint8)
    style = np.stack([stripes, 255 - stripes, stripes // 2], -1)
    return content, style[:48, :48]


def _records(run):
    return [r for r in run if isinstance(r, StepRecord)]


# -- formulas -------------------------------------------------------------------------------------
def test_gram_matrix_matches_a_loop():
    feats = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(1))
    f = feats.numpy().astype(np.float64)
    expected = np.zeros((2, 3, 3))
    for b in range(2):
        for i in range(3):
            for j in range(3):
                expected[b, i, j] = sum(f[b, i, y, x] * f[b, j, y, x] for y in range(4) for x in range(5)) / (3 * 4 * 5)
    np.testing.assert_allclose(gram_matrix(feats).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_content_style_and_tv_losses_match_numpy():
    gen = torch.Generator().manual_seed(2)
    a, b = torch.randn(1, 4, 3, 3, generator=gen), torch.randn(1, 4, 3, 3, generator=gen)
    an, bn = a.numpy().astype(np.float64), b.numpy().astype(np.float64)
    assert content_loss(a, b).item() == pytest.approx(((an - bn) ** 2).sum() / an.size, rel=1e-5)
    fa = an[0].reshape(4, 9)
    fb = bn[0].reshape(4, 9)
    ga, gb = fa @ fa.T / 36, fb @ fb.T / 36
    assert style_layer_loss(a, torch.tensor(gb, dtype=torch.float32)[None]).item() == pytest.approx(((ga - gb) ** 2).mean(), rel=1e-4)
    total = style_loss({"x": a, "y": b}, {"x": gram_matrix(b), "y": gram_matrix(a)}, {"x": 2.0, "y": 0.5})
    assert total.item() == pytest.approx(2.5 * ((ga - gb) ** 2).mean(), rel=1e-4)
    image = torch.rand(1, 3, 5, 6, generator=gen)
    x = image.numpy().astype(np.float64)[0]
    dy = [(x[c, i + 1, j] - x[c, i, j]) ** 2 for c in range(3) for i in range(4) for j in range(6)]
    dx = [(x[c, i, j + 1] - x[c, i, j]) ** 2 for c in range(3) for i in range(5) for j in range(5)]
    assert tv_loss(image).item() == pytest.approx(np.mean(dy) + np.mean(dx), rel=1e-5)
    g1, g2 = torch.ones(1, 2, 2), torch.zeros(1, 2, 2)
    assert torch.allclose(blended_gram([g1, g2], [3.0, 1.0]), torch.full((1, 2, 2), 0.75))


def test_total_loss_is_the_weighted_sum_of_its_terms(vgg):
    content, style = _images()
    cfg = NSTConfig(model="tiny", iterations=1, max_side=48, content_weight=2.0, style_weight=1e3, tv_weight=5.0)
    run = NSTRun(content, [style], cfg, vgg=vgg)
    size, side = run.scale_sizes[0], run.sides[0]
    content_t, feats, grams = run._targets(size, side)
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0))
    _, values = run._losses(x, feats, grams)
    got = vgg.extract(x, ["conv4_2", *cfg.style_layers])
    lc = torch.mean((got["conv4_2"] - feats["conv4_2"]) ** 2).item()
    ls = sum(torch.mean((gram_matrix(got[k]) - grams[k]) ** 2).item() for k in cfg.style_layers)
    assert values.content == pytest.approx(2.0 * lc, rel=1e-4)
    assert values.style == pytest.approx(1e3 * ls, rel=1e-4)
    assert values.tv == pytest.approx(5.0 * tv_loss(x).item(), rel=1e-4)
    assert values.total == pytest.approx(values.content + values.style + values.tv, rel=1e-5)


# -- the network ----------------------------------------------------------------------------------
def test_vgg19_parameter_names_match_torchvision_layout():
    model = VGG19Features()
    convs = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]  # torchvision vgg19().features
    channels = [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512]
    expected = {}
    cin = 3
    for i, c in zip(convs, channels):
        expected[f"features.{i}.weight"] = (c, cin, 3, 3)
        expected[f"features.{i}.bias"] = (c,)
        cin = c
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == expected
    assert len(model.features) == 37
    assert LAYERS["conv4_2"] == (21, 22) and LAYERS["conv5_1"] == (28, 29) and LAYERS["pool5"] == (36, -1)
    assert model.channels("conv5_1") == 512 and len(LAYER_NAMES) == 21


def test_extract_takes_layers_before_or_after_relu(vgg):
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    normed = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    conv = vgg.features[0]
    raw = F.conv2d(normed, conv.weight, conv.bias, padding=1)
    pre = vgg.extract(x, ["conv1_1"], after_relu=False)["conv1_1"]
    post = vgg.extract(x, ["conv1_1"])["conv1_1"]
    assert torch.allclose(pre, raw, atol=1e-5) and torch.allclose(post, raw.clamp(min=0), atol=1e-5)
    h = normed
    for module in vgg.features[:30]:
        h = module(h)
    assert torch.allclose(vgg.extract(x, ["conv5_1"])["conv5_1"], h, atol=1e-5)
    avg = vgg.extract(x, ["conv2_1"], pooling="avg")["conv2_1"]
    assert avg.shape == (1, vgg.channels("conv2_1"), 16, 16) and not torch.allclose(avg, vgg.extract(x, ["conv2_1"])["conv2_1"])


def test_tiny_weights_load_through_the_safetensors_path():
    loading.load_vgg.cache_clear()
    model = loading.load_vgg("tiny", device=torch.device("cpu"))
    assert model is loading.load_vgg("tiny", device=torch.device("cpu"))  # loaded once per process
    reference = tiny_vgg(seed=0).state_dict()
    assert set(model.state_dict()) == {k for k in reference if k.startswith("features.")}  # no fc6 unless asked
    for key, value in model.state_dict().items():
        assert torch.equal(value, reference[key])
    assert not any(p.requires_grad for p in model.parameters())
    with_fc6 = loading.load_vgg("tiny", device=torch.device("cpu"), fc6=True)
    assert set(with_fc6.state_dict()) == set(reference) and with_fc6.pre_logits.fc1.weight.shape == (32, 16, 7, 7)
    for key, value in with_fc6.state_dict().items():
        assert torch.equal(value, reference[key])


def test_local_safetensors_file_with_extra_tensors_loads(tmp_path):
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in tiny_vgg(seed=5).state_dict().items()}
    state["head.fc.weight"] = torch.zeros(3, 2)  # a full checkpoint's classifier is ignored
    path = tmp_path / "model.safetensors"
    save_file(state, str(path))
    model = loading.load_vgg(str(tmp_path), device=torch.device("cpu"))
    assert torch.equal(model.features[0].weight, state["features.0.weight"])


def test_missing_weights_offline_is_one_line(empty_hf_cache, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelNotAvailableError) as err:
        loading.load_vgg("nobody-here/no-such-vgg19", device=torch.device("cpu"))
    text = str(err.value)
    assert "\n" not in text and "python -m stylize download" in text and "--model tiny" in text


def test_broken_weight_file_is_a_model_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(ModelNotAvailableError, match="could not be loaded"):
        loading.load_vgg(str(bad), device=torch.device("cpu"))


# -- options are refused before any model loads -----------------------------------------------------
@pytest.mark.parametrize("changes, message", [
    ({"content_layers": ("conv4_5",)}, "does not exist in VGG19"),
    ({"style_layers": ("conv1_1", "relu9")}, "does not exist in VGG19"),
    ({"style_weight": -1.0}, "style_weight must be between"),
    ({"iterations": 0}, "iterations must be between"),
    ({"optimizer": "sgd"}, "optimizer 'sgd'"),
    ({"init": "zeros"}, "init 'zeros'"),
    ({"style_blend": (1.0, 2.0)}, "style_blend has 2 values for 1 style images"),
    ({"style_layer_weights": (1.0,)}, "style_layer_weights has 1 values for 5 style layers"),
    ({"max_side": 100_000}, "max_side must be between"),
    ({"lr": float("nan")}, "lr must be a finite number"),
    ({"model": "no such model"}, "is not one of"),
    ({"num_scales": 3, "iterations": 2}, "at least num_scales"),
])
def test_bad_options_are_refused_before_loading(changes, message, monkeypatch):
    monkeypatch.setattr(loading, "load_vgg", lambda *a, **k: pytest.fail("model loaded before the checks"))
    content, style = _images()
    with pytest.raises(ConfigError, match=message) as err:
        NSTRun(content, [style], NSTConfig(**{"model": "tiny", **changes}))
    assert "\n" not in str(err.value)


def test_bad_images_are_refused_before_loading(tmp_path, monkeypatch):
    monkeypatch.setattr(loading, "load_vgg", lambda *a, **k: pytest.fail("model loaded before the checks"))
    content, style = _images()
    junk = tmp_path / "junk.png"
    junk.write_text("hello")
    with pytest.raises(ImageInputError):
        NSTRun(str(junk), [style], NSTConfig(model="tiny"))
    with pytest.raises(ImageInputError, match="short side"):
        NSTRun(np.zeros((8, 200, 3), np.uint8), [style], NSTConfig(model="tiny"))
    with pytest.raises(ImageInputError, match="too narrow"):
        NSTRun(content, [np.zeros((4, 300, 3), np.uint8)], NSTConfig(model="tiny"))
    with pytest.raises(ImageInputError):
        NSTRun(content, [style], NSTConfig(model="tiny", max_pixels=100))


# -- runs -----------------------------------------------------------------------------------------
def test_run_contract_and_loss_goes_down(vgg):
    content, style = _images()
    run = NSTRun(content, [style], NSTConfig(model="tiny", iterations=12, max_side=48), vgg=vgg)
    items = list(run)
    start, steps = items[0], items[1:]
    assert isinstance(start, RunStart) and start.kind == "nst" and start.palette is None
    assert start.total == 12 and start.frame_size == (36, 48) and start.input_image.shape == (36, 48, 3)
    names = [c.name for c in start.curves]
    assert names == ["loss", "content", "style", "norm", "rate"]  # tv weight 0: no tv curve
    assert all(c.log for c in start.curves if c.name in ("loss", "content", "style"))
    assert [r.step for r in steps] == list(range(13))
    assert all(r.frame.shape == (36, 48, 3) and r.frame.dtype == np.uint8 for r in steps)
    assert steps[0].metrics["norm"] == 0.0 and np.isnan(steps[0].metrics["rate"])  # starts at the content
    assert steps[-1].metrics["loss"] < 0.5 * steps[0].metrics["loss"]
    assert steps[-1].metrics["norm"] > 0
    pickle.loads(pickle.dumps(items))  # records cross process boundaries (ZeroGPU)


def test_runs_are_deterministic_and_seeded(vgg):
    content, style = _images()
    cfg = NSTConfig(model="tiny", iterations=4, max_side=48, init="noise", seed=3)
    a, b = _records(NSTRun(content, [style], cfg, vgg=vgg)), _records(NSTRun(content, [style], cfg, vgg=vgg))
    assert all(np.array_equal(x.frame, y.frame) and x.metrics == y.metrics for x, y in zip(a, b))
    other = _records(NSTRun(content, [style], NSTConfig(model="tiny", iterations=1, max_side=48, init="noise", seed=4), vgg=vgg))
    assert not np.array_equal(a[0].frame, other[0].frame)
    assert a[0].metrics["norm"] > 0 and a[0].metrics["rate"] == 0.0  # d_0 > 0: rate relative to d_0


def test_one_lbfgs_call_per_step_equals_one_call_of_all_iterations(vgg):
    content, style = _images()
    n = 6
    run = NSTRun(content, [style], NSTConfig(model="tiny", iterations=n, max_side=48), vgg=vgg)
    last = _records(run)[-1]
    _, feats, grams = run._targets(run.scale_sizes[0], run.sides[0])
    x = torch.from_numpy(run.content_array.astype(np.float32) / 255).permute(2, 0, 1)[None].contiguous().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=n, history_size=100, tolerance_change=0.0, tolerance_grad=0.0)

    def closure():
        opt.zero_grad()
        loss, _ = run._losses(x, feats, grams)
        loss.backward()
        return loss

    opt.step(closure)
    reference = np.rint(x.detach().clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255)
    assert np.abs(last.frame.astype(int) - reference).max() <= 1


def test_closing_the_run_stops_it_and_a_loop_keeps_the_steps(vgg):
    from workbench.loop import RunLoop

    content, style = _images()
    run = NSTRun(content, [style], NSTConfig(model="tiny", iterations=50, max_side=48), vgg=vgg)
    gen = iter(run)
    next(gen), next(gen), next(gen)
    gen.close()  # no error, nothing more
    with pytest.raises(StopIteration):
        next(gen)
    seen = []
    loop = RunLoop(run, should_stop=lambda: len(seen) >= 4)
    for item in loop:
        if isinstance(item, StepRecord):
            seen.append(item.step)
    result = loop.result
    assert result.stopped and len(result.trajectory) == 4 and seen == [0, 1, 2, 3]
    assert result.trajectory.rgb(3).shape == (36, 48, 3)


def test_record_every_keeps_some_frames_and_every_metric(vgg):
    content, style = _images()
    records = _records(NSTRun(content, [style], NSTConfig(model="tiny", iterations=7, max_side=48, record_every=3), vgg=vgg))
    assert [r.step for r in records if r.frame is not None] == [0, 3, 6, 7]
    assert all(np.isfinite(r.metrics["loss"]) for r in records)


def test_original_colors_keep_the_content_chroma(vgg):
    content, style = _images()
    cfg = NSTConfig(model="tiny", iterations=5, max_side=48, original_colors=True, init="style")
    frame = _records(NSTRun(content, [style], cfg, vgg=vgg))[-1].frame
    from PIL import Image

    small = np.asarray(Image.fromarray(content).resize((48, 36), Image.Resampling.LANCZOS))
    iq_out, iq_content = rgb_to_yiq(frame / 255.0)[..., 1:], rgb_to_yiq(small / 255.0)[..., 1:]
    unclipped = ((frame > 0) & (frame < 255)).all(-1)
    assert unclipped.mean() > 0.5
    assert np.abs(iq_out - iq_content)[unclipped].max() < 0.01  # uint8 rounding only
    plain = _records(NSTRun(content, [style], NSTConfig(model="tiny", iterations=5, max_side=48, init="style"), vgg=vgg))[-1].frame
    assert np.abs(rgb_to_yiq(plain / 255.0)[..., 1:] - iq_content).mean() > 0.02  # without it, colours differ


def test_multiscale_blend_adam_and_tv(vgg):
    content, style = _images()
    cfg = NSTConfig(model="tiny", iterations=6, max_side=64, num_scales=2, optimizer="adam", tv_weight=10.0,
                    style_blend=(0.75, 0.25), init="noise")
    run = NSTRun(content, [style, content], cfg, vgg=vgg)
    assert run.sides == [32, 64] and cfg.scale_iterations() == [3, 3]
    records = _records(run)
    assert [r.step for r in records] == list(range(7))
    assert all(r.frame.shape == (48, 64, 3) for r in records)
    assert "scale 1 of 2" in records[0].status and "scale 2 of 2" in records[4].status
    assert "tv" in records[0].metrics and records[0].metrics["tv"] > 0
    # The blended target is the weighted Gram of the two images.
    _, _, grams = run._targets(run.scale_sizes[1], run.sides[1])
    from stylize.nst.run import fit_long_side, to_tensor

    g = [gram_matrix(vgg.extract(to_tensor(fit_long_side(s, 64), torch.device("cpu")), ["conv3_1"])["conv3_1"]) for s in run.styles]
    assert torch.allclose(grams["conv3_1"], 0.75 * g[0] + 0.25 * g[1], rtol=1e-4, atol=1e-7)


def test_config_info_lists_every_field_with_help():
    info = NSTConfig.fields_info()
    assert info["style_weight"]["default"] == 1e6 and info["style_weight"]["range"] == (0.0, 1e15)
    assert info["content_layers"]["default"] == ("conv4_2",)
    assert info["style_layers"]["default"] == ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
    assert all(v["help"] for v in info.values())
    assert NSTConfig().check() is not None
