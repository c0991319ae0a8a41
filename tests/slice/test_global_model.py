"""The global LightGBM across series: every window forecast by a model that saw only the points before it, and the
global model competing for champion per series."""

import numpy as np
import pandas as pd
import pytest

from manymodels.columns import SERIES_ID, TARGET, TIME
from manymodels.forecasters.global_lgbm import (
    GLOBAL,
    date_features,
    global_forecasts,
    lags,
    read_forecasts,
    train_and_write,
)
from manymodels.prepare import prepare_series
from manymodels.series import tune_series
from manymodels.settings import DataSpec, TuningSpec
from manymodels.synthetic import make_retail_sales
from tests.helpers import SPEC

H = SPEC.horizon


def prepared(series: int, days: int, seed: int) -> list[pd.DataFrame]:
    raw = make_retail_sales(series, days=days, seed=seed).rename(columns={"date": "ds", "sales": "y"})
    raw["series_id"] = raw["store"].astype(str) + "-" + raw["item"].astype(str) + f"-{days}"
    raw["row"] = range(len(raw))
    return [prepare_series(rows, SPEC)[0] for _, rows in raw.groupby("series_id")]


@pytest.fixture(scope="module")
def frames() -> pd.DataFrame:
    """Three series of 300 days and one of 100, ending on different days."""
    return pd.concat([*prepared(3, 300, 1), *prepared(1, 100, 2)], ignore_index=True)


def test_every_window_is_forecast_from_the_points_before_it(frames):
    out = global_forecasts(frames, SPEC, windows=4)
    for sid, rows in frames.groupby(SERIES_ID):
        got = out[out[SERIES_ID] == sid]
        expected = rows[TIME].iloc[-4 * H :].tolist()  # its last four windows, wherever it ends
        future = pd.date_range(rows[TIME].iloc[-1], periods=H + 1, freq="D")[1:].tolist()
        assert got[TIME].tolist() == expected + future
        assert got["yhat"].notna().all()
    # the last window (each series' test window) changed beyond recognition: no earlier window moves
    last = frames.groupby(SERIES_ID)[TIME].transform(lambda ds: ds >= ds.iloc[-H])
    moved = global_forecasts(frames.assign(**{TARGET: frames[TARGET].where(~last, 10_000.0)}), SPEC, windows=4)
    earlier = out.merge(frames.loc[~last, [SERIES_ID, TIME]], on=[SERIES_ID, TIME])
    again = moved.merge(frames.loc[~last, [SERIES_ID, TIME]], on=[SERIES_ID, TIME])
    np.testing.assert_allclose(earlier["yhat"], again["yhat"])
    future = out[TIME] > frames[TIME].max()
    assert not np.allclose(out.loc[future, "yhat"], moved.loc[moved[TIME] > frames[TIME].max(), "yhat"])


def test_the_global_model_competes_for_champion_on_the_same_folds(frames, tmp_path):
    urls = []
    for sid, rows in frames.groupby(SERIES_ID):
        urls.append(str(tmp_path / f"{sid}.parquet"))
        rows.to_parquet(urls[-1])
    out = str(tmp_path / "global.parquet")
    assert train_and_write(urls, SPEC, 5, 0, out) > 0
    sid = frames[SERIES_ID].iloc[0]
    forecast = read_forecasts(out, [sid, "no-such-series"])
    assert list(forecast) == [sid]
    result = tune_series(frames[frames[SERIES_ID] == sid], SPEC, TuningSpec(trials=2), learned={GLOBAL: forecast[sid]})
    assert np.isfinite(result.fold_errors[GLOBAL])
    test = result.backtest[result.backtest["model"] == GLOBAL].merge(forecast[sid], on=TIME, suffixes=("", "_global"))
    assert len(test) == H
    np.testing.assert_allclose(test["yhat"], np.maximum(test["yhat_global"], 0))


@pytest.mark.parametrize(
    "freq, features, period, expected_lags",
    [
        ("D", ["dayofweek", "month", "dayofyear"], 7, [7, 14, 21, 28]),
        ("W-SUN", ["month", "dayofyear"], 52, [52, 104, 156, 208]),
        ("MS", ["month"], 12, [12, 24, 36, 48]),
        ("QS", ["quarter"], 1, [1, 2, 3, 4]),
        ("h", ["hour", "dayofweek"], 24, [24, 48, 72, 96]),
    ],
)
def test_features_follow_the_frequency(freq, features, period, expected_lags):
    assert date_features(freq) == features and lags(period) == expected_lags


def test_a_weekly_set_whose_shortest_series_has_80_points_is_forecast_in_full(tmp_path):
    """Issue 23's case: weekly series, some only 80 weeks long, a horizon of 13: every series gets a forecast, the
    global model included."""
    weekly = DataSpec(url="x", id_cols=["store", "item"], time_col="date", target_col="sales", freq="W", horizon=13)
    daily = make_retail_sales(4, days=7 * 200, seed=5)
    sales = daily.groupby(["store", "item", pd.Grouper(key="date", freq="W")])["sales"].sum().reset_index()
    sales = sales[(sales["item"] != 1) | (sales["date"] >= sales["date"].max() - pd.Timedelta(weeks=79))]
    raw = sales.rename(columns={"date": "ds", "sales": "y"})
    raw["series_id"] = raw["store"].astype(str) + "-" + raw["item"].astype(str)
    raw["row"] = range(len(raw))
    prepared = [prepare_series(rows, weekly) for _, rows in raw.groupby("series_id")]
    assert all(profile["status"] == "ok" for _, profile in prepared)
    frames = pd.concat([frame for frame, _ in prepared], ignore_index=True)
    assert frames.groupby(SERIES_ID).size().min() == 80
    forecasts = global_forecasts(frames, weekly, windows=5)
    for sid, frame in frames.groupby(SERIES_ID):
        result = tune_series(
            frame, weekly, TuningSpec(trials=2), learned={GLOBAL: forecasts[forecasts[SERIES_ID] == sid]}
        )
        assert len(result.forecast) == 13 and result.forecast["yhat"].notna().all()
        assert np.isfinite(result.fold_errors[GLOBAL])
