"""M4's Naive2 benchmark, the yardstick of OWA, and the seasonality test it takes."""

import numpy as np

NAIVE2 = "naive2"


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
