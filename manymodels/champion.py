"""Choosing a series' champion. The untuned candidates and the ensembles are compared on every fold, none of which
any of them was tuned on (an ensemble's members are chosen on the other folds): a single model or a chosen ensemble
must beat the median of seasonal naive, AutoETS and AutoTheta by MARGIN to be chosen over it. The tuned Prophet,
tuned on the earlier folds, then takes the place of that choice where it does better by MARGIN on the selection
folds, which no trial saw. Choosing one of many models on one or two windows picks by noise on unrelated series;
every fold, and a median that needs no choosing, make the choice hold on windows it never saw."""

from collections import defaultdict

import numpy as np

from manymodels.candidates import PROPHETS, TUNED, Candidates
from manymodels.ensembles import MEDIAN, chosen, held_out
from manymodels.metrics import METRICS

MARGIN = 0.1  # how much lower (as a share) a single model's error must be than that of what it replaces


def fold_errors(candidates: Candidates, metric: str) -> tuple[dict[str, list[float]], dict[tuple[str, int], dict]]:
    """Each candidate's error on each fold it is scored on: the untuned ones and the ensembles on every fold (each
    ensemble with members chosen on the other folds), the tuned Prophet (its parameters refitted, as a trial fits
    them) on the selection folds only; and, by (model, fold), the forecasts whose bounds came with the fit (every
    model but Prophet's), for calibration. Sets the candidates' ensembles, chosen on every fold."""
    splits, error, levels = candidates.splits, METRICS[metric], candidates.data.bound_levels
    errors, bounded, actuals = defaultdict(list), {}, []
    for step, (cut, end) in enumerate(splits.folds):
        history, window, actual = splits.fold(cut, end)
        actuals.append(actual)
        points = {m: candidates.point(m, history, window, rough=True) for m in candidates.untuned if m in PROPHETS}
        for model in candidates.members:
            bounded[(model, step)] = candidates.challenger(model, history, window, levels)
            points[model] = bounded[(model, step)]["mean"]
        if step in splits.selection:
            points[TUNED] = candidates.trial(candidates.tuned_params, step)[0]
        for model, yhat in points.items():
            errors[model].append(error(actual, yhat, splits.scale))

    def score(actual: np.ndarray, yhat: np.ndarray) -> float:
        return error(actual, yhat, splits.scale)

    members = {m: errors[m] for m in candidates.members}
    member_points = [{m: bounded[(m, step)]["mean"] for m in members} for step in range(len(actuals))]
    for step, ensembles in enumerate(held_out(members, member_points, actuals, score)):
        for name, ensemble in ensembles.items():
            bounded[(name, step)] = ensemble.combine({m: bounded[(m, step)] for m in ensemble.weights})
            errors[name].append(score(actuals[step], bounded[(name, step)]["mean"]))
    candidates.ensembles = chosen(members, member_points, actuals, score)
    return dict(errors), bounded


def mean_errors(errors: dict[str, list[float]]) -> dict[str, float]:
    """Each candidate's mean error over the folds it was scored on."""
    return {model: float(np.mean(values)) for model, values in errors.items()}


def choose_champion(errors: dict[str, list[float]]) -> str:
    """The median, or the single untuned model or chosen ensemble whose mean fold error is below (1 - MARGIN) of
    the median's (the lowest such); then the tuned Prophet instead where its error on the selection folds is below
    (1 - MARGIN) of that choice's there. A NaN error never wins."""
    means = {m: np.nan_to_num(v, nan=np.inf) for m, v in mean_errors(errors).items()}
    singles = {m: v for m, v in means.items() if m not in (MEDIAN, TUNED)}
    best = min(singles, key=singles.get)
    choice = best if singles[best] < (1 - MARGIN) * means[MEDIAN] else MEDIAN
    if TUNED in errors:
        on_selection = np.nan_to_num(np.mean(errors[choice][-len(errors[TUNED]) :]), nan=np.inf)
        if means[TUNED] < (1 - MARGIN) * on_selection:
            return TUNED
    return choice
