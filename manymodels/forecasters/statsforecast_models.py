"""Challengers from statsforecast: one class for any of its models, and the four every series gets."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from manymodels.bounds import Forecast
from manymodels.columns import TARGET
from manymodels.forecasters.base import Series


def statsforecast_models():
    """statsforecast.models, imported where fits happen (it is heavy)."""
    from statsforecast import models

    return models


def recent(y: np.ndarray, period: int, horizon: int) -> np.ndarray:
    """The recent points a model whose fit grows with the length is fitted on: a daily series' older years add
    little to weekly-seasonal models."""
    return y[-max(8 * period, 4 * horizon, 104) :]


@dataclass(frozen=True)
class Statsforecast:
    """A statsforecast model as a challenger of every series. make: the model for a season length; fewest: the
    fewest points it fits (below, statsforecast calls the data tiny or gives NaN bounds: the series' naive forecast
    stands in); recent_only: fitted on recent points only."""

    name: str
    make: Callable[[int], Any]
    fewest: int = 1
    recent_only: bool = False

    def applies(self, series: Series) -> bool:
        return True

    def forecast(self, series: Series, history: pd.DataFrame, at: pd.DataFrame, levels: Sequence[int]) -> Forecast:
        return self.on_values(history[TARGET].to_numpy(), len(at), series.data.period, levels)

    def on_values(self, y: np.ndarray, horizon: int, period: int, levels: Sequence[int] = ()) -> Forecast:
        """The forecast, with bounds at the levels, of the model fitted on the values y."""
        y = np.array(y, dtype=float)  # a copy: some statsforecast models write to the array they fit
        period = period if period > 1 and len(y) >= 2 * period else 1
        if len(y) < self.fewest:
            return NAIVE.on_values(y, horizon, period, levels)
        fitted = recent(y, period, horizon) if self.recent_only else y
        return Forecast.from_keys(self.make(period).forecast(y=fitted, h=horizon, level=list(levels) or None), levels)


NAIVE = Statsforecast("naive", lambda period: statsforecast_models().Naive())
SEASONAL_NAIVE = Statsforecast("seasonal_naive", lambda period: statsforecast_models().SeasonalNaive(period))
AUTO_ETS = Statsforecast("auto_ets", lambda period: statsforecast_models().AutoETS(season_length=period), 7, True)
AUTO_THETA = Statsforecast("auto_theta", lambda period: statsforecast_models().AutoTheta(season_length=period), 5, True)
