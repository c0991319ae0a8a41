"""Choosing a series' champion. The untuned candidates and the ensembles are compared on every fold, none of which
any of them was tuned on (an ensemble's members are chosen on the other folds): a single model must beat the median
of seasonal naive, AutoETS and AutoTheta by the rule's single_margin to be chosen over it, a chosen ensemble only
has to beat it (its fold errors are already held out: each fold's members were chosen on the others), and the best
single model that qualified by over_single_margin. The tuned Prophet, tuned on the earlier folds, then takes the
place of that choice where it does better by tuned_margin on the selection folds, which no trial saw. Choosing one
of many models on one or two windows picks by noise on unrelated series; every fold, and a median that needs no
choosing, make the choice hold on windows it never saw. The rule is a value (ChampionRule): benchmarks/selection.py
replays variants of it.

The first three margins were set from the runs' own test windows, which no choice sees (benchmarks/selection.py;
figures in the README): against 0.1 for all, a single model's 0.2 and an ensemble's 0 gave a lower OWA on store-item
weekly and on three of the four panels of unrelated series, and the same on store-item daily. over_single_margin
after store-item daily's held-out days, where ensembles that beat pooled_seasonal on the folds by about 1% lost to it
(benchmarks/RESULTS.md)."""

import dataclasses
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from manymodels.bounds import Forecast
from manymodels.candidates import PROPHETS, TUNED, Candidates
from manymodels.ensembles import CHOSEN, MEDIAN, chosen, held_out
from manymodels.metrics import METRICS


@dataclass(frozen=True)
class ChampionRule:
    """How a series' champion is chosen on its fold errors (choose_champion). Each margin is how much lower (as a
    share) a candidate's error must be than that of what it replaces: a single model's than the baseline's, a chosen
    ensemble's than the baseline's and (over_single) than the best qualifying single model's, the tuned Prophet's
    than the choice's on the selection folds. baseline: the ensemble that needs no choosing, chosen where nothing
    beats it; chosen: the ensembles held to ensemble_margin rather than single_margin. run_weight: how many folds
    the whole run's evidence weighs when the champions are chosen with it (run_selection)."""

    single_margin: float = 0.2
    ensemble_margin: float = 0.0
    tuned_margin: float = 0.1
    over_single_margin: float = 0.03
    baseline: str = MEDIAN
    chosen: tuple[str, ...] = CHOSEN
    run_weight: float = 16.0  # folds' worth of weight of the run's evidence against a series' own (run_selection)

    def scaled(self, share: float) -> "ChampionRule":
        """This rule with the margins among the untuned candidates times share (the tuned Prophet's kept whole)."""
        margins = ("single_margin", "ensemble_margin", "over_single_margin")
        return dataclasses.replace(self, **{m: share * getattr(self, m) for m in margins})


DEFAULT_RULE = ChampionRule()


def fold_errors(candidates: Candidates, metric: str) -> tuple[dict[str, list[float]], dict[tuple[str, int], Forecast]]:
    """Each candidate's error on each fold it is scored on: the untuned ones and the ensembles on every fold (each
    ensemble with members chosen on the other folds), the tuned Prophet (its parameters refitted, as a trial fits
    them) on the selection folds only; and, by (model, fold), the forecasts whose bounds came with the fit (every
    model but Prophet's), for calibration. Sets the candidates' ensembles, chosen on every fold. A challenger that
    raises on a fold leaves the contest (Candidates.drop)."""
    splits, error, levels = candidates.splits, METRICS[metric], candidates.data.bound_levels
    errors, bounded, actuals = defaultdict(list), {}, []
    for step, (cut, end) in enumerate(splits.folds):
        history, window, actual = splits.fold(cut, end)
        actuals.append(actual)
        points = {m: candidates.point(m, history, window, rough=True) for m in candidates.untuned if m in PROPHETS}
        for model in candidates.members:
            try:
                bounded[(model, step)] = candidates.challenger(model, history, window, levels)
            except Exception as raised:  # the model leaves this series' contest; the others go on
                candidates.drop(model, raised)
                continue
            points[model] = bounded[(model, step)].mean
        if TUNED in candidates.models and step in splits.selection:
            points[TUNED] = candidates.trial(candidates.tuned_params, step)[0]
        for model, yhat in points.items():
            errors[model].append(error(actual, yhat, splits.scale))

    def score(actual: np.ndarray, yhat: np.ndarray) -> float:
        return error(actual, yhat, splits.scale)

    errors = defaultdict(list, {m: v for m, v in errors.items() if m not in candidates.dropped})  # before it raised
    bounded = {key: f for key, f in bounded.items() if key[0] not in candidates.dropped}

    members = {m: errors[m] for m in candidates.members if m in errors}  # none where there is no fold
    member_points = [{m: bounded[(m, step)].mean for m in members} for step in range(len(actuals))]
    for step, ensembles in enumerate(held_out(members, member_points, actuals, score)):
        for name, ensemble in ensembles.items():
            bounded[(name, step)] = ensemble.combine({m: bounded[(m, step)] for m in ensemble.weights})
            errors[name].append(score(actuals[step], bounded[(name, step)].mean))
    ensembles = chosen(members, member_points, actuals, score)
    candidates.ensembles = {name: ensemble for name, ensemble in ensembles.items() if name in candidates.models}
    return dict(errors), bounded


def mean_errors(errors: dict[str, list[float]]) -> dict[str, float]:
    """Each candidate's mean error over the folds it was scored on."""
    return {model: float(np.mean(values)) for model, values in errors.items()}


def choose_champion(errors: dict[str, list[float]], rule: ChampionRule = DEFAULT_RULE) -> str:
    """The lowest mean fold error among the baseline (the median), the single untuned models below
    (1 - single_margin) of the baseline's and the chosen ensembles below (1 - ensemble_margin) of it, an ensemble
    only where it is also below (1 - over_single_margin) of the best such single model's; then the tuned Prophet
    instead where its error on the selection folds is below (1 - tuned_margin) of that choice's there. A NaN error
    never wins. With no fold (a series too short for one), the baseline."""
    baseline, chosen_ensembles = rule.baseline, rule.chosen
    if not errors:
        return baseline
    means = {m: np.nan_to_num(v, nan=np.inf) for m, v in mean_errors(errors).items()}
    options = {baseline: means[baseline]}
    for model, mean in means.items():
        margin = rule.ensemble_margin if model in chosen_ensembles else rule.single_margin
        if model not in (baseline, TUNED) and mean < (1 - margin) * means[baseline]:
            options[model] = mean
    choice = min(options, key=options.get)
    singles = {m: v for m, v in options.items() if m not in (baseline, *chosen_ensembles)}
    if choice in chosen_ensembles and singles:
        single = min(singles, key=singles.get)
        if not options[choice] < (1 - rule.over_single_margin) * singles[single]:
            choice = single
    if TUNED in errors:
        on_selection = np.nan_to_num(np.mean(errors[choice][-len(errors[TUNED]) :]), nan=np.inf)
        if means[TUNED] < (1 - rule.tuned_margin) * on_selection:
            return TUNED
    return choice
