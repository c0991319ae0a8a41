"""Choosing a series' champion. The untuned candidates and the median of seasonal naive, AutoETS and AutoTheta are
compared on every fold, none of which any of them was tuned on: a single model must beat the median by MARGIN to be
chosen over it. The tuned Prophet, tuned on the earlier folds, then takes the place of that choice where it does
better by MARGIN on the selection folds, which no trial saw. Choosing one of many models on one or two windows picks
by noise on unrelated series; every fold, and a median that needs no choosing, make the choice hold on windows it
never saw."""

from collections import defaultdict

import numpy as np

from manymodels.candidates import MEDIAN, MEMBERS, PROPHETS, TUNED, Candidates, median_of
from manymodels.metrics import METRICS

MARGIN = 0.1  # how much lower (as a share) a single model's error must be than that of what it replaces


def fold_errors(candidates: Candidates, metric: str) -> tuple[dict[str, list[float]], dict[tuple[str, int], dict]]:
    """Each candidate's error on each fold it is scored on: the untuned ones and the median on every fold, the
    tuned Prophet (its parameters refitted, as a trial fits them) on the selection folds only; and, by (model,
    fold), the forecasts whose bounds came with the fit (every model but Prophet's), for calibration."""
    splits, error, levels = candidates.splits, METRICS[metric], candidates.data.bound_levels
    errors, bounded = defaultdict(list), {}
    for step, (cut, end) in enumerate(splits.folds):
        history, window, actual = splits.fold(cut, end)
        points = {m: candidates.point(m, history, window, rough=True) for m in candidates.untuned if m in PROPHETS}
        for model in (m for m in candidates.untuned if m not in PROPHETS):
            bounded[(model, step)] = candidates.challenger(model, history, window, levels)
            points[model] = bounded[(model, step)]["mean"]
        bounded[(MEDIAN, step)] = median_of([bounded[(m, step)] for m in MEMBERS])
        points[MEDIAN] = bounded[(MEDIAN, step)]["mean"]
        if step in splits.selection:
            points[TUNED] = candidates.trial(candidates.tuned_params, step)[0]
        for model, yhat in points.items():
            errors[model].append(error(actual, yhat, splits.scale))
    return dict(errors), bounded


def mean_errors(errors: dict[str, list[float]]) -> dict[str, float]:
    """Each candidate's mean error over the folds it was scored on."""
    return {model: float(np.mean(values)) for model, values in errors.items()}


def choose_champion(errors: dict[str, list[float]]) -> str:
    """The median, or the single untuned model whose mean fold error is below (1 - MARGIN) of the median's (the
    lowest such); then the tuned Prophet instead where its error on the selection folds is below (1 - MARGIN) of
    that choice's there. A NaN error never wins."""
    means = {m: np.nan_to_num(v, nan=np.inf) for m, v in mean_errors(errors).items()}
    singles = {m: v for m, v in means.items() if m not in (MEDIAN, TUNED)}
    best = min(singles, key=singles.get)
    chosen = best if singles[best] < (1 - MARGIN) * means[MEDIAN] else MEDIAN
    if TUNED in errors:
        on_selection = np.nan_to_num(np.mean(errors[chosen][-len(errors[TUNED]) :]), nan=np.inf)
        if means[TUNED] < (1 - MARGIN) * on_selection:
            return TUNED
    return chosen
