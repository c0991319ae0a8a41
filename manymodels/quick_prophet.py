"""Prophet with the per-trial Python overhead cut: the same fits and point forecasts, less pandas work around them.

Imported only where a fit happens (Prophet's import is heavy).
"""

import copy
import functools

import numpy as np
import pandas as pd
from prophet import Prophet
from prophet.models import CmdStanPyBackend

from manymodels import exact

SOLVERS = ("exact", "stan")

_COLUMN_MATRICES: dict[tuple, tuple[pd.DataFrame, dict]] = {}
_MAX_CACHED = 256


@functools.cache
def _stan() -> CmdStanPyBackend:
    return CmdStanPyBackend()


class SolverBackend:
    """Prophet's Stan backend, solving MAP fits with the exact solver (manymodels.exact) where it applies and its
    check passes, with Stan otherwise. `used` says which solved the last fit: exact, stan (not eligible, or the
    solver is stan) or fallback (Stan after the exact fit failed its check)."""

    newton_fallback = True

    def __init__(self, solver: str = "exact") -> None:
        if solver not in SOLVERS:
            raise ValueError(f"unknown solver {solver!r}: one of {', '.join(SOLVERS)}")
        self.solver, self.used, self.stan_fit, self.problem = solver, None, None, None

    @staticmethod
    def get_type() -> str:
        return _stan().get_type()

    def fit(self, stan_init: dict, stan_data: dict, **kwargs) -> dict:
        self.used, self.problem = "stan", exact.Problem.of(stan_data)  # the problem, to score any fit of it
        problem = self.problem
        if self.solver == "exact" and problem.eligible:
            solved = exact.solve(problem)
            if solved is not None:
                self.used, self.stan_fit = "exact", None
                return solved.params()
            self.used = "fallback"
        stan = _stan()
        params = stan.fit(stan_init, stan_data, **kwargs)
        self.stan_fit = stan.stan_fit
        return params

    def sampling(self, stan_init: dict, stan_data: dict, samples: int, **kwargs) -> dict:
        stan = _stan()
        params = stan.sampling(stan_init, stan_data, samples, **kwargs)
        self.stan_fit, self.used = stan.stan_fit, "stan"
        return params


class QuickProphet(Prophet):
    """Prophet that solves its MAP fit with SolverBackend, computes Fourier terms on arrays rather than Series, and
    builds each distinct component matrix once: Prophet rebuilds it with pandas.crosstab on every fit, though the
    trials of a study repeat a handful of layouts. Together these were about a fifth of a tuning trial's CPU."""

    def _load_stan_backend(self, stan_backend: str | None) -> None:
        self.stan_backend = SolverBackend()

    @staticmethod
    def fourier_series(dates: pd.Series, period: float, series_order: int) -> np.ndarray:
        if not (series_order >= 1):
            raise ValueError("series_order must be >= 1")
        return fourier_terms(days_since_epoch(dates), period, series_order)

    def regressor_column_matrix(self, seasonal_features: pd.DataFrame, modes: dict) -> tuple[pd.DataFrame, dict]:
        if self.train_component_cols is not None:  # predict compares against the fit's matrix: Prophet's own path
            return super().regressor_column_matrix(seasonal_features, modes)
        key = (
            tuple(seasonal_features.columns),
            tuple((mode, tuple(names)) for mode, names in modes.items()),
            self.holidays_mode,
            None if self.train_holiday_names is None else tuple(self.train_holiday_names),
            tuple((name, props["mode"]) for name, props in self.extra_regressors.items()),
        )
        if key not in _COLUMN_MATRICES:
            if len(_COLUMN_MATRICES) >= _MAX_CACHED:
                _COLUMN_MATRICES.clear()
            _COLUMN_MATRICES[key] = super().regressor_column_matrix(seasonal_features, copy.deepcopy(modes))
        component_cols, full_modes = _COLUMN_MATRICES[key]
        return component_cols.copy(), copy.deepcopy(full_modes)


def days_since_epoch(dates: pd.Series) -> np.ndarray:
    """Prophet's time axis for Fourier terms: days since 1970-01-01, as a float array."""
    epoch = pd.Timestamp("1970-01-01", tz=dates.dt.tz)
    return ((dates - epoch).dt.total_seconds() / (24 * 60 * 60)).to_numpy()


def fourier_terms(days: np.ndarray, period: float, order: int) -> np.ndarray:
    """Prophet's Fourier columns [sin, cos] per order, on arrays."""
    x_T = np.pi * 2 * days
    components = np.empty((len(days), 2 * order))
    for i in range(order):
        c = (i + 1) / period * x_T
        components[:, 2 * i] = np.sin(c)
        components[:, 2 * i + 1] = np.cos(c)
    return components


def prediction_frame(model: Prophet, at: pd.DataFrame | pd.Series | pd.DatetimeIndex) -> pd.DataFrame:
    """The frame Prophet predicts at: the dates, and the model's regressors where `at` is a frame."""
    if isinstance(at, pd.DataFrame):
        return at[["ds", *model.extra_regressors]].reset_index(drop=True)
    return pd.DataFrame({"ds": pd.to_datetime(pd.Series(at)).reset_index(drop=True)})


def point_forecast(model: Prophet, at: pd.DataFrame | pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """model.predict(...)["yhat"] for a fitted MAP model, without the component frames Prophet also builds."""
    frame = prediction_frame(model, at)
    if (
        model.growth == "logistic"
        or model.extra_regressors
        or model.train_holiday_names is not None
        or any(props["condition_name"] is not None for props in model.seasonalities.values())
    ):
        return model.predict(frame)["yhat"].to_numpy()
    frame = model.setup_dataframe(frame)
    trend = np.asarray(model.predict_trend(frame), dtype=float)
    beta = np.nanmean(model.params["beta"], axis=0)
    additive, multiplicative, start = np.zeros(len(frame)), np.zeros(len(frame)), 0
    for name, props in model.seasonalities.items():
        features = model.make_seasonality_features(frame["ds"], props["period"], props["fourier_order"], name)
        term = features.to_numpy() @ beta[start : start + features.shape[1]]
        start += features.shape[1]
        if props["mode"] == "additive":
            additive += term * model.y_scale
        else:
            multiplicative += term
    return trend * (1 + multiplicative) + additive
