"""Ensembles of a series' candidates: how they combine, and how their members are chosen on the folds."""

import numpy as np
import pytest

from manymodels.bounds import Forecast, Interval
from manymodels.ensembles import BEST3, GREEDY, MEDIAN, Ensemble, best_k, chosen, greedy, held_out, median_of
from manymodels.metrics import mase


def score(actual, yhat):
    return mase(actual, yhat, 1.0)  # the mean absolute error


def test_the_median_and_the_weighted_mean_combine_each_bound_on_its_own():
    def forecast(mean, lo, hi, q):
        return Forecast(np.array(mean), {80: Interval(np.array(lo), np.array(hi))}, {0.9: np.array(q)})

    forecasts = {
        "a": forecast([1.0, 5.0], [0.0, 4.0], [2.0, 6.0], [3.0, 3.0]),
        "b": forecast([3.0, 1.0], [2.0, 0.0], [4.0, 2.0], [5.0, 1.0]),
        "c": forecast([2.0, 2.0], [1.0, 1.0], [9.0, 9.0], [4.0, 2.0]),
    }

    def plain(f: Forecast) -> dict:
        lo, hi = f.intervals[80]
        return {"mean": f.mean.tolist(), "lo": lo.tolist(), "hi": hi.tolist(), "q": f.quantiles[0.9].tolist()}

    median = median_of(["a", "b", "c"]).combine(forecasts)
    assert plain(median) == {"mean": [2, 2], "lo": [1, 1], "hi": [4, 6], "q": [4, 2]}
    mean = Ensemble({"a": 0.5, "b": 0.5}).combine(forecasts)
    assert plain(mean) == {"mean": [2, 3], "lo": [1, 2], "hi": [3, 4], "q": [4, 2]}


def test_best_k_takes_the_lowest_mean_errors_and_never_a_nan():
    errors = {"a": [3.0, 3.0], "b": [np.nan, 1.0], "c": [1.0, 1.0], "d": [2.0, 4.0], "e": [9.0, 9.0]}
    assert best_k(errors) == median_of(["c", "a", "d"])


def test_greedy_weights_cancel_opposite_errors_and_keep_a_perfect_model_alone():
    actuals = [np.zeros(4), np.zeros(4)]
    opposite = [{"high": np.ones(4), "low": -np.ones(4), "far": np.full(4, 5.0)} for _ in actuals]
    assert greedy(opposite, actuals, score).weights == {"high": 0.5, "low": 0.5}
    perfect = [{"high": np.ones(4), "exact": np.zeros(4)} for _ in actuals]
    assert greedy(perfect, actuals, score).weights == {"exact": 1.0}
    broken = [{"nan": np.full(4, np.nan), "high": np.ones(4)} for _ in actuals]
    assert greedy(broken, actuals, score).weights == {"high": 1.0}


def test_each_fold_is_scored_with_members_chosen_on_the_other_folds_only():
    rng = np.random.default_rng(0)
    actuals = [rng.normal(size=5) for _ in range(3)]
    points = [
        {m: a + rng.normal(scale=s, size=5) for m, s in zip("abcd", (0.1, 0.5, 1.0, 2.0), strict=True)} for a in actuals
    ]
    errors = {m: [score(a, p[m]) for a, p in zip(actuals, points, strict=True)] for m in "abcd"}
    before = held_out(errors, points, actuals, score)
    # the last fold changed beyond recognition: the ensembles scored on the other folds do not move
    points[2] = {m: np.full(5, 100.0 if m == "a" else 0.0) for m in "abcd"}
    errors = {m: [score(a, p[m]) for a, p in zip(actuals, points, strict=True)] for m in "abcd"}
    after = held_out(errors, points, actuals, score)
    assert after[2] == before[2]
    assert "a" in before[0][BEST3].weights and "a" not in after[0][BEST3].weights  # fold 0's choice saw fold 2
    assert set(after[2]) == {MEDIAN, BEST3, GREEDY}
    assert chosen(errors, points, actuals, score)[BEST3] == best_k(errors)


@pytest.mark.parametrize("rounds", [1, 4, 10])
def test_greedy_weights_are_shares_of_its_rounds(rounds):
    actuals = [np.arange(6.0)]
    points = [{"a": np.arange(6.0) + 1, "b": np.arange(6.0) - 2, "c": np.arange(6.0) * 2}]
    weights = greedy(points, actuals, score, rounds=rounds).weights
    assert sum(weights.values()) == pytest.approx(1)
    assert all((w * rounds).is_integer() for w in weights.values())
