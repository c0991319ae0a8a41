"""The champion's intervals, calibrated on its folds, cover new draws of a series whose distribution is known."""

import numpy as np
import pandas as pd

from manymodels.columns import SPLIT, TARGET, TRAIN
from manymodels.metrics import seasonal_mae
from manymodels.prepare import prepare_series
from manymodels.series import tune_series
from manymodels.settings import DataSpec, TuningSpec

SPEC = DataSpec(url="x", id_cols=["store"], time_col="date", target_col="sales", horizon=14, quantiles=[0.1, 0.5, 0.9])


def test_calibrated_intervals_and_quantiles_cover_new_draws_near_their_levels():
    coverage, below = {80: [], 95: []}, {0.1: [], 0.5: [], 0.9: []}
    for seed in range(12):  # one series' 56 fold points set its coverage within about 6 points; twelve, within 2
        rng = np.random.default_rng(seed)
        dates = pd.date_range("2022-01-01", periods=500)
        raw = pd.DataFrame({"store": "1", "series_id": "1", "ds": dates, "y": 100 + 10 * rng.normal(size=500)})
        series, _ = prepare_series(raw.assign(row=range(500)), SPEC)
        forecast = tune_series(series, SPEC, TuningSpec(trials=2, seed=0)).forecast
        new = 100 + 10 * rng.normal(size=(5000, 14))  # the same white noise after the last day
        for level, shares in coverage.items():
            lo, hi = forecast[f"lo_{level}"].to_numpy(), forecast[f"hi_{level}"].to_numpy()
            shares.append(np.mean((new >= lo) & (new <= hi)))
        for q, shares in below.items():
            shares.append(np.mean(new <= forecast[f"q_{q:g}"].to_numpy()))
    assert 0.74 <= np.mean(coverage[80]) <= 0.86, coverage
    assert 0.92 <= np.mean(coverage[95]) <= 0.985, coverage
    for q, shares in below.items():
        assert abs(np.mean(shares) - q) <= 0.06, below


def test_a_series_too_short_for_its_own_scores_takes_the_runs_pooled_correction_times_its_scale():
    rng = np.random.default_rng(0)
    raw = pd.DataFrame({"store": "1", "series_id": "1", "ds": pd.date_range("2022-01-01", periods=40)})
    series, _ = prepare_series(raw.assign(y=100 + 10 * rng.normal(size=40), row=range(40)), SPEC)
    own = tune_series(series, SPEC, TuningSpec(trials=1))
    pooled = tune_series(series, SPEC, TuningSpec(trials=1), pooled={"80": 1.5, "95": 2.5})
    assert own.errors_by_fold == {} and own.scaled_scores == {"80": [], "95": []}  # no fold: its model's own bounds
    scale = seasonal_mae(series.loc[series[SPLIT] == TRAIN, TARGET].to_numpy(), SPEC.period)  # all before its test
    for level, q in ((80, 1.5), (95, 2.5)):
        np.testing.assert_allclose(pooled.forecast[f"lo_{level}"], own.forecast[f"lo_{level}"] - q * scale)
        np.testing.assert_allclose(pooled.forecast[f"hi_{level}"], own.forecast[f"hi_{level}"] + q * scale)
    np.testing.assert_allclose(pooled.forecast["yhat"], own.forecast["yhat"])
