"""Prophet's search space as a plain function of an Optuna trial, shaped by the data's frequency."""

import functools
from dataclasses import dataclass

import optuna
import pandas as pd


@functools.cache  # a date_range per call: in the ingest's per-series profile, a tenth of a millisecond each
def days_per_step(freq: str) -> float:
    """Days between consecutive points at this frequency (two points of its grid, so anchors such as W-SUN count
    a whole week)."""
    first, second = pd.date_range("2020-01-01", periods=2, freq=freq)
    return (second - first) / pd.Timedelta(days=1)


@dataclass(frozen=True)
class Seasonalities:
    """Largest Fourier order each seasonality can use at this frequency and history (0: not allowed)."""

    yearly: int
    weekly: int
    monthly: int
    daily: int = 0  # sub-daily data only: Prophet's own daily seasonality, which its defaults switch on there

    @classmethod
    def for_series(cls, freq: str, history: pd.Timedelta) -> "Seasonalities":
        """Each seasonality at the frequency: two points a period at the least, its order at most half the points
        of a period; and two periods of history (Prophet's own rule for its yearly, weekly and daily ones), since a
        seasonality fitted on one period extrapolates that period's noise. Monthly on daily or finer data only,
        daily on finer only."""
        step_days = days_per_step(freq)

        def order(name: str, allowed: bool) -> int:
            if not allowed or history < pd.Timedelta(days=HISTORY_DAYS[name]):
                return 0
            return min(FOURIER[f"{name}_order"][1], int(PERIOD_DAYS[name] / step_days // 2))

        return cls(
            yearly=order("yearly", True),
            weekly=order("weekly", True),
            monthly=order("monthly", step_days <= 1),
            daily=order("daily", step_days < 1),
        )


PERIOD_DAYS = {"yearly": 365.25, "weekly": 7.0, "monthly": 30.5, "daily": 1.0}
HISTORY_DAYS = {"yearly": 730, "weekly": 14, "monthly": 61, "daily": 2}  # two periods, as Prophet counts them
MODES = ["additive", "multiplicative"]
TRANSFORMS = ["none", "log1p"]  # log1p: Prophet fits log(1 + y), for non-negative data (counts, sales)
LOG_UNIFORM = {
    "changepoint_prior_scale": (0.001, 0.5),
    "seasonality_prior_scale": (0.01, 10.0),
    "holidays_prior_scale": (0.01, 10.0),
}
# Each order's upper bound is also capped by what the frequency and history allow (Seasonalities).
FOURIER = {"yearly_order": (1, 20), "weekly_order": (1, 6), "monthly_order": (0, 10), "daily_order": (1, 10)}
ORDERS = tuple(FOURIER)


def describe_space() -> dict[str, object]:
    """The search space as data, for the run manifest."""
    return {
        "seasonality_mode": MODES,
        **{k: [*v, "log"] for k, v in LOG_UNIFORM.items()},
        **FOURIER,
        "transform": TRANSFORMS,
    }


def in_space(params: dict[str, object]) -> bool:
    """Whether every value is one the search space can propose (a warm start read from a shared file must be)."""
    choices = {"seasonality_mode": MODES, "transform": TRANSFORMS}

    def fits(name: str, value: object) -> bool:
        if name in choices:
            return value in choices[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            return False
        if name in LOG_UNIFORM:
            low, high = LOG_UNIFORM[name]
            return low <= value <= high
        return name in FOURIER and float(value).is_integer() and FOURIER[name][0] <= value <= FOURIER[name][1]

    return all(fits(name, value) for name, value in params.items())


def prophet_space(trial: optuna.Trial, seasonalities: Seasonalities, log_allowed: bool = False) -> dict[str, object]:
    """Sample Prophet hyperparameters; *_order of 0 switches that seasonality off; the log1p transform of the
    target only where log_allowed (non-negative data)."""
    params: dict[str, object] = {"seasonality_mode": trial.suggest_categorical("seasonality_mode", MODES)}
    if log_allowed:
        params["transform"] = trial.suggest_categorical("transform", TRANSFORMS)
    for name, (low, high) in LOG_UNIFORM.items():
        params[name] = trial.suggest_float(name, low, high, log=True)
    for name in ORDERS:
        allowed = getattr(seasonalities, name.removesuffix("_order"))
        if allowed >= 1:
            params[name] = trial.suggest_int(name, FOURIER[name][0], allowed)
    return params
