"""The candidate models for a series' champion, and their forecasts: Prophet tuned and default, the challengers,
the pooled-seasonal model."""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from manymodels.challengers import CHALLENGERS, challenger_forecast
from manymodels.contract import TARGET, TIME
from manymodels.models import fit_prophet, predict, prophet_intervals
from manymodels.pooled import POOLED, pooled_forecast
from manymodels.settings import DataSpec
from manymodels.splits import SeriesSplits

TUNED, DEFAULT, CHAMPION = "prophet_tuned", "prophet_default", "champion"
MODELS = (TUNED, DEFAULT, *CHALLENGERS, POOLED)  # the candidates for champion, in order of preference on a tie
PROPHETS = (TUNED, DEFAULT)


@dataclass
class Candidates:
    """Forecasts of each candidate model of one series, with the Prophet fits they took counted.

    seasonal_factors: the run's pooled factors (Ingested.seasonal_factors); without them, no pooled challenger.
    tuned_params: the tuned Prophet's parameters, once the study has chosen them.
    """

    splits: SeriesSplits
    data: DataSpec
    seasonal_factors: dict[str, list[float]] | None = None
    tuned_params: dict | None = None
    prophet_fits: int = 0

    @property
    def models(self) -> list[str]:
        return [m for m in MODELS if m != POOLED or self.seasonal_factors]

    def prophet(self, params: dict | None, history: pd.DataFrame, at: pd.DataFrame, init=None, rough=False):
        """Prophet with params (None: its defaults) fitted on history; its point forecast at `at` and the model."""
        self.prophet_fits += 1
        model = fit_prophet(history, params, init, self.data.holidays, self.data.regressors, rough)
        return predict(model, at, self.splits.floor), model

    def point(self, model: str, history: pd.DataFrame, at: pd.DataFrame, rough: bool = False) -> np.ndarray:
        """A model's point forecast at `at`, fitted on history; rough: a Prophet fit that only scores."""
        if model in PROPHETS:
            return self.prophet(self._params(model), history, at, rough=rough)[0]
        return self.challenger(model, history, at)["mean"]

    def challenger(self, model: str, history: pd.DataFrame, at: pd.DataFrame, levels=()) -> dict[str, np.ndarray]:
        """{'mean', 'lo-80', 'hi-80', ...} of a challenger or the pooled model, clipped at the series' floor."""
        if model == POOLED:
            y, past, dates = history[TARGET].to_numpy(), history[TIME], at[TIME]
            out = pooled_forecast(y, past, dates, self.data.freq, self.seasonal_factors, levels)
        else:
            out = challenger_forecast(model, history[TARGET].to_numpy(), len(at), self.data.period, levels)
        floor = self.splits.floor
        return out if floor is None else {k: np.maximum(v, floor) for k, v in out.items()}

    def with_intervals(self, model: str, history: pd.DataFrame, at: pd.DataFrame, seed: int) -> dict[str, np.ndarray]:
        """A model's point forecast and its prediction intervals at the run's levels."""
        if model not in PROPHETS:
            return self.challenger(model, history, at, self.data.levels)
        self.prophet_fits += 1
        data, floor = self.data, self.splits.floor
        params = self._params(model)
        return prophet_intervals(history, params, at, data.levels, floor, 500, seed, data.holidays, data.regressors)

    def _params(self, model: str) -> dict | None:
        return self.tuned_params if model == TUNED else None
