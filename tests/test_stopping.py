"""The seed's five stopping strategies on hand-made curves whose right answer is known."""

import numpy as np
import pytest

from workbench.errors import ConfigError
from pixelart.stopping import SEED_STRATEGIES, STRATEGIES, make_strategy, stop_decisions


def _series(norm, clip=None, dino=None):
    s = {"norm": np.asarray(norm, float)}
    if clip is not None:
        s["clip"] = np.asarray(clip, float)
    if dino is not None:
        s["dino"] = np.asarray(dino, float)
    return s


NORM = [10, 10.5, 11, 12, 14, 17, 21, 26]  # d_0 = 10; rates 0, .05, .1, .2, .4, .7, 1.1, 1.6


def test_the_seed_has_five_strategies():
    assert SEED_STRATEGIES == ("fixed_step", "norm_threshold", "norm_rate", "clip_max", "dino_max")


def test_fixed_step():
    assert make_strategy("fixed_step", 3).decide(_series(NORM)).step == 3
    d = make_strategy("fixed_step", 50).decide(_series(NORM))
    assert d.step == 7 and not d.fired  # never reached: the run's last step


def test_norm_threshold_is_the_first_step_strictly_above():
    assert make_strategy("norm_threshold", 12).decide(_series(NORM)).step == 4
    assert make_strategy("norm_threshold", 11.9).decide(_series(NORM)).step == 3
    d = make_strategy("norm_threshold", 100).decide(_series(NORM))
    assert not d.fired and d.step == 7


def test_norm_increase_rate_is_relative_to_the_first_norm():
    assert make_strategy("norm_rate", 0.3).decide(_series(NORM)).step == 4
    assert make_strategy("norm_rate", 0.3).decide(_series(np.array(NORM) * 7)).step == 4  # scale-invariant
    assert make_strategy("norm_threshold", 12).decide(_series(np.array(NORM) * 7)).step == 0  # not


def test_semantic_maximum_ignores_missing_values():
    nan = np.nan
    clip = [0.5, nan, 0.7, nan, 0.9, nan, 0.6, nan]
    dino = [0.2, 0.8, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1]
    s = _series(NORM, clip, dino)
    assert make_strategy("clip_max").decide(s).step == 4
    assert make_strategy("dino_max").decide(s).step == 1


def test_online_and_offline_agree_step_by_step():
    rng = np.random.default_rng(0)
    norm = 10 + np.cumsum(rng.random(300))
    clip = np.sin(np.linspace(0, 3, 300))
    full = _series(norm, clip, clip[::-1])
    for name in ("fixed_step", "norm_threshold", "norm_rate"):
        strategy = make_strategy(name)
        strategy = strategy.with_param(strategy.sweep_grid([full], 9)[4])
        offline = strategy.decide(full)
        online = next(
            (d for t in range(1, 301) if (d := strategy.check({k: v[:t] for k, v in full.items()}))), None
        )
        assert online is not None and online.step == offline.step, name


