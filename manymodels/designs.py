"""Prophet's design for one fold, built once per series and shared by every trial of its study.

A trial of the study changes only which Fourier columns are in, the prior scales and the seasonality mode: the
columns of a lower Fourier order are the first ones of a higher order, and Prophet's scaling of time, y and the
regressors depends on the history alone. So the fold's design at the largest orders (from Prophet's own
preprocess), its Gram matrix and the same features at the forecast dates serve every trial; a trial selects
columns, sets penalties and is solved exactly (manymodels.exact) without Prophet's per-fit preprocessing.
"""

import dataclasses
import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from manymodels import exact
from manymodels.search_space import ORDERS

SEASONS = {order: order.removesuffix("_order") for order in ORDERS}  # yearly_order -> yearly


@dataclass(frozen=True)
class FoldDesign:
    """One fold's history as Prophet prepares it (time and y scaled, every feature at its largest order) and the
    features at the dates it forecasts."""

    season: np.ndarray  # the seasonality of each column ('' for holidays and regressors)
    harmonic: np.ndarray  # 1-based column number within its seasonality (2 per Fourier order)
    trend: np.ndarray  # [changepoint hinges, t, 1] on the history: the lasso's columns first
    X: np.ndarray
    y: np.ndarray
    t_change: np.ndarray
    gram: np.ndarray  # [trend, X]'[trend, X]
    cross: np.ndarray  # [trend, X]'y
    future_trend: np.ndarray  # the trend's columns at the forecast dates
    future_X: np.ndarray
    y_scale: float
    last_fit: dict = field(default_factory=dict, compare=False, repr=False)  # the last multiplicative fit, its betas

    @classmethod
    def build(cls, history: pd.DataFrame, at: pd.DataFrame, largest: dict, holidays: str | None, regressors=()):
        """largest: parameters with every seasonality at the largest order the series allows (other values are
        irrelevant to the design). history: (ds, y, regressors...) as fitted (y already transformed)."""
        history = history[["ds", "y", *regressors]].dropna(subset=["y"]).sort_values("ds", kind="stable")
        shape = _shape(history, at, largest, holidays, tuple(regressors))
        return cls(**shape.arrays(), **_scaled(shape.trend, shape.X, history["y"].to_numpy(float)))

    def logged(self) -> "FoldDesign":
        """The same design fitted to log(1 + y): only y, its scale and Z'y change (Prophet scales y by its largest
        absolute value, and time and the regressors by the history's dates and values alone)."""
        return dataclasses.replace(self, **_scaled(self.trend, self.X, np.log1p(self.y * self.y_scale)), last_fit={})

    def covers(self, params: dict) -> bool:
        """Whether the design has every Fourier column these parameters ask for."""
        return all(
            2 * int(params.get(order) or 0) <= self.harmonic[self.season == season].max(initial=0)
            for order, season in SEASONS.items()
        )

    def columns(self, params: dict) -> np.ndarray:
        """The feature columns a trial's parameters switch on."""
        orders = {season: int(params.get(order) or 0) for order, season in SEASONS.items()}
        wanted = [not s or h <= 2 * orders[s] for s, h in zip(self.season, self.harmonic, strict=True)]
        return np.flatnonzero(wanted)

    def problem(self, params: dict, columns: np.ndarray) -> exact.Problem:
        """The trial's problem: holidays and regressors take the holidays' prior scale, as Prophet's defaults do."""
        scales = np.where(
            self.season[columns] != "", params["seasonality_prior_scale"], params["holidays_prior_scale"]
        ).astype(float)
        multiplicative = np.full(len(columns), params["seasonality_mode"] == "multiplicative")
        return exact.Problem(
            y=self.y,
            t=self.trend[:, -2],
            t_change=self.t_change,
            X=self.X[:, columns],
            sigmas=scales,
            tau=float(params["changepoint_prior_scale"]),
            trend=exact.LINEAR,
            additive=~multiplicative,
            multiplicative=multiplicative,
            trend_design=self.trend,
        )

    def _start(self, columns: np.ndarray) -> exact.Fit | None:
        """The last multiplicative fit of this fold, its coefficients carried to these columns (0 where new)."""
        if not self.last_fit:
            return None
        beta = np.array([self.last_fit["beta"].get(c, 0.0) for c in columns.tolist()])
        return dataclasses.replace(self.last_fit["fit"], beta=beta)

    def fit_and_forecast(self, params: dict) -> np.ndarray | None:
        """The trial's fit, solved exactly, forecast at the fold's dates on the scale it was fitted on; None if the
        exact fit fails its check."""
        columns = self.columns(params)
        problem = self.problem(params, columns)
        n_trend = self.trend.shape[1]
        index = np.concatenate([np.arange(n_trend), n_trend + columns])
        gram = (self.gram[np.ix_(index, index)], self.cross[index])
        if not problem.has_multiplicative:
            fit = exact.solve(problem, gram)
        elif (fit := exact.solve(problem, start=self._start(columns))) is not None:
            self.last_fit.clear()
            self.last_fit.update(fit=fit, beta=dict(zip(columns.tolist(), fit.beta, strict=True)))
        if fit is None:
            return None
        trend = self.future_trend @ np.concatenate([fit.delta, [fit.k, fit.m]])  # the same columns, later times
        X = self.future_X[:, columns]
        mean = trend * (1 + X @ (fit.beta * problem.multiplicative)) + X @ (fit.beta * problem.additive)
        return mean * self.y_scale


