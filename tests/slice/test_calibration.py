"""The champion's intervals, calibrated on its folds, cover new draws of a series whose distribution is known."""

import numpy as np
import pandas as pd

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
