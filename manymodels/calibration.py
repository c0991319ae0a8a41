"""Conformal calibration of the champion's intervals on its rolling-origin folds (conformalised quantile regression,
Romano, Patterson and Candès 2019): on every fold the champion was scored on, each actual is scored by how far it
falls outside the champion's own bounds (negative inside), and each level's bounds then move out (or in) by the
finite-sample quantile of those scores at that level. The model's own bounds keep their shape over the horizon
(they widen with the step); the folds set how wide they must be. The test window is never used."""

import math

import numpy as np

from manymodels.candidates import TUNED, Candidates


def conformity(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """How far each actual falls outside [lo, hi]; negative inside, by its distance to the nearer bound."""
    return np.maximum(lo - y, y - hi)


def correction(scores: np.ndarray, level: int) -> float:
    """The score at rank ceil((n + 1) * level / 100) of n: the split-conformal quantile (the largest where the
    folds hold too few points for the level)."""
    if len(scores) == 0:
        return 0.0
    rank = min(len(scores), math.ceil((len(scores) + 1) * level / 100))
    return float(np.sort(scores)[rank - 1])


def fold_corrections(candidates: Candidates, champion: str, seed: int, on_folds: dict) -> dict[int, float]:
    """Each level's correction from the champion's bounds on the folds it was scored on: the tuned Prophet's
    selection folds, every fold for the others. on_folds: (model, fold) -> forecast with bounds where the contest
    already made one; the others are fitted here."""
    splits, levels = candidates.splits, candidates.data.levels
    folds = splits.selection if champion == TUNED else range(len(splits.folds))
    scores = {level: [] for level in levels}
    for fold in folds:
        history, window, actual = splits.fold(*splits.folds[fold])
        bounded = on_folds.get((champion, fold)) or candidates.with_intervals(champion, history, window, seed)
        for level in levels:
            scores[level].append(conformity(actual, bounded[f"lo-{level}"], bounded[f"hi-{level}"]))
    return {level: correction(np.concatenate(s), level) for level, s in scores.items() if s}


def calibrated(forecast: dict[str, np.ndarray], corrections: dict[int, float], floor: float | None) -> dict:
    """The forecast with each level's bounds moved by its correction, clipped at the floor, and nested (a wider
    level's bounds never inside a narrower one's)."""
    out = dict(forecast)
    for level, q in corrections.items():
        out[f"lo-{level}"], out[f"hi-{level}"] = out[f"lo-{level}"] - q, out[f"hi-{level}"] + q
        if floor is not None:
            out[f"lo-{level}"], out[f"hi-{level}"] = (
                np.maximum(out[f"lo-{level}"], floor),
                np.maximum(out[f"hi-{level}"], floor),
            )
    ordered = sorted(corrections)
    for narrow, wide in zip(ordered, ordered[1:], strict=False):
        out[f"lo-{wide}"] = np.minimum(out[f"lo-{wide}"], out[f"lo-{narrow}"])
        out[f"hi-{wide}"] = np.maximum(out[f"hi-{wide}"], out[f"hi-{narrow}"])
    return out
