"""SMS on the tiny SD 1.5-shaped model: style LoRA files, the three score models, the run contract, CLI.

The tiny model has random weights, so these tests check the arithmetic and the plumbing (which model
gives which score, what trains, what is recorded), never the look of an image.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from stylize.sms import cli
from stylize.sms.config import SMSConfig
from stylize.sms.models import load_sms_models, resolve_model
from stylize.sms.objective import StyleMatchingScore
from stylize.sms.sagr import refinement_map
from stylize.sms.schedule import Draw
from stylize.sms.style_lora import attention_projections, random_lora_state, save_lora
from workbench.errors import ConfigError, ImageInputError, ModelNotAvailableError
from workbench.records import RunStart, StepRecord

STRENGTH = 0.8
RANK, ALPHA = 4, 2.0


def _content(w: int = 64, h: int = 48, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8))


def _plain_unet():
    """The tiny base UNet straight from disk: no LoRA of any kind."""
    from diffusers import UNet2DConditionModel

    _, path = resolve_model("tiny-sd")
    return UNet2DConditionModel.from_pretrained(path / "unet").eval().requires_grad_(False)


@pytest.fixture(scope="module")
def lora_file(tmp_path_factory: pytest.TempPathFactory):
    """A random kohya-format style LoRA for the tiny UNet, saved as .safetensors; returns (path, state)."""
    state = random_lora_state(_plain_unet(), rank=RANK, alpha=ALPHA, scale=0.2, seed=7, fmt="kohya")
    return save_lora(state, tmp_path_factory.mktemp("lora") / "style.safetensors"), state


def _config(lora_path, **changes) -> SMSConfig:
    base = dict(model="tiny-sd", style_lora=str(lora_path), prompt="a cat", style="ghibli style",
                lora_strength=STRENGTH, steps=3, record_every=2, resolution=48, warmup_steps=0, lora_rank=4,
                lora_alpha=8.0, seed=0, device="cpu")
    return SMSConfig(**{**base, **changes})


@pytest.fixture(scope="module")
def models(lora_file):
    return load_sms_models(_config(lora_file[0]).check())


def _run(models, lora_file, **changes):
    from stylize.sms.run import SMSRun

    return SMSRun(_content(), _config(lora_file[0], **changes), models=models)


# --- Style LoRA loading --------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["kohya", "diffusers"])
def test_lora_files_in_usual_formats_fuse_into_the_style_unet_only(tmp_path, fmt) -> None:
    plain = _plain_unet()
    state = random_lora_state(plain, rank=RANK, alpha=ALPHA, scale=0.2, seed=11, fmt=fmt)
    if fmt == "diffusers":  # a folder holding pytorch_lora_weights.safetensors, as diffusers saves it
        source = save_lora(state, tmp_path / "lora" / "pytorch_lora_weights.safetensors").parent
    else:
        source = save_lora(state, tmp_path / "style.safetensors")
    loaded = load_sms_models(_config(source).check())
    names = attention_projections(plain, ("to_q", "to_k", "to_v", "to_out.0"))
    assert len(names) > 8
    for name in names:
        w0 = plain.get_submodule(name).weight.detach().numpy().astype(np.float64)
        if fmt == "kohya":
            key = "lora_unet_" + name.replace(".", "_")
            up, down = state[f"{key}.lora_up.weight"], state[f"{key}.lora_down.weight"]
            scale = ALPHA / RANK
        else:
            up, down = state[f"unet.{name}.lora_B.weight"], state[f"unet.{name}.lora_A.weight"]
            scale = 1.0  # diffusers-format files without alphas: alpha = rank
        expected = w0 + STRENGTH * scale * (up.double().numpy() @ down.double().numpy())
        np.testing.assert_allclose(loaded.style_unet.get_submodule(name).weight.detach().numpy(), expected, atol=1e-5)
        # the base UNet (SAGR, fake-score copies) is untouched
        np.testing.assert_array_equal(loaded.base_unet.get_submodule(name).weight.numpy(), w0.astype(np.float32))
    assert not any("lora" in n for n, _ in loaded.style_unet.named_parameters())  # fused, no LoRA layers left


def test_missing_hub_lora_offline_is_one_line_model_error(empty_hf_cache, monkeypatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelNotAvailableError) as info:
        load_sms_models(_config("someone/ghibli-style-lora").check())
    text = str(info.value)
    assert "\n" not in text and "someone/ghibli-style-lora" in text and "tiny-sd" in text


# --- The objective against independent computations ----------------------------------------------

def test_latent_gradient_is_refined_score_with_sagr_from_the_plain_base(models) -> None:
    torch.manual_seed(0)
    fake = models.new_fake_unet(rank=4, alpha=8.0, targets=("to_q", "to_v"), seed=0)
    with torch.no_grad():  # a trained-looking fake LoRA, so "fake" differs from "base"
        for name, p in fake.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.3)
    tok, te = models.tokenizer, models.text_encoder
    ids = tok(["ghibli style, a cat", "Turn into ghibli style", ""], padding="max_length",
              max_length=tok.model_max_length, truncation=True, return_tensors="pt").input_ids
    with torch.no_grad():
        target, edit, null = te(ids)[0].chunk(3)
    abar = torch.linspace(0.99, 0.01, 1000, dtype=torch.float64)
    objective = StyleMatchingScore(
        style_unet=models.style_unet, base_unet=models.base_unet, fake_unet=fake, alphas_cumprod=abar,
        target_embedding=target, edit_embedding=edit, null_embedding=null, guidance_scale=4.5, lambda_psr=0.0,
    )
    g = torch.Generator().manual_seed(1)
    source = torch.randn(1, 4, 12, 16, generator=g)
    z = (source + 0.1 * torch.randn(1, 4, 12, 16, generator=g)).requires_grad_(True)
    noise = torch.randn(1, 4, 12, 16, generator=g)
    draw = Draw(index=100, t=201, t_prev=199, weight=0.37)
    terms = objective.latent_terms(z, source, draw, noise)
    terms.loss.backward()

    # independent: each UNet called on its own, CFG and the map written out here
    a = float(abar[201])
    def eps(unet, x, emb):
        t = torch.full((1,), 201)
        with torch.no_grad():
            return unet(x, t, encoder_hidden_states=emb).sample.double()
    noisy = (np.sqrt(a) * z.detach().double() + np.sqrt(1 - a) * noise.double()).float()
    style = eps(models.style_unet, noisy, null) + 4.5 * (eps(models.style_unet, noisy, target) - eps(models.style_unet, noisy, null))
    fk = eps(fake, noisy, null) + 4.5 * (eps(fake, noisy, target) - eps(fake, noisy, null))
    plain = _plain_unet()
    noisy_src = (np.sqrt(a) * source.double() + np.sqrt(1 - a) * noise.double()).float()
    raw = (eps(plain, noisy_src, edit) - eps(plain, noisy_src, null)).mean(1).abs()[0].numpy()
    r = (raw - raw.min()) / (raw.max() - raw.min())
    expected = r[None, None] * 0.37 * (style - fk).numpy() / z.numel()
    np.testing.assert_allclose(z.grad.numpy(), expected, rtol=2e-3, atol=1e-9)
    np.testing.assert_allclose(terms.r_map[0, 0].numpy(), r, atol=1e-4)
    assert 0.0 <= float(terms.r_map.min()) and float(terms.r_map.max()) <= 1.0
    # not vacuous: the map from the fake UNet (LoRA on) would differ
    with_lora = refinement_map(eps(fake, noisy_src, edit), eps(fake, noisy_src, null))[0, 0].numpy()
    assert np.abs(with_lora - r).max() > 1e-3


def test_one_iteration_trains_the_fake_lora_and_nothing_else(models, lora_file) -> None:
    run = _run(models, lora_file, steps=2)
    base_before = copy.deepcopy(models.base_unet.state_dict())
    style_before = copy.deepcopy(models.style_unet.state_dict())
    it = iter(run)
    next(it), next(it)  # RunStart, step 0
    fake = run.fake_unet
    lora0 = {n: p.detach().clone() for n, p in fake.named_parameters() if "lora" in n}
    assert lora0 and all(float(v.abs().max()) == 0.0 for n, v in lora0.items() if "lora_B" in n)
    next(it)  # step 1
    changed = [n for n, p in fake.named_parameters() if "lora" in n and not torch.equal(p, lora0[n])]
    assert any("lora_B" in n for n in changed)
    for name, value in models.base_unet.state_dict().items():
        assert torch.equal(value, base_before[name]), name
    for name, value in models.style_unet.state_dict().items():
        assert torch.equal(value, style_before[name]), name
    base_in_fake = {n.replace(".base_layer", ""): p for n, p in fake.state_dict().items() if "lora" not in n}
    for name, value in base_before.items():
        assert torch.equal(base_in_fake[name], value), name
    it.close()
    assert run.fake_unet is None


# --- The run contract ----------------------------------------------------------------------------

def test_run_yields_start_then_steps_non_square(models, lora_file) -> None:
    records = list(_run(models, lora_file, steps=4, record_every=2))
    start, steps = records[0], records[1:]
    assert isinstance(start, RunStart) and start.kind == "sms" and start.total == 4
    assert start.palette is None and start.frame_size == (48, 64) and start.record_every == 2
    assert start.input_image.shape == (48, 64, 3) and start.input_image.dtype == np.uint8
    assert {c.name for c in start.curves} >= {"loss_sms", "loss_psr", "loss_lora", "t", "norm", "rate"}
    assert start.config["latent_size"] == [24, 32] and start.config["target_prompt"] == "ghibli style, a cat"
    assert [r.step for r in steps] == [0, 1, 2, 3, 4] and all(isinstance(r, StepRecord) for r in steps)
    for r in steps:
        if r.step % 2 == 0:
            assert r.frame.shape == (48, 64, 3) and r.frame.dtype == np.uint8 and np.isfinite(r.metrics["norm"])
        else:
            assert r.frame is None and np.isnan(r.metrics["norm"])
    for r in steps[1:]:
        assert 21 <= r.metrics["t"] <= 499 and np.isfinite(r.metrics["loss_lora"]) and 0 <= r.metrics["r_mean"] <= 1
        assert r.metrics["loss_psr"] == pytest.approx(5e-4 * r.metrics["psr_l1"])
    assert steps[0].metrics["rate"] == 0.0 and steps[-1].metrics["latent_l2"] > 0
    pickle.loads(pickle.dumps(records))  # plain data only


def test_same_seed_same_run_other_seed_other_run(models, lora_file) -> None:
    a = [r for r in _run(models, lora_file, seed=5) if isinstance(r, StepRecord)]
    b = [r for r in _run(models, lora_file, seed=5) if isinstance(r, StepRecord)]
    c = [r for r in _run(models, lora_file, seed=6) if isinstance(r, StepRecord)]
    for x, y in zip(a, b):
        assert x.metrics.keys() == y.metrics.keys()
        assert all(x.metrics[k] == y.metrics[k] or (np.isnan(x.metrics[k]) and np.isnan(y.metrics[k])) for k in x.metrics)
        assert (x.frame is None) == (y.frame is None) and (x.frame is None or np.array_equal(x.frame, y.frame))
    assert [r.metrics.get("t") for r in a] != [r.metrics.get("t") for r in c] or not np.array_equal(a[-1].frame, c[-1].frame)


def test_stopping_early_through_the_loop_keeps_the_steps(models, lora_file) -> None:
    from workbench.loop import RunLoop

    run = _run(models, lora_file, steps=50)
    seen = []
    loop = RunLoop(run, should_stop=lambda: len(seen) >= 3)
    for item in loop:
        if isinstance(item, StepRecord):
            seen.append(item.step)
    assert seen == [0, 1, 2] and len(loop.result.trajectory) == 3 and loop.result.stopped
    assert run.fake_unet is None


def test_large_lambda_keeps_the_low_frequencies_closer(models, lora_file) -> None:
    def psr(lam: float) -> np.ndarray:
        recs = [r for r in _run(models, lora_file, steps=6, lambda_psr=lam, guidance_scale=20.0) if isinstance(r, StepRecord)]
        return np.array([r.metrics["psr_l1"] for r in recs[1:]]), [r.metrics["t"] for r in recs[1:]]

    free, t_free = psr(0.0)
    held, t_held = psr(50.0)
    assert t_free == t_held  # the same timesteps: the series compare step by step
    assert held[1:].sum() < 0.7 * free[1:].sum()


def test_bad_options_and_inputs_are_refused_before_any_model_loads(lora_file, monkeypatch) -> None:
    import stylize.sms.run as run_module

    def no_load(*_a, **_k):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(run_module, "load_sms_models", no_load)
    with pytest.raises(ConfigError):
        run_module.SMSRun(_content(), _config(lora_file[0], lr=-1.0))
    with pytest.raises(ConfigError):
        run_module.SMSRun(_content(), _config("/no/such/lora.safetensors"))
    with pytest.raises(ImageInputError):
        run_module.SMSRun(np.zeros((8, 8, 3)), _config(lora_file[0]))


def test_auto_prompt_uses_the_captioner(models, lora_file) -> None:
    from stylize.sms.run import SMSRun

    run = SMSRun(_content(), _config(lora_file[0], prompt="auto"), models=models, captioner=lambda im: "a red fox")
    assert run.target_prompt == "ghibli style, a red fox" and run.edit_prompt == "Turn into ghibli style"


# --- CLI -----------------------------------------------------------------------------------------

def test_cli_round_trip_through_the_stylize_command(tmp_path, lora_file, capsys) -> None:
    from stylize.cli import main as stylize_main
    from workbench.trajectory import Trajectory

    content = tmp_path / "content.png"
    _content(80, 60).save(content)
    out, bundle = tmp_path / "out.png", tmp_path / "run.zip"
    rc = stylize_main(["sms", str(content), "--model", "tiny-sd", "--style-lora", str(lora_file[0]), "--style", "ghibli style",
                   "--prompt", "a cat", "--steps", "3", "--record-every", "2", "--resolution", "48",
                   "--device", "cpu", "--out", str(out), "--bundle", str(bundle), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    with Image.open(out) as im:
        assert im.size == (64, 48) and im.mode == "RGB"
    traj = Trajectory.load(bundle)
    assert traj.kind == "sms" and len(traj) == 4 and traj.frame_steps == [0, 2, 3]
    assert np.array_equal(traj.rgb(3), np.asarray(Image.open(out)))
    assert np.isfinite(traj.series("loss_lora")[1:]).all()
    # the CLI's bundle keeps the map R too, at the recorded steps (the app shows it when scrubbing)
    assert set(traj.side_labels) == {"r_map"} and traj.side_images(2)["r_map"].dtype == np.uint8


def test_cli_bad_input_exits_2_before_loading(tmp_path, lora_file, monkeypatch, capsys) -> None:
    import stylize.sms.run as run_module

    monkeypatch.setattr(run_module, "load_sms_models", lambda *a, **k: (_ for _ in ()).throw(AssertionError("loaded")))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    rc = cli.main([str(bad), "--model", "tiny-sd", "--style-lora", str(lora_file[0]), "--out", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1
    rc = cli.main([str(bad), "--model", "tiny-sd", "--style-lora", str(lora_file[0]), "--steps", "0",
                   "--out", str(tmp_path / "o.png")])
    assert rc == 2 and "steps" in capsys.readouterr().err
    rc = cli.main([str(bad), "--model", "tiny-sd", "--style-lora", str(lora_file[0]), "--out", str(tmp_path / "o.gif")])
    assert rc == 2 and "--out" in capsys.readouterr().err
