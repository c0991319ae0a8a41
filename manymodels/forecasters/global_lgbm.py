"""The global model: one LightGBM trained across all of a run's series (mlforecast), each series on its own scale,
with seasonal lags and calendar features. It is trained once per rolling-origin window, on every series' points
before that window, and forecasts every series' window: it competes per series on the same folds and test window as
the per-series models. Then once on all the history, for the future. Missing lags are NaN to LightGBM, so series
with little history of their own get a forecast that leans on the others'."""

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from manymodels import storage
from manymodels.bounds import Forecast
from manymodels.columns import FUTURE, SERIES_ID, SPLIT, TARGET, TIME, YHAT
from manymodels.forecasters.base import RunInputs, Series
from manymodels.search_space import days_per_step
from manymodels.settings import DataSpec, TuningSpec

GLOBAL = "global_lgbm"
ROW_GROUP = 100_000  # rows of the forecasts file read at once: a batch of series reads only the groups it needs
TREES, LEARNING_RATE, LEAVES = 300, 0.05, 63


def date_features(freq: str) -> list[str]:
    """The calendar features of a frequency: the cycles its points can be in."""
    step = days_per_step(freq)
    if step < 1:
        return ["hour", "dayofweek"]
    if step == 1:
        return ["dayofweek", "month", "dayofyear"]
    if step == 7:
        return ["month", "dayofyear"]
    return ["quarter"] if step > 31 else ["month"]


def lags(period: int) -> list[int]:
    """Whole seasons back (the recursive forecast of a long horizon drifts on short lags), or the last four points
    of a series without seasons."""
    return [period * k for k in range(1, 5)] if period > 1 else [1, 2, 3, 4]


def forecaster(data: DataSpec, seed: int = 0, threads: int = 1):
    import lightgbm
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean
    from mlforecast.target_transforms import LocalStandardScaler

    model = lightgbm.LGBMRegressor(
        n_estimators=TREES,
        learning_rate=LEARNING_RATE,
        num_leaves=LEAVES,
        random_state=seed,
        deterministic=True,
        force_row_wise=True,
        n_jobs=threads,
        verbosity=-1,
    )
    season = lags(data.period)
    return MLForecast(
        models={GLOBAL: model},
        freq=data.freq,
        lags=season,
        lag_transforms={season[0]: [RollingMean(window_size=4)]},
        date_features=date_features(data.freq),
        target_transforms=[LocalStandardScaler()],
    )


def global_forecasts(
    frames: pd.DataFrame, data: DataSpec, windows: int, seed: int = 0, threads: int = 1
) -> pd.DataFrame:
    """series_id, ds, yhat: each series' last `windows` windows of `horizon` points before its end (its folds and
    test window), each forecast by the model trained on every series' points before the window, then its future.
    A window a series is too short for is absent. frames: series files' rows (series_id, ds, y, split)."""
    past = frames[frames[SPLIT] != FUTURE]
    df = pd.DataFrame({"unique_id": past[SERIES_ID].astype(str), "ds": past[TIME], "y": past[TARGET].astype(float)})
    df = df.sort_values(["unique_id", "ds"], kind="stable")
    with warnings.catch_warnings():  # mlforecast warns of the NaN lags it is given on purpose
        warnings.simplefilter("ignore", UserWarning)
        fc = forecaster(data, seed, threads)
        cv = fc.cross_validation(
            df, n_windows=windows, h=data.horizon, step_size=data.horizon, static_features=[], dropna=False
        )
        future = fc.fit(df, static_features=[], dropna=False).predict(data.horizon)
    out = pd.concat([cv[["unique_id", "ds", GLOBAL]], future[["unique_id", "ds", GLOBAL]]], ignore_index=True)
    out = out.rename(columns={"unique_id": SERIES_ID, "ds": TIME, GLOBAL: YHAT})
    out[YHAT] = out[YHAT].astype(float).where(np.isfinite(out[YHAT]))
    return out.sort_values([SERIES_ID, TIME], kind="stable", ignore_index=True)


def windows_needed(profiles: pd.DataFrame) -> int:
    """The windows that cover every accepted series' folds, and its test window."""
    return int(profiles["folds"].max()) + 1


def train_and_write(urls: list[str], data: DataSpec, windows: int, seed: int, out: str, threads: int = 1) -> int:
    """Read the series files at urls, write the global model's forecasts of them to out (series_id, ds, yhat, in
    groups of rows by series); return how many rows."""
    frames = storage.read_parquets(urls)
    forecasts = global_forecasts(frames[[SERIES_ID, TIME, TARGET, SPLIT]], data, windows, seed, threads)
    storage.write_parquet(out, forecasts, row_group_size=ROW_GROUP)
    return len(forecasts)


def read_forecasts(url: str, series_ids: list[str]) -> dict[str, pd.DataFrame]:
    """The global model's forecasts (ds, yhat) of each of series_ids that has any."""
    table = storage.read_parquet(url, filters=[(SERIES_ID, "in", list(series_ids))])
    return {str(sid): rows[[TIME, YHAT]].reset_index(drop=True) for sid, rows in table.groupby(SERIES_ID)}


@dataclass(frozen=True)
class GlobalLGBM:
    """The global model as a model that learns across series: trained once per run on a node of the cluster, its
    forecasts of every series written to the run's work area, each series reading its own."""

    name: str = GLOBAL
    heavy: bool = True

    def wanted(self, tuning: TuningSpec) -> bool:
        return tuning.global_model

    def summarise(self, y, dates, data: DataSpec) -> None:
        return None

    def learn(self, run: RunInputs, threads: int = 1) -> str:
        """Train on every series file, write the forecasts; where they are."""
        out = storage.join(run.work, "forecasts.parquet")
        urls = list(run.series_urls.values())
        train_and_write(urls, run.data, windows_needed(run.profiles), run.tuning.seed, out, threads)
        return out

    def for_series(self, learned: str, series_ids: list[str]) -> dict[str, Any]:
        return read_forecasts(learned, series_ids)

    def applies(self, series: Series) -> bool:
        return series.learned is not None

    def forecast(self, series: Series, history: pd.DataFrame, at: pd.DataFrame, levels: Sequence[int]) -> Forecast:
        """Its point at the dates `at`; its bounds are its point, and calibration on its folds gives its intervals."""
        yhat = series.learned.set_index(TIME)[YHAT].reindex(at[TIME]).to_numpy(dtype=float)
        return Forecast.point_only(yhat, levels)
