"""One series through the Optuna study and the three models, with real Prophet fits."""

import pandas as pd

from manymodels.settings import TuningSpec
from manymodels.tuning import DEFAULT, SNAIVE, TUNED, tune_series
from tests.slice.conftest import SPEC


def test_study_runs_the_requested_trials_and_forecasts_every_window(series):
    result = tune_series(series, SPEC, TuningSpec(trials=3, seed=1))
    assert result.n_trials == 3 and result.n_fits == 3 + 3
    assert {"seasonality_mode", "changepoint_prior_scale", "weekly_order"} <= set(result.best_params)
    assert "yearly_order" not in result.best_params  # 400 days: too short for yearly seasonality
    test_days = series.loc[series["split"] == "test", "ds"]
    assert result.backtest.groupby("model")["ds"].apply(list).to_dict() == {
        m: test_days.tolist() for m in (DEFAULT, SNAIVE, TUNED)
    }
    assert (result.backtest["yhat"] >= 0).all()
    expected_future = pd.date_range(series["ds"].iloc[-1], periods=15, freq="D")[1:]
    assert result.forecast["ds"].tolist() == expected_future.tolist()
    assert result.best_value >= 0


def test_same_seed_gives_the_same_study(series):
    first = tune_series(series, SPEC, TuningSpec(trials=3, seed=7))
    second = tune_series(series, SPEC, TuningSpec(trials=3, seed=7))
    assert first.best_params == second.best_params
    pd.testing.assert_frame_equal(first.forecast, second.forecast)
