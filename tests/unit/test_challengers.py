"""The challengers' forecasts and M4's Naive2, against hand-computed values."""

import numpy as np
import pytest

from manymodels.forecasters import registry
from manymodels.forecasters.intermittent import Intermittent, is_intermittent
from manymodels.forecasters.statsforecast_models import recent
from manymodels.naive2 import is_seasonal, naive2
from manymodels.splits import rolling_folds
from manymodels.synthetic import make_intermittent

INTERMITTENT = [m.name for m in registry.challengers() if isinstance(m, Intermittent)]


def challenger_forecast(name: str, y: np.ndarray, horizon: int, period: int, levels=()):
    return registry.named(name).on_values(y, horizon, period, levels)


WEEKLY = np.tile([10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0], 8)


def test_naive_and_seasonal_naive_repeat_the_last_value_and_season_with_widening_intervals():
    naive = challenger_forecast("naive", np.array([3.0, 5.0, 4.0]), 3, 1, [80])
    assert naive.mean.tolist() == [4.0, 4.0, 4.0]
    assert (np.diff(naive.intervals[80].hi - naive.intervals[80].lo) > 0).all()
    seasonal = challenger_forecast("seasonal_naive", WEEKLY, 9, 7)
    assert seasonal.mean.tolist() == [10, 20, 30, 40, 50, 60, 70, 10, 20]


def test_a_season_longer_than_half_the_history_falls_back_to_no_season():
    assert challenger_forecast("seasonal_naive", np.array([1.0, 2.0, 3.0]), 2, 7).mean.tolist() == [3.0, 3.0]


def test_ets_and_theta_fit_recent_history_and_give_nested_intervals():
    assert len(recent(np.arange(5000.0), 7, 28)) == 112
    assert not registry.named("naive").recent_only and registry.named("auto_ets").recent_only
    for name in ("auto_ets", "auto_theta"):
        out = challenger_forecast(name, WEEKLY + np.arange(len(WEEKLY)) * 0.01, 7, 7, [80, 95])
        assert (out.intervals[95].lo <= out.intervals[80].lo).all() and (
            out.intervals[80].hi <= out.intervals[95].hi
        ).all()
        np.testing.assert_allclose(out.mean, WEEKLY[:7] + np.arange(56, 63) * 0.01, rtol=0.02)


def test_seasonality_test_finds_a_weekly_pattern_and_not_noise():
    assert is_seasonal(WEEKLY, 7)
    assert not is_seasonal(np.random.default_rng(0).normal(100, 1, 200), 7)
    assert not is_seasonal(WEEKLY[:14], 7)  # shorter than three seasons


def test_naive2_reseasonalises_the_last_value_and_is_plain_naive_without_seasonality():
    # a multiplicative weekly pattern on a flat level: Naive2 reproduces the next week exactly
    pattern = np.array([0.5, 1.0, 1.5, 1.0, 0.5, 1.0, 1.5])
    y = 100 * np.tile(pattern, 6)
    assert naive2(y, 7, 7) == pytest.approx(100 * np.roll(pattern, -(len(y) % 7)))
    assert naive2(np.array([1.0, 3.0, 2.0, 5.0]), 3, 1).tolist() == [5.0, 5.0, 5.0]


def test_rolling_folds_are_the_last_windows_before_the_test():
    assert rolling_folds(100, 10, 3) == [(70, 80), (80, 90), (90, 100)]


def test_intermittent_demand_is_told_apart_by_the_average_interval_between_demands():
    demand = make_intermittent(1, days=400, seed=3)["sales"].to_numpy()
    assert is_intermittent(demand)
    assert not is_intermittent(np.random.default_rng(0).poisson(20, 400))  # smooth retail sales
    assert is_intermittent(np.r_[np.ones(100), np.zeros(32)]) and not is_intermittent(np.r_[np.ones(100), np.zeros(31)])
    assert not is_intermittent(np.r_[-1.0, np.zeros(10), 5.0]) and not is_intermittent(np.zeros(10))


@pytest.mark.parametrize("name", INTERMITTENT)
def test_intermittent_models_forecast_the_mean_demand_and_their_bounds_cover_new_days(name):
    means, covered = [], []
    for seed in range(10):  # one history's estimate is noisy (TSB smooths recent demand): their average is not
        days = make_intermittent(1, days=930, seed=seed, rate=0.2, size=4.0)["sales"].to_numpy(float)
        history, later = days[:730], days[730:]
        out = challenger_forecast(name, history, 14, 7, [80, 95])
        assert (out.intervals[95].lo <= out.intervals[80].lo).all() and (out.intervals[80].lo <= out.mean).all()
        assert (out.mean <= out.intervals[80].hi).all() and (out.intervals[80].hi <= out.intervals[95].hi).all()
        means.append(out.mean.mean())
        covered.append(np.mean((later >= out.intervals[95].lo[0]) & (later <= out.intervals[95].hi[0])))
    assert np.mean(means) == pytest.approx(0.2 * (1 + 4.0), rel=0.15)  # the known mean demand per day
    assert np.mean(covered) >= 0.93


@pytest.mark.parametrize("name", ["auto_ets", "auto_theta"])
def test_a_history_too_short_for_a_fit_is_forecast_as_naive_does(name):
    noise = np.random.default_rng(0).normal(10, 1, 8)
    for length in range(1, 8):
        out = challenger_forecast(name, noise[:length], 3, 7, [80])
        assert np.isfinite(out.mean).all() and (out.intervals[80].lo <= out.intervals[80].hi).all(), length
    assert challenger_forecast(name, np.array([4.0, 6.0, 5.0]), 2, 7).mean.tolist() == [5.0, 5.0]


def test_a_model_that_writes_to_its_input_is_given_a_copy():
    from manymodels.forecasters.statsforecast_models import Statsforecast

    class WritesItsInput:  # as statsforecast's AutoCES does
        def forecast(self, y, h, level=None):
            y[:] = y - y.mean()
            return {"mean": np.full(h, 1.0)}

    y = WEEKLY.copy()
    y.flags.writeable = False  # as a pandas column's values under copy-on-write
    assert Statsforecast("writes", lambda period: WritesItsInput()).on_values(y, 7, 7).mean.tolist() == [1.0] * 7
    assert (y == WEEKLY).all()
