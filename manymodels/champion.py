"""Choosing a series' champion: every candidate scored on the same rolling-origin folds, the lowest mean error wins."""

import numpy as np

from manymodels.candidates import MODELS, TUNED, Candidates
from manymodels.metrics import METRICS


def fold_errors(candidates: Candidates, tuned_value: float, metric: str) -> dict[str, float]:
    """Each candidate's mean error over the folds; the tuned Prophet's is its study's best value."""
    splits, error = candidates.splits, METRICS[metric]
    errors = {TUNED: tuned_value}
    for model in candidates.models:
        if model == TUNED:
            continue
        scores = []
        for cut, end in splits.folds:
            history, window, actual = splits.fold(cut, end)
            scores.append(error(actual, candidates.point(model, history, window, rough=True), splits.scale))
        errors[model] = float(np.mean(scores))
    return errors


def choose_champion(errors: dict[str, float]) -> str:
    """The model with the lowest mean fold error (a NaN error never wins); ties go to the earlier in MODELS."""
    return min(errors, key=lambda m: (np.nan_to_num(errors[m], nan=np.inf), MODELS.index(m)))
