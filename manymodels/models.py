"""Prophet from a parameter dict: fit (warm-started, rough or full), point forecasts and prediction intervals."""

import functools
import logging

import cmdstanpy.utils.filesystem
import numpy as np
import orjson
import pandas as pd

from manymodels.bounds import Forecast, Interval
from manymodels.metrics import interval_quantiles

_stanio_write = cmdstanpy.utils.filesystem.write_stan_json
WARM_START = ("k", "m", "sigma_obs", "delta", "beta")
# L-BFGS stops when the objective's relative change per iteration is under 1e8 machine epsilons (2e-8), not Stan's
# 1e4: a fit that only ranks parameters needs no more (benchmarks/RESULTS.md: iterations saved, posterior lost).
ROUGH_TOLERANCE = {"tol_rel_obj": 1e8}


def write_stan_json(path: str, data: dict) -> None:
    """Write Stan's input as stanio does, in C: stanio encodes Prophet's design matrix in pure Python, which
    costs more CPU than the Stan optimisation itself. Anything orjson cannot write exactly goes to stanio."""
    try:
        payload = orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:
        payload = b"null"
    if b"null" in payload:  # orjson writes NaN and inf as null, where Stan needs them spelled out
        _stanio_write(path, data)
        return
    with open(path, "wb") as f:
        f.write(payload)


@functools.cache
def prepare_stan() -> None:
    """Silence cmdstanpy's and Prophet's per-fit INFO lines, and have cmdstanpy write Stan's input with
    write_stan_json. fit_prophet calls it; it acts once per process."""
    for name in ("cmdstanpy", "prophet"):  # cmdstanpy adds an INFO console handler unless its logger has one
        logger = logging.getLogger(name)
        logger.addHandler(logging.NullHandler())
        logger.setLevel(logging.WARNING)
        logger.propagate = False
    cmdstanpy.utils.filesystem.write_stan_json = write_stan_json


def new_prophet(
    params: dict | None = None, model_class: type | None = None, holidays: str | None = None, regressors=()
):
    """An unfitted Prophet without uncertainty sampling; params from prophet_space, or None for Prophet's defaults.

    model_class: QuickProphet unless given (the benchmarks compare it with Prophet itself).
    holidays: a country whose public holidays (the holidays package) the model gets as effects.
    regressors: columns of the frames it is fitted on and forecasts at, added as extra regressors.
    """
    if model_class is None:
        from manymodels.quick_prophet import QuickProphet as model_class  # heavy import, only where a fit happens
    model = _configured(model_class, params)
    model.log1p = is_log(params)  # read by predict
    if holidays:
        model.add_country_holidays(country_name=holidays)
    for name in regressors:
        model.add_regressor(name)
    return model


def _configured(model_class: type, params: dict | None):
    if params is None:
        return model_class(uncertainty_samples=0)
    model = model_class(
        seasonality_mode=params["seasonality_mode"],
        changepoint_prior_scale=params["changepoint_prior_scale"],
        seasonality_prior_scale=params["seasonality_prior_scale"],
        holidays_prior_scale=params["holidays_prior_scale"],
        yearly_seasonality=params.get("yearly_order") or False,
        weekly_seasonality=params.get("weekly_order") or False,
        daily_seasonality=params.get("daily_order") or False,
        uncertainty_samples=0,
    )
    if params.get("monthly_order"):
        model.add_seasonality("monthly", period=30.5, fourier_order=params["monthly_order"])
    return model


def fit_prophet(
    history: pd.DataFrame,
    params: dict | None = None,
    init: dict | None = None,
    holidays: str | None = None,
    regressors=(),
    rough: bool = False,
    solver: str = "exact",
):
    """Fit Prophet on a (ds, y, regressors...) frame; params from prophet_space, or None for Prophet's defaults.

    init: fitted parameters of an earlier model (fitted_init), where the optimiser starts instead of Prophet's
    default guess; a vector of another shape falls back to the default. holidays, regressors: as new_prophet.
    rough: stop L-BFGS at ROUGH_TOLERANCE, for fits that only score parameters (trials, champion selection).
    solver: exact (manymodels.exact, with Stan where it does not apply or its check fails) or stan. The fitted
    model's stan_backend.used says which solved it.
    """
    prepare_stan()
    frame = _transformed(history, params, regressors)
    options = {"init": init} if init else {}
    if rough and len(frame) >= 100:  # below 100 points Prophet optimises with Newton, which takes no tolerances
        try:
            return _with_solver(new_prophet(params, None, holidays, regressors), solver).fit(
                frame, **options, **ROUGH_TOLERANCE
            )
        except (RuntimeError, ValueError):  # L-BFGS failed: Prophet's own way, with its fallback to Newton
            pass
    return _with_solver(new_prophet(params, None, holidays, regressors), solver).fit(frame, **options)


def _with_solver(model, solver: str):
    from manymodels.quick_prophet import SolverBackend

    model.stan_backend = SolverBackend(solver)
    return model


def _transformed(history: pd.DataFrame, params: dict | None, regressors=()) -> pd.DataFrame:
    """The frame Prophet fits: y itself, or log(1 + y) when params ask for it (predict undoes it)."""
    frame = history[["ds", "y", *regressors]]
    return frame.assign(y=np.log1p(frame["y"])) if is_log(params) else frame


def is_log(params: dict | None) -> bool:
    return bool(params) and params.get("transform") == "log1p"


def fitted_init(model) -> dict:
    """A fitted model's parameters in the form fit_prophet's init takes (Prophet's documented recipe)."""
    return {
        name: model.params[name][0][0] if name in ("k", "m", "sigma_obs") else model.params[name][0]
        for name in WARM_START
    }


def predict(model, at: pd.DataFrame | pd.Series | pd.DatetimeIndex, floor: float | None) -> np.ndarray:
    """Point forecasts at dates (a frame's ds, with its regressors), clipped at floor (0 for non-negative data)."""
    from manymodels.quick_prophet import point_forecast

    yhat = point_forecast(model, at)
    if getattr(model, "log1p", False):
        yhat = np.expm1(yhat)
    return yhat if floor is None else np.maximum(yhat, floor)


def prophet_intervals(
    history: pd.DataFrame,
    params: dict | None,
    dates,
    levels: list[int],
    floor: float | None,
    samples: int = 500,
    seed: int = 0,
    holidays: str | None = None,
    regressors=(),
    solver: str = "exact",
) -> tuple[Forecast, object]:
    """Point forecast and prediction intervals at the levels of Prophet fitted on history, the intervals from the
    quantiles of its predictive samples (trend changes and noise), and the fitted model. dates: as predict."""
    from manymodels.quick_prophet import prediction_frame

    model = fit_prophet(history, params, holidays=holidays, regressors=regressors, solver=solver)
    model.uncertainty_samples = samples  # read at prediction time only
    point, intervals = predict(model, dates, floor), {}
    if levels:
        np.random.seed(seed)  # Prophet draws its samples from numpy's global generator
        draws = model.predictive_samples(prediction_frame(model, dates))["yhat"]
        draws = np.expm1(draws) if model.log1p else draws
        for level in levels:
            lo, hi = np.quantile(draws, interval_quantiles(level), axis=1)
            intervals[level] = Interval(*(b if floor is None else np.maximum(b, floor) for b in (lo, hi)))
    return Forecast(point, intervals), model
