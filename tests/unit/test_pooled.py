"""The pooled-seasonal challenger: factors from many series' ratios, one series' trend, its forecast and bounds."""

import json

import numpy as np
import pandas as pd
import pytest

from manymodels.forecasters.pooled import (
    POOLED,
    centred_mean,
    month_shares,
    pool,
    pooled_forecast,
    season_slots,
    seasonal_index,
    series_ratios,
    yearly_points,
)
from manymodels.prepare import prepare_series
from manymodels.settings import DataSpec

WEEK = [0.8, 0.9, 0.9, 1.0, 1.0, 1.1, 1.3]
YEAR = [0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.2, 1.0, 1.0, 1.0, 0.8]


def shaped(
    level: float, days: int = 3 * 365, slope: float = 0.0, start="2020-01-01"
) -> tuple[np.ndarray, pd.DatetimeIndex]:
    dates = pd.date_range(start, periods=days, freq="D")
    season = np.asarray(WEEK)[dates.day_of_week] * np.asarray(YEAR)[dates.month - 1]
    return (level + slope * np.arange(days)) * season, dates


@pytest.mark.parametrize(("freq", "points"), [("D", 365), ("W", 52), ("W-SUN", 52), ("MS", 12), ("h", None)])
def test_points_per_year_by_frequency(freq, points):
    assert yearly_points(freq) == points


def test_pooling_recovers_the_shared_shape_whatever_each_series_level():
    contributions = [series_ratios(*shaped(level), "D") for level in (3.0, 40.0, 900.0)]
    factors = pool(contributions)
    week, year = np.asarray(WEEK) / np.mean(WEEK), np.asarray(YEAR) / np.mean(YEAR)
    np.testing.assert_allclose(factors["day_of_week"], week, rtol=0.01)
    np.testing.assert_allclose(factors["month"], year, rtol=0.03)
    assert np.mean(factors["day_of_week"]) == pytest.approx(1) and np.mean(factors["month"]) == pytest.approx(1)


def test_series_without_ratios_contribute_nothing():
    y, dates = shaped(10.0)
    assert series_ratios(y[:300], dates[:300], "D") is None  # under a year: no yearly average
    assert series_ratios(y - 20, dates, "D") is None  # negative values: no multiplicative shape
    assert series_ratios(y, dates, "h") is None
    assert pool([None, None]) is None


def test_weekly_series_have_month_factors_only_and_an_unseen_slot_drops_its_cycle():
    dates = pd.date_range("2020-01-05", periods=3 * 52, freq="W")
    weekly = series_ratios(np.asarray(YEAR)[dates.month - 1] * 50, dates, "W")
    assert set(weekly["sums"]) == {"month"} and sum(weekly["counts"]["month"]) > 0
    blind = {"sums": {"month": [1.0] * 11 + [0.0]}, "counts": {"month": [1] * 11 + [0]}}
    assert pool([blind]) is None


def test_a_week_takes_each_month_by_its_share_of_days():
    shares = month_shares(pd.to_datetime(["2017-12-03", "2017-12-10", "2018-01-02"]))
    np.testing.assert_allclose(shares[0, [10, 11]], [4 / 7, 3 / 7])  # Monday 27 November to Sunday 3 December
    assert shares[1, 11] == pytest.approx(1) and shares[2, [11, 0]] == pytest.approx([5 / 7, 2 / 7])
    np.testing.assert_allclose(shares.sum(axis=1), 1)


def test_weekly_sums_of_a_monthly_shape_are_matched_in_the_weeks_across_two_months():
    days = pd.date_range("2019-12-30", periods=5 * 365, freq="D")
    weeks = pd.Series(50 * np.asarray(YEAR)[days.month - 1], index=days).resample("W-SUN").sum()[1:-1]
    factors = pool([series_ratios(weeks.to_numpy(), weeks.index, "W-SUN")])
    np.testing.assert_allclose(factors["month"], np.asarray(YEAR) / np.mean(YEAR), atol=0.01)
    level = weeks.to_numpy() / seasonal_index(weeks.index, "W-SUN", factors)
    assert np.abs(level / np.median(level) - 1).max() < 0.02  # the last day's month alone: 20% off at a boundary


