"""The challengers beside Prophet, from statsforecast, and M4's Naive2 benchmark (the yardstick of OWA)."""

import numpy as np

NAIVE, SNAIVE, ETS, THETA, NAIVE2 = "naive", "seasonal_naive", "auto_ets", "auto_theta", "naive2"
CHALLENGERS = (NAIVE, SNAIVE, ETS, THETA)


def _model(name: str, period: int):
    from statsforecast.models import AutoETS, AutoTheta, Naive, SeasonalNaive  # heavy: only where fits happen

    return {
        NAIVE: lambda: Naive(),
        SNAIVE: lambda: SeasonalNaive(season_length=period),
        ETS: lambda: AutoETS(season_length=period),
        THETA: lambda: AutoTheta(season_length=period),
    }[name]()


def history_for(name: str, history: np.ndarray, period: int, horizon: int) -> np.ndarray:
    """What a model is fitted on: ETS and Theta on recent points only (their fits grow with the length, and a
    daily series' older years add little to weekly-seasonal models), the naive ones on everything."""
    if name in (ETS, THETA):
        return history[-max(8 * period, 4 * horizon, 104) :]
    return history


def challenger_forecast(
    name: str, history: np.ndarray, horizon: int, period: int, levels: list[int] = ()
) -> dict[str, np.ndarray]:
    """{'mean': ..., 'lo-80': ..., 'hi-80': ...} of one challenger fitted on history."""
    period = period if period > 1 and len(history) >= 2 * period else 1
    model = _model(name, period)
    fitted = history_for(name, np.asarray(history, dtype=float), period, horizon)
    return model.forecast(y=fitted, h=horizon, level=list(levels) or None)


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
