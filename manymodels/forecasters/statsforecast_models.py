"""Challengers from statsforecast: one class for any of its models, and the four every series gets."""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from manymodels.bounds import Forecast
from manymodels.columns import TARGET
from manymodels.forecasters.base import Series

log = logging.getLogger(__name__)


def statsforecast_models():
    """statsforecast.models, imported where fits happen (it is heavy)."""
    from statsforecast import models

    return models


def recent(y: np.ndarray, period: int, horizon: int) -> np.ndarray:
    """The recent points a model whose fit grows with the length is fitted on: a daily series' older years add
    little to weekly-seasonal models."""
    return y[-max(8 * period, 4 * horizon, 104) :]


@dataclass(frozen=True)
class Form:
    """How a model that searches over forms (AutoETS: error, trend, season, damping) keeps one: read, the form a
    fitted model chose; make, the model of that form alone for a season length."""

    read: Callable[[Any], str]
    make: Callable[[int, str], Any]


@dataclass(frozen=True)
class Statsforecast:
    """A statsforecast model as a challenger of every series. make: the model for a season length; fewest: the
    fewest points it fits (below, statsforecast calls the data tiny or gives NaN bounds: the series' naive forecast
    stands in); recent_only: fitted on recent points only; form: where the model searches over forms, how the form
    its first fit on a series' folds chose is kept for its later folds (which then estimate only its parameters);
    the forecasts of the test window and the future search again, on all the data before them."""

    name: str
    make: Callable[[int], Any]
    fewest: int = 1
    recent_only: bool = False
    form: Form | None = None

    def applies(self, series: Series) -> bool:
        return True

    def forecast(self, series: Series, history: pd.DataFrame, at: pd.DataFrame, levels: Sequence[int]) -> Forecast:
        on_a_fold = len(history) < len(series.splits.known)  # the test window and the future search on all the data
        forms = series.forms if on_a_fold else None
        return self.on_values(history[TARGET].to_numpy(), len(at), series.data.period, levels, forms)

    def on_values(
        self, y: np.ndarray, horizon: int, period: int, levels: Sequence[int] = (), forms: dict | None = None
    ) -> Forecast:
        """The forecast, with bounds at the levels, of the model fitted on the values y. forms: the forms the
        series' earlier fits chose, by model and season length, which this fit keeps (or, on its first, adds to)."""
        y = np.array(y, dtype=float)  # a copy: some statsforecast models write to the array they fit
        period = period if period > 1 and len(y) >= 2 * period else 1
        if len(y) < self.fewest:
            return NAIVE.on_values(y, horizon, period, levels)
        fitted, level = recent(y, period, horizon) if self.recent_only else y, list(levels) or None
        if self.form is None or forms is None:
            return Forecast.from_keys(self.make(period).forecast(y=fitted, h=horizon, level=level), levels)
        key = (self.name, period)
        if key in forms:
            try:
                kept = self.form.make(period, forms[key]).forecast(y=fitted, h=horizon, level=level)
                return Forecast.from_keys(kept, levels)
            except Exception:  # the form does not fit these data (a multiplicative one on a zero, say): search again
                log.info("%s: the form %s did not fit; searching again", self.name, forms[key])
        model = self.make(period).fit(fitted)
        forms.setdefault(key, self.form.read(model))
        return Forecast.from_keys(model.predict(h=horizon, level=level), levels)


NAIVE = Statsforecast("naive", lambda period: statsforecast_models().Naive())
SEASONAL_NAIVE = Statsforecast("seasonal_naive", lambda period: statsforecast_models().SeasonalNaive(period))
ETS_FORM = Form(
    read=lambda model: model.model_["components"],  # "MAdN": errors, trend, season, and D where damped
    make=lambda period, form: statsforecast_models().AutoETS(
        season_length=period, model=form[:3], damped=form[3] != "N"
    ),
)
AUTO_ETS = Statsforecast(
    "auto_ets", lambda period: statsforecast_models().AutoETS(season_length=period), 7, True, ETS_FORM
)
THETA_FORM = Form(
    read=lambda model: model.model_["modeltype"],  # STM, OTM, DSTM or DOTM
    make=lambda period, form: statsforecast_models().AutoTheta(season_length=period, model=form),
)
AUTO_THETA = Statsforecast(
    "auto_theta", lambda period: statsforecast_models().AutoTheta(season_length=period), 5, True, THETA_FORM
)