def test_semantic_online_fires_after_patience_at_the_best_step():
    clip = np.array([0.1, 0.5, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    s = make_strategy("clip_max", patience=3)
    fired_at = next(t for t in range(1, 9) if s.check({"clip": clip[:t]}) is not None)
    assert fired_at - 1 == 2 + 3  # best step 2 is 3 steps old at step 5
    assert s.check({"clip": clip}).step == 2
    assert make_strategy("clip_max").check({"clip": clip}) is None  # no patience: only offline


def test_decide_all_and_sweep_grids():
    s = _series(NORM, np.linspace(0, 1, 8), np.linspace(1, 0, 8))
    decisions = {o.name: o.decision for o in stop_decisions(s)}
    assert set(decisions) == set(STRATEGIES)
    assert decisions["clip_max"].step == 7 and decisions["dino_max"].step == 0
    grid = make_strategy("norm_threshold").sweep_grid([s], 5)
    assert grid[0] >= 10 and grid[-1] <= 26 and len(grid) == 5
    assert make_strategy("fixed_step").sweep_grid([s], 8).tolist() == list(range(8))


def test_unknown_strategy_and_bad_options():
    with pytest.raises(ConfigError, match="choose from"):
        make_strategy("oracle")
    with pytest.raises(ConfigError, match="takes no options"):
        make_strategy("fixed_step", 3, patience=2)


def test_stop_decisions_finished_live_and_missing():
    from pixelart.stopping import parse_strategy_spec, stop_decisions

    s = _series(NORM, clip=[0.1, 0.5, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    final = {o.name: o for o in stop_decisions(s, [("norm_rate", 0.3), ("clip_max", None), ("dino_max", None)])}
    assert final["norm_rate"].decision.step == 4 and final["clip_max"].decision.step == 2
    assert final["dino_max"].decision is None and final["dino_max"].missing == ["dino"]
    live = {o.name: o for o in stop_decisions(s, [("fixed_step", 50), ("clip_max", None)], final=False,
                                              options={"clip_max": {"patience": 3}})}
    assert live["fixed_step"].decision is None  # not reached yet: no marker mid-run
    assert live["clip_max"].decision.step == 2  # best step 2 is 5 steps old
    assert parse_strategy_spec("norm_rate=0.3") == ("norm_rate", 0.3)
    assert parse_strategy_spec(" clip_max ") == ("clip_max", None)
    with pytest.raises(ConfigError, match="must be a number"):
        parse_strategy_spec("norm_rate=high")
    for odd in ("nan", "inf", "-inf"):
        with pytest.raises(ConfigError, match="finite"):
            parse_strategy_spec(f"norm_rate={odd}")
    with pytest.raises(ConfigError, match="choose from"):
        parse_strategy_spec("oracle=1")


def test_an_online_check_on_the_series_it_uses_equals_one_on_every_series():
    from workbench.drift import increase_rate

    t = np.arange(60)
    norm = 10 + 0.05 * t
    recorded = {
        "norm": norm, "rate": increase_rate(norm), "clip": 0.8 - np.abs(t - 20) / 100,
        "dino": 0.7 - np.abs(t - 30) / 100, "part:Bag": 0.1 + 0.01 * t, "part:Hair": 0.1 + 0.05 * t,
        "part:Background": np.full(60, 0.2), "loss_sds": np.ones(60), "timestep": np.arange(60.0),
    }
    used = {name: make_strategy(name).series_used(recorded) for name in STRATEGIES}
    assert used["norm_rate"] == ["norm", "rate"] and used["clip_max"] == ["clip"]
    assert used["part_rate"] == ["part:Bag"]  # only the important parts it watches
    assert used["norm_rate_clip"] == ["norm", "rate", "clip"]
    for name in STRATEGIES:
        options = {"patience": 5} if "patience" in STRATEGIES[name].options else {}
        strategy = make_strategy(name, **options)
        for n in range(1, 61):
            seen = {k: v[:n] for k, v in recorded.items()}
            assert strategy.check({k: seen[k] for k in used[name]}) == strategy.check(seen), (name, n)


def test_part_rate_reads_the_part_rates_once_per_check(monkeypatch):
    import pixelart.stopping.part_rate as part_rate

    calls = []
    real = part_rate.part_rates
    monkeypatch.setattr(part_rate, "part_rates", lambda *a, **k: calls.append(1) or real(*a, **k))
    series = {"part:Bag": np.array([0.1, 0.1, 0.5]), "part:Face": np.array([0.2, 0.2, 0.2])}
    d = make_strategy("part_rate", 0.5).check(series)
    assert d.step == 2 and "Bag" in d.reason and len(calls) == 1
    # only unimportant parts recorded: not recorded (skipped), rather than "never fired"
    assert make_strategy("part_rate").missing({"part:Hair": np.ones(3), "part:Background": np.ones(3)})
