"""Forecast accuracy metrics: one family with the signature (y, yhat, scale) -> float."""

from collections.abc import Callable

import numpy as np

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
    """In-sample MAE of the seasonal naive forecast: the MASE scale."""
    if len(history) <= period:
        return np.nan
    return float(np.mean(np.abs(history[period:] - history[:-period])))


def evaluate(y: np.ndarray, yhat: np.ndarray, scale: float) -> dict[str, float]:
    """Every metric of METRICS for one forecast."""
    return {name: fn(y, yhat, scale) for name, fn in METRICS.items()}
