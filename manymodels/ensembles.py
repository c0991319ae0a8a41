"""Ensembles of a series' untuned candidates: the median of seasonal naive, AutoETS and AutoTheta (fixed members), the
median of the three with the lowest fold error, and Caruana's greedy selection with replacement (AutoGluon's weighted
ensemble), whose weights are the share of rounds each member was picked. The two chosen ensembles are scored on each
fold with members chosen on the other folds, so their fold errors are not flattered by the choice."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from manymodels.bounds import Forecast
from manymodels.forecasters.statsforecast_models import AUTO_ETS, AUTO_THETA, SEASONAL_NAIVE

MEDIAN, BEST3, GREEDY = "median_ensemble", "best3_median", "greedy_ensemble"
ENSEMBLES = (MEDIAN, BEST3, GREEDY)
CHOSEN = (BEST3, GREEDY)  # members chosen on folds
MEDIANS = (MEDIAN, BEST3)  # the median of their members; the others a weighted mean
ROUNDS = 10  # the greedy ensemble's picks: weights in tenths

Score = Callable[[np.ndarray, np.ndarray], float]  # (actual, forecast) -> error


@dataclass(frozen=True)
class Ensemble:
    """Members with weights; median: their median point by point (equal weights, ignored), else their weighted
    mean."""

    weights: dict[str, float]
    median: bool = False

    def combine(self, forecasts: dict[str, Forecast]) -> Forecast:
        """The members' forecasts combined, the point and each bound on its own; the first member's levels."""
        members = [forecasts[m] for m in self.weights]
        if self.median:
            return Forecast.combined(members, lambda each: np.median(each, axis=0))
        weights = self.weights.values()
        return Forecast.combined(members, lambda each: sum(w * v for w, v in zip(weights, each, strict=True)))


def from_weights(name: str, weights: dict[str, float]) -> Ensemble:
    """The ensemble `name` of these members and weights (as a result keeps it)."""
    return Ensemble(dict(weights), median=name in MEDIANS)


def median_of(members: list[str]) -> Ensemble:
    return Ensemble({m: 1 / len(members) for m in members}, median=True)


FIXED_MEDIAN = median_of([SEASONAL_NAIVE.name, AUTO_ETS.name, AUTO_THETA.name])


def _finite_means(errors: dict[str, list[float]]) -> dict[str, float]:
    return {m: float(np.nan_to_num(np.mean(v), nan=np.inf)) for m, v in errors.items()}


def best_k(errors: dict[str, list[float]], k: int = 3) -> Ensemble:
    """The median of the k members with the lowest mean error (the first listed on a tie)."""
    means = _finite_means(errors)
    return median_of(sorted(means, key=means.get)[:k])


def greedy(points: list[dict[str, np.ndarray]], actuals: list[np.ndarray], score: Score, rounds=ROUNDS) -> Ensemble:
    """Caruana et al.'s ensemble selection: `rounds` times, add (again, if so) the member whose addition gives the
    equally weighted sum the lowest mean error over the folds. points: per fold, each member's point forecast."""
    members = [m for m in points[0] if all(np.isfinite(p[m]).all() for p in points)]
    picked: dict[str, int] = {}
    total = [np.zeros_like(a, dtype=float) for a in actuals]
    for n in range(1, rounds + 1):
        losses = {
            m: np.nan_to_num(
                np.mean([score(a, (t + p[m]) / n) for a, t, p in zip(actuals, total, points, strict=True)]), nan=np.inf
            )
            for m in members
        }
        best = min(losses, key=losses.get)
        picked[best] = picked.get(best, 0) + 1
        total = [t + p[best] for t, p in zip(total, points, strict=True)]
    return Ensemble({m: count / rounds for m, count in picked.items()})


def chosen(
    errors: dict[str, list[float]], points: list[dict[str, np.ndarray]], actuals: list[np.ndarray], score: Score
) -> dict[str, Ensemble]:
    """The ensembles chosen on the given folds: members' errors and point forecasts per fold, and the actuals. On
    none, the fixed median alone."""
    if not actuals:
        return {MEDIAN: FIXED_MEDIAN}
    return {MEDIAN: FIXED_MEDIAN, BEST3: best_k(errors), GREEDY: greedy(points, actuals, score)}


def held_out(
    errors: dict[str, list[float]], points: list[dict[str, np.ndarray]], actuals: list[np.ndarray], score: Score
) -> list[dict[str, Ensemble]]:
    """For each fold, the ensembles chosen on the other folds (leave one fold out)."""
    return [
        chosen(
            {m: v[:f] + v[f + 1 :] for m, v in errors.items()},
            points[:f] + points[f + 1 :],
            actuals[:f] + actuals[f + 1 :],
            score,
        )
        for f in range(len(actuals))
    ]
