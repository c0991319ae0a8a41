"""Prophet's search space as a plain function of an Optuna trial, shaped by the data's frequency."""

from dataclasses import dataclass

import optuna
import pandas as pd


@dataclass(frozen=True)
class Seasonalities:
    """Largest Fourier order each seasonality can use at this frequency and history (0: not allowed)."""

    yearly: int
    weekly: int
    monthly: int

    @classmethod
    def for_series(cls, freq: str, history: pd.Timedelta) -> "Seasonalities":
        start = pd.Timestamp("2020-01-01")
        step_days = ((start + pd.tseries.frequencies.to_offset(freq)) - start) / pd.Timedelta(days=1)
        points_per = {name: days / step_days for name, days in (("yearly", 365.25), ("weekly", 7.0), ("monthly", 30.5))}
        return cls(
            yearly=min(20, int(points_per["yearly"] // 2)) if history >= pd.Timedelta(days=730) else 0,
            weekly=min(6, int(points_per["weekly"] // 2)),
            monthly=min(10, int(points_per["monthly"] // 2)) if step_days <= 1 else 0,
        )


def prophet_space(trial: optuna.Trial, seasonalities: Seasonalities) -> dict[str, object]:
    """Sample Prophet hyperparameters; *_order of 0 switches that seasonality off."""
    params: dict[str, object] = {
        "seasonality_mode": trial.suggest_categorical("seasonality_mode", ["additive", "multiplicative"]),
        "changepoint_prior_scale": trial.suggest_float("changepoint_prior_scale", 0.001, 0.5, log=True),
        "seasonality_prior_scale": trial.suggest_float("seasonality_prior_scale", 0.01, 10, log=True),
        "holidays_prior_scale": trial.suggest_float("holidays_prior_scale", 0.01, 10, log=True),
    }
    if seasonalities.yearly >= 1:
        params["yearly_order"] = trial.suggest_int("yearly_order", 1, seasonalities.yearly)
    if seasonalities.weekly >= 1:
        params["weekly_order"] = trial.suggest_int("weekly_order", 1, seasonalities.weekly)
    if seasonalities.monthly >= 1:
        params["monthly_order"] = trial.suggest_int("monthly_order", 0, seasonalities.monthly)
    return params
