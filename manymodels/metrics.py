"""Forecast accuracy metrics: one family with the signature (y, yhat, scale) -> float."""

from collections.abc import Callable, Mapping

import numpy as np

from manymodels.bounds import Interval

MetricFn = Callable[[np.ndarray, np.ndarray, float], float]


def smape(y: np.ndarray, yhat: np.ndarray, scale: float = np.nan) -> float:
    """Symmetric MAPE in percent (0 to 200), counting 0/0 as a perfect forecast."""
    denom = np.abs(y) + np.abs(yhat)
    ratio = np.divide(2 * np.abs(y - yhat), denom, out=np.zeros_like(denom, dtype=float), where=denom > 0)
    return float(100 * ratio.mean())


def mase(y: np.ndarray, yhat: np.ndarray, scale: float = np.nan) -> float:
    """Mean absolute error over the in-sample seasonal naive MAE (scale)."""
    return float(np.mean(np.abs(y - yhat)) / scale) if scale > 0 else np.nan


def wape(y: np.ndarray, yhat: np.ndarray, scale: float = np.nan) -> float:
    """Weighted absolute percentage error: sum |error| / sum |y|, in percent."""
    total = np.abs(y).sum()
    return float(100 * np.abs(y - yhat).sum() / total) if total > 0 else np.nan


def rmse(y: np.ndarray, yhat: np.ndarray, scale: float = np.nan) -> float:
    """Root mean squared error."""
    return float(np.sqrt(np.mean((y - yhat) ** 2)))


def bias(y: np.ndarray, yhat: np.ndarray, scale: float = np.nan) -> float:
    """Mean of forecast minus actual: positive means over-forecasting."""
    return float(np.mean(yhat - y))


METRICS: dict[str, MetricFn] = {"smape": smape, "mase": mase, "wape": wape, "rmse": rmse, "bias": bias}


def seasonal_mae(history: np.ndarray, period: int) -> float:
    """In-sample MAE of the seasonal naive forecast: the MASE scale; the naive forecast's on a history of a season
    or less."""
    period = period if len(history) > period else 1
    if len(history) <= period:
        return np.nan
    return float(np.mean(np.abs(history[period:] - history[:-period])))


def evaluate(y: np.ndarray, yhat: np.ndarray, scale: float) -> dict[str, float]:
    """Every metric of METRICS for one forecast."""
    return {name: fn(y, yhat, scale) for name, fn in METRICS.items()}


def coverage(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Share of actuals inside their prediction interval."""
    return float(np.mean((lo <= y) & (y <= hi)))


def pinball(y: np.ndarray, quantile_forecast: np.ndarray, tau: float) -> float:
    """Mean pinball (quantile) loss of a forecast of the tau-quantile."""
    diff = y - quantile_forecast
    return float(np.mean(np.maximum(tau * diff, (tau - 1) * diff)))


def interval_quantiles(level: int) -> tuple[float, float]:
    """The quantiles that bound a central prediction interval of level percent: (100-l)/200 and (100+l)/200."""
    return (100 - level) / 200, (100 + level) / 200


def interval_pinball(y: np.ndarray, intervals: Mapping[int, Interval]) -> float:
    """Mean pinball loss over the bounds of every interval (by level), each bound scored at its
    interval_quantiles."""
    losses = []
    for level, bounds in intervals.items():
        lo, hi = interval_quantiles(level)
        losses.append(pinball(y, bounds.lo, lo))
        losses.append(pinball(y, bounds.hi, hi))
    return float(np.mean(losses))


def owa(smape_model: float, mase_model: float, smape_naive2: float, mase_naive2: float) -> float:
    """M4's overall weighted average: the mean of sMAPE and MASE, each relative to Naive2's (below 1 beats it)."""
    return 0.5 * (smape_model / smape_naive2 + mase_model / mase_naive2)
