"""The challengers beside Prophet, from statsforecast, and M4's Naive2 benchmark (the yardstick of OWA)."""

import numpy as np

from manymodels.bounds import Forecast, Interval
from manymodels.metrics import interval_quantiles

NAIVE, SNAIVE, ETS, THETA, NAIVE2 = "naive", "seasonal_naive", "auto_ets", "auto_theta", "naive2"
CHALLENGERS = (NAIVE, SNAIVE, ETS, THETA)
CROSTON, TSB, ADIDA, IMAPA = "croston", "tsb", "adida", "imapa"
INTERMITTENT = (CROSTON, TSB, ADIDA, IMAPA)  # the challengers of intermittent series besides CHALLENGERS
ADI_CUTOFF = 1.32  # Syntetos and Boylan's: demand more than 1.32 periods apart on average is intermittent
FEWEST_POINTS = {ETS: 7, THETA: 5}  # statsforecast: "tiny datasets" below these, or NaN bounds


def _model(name: str, period: int):
    from statsforecast import models as sf  # heavy: only where fits happen

    return {
        NAIVE: lambda: sf.Naive(),
        SNAIVE: lambda: sf.SeasonalNaive(season_length=period),
        ETS: lambda: sf.AutoETS(season_length=period),
        THETA: lambda: sf.AutoTheta(season_length=period),
        CROSTON: lambda: sf.CrostonOptimized(),
        TSB: lambda: sf.TSB(alpha_d=0.1, alpha_p=0.1),
        ADIDA: lambda: sf.ADIDA(),
        IMAPA: lambda: sf.IMAPA(),
    }[name]()


def is_intermittent(y: np.ndarray) -> bool:
    """Non-negative demand whose average interval between non-zero values is at least ADI_CUTOFF."""
    y = np.asarray(y, dtype=float)
    nonzero = np.count_nonzero(y)
    return bool(nonzero and (y >= 0).all() and len(y) / nonzero >= ADI_CUTOFF)


def history_for(name: str, history: np.ndarray, period: int, horizon: int) -> np.ndarray:
    """What a model is fitted on: ETS and Theta on recent points only (their fits grow with the length, and a
    daily series' older years add little to weekly-seasonal models), the naive ones on everything."""
    if name in (ETS, THETA, *INTERMITTENT):
        return history[-max(8 * period, 4 * horizon, 104) :]
    return history


def challenger_forecast(name: str, history: np.ndarray, horizon: int, period: int, levels: list[int] = ()) -> Forecast:
    """The forecast, with bounds at the levels, of one challenger fitted on history."""
    period = period if period > 1 and len(history) >= 2 * period else 1
    if len(history) < FEWEST_POINTS.get(name, 1):  # too few points to fit: the model forecasts as naive does
        name = NAIVE
    model = _model(name, period)
    fitted = history_for(name, np.asarray(history, dtype=float), period, horizon)
    if name in INTERMITTENT:  # statsforecast gives these no intervals of their own
        point = Forecast.from_keys(model.forecast(y=fitted, h=horizon)).mean
        return Forecast(point, demand_quantiles(fitted, horizon, levels))
    return Forecast.from_keys(model.forecast(y=fitted, h=horizon, level=list(levels) or None), levels)


def demand_quantiles(recent: np.ndarray, horizon: int, levels) -> dict[int, Interval]:
    """Intervals of intermittent demand by level: the quantiles of the recent periods' demand, the same at every
    step (its forecasts are flat)."""
    out = {}
    for level in levels:
        lo, hi = np.quantile(recent, interval_quantiles(level))
        out[level] = Interval(np.full(horizon, lo), np.full(horizon, hi))
    return out


def is_seasonal(y: np.ndarray, period: int) -> bool:
    """M4's seasonality test: the autocorrelation at the seasonal lag is significant at 90%."""
    if period <= 1 or len(y) < 3 * period:
        return False
    y = y - y.mean()
    denom = float(np.sum(y * y))
    if denom == 0:
        return False
    acf = np.array([np.sum(y[k:] * y[: len(y) - k]) / denom for k in range(1, period + 1)])
    limit = 1.645 * np.sqrt((1 + 2 * np.sum(acf[:-1] ** 2)) / len(y))
    return bool(abs(acf[-1]) > limit)


def naive2(history: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """M4's Naive2: the naive forecast of the series seasonally adjusted by classical multiplicative decomposition
    when the seasonality test passes (and the series is positive), re-seasonalised."""
    y = np.asarray(history, dtype=float)
    if not (is_seasonal(y, period) and (y > 0).all()):
        return np.full(horizon, y[-1])
    from statsmodels.tsa.seasonal import seasonal_decompose

    indices = seasonal_decompose(y, model="multiplicative", period=period).seasonal[:period]
    phase = np.arange(len(y), len(y) + horizon) % period
    return y[-1] / indices[(len(y) - 1) % period] * indices[phase]
