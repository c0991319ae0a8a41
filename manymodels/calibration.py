"""Conformal calibration of the champion's intervals on its rolling-origin folds (conformalised quantile regression,
Romano, Patterson and Candès 2019): on every fold the champion was scored on, each actual is scored by how far it
falls outside the champion's own bounds (negative inside), and each level's bounds then move out (or in) by the
finite-sample quantile of those scores at that level. The model's own bounds keep their shape over the horizon
(they widen with the step); the folds set how wide they must be. The test window is never used.

A series whose folds hold too few scores for a level's quantile (19 for 95%: the rank ceil((n + 1) 0.95) must be at
most n) takes the run's instead: every series' scores divided by its scale (seasonal naive's mean absolute error
before its folds) are pooled, and the pooled quantile times the series' own scale moves its bounds."""

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from manymodels.bounds import Forecast, Interval
from manymodels.candidates import TUNED, Candidates
from manymodels.columns import TARGET, TIME, YHAT
from manymodels.settings import base_level


def conformity(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """How far each actual falls outside [lo, hi]; negative inside, by its distance to the nearer bound."""
    return np.maximum(lo - y, y - hi)


KEPT_SCORES = 32  # of a series' scaled scores at a level, the order statistics it keeps for the run's pool


def enough(n: int, level: float) -> bool:
    """Whether n scores give the split-conformal quantile at level (percent) rather than their largest."""
    return math.ceil((n + 1) * level / 100) <= n


def kept(scores: np.ndarray, scale: float) -> list[float]:
    """Scores divided by scale, at most KEPT_SCORES of their order statistics, evenly spaced (none where the scale
    is 0: a constant history, whose scores say nothing of other series)."""
    if scale <= 0 or not np.isfinite(scale) or len(scores) == 0:
        return []
    ordered = np.sort(scores) / scale
    ranks = np.unique(np.linspace(0, len(ordered) - 1, min(len(ordered), KEPT_SCORES)).round().astype(int))
    return [float(v) for v in ordered[ranks]]


def pooled_corrections(scores: list[dict[str, list[float]]], levels: list[int]) -> dict[str, float]:
    """By level, the split-conformal quantile of every series' kept scaled scores, where they are enough."""
    pooled = {}
    for level in levels:
        every = np.concatenate([np.asarray(s.get(str(level), []), dtype=float) for s in scores] or [np.empty(0)])
        if enough(len(every), level):
            pooled[str(level)] = correction(every, level)
    return pooled


def correction(scores: np.ndarray, level: int) -> float:
    """The score at rank ceil((n + 1) * level / 100) of n: the split-conformal quantile (the largest where the
    folds hold too few points for the level)."""
    if len(scores) == 0:
        return 0.0
    rank = min(len(scores), math.ceil((len(scores) + 1) * level / 100))
    return float(np.sort(scores)[rank - 1])


def one_sided(scores: np.ndarray, quantile: float) -> float:
    """The score at rank ceil((n + 1) * quantile) of n (the largest where too few): a bound moved up by it has the
    actuals at or below it with probability at least `quantile`."""
    return correction(scores, 100 * quantile)


def start(forecast: Forecast, quantile: float) -> np.ndarray:
    """What a quantile starts from: the point forecast for the median, else the bound of the central interval at
    the quantile's base level on its side."""
    if quantile == 0.5:
        return forecast.mean
    interval = forecast.intervals[base_level(quantile)]
    return interval.hi if quantile > 0.5 else interval.lo


@dataclass(frozen=True)
class Corrections:
    """How far each interval level's bounds move out (levels) and each quantile moves up (quantiles)."""

    levels: dict[int, float] = field(default_factory=dict)
    quantiles: dict[float, float] = field(default_factory=dict)


@dataclass(frozen=True)
class FoldCalibration:
    """The champion's corrections, its forecasts on its folds (ds, y, yhat), and by level its kept scaled scores."""

    corrections: Corrections
    on_folds: pd.DataFrame
    scores: dict[str, list[float]]


def fold_corrections(
    candidates: Candidates, champion: str, seed: int, on_folds: dict, pooled: dict[str, float] | None = None
) -> FoldCalibration:
    """Each level's and quantile's correction from the champion's bounds on the folds it was scored on: the tuned
    Prophet's selection folds, every fold for the others; a level whose scores are too few takes the pooled scaled
    correction times the series' scale, where there is one. on_folds: (model, fold) -> forecast with bounds where
    the contest already made one; the others are fitted here."""
    splits, data = candidates.splits, candidates.data
    folds = splits.selection if champion == TUNED else range(len(splits.folds))
    scores, below = {level: [] for level in data.levels}, {q: [] for q in data.quantiles}
    points = []
    for fold in folds:
        history, window, actual = splits.fold(*splits.folds[fold])
        bounded = on_folds.get((champion, fold)) or candidates.with_intervals(champion, history, window, seed)
        points.append(pd.DataFrame({TIME: window[TIME].to_numpy(), TARGET: actual, YHAT: bounded.mean}))
        for level in data.levels:
            scores[level].append(conformity(actual, *bounded.intervals[level]))
        for q in data.quantiles:
            below[q].append(actual - start(bounded, q))
    none = [np.empty(0)]  # a series with no fold keeps its model's own bounds, but where the run's pool moves them
    own = {level: np.concatenate(s or none) for level, s in scores.items()}
    scaled = np.isfinite(splits.scale) and splits.scale > 0
    levels = {}
    for level, values in own.items():
        if scaled and not enough(len(values), level) and str(level) in (pooled or {}):
            levels[level] = pooled[str(level)] * splits.scale
        else:
            levels[level] = correction(values, level)
    return FoldCalibration(
        corrections=Corrections(
            levels=levels, quantiles={q: one_sided(np.concatenate(s or none), q) for q, s in below.items()}
        ),
        on_folds=pd.concat(points or [pd.DataFrame(columns=[TIME, TARGET, YHAT])], ignore_index=True),
        scores={str(level): kept(values, splits.scale) for level, values in own.items()},
    )


def calibrated(forecast: Forecast, corrections: Corrections, floor: float | None) -> Forecast:
    """The forecast's points, its output levels' bounds moved by their corrections (never past the point) and nested
    (a wider level's never inside a narrower one's), and each quantile moved by its own, in order; the bounds and
    quantiles clipped at the floor."""
    point, intervals = forecast.mean, {}
    for level, q in corrections.levels.items():  # an interval moved in still holds its point forecast
        lo, hi = forecast.intervals[level]
        intervals[level] = Interval(np.minimum(lo - q, point), np.maximum(hi + q, point))
    ordered = sorted(corrections.levels)
    for narrow, wide in zip(ordered, ordered[1:], strict=False):
        intervals[wide] = Interval(
            np.minimum(intervals[wide].lo, intervals[narrow].lo), np.maximum(intervals[wide].hi, intervals[narrow].hi)
        )
    quantiles = sorted(corrections.quantiles)
    moved = (
        np.maximum.accumulate([start(forecast, q) + corrections.quantiles[q] for q in quantiles]) if quantiles else []
    )
    out = Forecast(point, intervals, dict(zip(quantiles, moved, strict=True)))
    return out.at_least(floor, point=False)
