"""The models: Prophet from a parameter dict, and the seasonal naive baseline."""

import logging

import numpy as np
import pandas as pd

# cmdstanpy installs an INFO console handler unless its logger already has one: give it a silent one.
for _name in ("cmdstanpy", "prophet"):
    _logger = logging.getLogger(_name)
    _logger.addHandler(logging.NullHandler())
    _logger.setLevel(logging.WARNING)
    _logger.propagate = False


def fit_prophet(history: pd.DataFrame, params: dict | None = None):
    """Fit Prophet on a (ds, y) frame; params from prophet_space, or None for Prophet's defaults."""
    from prophet import Prophet  # heavy import, only where a fit happens

    if params is None:
        model = Prophet(uncertainty_samples=0)
    else:
        model = Prophet(
            seasonality_mode=params["seasonality_mode"],
            changepoint_prior_scale=params["changepoint_prior_scale"],
            seasonality_prior_scale=params["seasonality_prior_scale"],
            holidays_prior_scale=params["holidays_prior_scale"],
            yearly_seasonality=params.get("yearly_order") or False,
            weekly_seasonality=params.get("weekly_order") or False,
            daily_seasonality=False,
            uncertainty_samples=0,
        )
        if params.get("monthly_order"):
            model.add_seasonality("monthly", period=30.5, fourier_order=params["monthly_order"])
    return model.fit(history[["ds", "y"]])


def predict(model, dates: pd.Series | pd.DatetimeIndex, floor: float | None) -> np.ndarray:
    """Point forecasts at dates, clipped at floor (0 for non-negative data)."""
    yhat = model.predict(pd.DataFrame({"ds": dates}))["yhat"].to_numpy()
    return yhat if floor is None else np.maximum(yhat, floor)


def seasonal_naive(history: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """Repeat the last full season of history over the horizon."""
    season = history[-period:] if len(history) >= period else history[-1:]
    return np.resize(season, horizon).astype(float)
