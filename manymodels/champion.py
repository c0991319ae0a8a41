"""Choosing a series' champion: every candidate scored on the same selection folds, which Prophet's tuning did not
see; the lowest mean error wins."""

import numpy as np

from manymodels.candidates import MODELS, TUNED, Candidates
from manymodels.metrics import METRICS


def fold_errors(candidates: Candidates, metric: str) -> dict[str, float]:
    """Each candidate's mean error over the selection folds, which the tuning did not see: the tuned Prophet's
    parameters refitted there, as a trial would fit them."""
    splits, error = candidates.splits, METRICS[metric]
    errors = {}
    for model in candidates.models:
        scores = []
        for step in splits.selection:
            history, window, actual = splits.fold(*splits.folds[step])
            if model == TUNED:
                yhat = candidates.trial(candidates.tuned_params, step)[0]
            else:
                yhat = candidates.point(model, history, window, rough=True)
            scores.append(error(actual, yhat, splits.scale))
        errors[model] = float(np.mean(scores))
    return errors


def choose_champion(errors: dict[str, float]) -> str:
    """The model with the lowest mean fold error (a NaN error never wins); ties go to the earlier in MODELS."""
    return min(errors, key=lambda m: (np.nan_to_num(errors[m], nan=np.inf), MODELS.index(m)))