def test_forecast_extends_the_trend_with_the_factors():
    y, dates = shaped(50.0, slope=0.01)
    factors = {"day_of_week": WEEK, "month": YEAR}
    history, future = 900, dates[900:990]
    out = pooled_forecast(y[:history], dates[:history], future, "D", factors, levels=[80, 95])
    np.testing.assert_allclose(out.mean, y[history:990], rtol=1e-9)
    np.testing.assert_allclose(out.mean, (50 + 0.01 * np.arange(900, 990)) * seasonal_index(future, "D", factors))
    for level in (80, 95):  # exact data: no residuals, so the bounds close on the point
        np.testing.assert_allclose(out.intervals[level].lo, out.mean, atol=1e-6)


def test_bounds_widen_with_the_level_on_noisy_data():
    y, dates = shaped(50.0)
    y = np.random.default_rng(0).poisson(y).astype(float)
    out = pooled_forecast(y[:900], dates[:900], dates[900:990], "D", {"day_of_week": WEEK}, levels=[80, 95])
    assert (out.intervals[95].lo < out.intervals[80].lo).all() and (out.intervals[80].lo < out.mean).all()
    assert (out.mean < out.intervals[80].hi).all() and (out.intervals[80].hi < out.intervals[95].hi).all()


def test_prepared_series_carry_their_ratios_from_before_the_first_fold():
    spec = DataSpec(url="x", id_cols=["store"], time_col="date", target_col="sales", horizon=30, folds=2)
    y, dates = shaped(20.0, days=800)
    rows = pd.DataFrame({"store": "1", "series_id": "1", "ds": dates, "y": y, "row": range(len(y))})
    _, profile = prepare_series(rows, spec)
    expected = series_ratios(y[: 800 - 3 * 30], dates[: 800 - 3 * 30], "D")
    assert json.loads(profile["summaries"]) == {POOLED: expected}
    _, short = prepare_series(rows.iloc[:400], spec)  # 310 points before the folds: under a year
    assert short["status"] == "ok" and short["summaries"] == ""


def test_a_series_shares_the_pooled_shape_only_where_its_own_cycles_agree():
    from manymodels.forecasters.pooled import own_factors, shares_shape

    dates = pd.date_range("2021-01-01", periods=200, freq="D")
    weekly = np.array([0.8, 0.9, 0.9, 1.0, 1.0, 1.1, 1.3])
    y = 50 * weekly[dates.day_of_week] * (1 + 0.01 * np.random.default_rng(0).standard_normal(200))
    np.testing.assert_allclose(own_factors(y, dates, "D")["day_of_week"], weekly / weekly.mean(), rtol=0.02)
    assert "month" not in own_factors(y, dates, "D")  # under a year: no month factors of its own
    pooled = {"day_of_week": list(weekly), "month": [1.0] * 12}
    assert shares_shape(y, dates, "D", pooled)
    assert not shares_shape(y, dates, "D", {"day_of_week": list(weekly[::-1])})
    assert not shares_shape(y[:20], dates[:20], "D", pooled)  # too short to show a cycle: not forced onto it
    assert not shares_shape(y, dates, "D", {"month": list(np.linspace(0.5, 1.5, 12))})  # no cycle in common


@pytest.mark.parametrize("window", [1, 2, 7, 12, 52, 365])
def test_the_centred_mean_is_pandas_centred_rolling_mean(window):
    y = np.random.default_rng(window).gamma(2.0, 30.0, 400)
    expected = pd.Series(y).rolling(window, center=True).mean().to_numpy()
    scale = 1e-14 * y.sum()  # a difference of running sums is exact to about their total's rounding
    np.testing.assert_allclose(centred_mean(y, window), expected, rtol=1e-12, atol=scale, equal_nan=True)


def test_season_slots_are_the_month_and_day_of_week():
    dates = pd.date_range("1969-12-25", periods=800, freq="D")
    slots = season_slots(dates, "D")
    assert (slots["month"] == dates.month - 1).all() and (slots["day_of_week"] == dates.day_of_week).all()
