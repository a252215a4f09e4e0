"""Model registry loading: tiny models round-trip through the real loaders; offline failures are fast."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from safetensors.torch import load_file

from workbench.errors import ConfigError, ModelNotAvailableError
from pixelart.guidance.controls import control_images
from pixelart.models.loading import (
    load_captioner,
    load_clothes_segmenter,
    load_encoder,
    load_guidance_models,
    missing_models,
)
from workbench import hub
from workbench.hub import clear_model_cache, pick_device, resolve_local
from pixelart.models.registry import ATR_LABELS, DIFFUSION_MODELS
from pixelart.models.tiny import TINY_VERSION, materialize_tiny, tiny_ids

CPU = torch.device("cpu")
F32 = torch.float32


def _photo(size: tuple[int, int] = (64, 64)) -> Image.Image:
    """A flat background with a red rectangle and a blue disc: clear edges for Canny."""
    img = Image.new("RGB", size, (200, 200, 190))
    draw = ImageDraw.Draw(img)
    w, h = size
    draw.rectangle([w // 8, h // 8, w // 2, h * 3 // 4], fill=(180, 20, 30))
    draw.ellipse([w // 2, h // 3, w - 4, h - 4], fill=(20, 40, 200))
    return img


def _weights(folder: Path) -> dict[str, dict[str, torch.Tensor]]:
    return {str(f.relative_to(folder)): load_file(f) for f in sorted(folder.rglob("*.safetensors"))}


def _fake_hub_snapshot(cache: Path, repo_id: str, source: Path) -> Path:
    """Lay a folder out as the hub cache does (refs/main -> snapshots/<commit>)."""
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(commit)
    snapshot = repo_dir / "snapshots" / commit
    shutil.copytree(source, snapshot)
    return snapshot


def _frozen(module: torch.nn.Module) -> bool:
    return not module.training and not any(p.requires_grad for p in module.parameters())


# ----------------------------------------------------------------------------------------------
# Materialisation


def test_every_tiny_id_materialises_once(tiny_model_dir: Path) -> None:
    for repo_id in tiny_ids():
        folder = materialize_tiny(repo_id)
        assert folder.parent == tiny_model_dir and TINY_VERSION in folder.name
        assert (folder / ".complete").is_file()
        assert (folder / "config.json").is_file() or (folder / "model_index.json").is_file()
        stamp = (folder / ".complete").stat().st_mtime_ns
        assert materialize_tiny(repo_id) == folder
        assert (folder / ".complete").stat().st_mtime_ns == stamp  # not rebuilt
    assert not list(tiny_model_dir.glob(".*.tmp-*"))  # no temp dirs left behind


def test_every_registry_tiny_id_is_buildable() -> None:
    ids = {s.repo_id for s in DIFFUSION_MODELS.values() if s.tiny}
    for spec in DIFFUSION_MODELS.values():
        if spec.tiny:
            ids.update(spec.all_repo_ids + [spec.tiny_vae_id])
    assert ids <= set(tiny_ids())


def test_tiny_weights_are_deterministic(tmp_path: Path) -> None:
    for repo_id in ("pixelart-tiny/sdxl-controlnet", "pixelart-tiny/controlnet-canny", "pixelart-tiny/blip"):
        a = _weights(materialize_tiny(repo_id))
        b = _weights(materialize_tiny(repo_id, root=tmp_path))
        assert a.keys() == b.keys() and a
        for name in a:
            assert a[name].keys() == b[name].keys()
            assert all(torch.equal(a[name][k], b[name][k]) for k in a[name]), name
    canny = load_file(
        materialize_tiny("pixelart-tiny/controlnet-canny") / "diffusion_pytorch_model.safetensors"
    )
    depth = load_file(
        materialize_tiny("pixelart-tiny/controlnet-depth") / "diffusion_pytorch_model.safetensors"
    )
    assert not all(torch.equal(canny[k], depth[k]) for k in canny)  # different seeds


def test_materialising_does_not_touch_the_callers_rng(tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    materialize_tiny("pixelart-tiny/taesd", root=tmp_path)
    assert torch.equal(torch.rand(3), expected)


def test_crash_leftovers_do_not_break_materialisation(tmp_path: Path) -> None:
    target_name = f"taesdxl-{TINY_VERSION}"
    fresh = tmp_path / f".{target_name}.tmp-crashed"
    fresh.mkdir()
    (fresh / "config.json").write_text("{half written")
    stale = tmp_path / f".{target_name}.tmp-old"
    stale.mkdir()
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    # A target folder without the completion marker (e.g. copied by hand) is not trusted.
    (tmp_path / target_name).mkdir()
    (tmp_path / target_name / "config.json").write_text("{}")

    folder = materialize_tiny("pixelart-tiny/taesdxl", root=tmp_path)
    assert folder == tmp_path / target_name and (folder / ".complete").is_file()
    assert (folder / "diffusion_pytorch_model.safetensors").is_file()
    assert not stale.exists()  # an old leftover is swept
    assert fresh.exists()  # a recent one may belong to a concurrent build: left alone


# ----------------------------------------------------------------------------------------------
# Diffusion models


def test_tiny_sdxl_loads_with_controlnets_and_depth() -> None:
    models = load_guidance_models("tiny", device="cpu", dtype=F32)
    spec = DIFFUSION_MODELS["tiny"]
    assert models.spec == spec
    assert type(models.pipe).__name__ == "StableDiffusionXLPipeline"
    assert type(models.pipe.scheduler).__name__ == "DDPMScheduler"
    assert models.pipe.scheduler.config.num_train_timesteps == 1000
    assert models.pipe.scheduler.config.beta_schedule == "scaled_linear"
    assert len(models.controlnets) == 2 and models.controlnets[0] is not models.controlnets[1]
    assert models.encoder_vae is models.pipe.vae
    assert callable(models.depth_estimator)
    modules = [m for m in models.pipe.components.values() if isinstance(m, torch.nn.Module)]
    assert all(_frozen(m) for m in modules + models.controlnets)
    assert models.device == CPU and models.dtype == F32
    # Cached per process: the app loads each model once.
    assert load_guidance_models("tiny", device=CPU, dtype=F32) is models


def test_tiny_sdxl_sds_step_shapes() -> None:
    models = load_guidance_models("tiny", device="cpu", dtype=F32)
    pipe = models.pipe
    res = models.spec.resolution
    prompt, negative, pooled, negative_pooled = pipe.encode_prompt(
        "a red dress",
        device=CPU,
        num_images_per_prompt=1,
        do_classifier_free_guidance=True,
        negative_prompt="",
    )
    embeds = torch.cat([negative, prompt])
    time_ids = torch.tensor([[res, res, 0, 0, res, res]] * 2, dtype=F32)
    added = {"text_embeds": torch.cat([negative_pooled, pooled]), "time_ids": time_ids}
    image = torch.rand(1, 3, res, res, requires_grad=True)
    latents = models.encoder_vae.encode(image * 2 - 1).latent_dist.sample() * pipe.vae.config.scaling_factor
    assert latents.shape == (1, 4, res // 2, res // 2)
    x = torch.cat([latents] * 2)
    t = torch.tensor([500])
    conds = control_images(
        _photo((res, res)), [c.kind for c in models.spec.controlnets], models.depth_estimator
    )
    down = mid = None
    for net, cond, control in zip(models.controlnets, conds, models.spec.controlnets, strict=True):
        pixels = torch.from_numpy(np.array(cond)).permute(2, 0, 1)[None].float().div(255).repeat(2, 1, 1, 1)
        d, m = net(
            x, t, encoder_hidden_states=embeds, controlnet_cond=pixels, conditioning_scale=control.scale,
            added_cond_kwargs=added, return_dict=False,
        )  # fmt: skip
        down = d if down is None else [a + b for a, b in zip(down, d, strict=True)]
        mid = m if mid is None else mid + m
    assert float(mid.detach().abs().sum()) > 0  # the tiny ControlNets are not zero-initialised no-ops
    eps = pipe.unet(
        x, t, encoder_hidden_states=embeds, added_cond_kwargs=added,
        down_block_additional_residuals=down, mid_block_additional_residual=mid,
    ).sample  # fmt: skip
    assert eps.shape == x.shape
    (eps.detach() * torch.cat([latents] * 2)).sum().backward()
    assert image.grad is not None and float(image.grad.abs().sum()) > 0


def test_tiny_vae_matches_the_vae_latent_shape() -> None:
    for name in ("tiny", "tiny-sd"):
        models = load_guidance_models(name, device="cpu", dtype=F32, use_tiny_vae=True)
        assert type(models.encoder_vae).__name__ == "AutoencoderTiny" and _frozen(models.encoder_vae)
        x = torch.rand(1, 3, 64, 64) * 2 - 1
        with torch.no_grad():
            full = models.pipe.vae.encode(x).latent_dist.mean
            tiny = models.encoder_vae.encode(x).latents
        assert tiny.shape == full.shape == (1, 4, 32, 32)


def test_tiny_sd_and_controlnets_off() -> None:
    sd = load_guidance_models("tiny-sd", device="cpu", dtype=F32)
    assert type(sd.pipe).__name__ == "StableDiffusionPipeline"
    assert sd.controlnets == [] and sd.depth_estimator is None
    bare = load_guidance_models("tiny", device="cpu", dtype=F32, controlnets=False)
    assert bare.spec.controlnets == () and bare.controlnets == [] and bare.depth_estimator is None


def test_local_pipeline_directory_loads(tmp_path: Path) -> None:
    folder = tmp_path / "my-sd"
    load_guidance_models("tiny-sd", device="cpu", dtype=F32).pipe.save_pretrained(folder)
    models = load_guidance_models(str(folder), device="cpu", dtype=F32)
    assert type(models.pipe).__name__ == "StableDiffusionPipeline"
    assert models.spec.family == "sd" and models.spec.resolution == 64
    assert models.spec.controlnets == () and models.controlnets == []
    assert type(models.pipe.scheduler).__name__ == "DDPMScheduler"


def test_not_a_pipeline_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_guidance_models(str(tmp_path), device="cpu", dtype=F32)


def test_unknown_model_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="tiny"):
        load_guidance_models("no-such-model", device="cpu", dtype=F32)


@pytest.mark.parametrize("name", [None, "", "   "])
def test_no_model_chosen_is_a_one_line_config_error_before_anything_loads(name) -> None:
    """An empty model field (the app's API, or ``--model ""``) was a TypeError ("internal error") or the
    working folder taken as a pipeline; it is refused by the option check, in one line."""
    from pixelart.config import RunConfig
    from pixelart.run import check_config
    from ui.feedback import describe

    with pytest.raises(ConfigError) as info:
        check_config(RunConfig(model=name))
    message = describe(info.value, "starting the run")
    assert message.startswith("no model chosen: choose one of sdxl") and "\n" not in message


def test_unknown_hub_id_fails_fast_with_instructions(empty_hf_cache: Path) -> None:
    repo_id = "pixelart-test/definitely-not-a-model-0000"
    for call in (
        lambda: resolve_local(repo_id, kind="model", name="nope"),
        lambda: resolve_local(repo_id, kind="pipeline", name="nope", variant="fp16"),
        lambda: load_guidance_models(repo_id, device="cpu", dtype=F32),
    ):
        start = time.monotonic()
        with pytest.raises(ModelNotAvailableError) as info:
            call()
        assert time.monotonic() - start < 5.0  # no retry loop of from_pretrained on a hub id
        message = str(info.value)
        assert repo_id in message and "hf download" in message and "\n" not in message


def test_registry_model_found_in_hub_cache(empty_hf_cache: Path) -> None:
    """A snapshot laid out like the hub cache is used by name (tiny weights standing in for SD 1.5)."""
    spec = DIFFUSION_MODELS["sd15"]
    assert missing_models(["sd15"]) == {"sd15": [spec.repo_id, spec.tiny_vae_id]}  # TAESD: the default encoder
    assert missing_models(["sd15"], include_tiny_vae=False) == {"sd15": [spec.repo_id]}
    tiny_sd = load_guidance_models("tiny-sd", device="cpu", dtype=F32)
    staging = empty_hf_cache.parent / "staging"
    tiny_sd.pipe.save_pretrained(staging, variant=spec.variant)  # only "fp16"-named files, as downloaded
    snapshot = _fake_hub_snapshot(empty_hf_cache, spec.repo_id, staging)
    assert missing_models(["sd15"], include_tiny_vae=False) == {}
    assert missing_models(["sd15"]) == {"sd15": [spec.tiny_vae_id]}
    assert resolve_local(spec.repo_id, kind="pipeline", name="sd15") == snapshot
    try:
        models = load_guidance_models("sd15", device="cpu", dtype=F32)
        assert models.spec is spec and type(models.pipe).__name__ == "StableDiffusionPipeline"
        unet = tiny_sd.pipe.unet.state_dict()
        assert all(torch.equal(v, unet[k]) for k, v in models.pipe.unet.state_dict().items())
    finally:
        clear_model_cache()  # "sd15" must not stay bound to tiny weights for later tests


def test_variant_is_used_only_when_its_files_exist(tmp_path: Path) -> None:
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    assert hub.variant_kwargs(tmp_path, "fp16") == {}
    (tmp_path / "unet" / "diffusion_pytorch_model.fp16.safetensors").write_bytes(b"")
    assert hub.variant_kwargs(tmp_path, "fp16") == {"variant": "fp16"}
    assert hub.variant_kwargs(tmp_path, None) == {}


def test_model_download_fetches_one_copy_of_the_weights(
    empty_hf_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Variant first, then default safetensors, then .bin: stop at the first pass that has weights."""
    import huggingface_hub

    calls: list[dict] = []
    folder = empty_hf_cache / "fake-snapshot"
    folder.mkdir()
    (folder / "config.json").write_text("{}")

    def fake_snapshot_download(repo_id: str, **kwargs):
        if kwargs.get("local_files_only"):
            raise huggingface_hub.errors.LocalEntryNotFoundError("not cached")
        calls.append(kwargs)
        if "*.bin" in kwargs["allow_patterns"]:
            (folder / "pytorch_model.bin").write_bytes(b"")
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    assert resolve_local("org/old-model", kind="model", name="old", variant="fp16") == folder
    assert [c["allow_patterns"][-1] for c in calls] == ["*.fp16.safetensors", "*.safetensors", "*.bin"]
    assert all(c["cache_dir"] == empty_hf_cache for c in calls)
    calls.clear()
    assert resolve_local("org/old-model", kind="model", name="old") == folder  # has weights now
    assert [c["allow_patterns"][-1] for c in calls] == ["*.safetensors"]


def test_incomplete_snapshot_counts_as_missing(empty_hf_cache: Path) -> None:
    staging = empty_hf_cache.parent / "staging"
    shutil.copytree(materialize_tiny("pixelart-tiny/sd"), staging)
    for weights in (staging / "unet").glob("*.safetensors"):
        weights.unlink()
    _fake_hub_snapshot(empty_hf_cache, DIFFUSION_MODELS["sd15"].repo_id, staging)
    assert "sd15" in missing_models(["sd15"])


def test_missing_models_is_quick_and_ignores_tiny(empty_hf_cache: Path) -> None:
    names = ["sdxl", "sdxl-nocontrol", "sd15", "tiny", "tiny-sd", "clip", "dino", "blip", "clothes"]
    missing_models(names)  # warm imports
    start = time.monotonic()
    missing = missing_models(names)
    assert time.monotonic() - start < 1.0
    assert set(missing) == {"sdxl", "sdxl-nocontrol", "sd15", "clip", "dino", "blip", "clothes"}
    assert missing["sdxl"] == [*DIFFUSION_MODELS["sdxl"].all_repo_ids, DIFFUSION_MODELS["sdxl"].tiny_vae_id]
    with pytest.raises(ConfigError):
        missing_models(["nope"])


# ----------------------------------------------------------------------------------------------
# Encoders and helper models


@pytest.mark.parametrize("name", ["clip", "dino"])
def test_tiny_encoders_embed_unit_vectors(name: str) -> None:
    encoder = load_encoder(name, tiny=True, device="cpu", dtype=F32)
    assert encoder.spec.name == name and _frozen(encoder.model)
    photo = _photo((80, 64))
    other = photo.transpose(Image.Transpose.FLIP_TOP_BOTTOM).rotate(90)
    emb = encoder.embed([photo, photo, other])
    assert emb.shape[0] == 3 and emb.dtype == torch.float32
    assert torch.allclose(emb.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert float(emb[0] @ emb[1]) == pytest.approx(1.0, abs=1e-5)
    assert load_encoder(name, tiny=True, device=CPU, dtype=F32) is encoder


def test_unknown_encoder_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        load_encoder("resnet", tiny=True, device="cpu", dtype=F32)


def test_tiny_captioner_returns_text() -> None:
    caption = load_captioner(tiny=True, device="cpu", dtype=F32)
    text = caption(_photo())
    assert isinstance(text, str) and text == caption(_photo())


def test_tiny_clothes_segmenter_label_map() -> None:
    segment, id2label = load_clothes_segmenter(tiny=True, device="cpu", dtype=F32)
    assert id2label == dict(enumerate(ATR_LABELS)) and id2label[4] == "Upper-clothes"
    labels = segment(_photo((72, 56)))
    assert labels.shape == (56, 72) and np.issubdtype(labels.dtype, np.integer)
    assert labels.min() >= 0 and labels.max() < len(id2label)


# ----------------------------------------------------------------------------------------------
# Control images and device


def test_control_images_have_the_photo_size_and_three_channels() -> None:
    depth = load_guidance_models("tiny", device="cpu", dtype=F32).depth_estimator
    photo = _photo((64, 64))
    canny, depth_map = control_images(photo, ["canny", "depth"], depth)
    for img in (canny, depth_map):
        assert img.size == photo.size and img.mode == "RGB"
    edges = np.asarray(canny)
    assert set(np.unique(edges)) == {0, 255} and (edges[..., 0] == edges[..., 2]).all()
    depth_arr = np.asarray(depth_map)
    assert depth_arr.min() >= 0 and depth_arr.max() <= 255
    assert control_images(photo, [], depth) == []
    with pytest.raises(ConfigError):
        control_images(photo, ["pose"], depth)
    with pytest.raises(ConfigError):
        control_images(photo, ["depth"], None)


def test_pick_device() -> None:
    assert pick_device("cpu") == (CPU, F32)
    device, dtype = pick_device()
    if torch.cuda.is_available():
        assert device.type == "cuda" and dtype == torch.bfloat16
    else:
        assert (device, dtype) == (CPU, F32)
        with pytest.raises(ConfigError):
            pick_device("cuda")
    with pytest.raises(ConfigError):
        pick_device("tpu")


def test_hub_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    assert hub.hub_cache_dir() == tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))
    assert hub.hub_cache_dir() == tmp_path / "elsewhere"
