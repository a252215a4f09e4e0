"""The whole evaluation: parse the strategies, build the references, decide every stop once per
strategy and score it against each reference."""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

from workbench.errors import ConfigError
from pixelart.evaluation.consensus import CONSENSUS_RULES, build_references
from pixelart.evaluation.photos import EvalPhoto, open_photos
from pixelart.evaluation.results import Evaluation, ReferenceResult, StrategyResult
from pixelart.evaluation.scoring import score_matrix, stop_matrix
from pixelart.evaluation.sweeps import DEFAULT_POINTS, check_points, leave_one_out, param_grid
from pixelart.labels import Label
from pixelart.stopping import STRATEGIES, make_strategy, parse_strategy_spec
from pixelart.stopping.parts import PartMap


def parse_strategies(spec: Sequence[str | tuple[str, float | None]] | None) -> list[tuple[str, float | None]]:
    """['norm_rate', 'fixed_step=1000', ('clip_max', None)] -> [(name, param or None = sweep)]."""
    if not spec:
        return [(name, None) for name in STRATEGIES]
    out = []
    for item in spec:
        if isinstance(item, tuple):
            name, param = item
            make_strategy(name, param)  # unknown names fail here, with the list of known ones
            out.append((name, None if param is None else float(param)))
        else:
            out.append(parse_strategy_spec(str(item)))
    return out


def evaluate(
    photos: Sequence[EvalPhoto] | str | os.PathLike,
    labels: Sequence[Label],
    strategies: Sequence[str | tuple[str, float | None]] | None = None,
    *,
    points: int = DEFAULT_POINTS,
    annotators: Sequence[str] | None = None,
    consensus: str = "majority",
    part_masks: Mapping[str, PartMap] | None = None,
) -> Evaluation:
    """Score strategies (name = sweep its parameter, name=value = that value) against the labels.

    ``photos`` are opened bundles (``open_photos``) or a bundle folder; ``part_masks`` maps a bundle
    id to a label map for bundles recorded without part series or mask.
    """
    points = check_points(points)
    if isinstance(photos, (str, os.PathLike)):
        photos = open_photos(photos)
    if consensus not in CONSENSUS_RULES:
        raise ConfigError(f"unknown consensus rule '{consensus}'; choose from {', '.join(CONSENSUS_RULES)}")
    wanted = parse_strategies(strategies)
    refs, agree, notes = build_references(labels, photos, annotators=annotators, consensus=consensus)
    notes[:0] = [f"bundle left out: {line}" for line in getattr(photos, "skipped", ())]
    if not refs:
        why = [n for n in notes if "set aside" in n]
        raise ConfigError("no labels match these bundles: "
                          + (f"{'; '.join(why[:3])}{' …' if len(why) > 3 else ''}" if why
                             else "label some ranges first (or check the labels file)"))
    labeled = {b for r in refs for b in r.ranges}
    pool = [p for p in photos if p.bundle_id in labeled]
    if any(STRATEGIES[n].reads_parts for n, _ in wanted):
        for p in pool:
            p.ensure_part_series((part_masks or {}).get(p.bundle_id))
    # decisions depend on the series only: compute once per strategy, share across references
    decided: dict[tuple[str, float | None], tuple[list, list[EvalPhoto], np.ndarray, np.ndarray]] = {}
    skipped: dict[tuple[str, float | None], list[tuple[EvalPhoto, str]]] = {}
    for name, param in wanted:
        strategy = make_strategy(name, param)
        why = {p.bundle_id: p.missing_for(strategy) for p in pool}
        usable = [p for p in pool if why[p.bundle_id] is None]
        skipped[(name, param)] = [(p, why[p.bundle_id]) for p in pool if why[p.bundle_id] is not None]
        if not usable:
            continue
        params = [param] if param is not None else param_grid(strategy, usable, points)
        steps, fired = stop_matrix(strategy, params, usable)
        decided[(name, param)] = (params, usable, steps, fired)
    results = []
    for ref in refs:
        ref_photos = [p for p in pool if p.bundle_id in ref.ranges]
        res = ReferenceResult(ref, ref_photos, [])
        for name, param in wanted:
            if (name, param) not in decided:
                res.skipped[name] = _reasons(skipped[(name, param)]) or "no photos"
                continue
            params, usable, steps, fired = decided[(name, param)]
            cols = [j for j, p in enumerate(usable) if p.bundle_id in ref.ranges]
            if not cols:
                res.skipped[name] = "no labeled photo has the series it needs"
                continue
            scores = score_matrix(make_strategy(name, param), params, [usable[j] for j in cols], ref.ranges,
                                  steps[:, cols], fired[:, cols], fixed=param is not None)
            missing = [f"{p.name}: {w}" for p, w in skipped[(name, param)] if p.bundle_id in ref.ranges]
            res.strategies.append(StrategyResult(scores, scores.best(), leave_one_out(scores), missing))
        results.append(res)
    for (name, _), left_out in skipped.items():
        if left_out:
            p, w = left_out[0]
            more = " …" if len(left_out) > 1 else ""
            notes.append(f"{name}: {len(left_out)} photo(s) left out ({p.name}: {w}{more})")
    return Evaluation(results, agree, notes)


def _reasons(left_out: Sequence[tuple[EvalPhoto, str]]) -> str:
    """'3 photos: not recorded: clip' (grouped by reason)."""
    counts: dict[str, int] = {}
    for _, why in left_out:
        counts[why] = counts.get(why, 0) + 1
    return "; ".join(f"{n} photo{'s' if n > 1 else ''}: {why}" for why, n in counts.items())

