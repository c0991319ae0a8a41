"""The challengers of intermittent demand (Croston, TSB, ADIDA, IMAPA), which compete only where a series' demand
before its folds is intermittent."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from manymodels.bounds import Forecast, Interval
from manymodels.forecasters.base import Series
from manymodels.forecasters.statsforecast_models import Statsforecast, recent, statsforecast_models
from manymodels.metrics import interval_quantiles

ADI_CUTOFF = 1.32  # Syntetos and Boylan's: demand more than 1.32 periods apart on average is intermittent


def is_intermittent(y: np.ndarray) -> bool:
    """Non-negative demand whose average interval between non-zero values is at least ADI_CUTOFF."""
    y = np.asarray(y, dtype=float)
    nonzero = np.count_nonzero(y)
    return bool(nonzero and (y >= 0).all() and len(y) / nonzero >= ADI_CUTOFF)


def demand_quantiles(recent_demand: np.ndarray, horizon: int, levels) -> dict[int, Interval]:
    """Intervals of intermittent demand by level: the quantiles of the recent periods' demand, the same at every
    step (its forecasts are flat)."""
    out = {}
    for level in levels:
        lo, hi = np.quantile(recent_demand, interval_quantiles(level))
        out[level] = Interval(np.full(horizon, lo), np.full(horizon, hi))
    return out


@dataclass(frozen=True)
class Intermittent(Statsforecast):
    """A statsforecast model of intermittent demand, with intervals from demand_quantiles (statsforecast gives
    these models none)."""

    recent_only: bool = True

    def applies(self, series: Series) -> bool:
        return series.splits.intermittent

    def on_values(self, y: np.ndarray, horizon: int, period: int, levels: Sequence[int] = ()) -> Forecast:
        fitted = recent(np.array(y, dtype=float), period, horizon)
        point = Forecast.from_keys(self.make(period).forecast(y=fitted, h=horizon)).mean
        return Forecast(point, demand_quantiles(fitted, horizon, levels))


CROSTON = Intermittent("croston", lambda period: statsforecast_models().CrostonOptimized())
TSB = Intermittent("tsb", lambda period: statsforecast_models().TSB(alpha_d=0.1, alpha_p=0.1))
ADIDA = Intermittent("adida", lambda period: statsforecast_models().ADIDA())
IMAPA = Intermittent("imapa", lambda period: statsforecast_models().IMAPA())