def _scaled(trend: np.ndarray, X: np.ndarray, y: np.ndarray) -> dict:
    """y as Prophet scales it (by its largest absolute value: the floor is 0 without logistic growth), its scale and
    Z'y for Z = [trend, X]."""
    y_scale = float(np.abs(y).max()) or 1.0
    y = y / y_scale
    return {"y": y, "cross": np.concatenate([trend.T @ y, X.T @ y]), "y_scale": y_scale}


@dataclass(frozen=True)
class _Shape:
    """The part of a fold's design that depends on its dates alone (without regressors, whose values are scaled per
    series): the same for every series with the same dates, so built once for all of them."""

    season: np.ndarray
    harmonic: np.ndarray
    trend: np.ndarray
    X: np.ndarray
    t_change: np.ndarray
    gram: np.ndarray
    future_trend: np.ndarray
    future_X: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # not asdict: it copies them


_SHAPES: dict[tuple, _Shape] = {}
_MAX_SHAPES = 16


def _shape(history: pd.DataFrame, at: pd.DataFrame, largest: dict, holidays: str | None, regressors: tuple) -> _Shape:
    if regressors:
        return _prophets_shape(history, at, largest, holidays, regressors)
    dates = np.concatenate([history["ds"].to_numpy("datetime64[ns]"), at["ds"].to_numpy("datetime64[ns]")])
    orders = tuple(int(largest.get(order) or 0) for order in ORDERS)
    key = (hashlib.blake2b(dates.view(np.int64).tobytes(), digest_size=16).digest(), len(history), orders, holidays)
    if key not in _SHAPES:
        if len(_SHAPES) >= _MAX_SHAPES:
            _SHAPES.clear()
        _SHAPES[key] = _prophets_shape(history, at, largest, holidays, regressors)
    return _SHAPES[key]


def _prophets_shape(history: pd.DataFrame, at: pd.DataFrame, largest: dict, holidays: str | None, regressors) -> _Shape:
    """From Prophet's own preprocess: its time scaling, changepoints and features, at the largest orders."""
    from manymodels.models import new_prophet

    model = new_prophet(largest, holidays=holidays, regressors=regressors)
    prepared = model.setup_dataframe(history.reset_index(drop=True), initialize_scales=True)
    model.history = prepared
    model.set_auto_seasonalities()
    model.set_changepoints()
    features = _features(model, prepared)
    names = [str(name) for name in features.columns]
    future = model.setup_dataframe(at[["ds", *regressors]].reset_index(drop=True))
    future_X = _features(model, future).reindex(columns=names, fill_value=0.0)
    parts = [name.rsplit("_delim_", 1) for name in names]
    season = np.array([p[0] if len(p) == 2 and p[0] in SEASONS.values() and p[1].isdigit() else "" for p in parts])
    harmonic = np.array([int(p[1]) if s else 0 for p, s in zip(parts, season, strict=True)])
    t_change = np.asarray(model.changepoints_t, dtype=float)
    trend = exact.trend_columns(prepared["t"].to_numpy(float), t_change)
    keep = np.array([name != "zeros" for name in names])  # Prophet's placeholder when there is no feature
    X = features.to_numpy(float)[:, keep]
    Z = np.column_stack([trend, X])
    shape = _Shape(
        season=season[keep],
        harmonic=harmonic[keep],
        trend=trend,
        X=X,
        t_change=t_change,
        gram=Z.T @ Z,
        future_trend=exact.trend_columns(future["t"].to_numpy(float), t_change),
        future_X=future_X.to_numpy(float)[:, keep],
    )
    for array in shape.arrays().values():
        array.flags.writeable = False  # shared by the designs of every series with these dates
    return shape


def _features(model, frame: pd.DataFrame) -> pd.DataFrame:
    """The feature columns Prophet's make_all_seasonality_features builds (seasonalities, holidays, regressors, in its
    order), without the component matrix it also builds with pandas.crosstab: most of a design's cost, and unused."""
    from manymodels.quick_prophet import days_since_epoch, fourier_terms

    parts, days = [], days_since_epoch(frame["ds"])
    for name, props in model.seasonalities.items():
        terms = fourier_terms(days, props["period"], props["fourier_order"])
        features = pd.DataFrame(terms, columns=[f"{name}_delim_{i + 1}" for i in range(terms.shape[1])])
        if props["condition_name"] is not None:
            features[~frame[props["condition_name"]]] = 0
        parts.append(features)
    holidays = model.construct_holiday_dataframe(frame["ds"])
    if len(holidays) > 0:
        parts.append(model.make_holiday_features(frame["ds"], holidays)[0])
    parts += [pd.DataFrame(frame[name]) for name in model.extra_regressors]
    return pd.concat(parts, axis=1) if parts else pd.DataFrame({"zeros": np.zeros(len(frame))})


def largest_params(seasonalities) -> dict:
    """Parameters that switch every seasonality the series allows on at its largest order."""
    return {
        "seasonality_mode": "additive",
        "changepoint_prior_scale": 0.05,
        "seasonality_prior_scale": 10.0,
        "holidays_prior_scale": 10.0,
        "yearly_order": seasonalities.yearly,
        "weekly_order": seasonalities.weekly,
        "monthly_order": seasonalities.monthly,
        "daily_order": seasonalities.daily,
    }
