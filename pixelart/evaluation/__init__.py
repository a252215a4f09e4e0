"""Scoring stopping strategies against labeled good ranges (seed 000 §4.3, §5: Table 1, Fig. 2, Fig. 3).

Definitions (DESIGN.md). For a photo with labeled range [s, e], centre c = (s + e) / 2, width
w = e - s, and a strategy's stop step t̂:

- hit: s <= t̂ <= e; hit rate = mean over photos
- relative centre error: |t̂ - c| / w (w taken as 1 for a one-step range s = e)
- image norm error: ||x_t̂ - x_c||_2 at the metrics' working resolution in RGB [0, 1], with x_c the
  frame at step floor(c) (frames exist at whole steps only)

Rules this package chose (the seed had one range per photo and one annotator):

- **Several ranges** from one annotator for a photo: a hit if t̂ lies in any of them; the centre
  error and x_c are taken against the *reference range* = the range containing t̂ (the one with the
  nearest centre if several do), else the range nearest to t̂ (distance from t̂ to the interval; ties
  by nearest centre, then the earlier range).
- **Several annotators**: each is scored alone, and so is their *consensus*: the steps that a strict
  majority of the photo's annotators marked good, split into maximal runs (for two annotators this
  is the intersection; ``consensus="intersection"`` or ``"union"`` choose those instead). A photo
  whose consensus is empty is left out of the consensus scores and named in the notes. Agreement is
  the mean pairwise IoU of the annotators' step sets per photo.
- **Best parameter**: the highest hit rate, then the lowest mean relative centre error, then the
  lowest mean image norm error, then the smallest parameter. "In-sample" chooses it on all labeled
  photos, as the seed's Table 1 did from Fig. 2; **leave-one-out** chooses it on the other N-1
  photos for each photo and scores it on the held-out one, an honest out-of-sample figure. Sweep
  grids are built from the metric series only (no labels), so they carry no label information into
  the held-out photo. A threshold's grid is, at evenly spaced quantiles q, the median over runs of
  the q-quantile of each run's running maximum (``workbench.stopping.base.quantile_grid``): it spreads
  every typical run's stop over its steps, and one run with extreme values (a tiny d_0) cannot stretch
  it; the report lists each grid.

The package, one job per module: ``photos`` (bundles opened for evaluation), ``scoring`` (a stop
against ranges; a strategy's stop and score matrices), ``consensus`` (several annotators and the
references), ``sweeps`` (parameter grids, leave-one-out), ``results`` (what an evaluation found),
``pipeline`` (``evaluate``) and ``report`` (tables, CSVs, the HTML report).
"""

from pixelart.evaluation.consensus import (
    CONSENSUS_RULES, Agreement, Reference, agreement, build_references, center_histogram, consensus_ranges,
    range_iou,
)
from pixelart.evaluation.photos import EvalPhoto, OpenedPhotos, open_photos
from pixelart.evaluation.pipeline import evaluate, parse_strategies
from pixelart.evaluation.report import format_table, write_outputs
from pixelart.evaluation.results import Evaluation, PhotoStop, ReferenceResult, StrategyResult
from pixelart.evaluation.scoring import (
    Range, StopScore, StrategyScores, reference_range, score_matrix, score_stop, stop_matrix,
)
from pixelart.evaluation.sweeps import DEFAULT_POINTS, LooResult, check_points, leave_one_out, param_grid

__all__ = [
    "CONSENSUS_RULES", "DEFAULT_POINTS", "Range", "StopScore", "reference_range", "score_stop", "EvalPhoto",
    "OpenedPhotos", "open_photos", "range_iou", "consensus_ranges", "Agreement", "agreement", "Reference",
    "build_references", "StrategyScores", "LooResult", "check_points", "param_grid", "leave_one_out", "stop_matrix",
    "score_matrix", "StrategyResult", "PhotoStop", "ReferenceResult", "Evaluation", "parse_strategies", "evaluate",
    "center_histogram", "format_table", "write_outputs",
]
