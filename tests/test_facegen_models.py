"""facegen networks: the official key layout and shapes, module shapes, AdaIN and mask blending."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from facegen.config import official_config, proposed_config, tiny_config
from facegen.networks import AdaINGen, MsImageDis, MsImageDisCouncil, build_member
from facegen.networks.blocks import AdaptiveInstanceNorm2d
from facegen_support import one_thread  # noqa: F401  (one_thread: an autouse fixture)

# A copy of ../shared/reference/council_gan_state_keys.json (parameter names and shapes of the official
# selfie2anime model), kept beside the tests so they need neither the network nor the shared folder.
REFERENCE = Path(__file__).with_name("facegen_council_gan_state_keys.json")
SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "council_gan_state_keys.json"



def _reference() -> dict:
    return json.loads(REFERENCE.read_text())


def test_reference_copy_is_current() -> None:
    if not SHARED.is_file():
        pytest.skip("the shared reference folder is not beside this checkout")
    assert json.loads(SHARED.read_text()) == _reference()


def test_official_config_matches_reference_config() -> None:
    ref = _reference()["config"]
    cfg = official_config()
    for key in ("dim", "mlp_dim", "style_dim", "activ", "n_downsample", "n_res", "pad_type", "num_of_mask_dim_to_add"):
        assert getattr(cfg.gen, key) == ref["gen"][key], key
    for key in ("dim", "norm", "activ", "n_layer", "gan_type", "num_scales", "pad_type"):
        assert getattr(cfg.dis, key) == ref["dis"][key], key
    assert cfg.dis.relative_iterations == ref["dis"]["numberOf_dis_relative_iteration"]


@pytest.mark.parametrize("net", ["gen", "dis", "dis_council"])
def test_every_official_key_and_shape(net: str) -> None:
    ref = _reference()["state_dicts"][net]
    modules = dict(zip(("gen", "dis", "dis_council"), build_member(official_config())))
    ours = {k: list(v.shape) for k, v in modules[net].state_dict().items()}
    assert sorted(ours) == sorted(ref)
    assert {k: ours[k] for k in ref} == ref
    # the order matters too for readers that walk state dicts (same module registration order)
    assert list(ours) == list(ref)


def test_official_state_dict_loads_strictly() -> None:
    """A state dict shaped like the reference (random values) loads strictly into the proposed model
    too: 3 councils and instance-norm discriminators add no parameters."""
    ref = _reference()["state_dicts"]
    gen, dis, dis_council = build_member(proposed_config())
    for module, net in ((gen, "gen"), (dis, "dis"), (dis_council, "dis_council")):
        module.load_state_dict({k: torch.randn(s) for k, s in ref[net].items()}, strict=True)


def test_module_output_shapes() -> None:
    cfg = tiny_config(image_size=32)
    gen, dis, dis_council = build_member(cfg)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    z = torch.randn(2, cfg.gen.style_dim, 1, 1)
    content = gen.encode(x)
    assert content.shape == (2, cfg.gen.dim * 4, 8, 8)
    assert gen.encode_style(x).shape == (2, cfg.gen.style_dim, 1, 1)
    y, masks = gen(x, z)
    assert y.shape == x.shape and masks.shape == (2, cfg.gen.num_of_mask_dim_to_add, 32, 32)
    assert masks.min() >= 0 and masks.max() <= 1
    assert [o.shape for o in dis(y)] == [(2, 1, 8, 8), (2, 1, 4, 4)]
    assert [o.shape for o in dis_council(y, x)] == [(2, 1, 16, 16), (2, 1, 8, 8)]


def test_adain_formula() -> None:
    torch.manual_seed(0)
    layer = AdaptiveInstanceNorm2d(3)
    x = torch.randn(2, 3, 5, 4)
    params = torch.randn(2, 6)
    got = layer(x, params)
    for b in range(2):
        for c in range(3):
            v = x[b, c].double()
            mean, var = v.mean(), ((v - v.mean()) ** 2).mean()
            want = (v - mean) / torch.sqrt(var + 1e-5) * params[b, 3 + c] + params[b, c]
            torch.testing.assert_close(got[b, c].double(), want, rtol=1e-5, atol=1e-5)


def test_decoder_blends_masks_in_turn() -> None:
    """The output equals the input blended K times with the candidates: y ← (1 − m_k) y + m_k o_k."""
    cfg = tiny_config()
    gen = AdaINGen(cfg.gen)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    z = torch.randn(1, cfg.gen.style_dim, 1, 1)
    captured = {}
    gen.dec.model.register_forward_hook(lambda m, i, o: captured.setdefault("raw", o))
    y, masks = gen(x, z)
    raw = captured["raw"]
    k = cfg.gen.num_of_mask_dim_to_add
    want = x.clone()
    for i in range(k):
        m = ((torch.tanh(10 * raw[:, 3 * k + i]) + 1) / 2)[:, None]
        torch.testing.assert_close(m[:, 0], masks[:, i])
        want = (1 - m) * want + m * raw[:, 3 * i: 3 * i + 3]
    torch.testing.assert_close(y, want)


def test_z_changes_the_output_and_the_mlp_feeds_every_adain_layer() -> None:
    cfg = tiny_config()
    gen = AdaINGen(cfg.gen)
    n_adain = sum(1 for m in gen.dec.modules() if isinstance(m, AdaptiveInstanceNorm2d))
    assert gen.mlp.model[-1].fc.out_features == 2 * sum(
        m.num_features for m in gen.dec.modules() if isinstance(m, AdaptiveInstanceNorm2d))
    assert n_adain == 2 * cfg.gen.n_res + 2 * cfg.gen.n_downsample
    x = torch.rand(1, 3, 32, 32)
    y1, _ = gen(x, torch.randn(1, cfg.gen.style_dim, 1, 1))
    y2, _ = gen(x, torch.randn(1, cfg.gen.style_dim, 1, 1))
    assert not torch.allclose(y1, y2)


def test_official_numbers_of_adain_params() -> None:
    gen = AdaINGen(official_config().gen)
    assert gen.mlp.model[2].fc.out_features == 5888  # the reference's mlp.model.2.fc.weight rows


def test_discriminators_are_gaussian_initialised() -> None:
    _, dis, dis_council = build_member(official_config())
    w = torch.cat([p.detach().flatten() for n, p in dis.named_parameters() if n.endswith("weight")])
    assert abs(float(w.std()) - 0.02) < 0.002
    assert all(float(p.detach().abs().sum()) == 0 for n, p in dis_council.named_parameters() if n.endswith("bias"))
    assert isinstance(dis, MsImageDis) and isinstance(dis_council, MsImageDisCouncil)
