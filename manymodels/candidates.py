"""The candidate models for a series' champion, and their forecasts: Prophet tuned and default, the registered
challengers that apply to the series (manymodels.forecasters), and ensembles of the untuned ones."""

import functools
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from manymodels import storage
from manymodels.bounds import Forecast
from manymodels.cpu import charged
from manymodels.designs import FoldDesign, largest_params
from manymodels.ensembles import CHOSEN, ENSEMBLES, FIXED_MEDIAN, MEDIAN, Ensemble
from manymodels.forecasters import registry
from manymodels.forecasters.base import Forecaster, Series
from manymodels.models import fit_prophet, is_log, predict, prophet_intervals
from manymodels.settings import DataSpec
from manymodels.splits import SeriesSplits

log = logging.getLogger(__name__)

TUNED, DEFAULT, CHAMPION = "prophet_tuned", "prophet_default", "champion"
PROPHETS = (TUNED, DEFAULT)


def model_names() -> tuple[str, ...]:
    """Every model a series may have, in order of preference on a tie."""
    return (*PROPHETS, *(m.name for m in registry.challengers()), *ENSEMBLES)


@dataclass
class Candidates:
    """Forecasts of each candidate model of one series, with the Prophet fits they took counted.

    learned: the series' share of what each model that learns across series learned in this run, by model name;
    a model that needs it and has none does not compete.
    tuned_params: the tuned Prophet's parameters, once the study has chosen them.
    solver: how Prophet's fits are solved (TuningSpec.solver); solved_by counts them by what solved each: exact,
    stan, or fallback (Stan after the exact solver declined or failed its check).
    ensembles: each ensemble's members, once chosen on the folds (champion.fold_errors); the fixed median before.
    """

    splits: SeriesSplits
    data: DataSpec
    learned: dict[str, Any] = field(default_factory=dict)
    tuned_params: dict | None = None
    solver: str = "exact"
    solved_by: Counter = field(default_factory=Counter)
    ensembles: dict[str, Ensemble] = field(default_factory=lambda: {MEDIAN: FIXED_MEDIAN})
    dropped: dict[str, str] = field(default_factory=dict)  # challengers that raised, with why: out of the contest
    cpu: Counter = field(default_factory=Counter)  # CPU seconds by model: its fits and forecasts, trials included
    _designs: dict = field(default_factory=dict, repr=False)  # (fold, log transform) -> FoldDesign

    @property
    def prophet_fits(self) -> int:
        return sum(self.solved_by.values())

    def view(self, model: Forecaster) -> Series:
        return Series(self.splits, self.data, self.learned.get(model.name))

    @functools.cached_property
    def challengers(self) -> dict[str, Forecaster]:
        """The registered challengers that apply to this series, by name."""
        return {m.name: m for m in registry.challengers() if m.applies(self.view(m))}

    def drop(self, model: str, error: Exception) -> None:
        """Take a challenger that raised out of this series' contest; a node's or the store's error, or one of a
        member of the fixed median (the baseline every series needs), is raised."""
        if isinstance(error, storage.STORAGE_ERRORS) or model in FIXED_MEDIAN.weights or model not in self.challengers:
            raise error
        self.dropped[model] = f"{type(error).__name__}: {error}"
        del self.challengers[model]
        log.warning("series %s: %s dropped from the contest: %s", self.splits.series_id, model, self.dropped[model])

    @property
    def models(self) -> list[str]:
        return [m for m in model_names() if self._competes(m)]

    def _competes(self, model: str) -> bool:
        if model == TUNED:
            return bool(self.splits.tuning)  # fewer than two folds: none to tune on
        if model in CHOSEN:
            return len(self.splits.folds) > 1  # nor others to choose members on
        return model in (DEFAULT, MEDIAN) or model in self.challengers

    @property
    def untuned(self) -> list[str]:
        """The single models that are not tuned: every fold can score them."""
        return [m for m in self.models if m not in (TUNED, *ENSEMBLES)]

    @property
    def members(self) -> list[str]:
        """The untuned models whose forecasts come with bounds from their fit: an ensemble's members."""
        return [m for m in self.untuned if m not in PROPHETS]

    def prophet(self, params: dict | None, history: pd.DataFrame, at: pd.DataFrame, init=None, rough=False):
        """Prophet with params (None: its defaults) fitted on history; its point forecast at `at` and the model."""
        return self._prophet(params, history, at, init, rough, self.solver)

    def _prophet(self, params, history, at, init, rough, solver, fallback=False):
        model = fit_prophet(history, params, init, self.data.holidays, self.data.regressors, rough, solver)
        self.solved_by["fallback" if fallback else model.stan_backend.used or "constant"] += 1
        return predict(model, at, self.splits.floor), model

    def trial(self, params: dict, fold: int, init=None):
        """A tuning trial's forecast of fold `fold` (an index of splits.folds), and the model where Stan fitted it.
        With the exact solver, from the fold's design shared by every trial; Stan where its check fails."""
        with charged(self.cpu, TUNED):
            return self._trial(params, fold, init)

    def _trial(self, params: dict, fold: int, init):
        log = is_log(params)
        design = self._design(fold, log) if self.solver == "exact" else None
        # Prophet's own path: the stan solver, or orders beyond the series' largest
        if design is None or not design.covers(params):
            return self.prophet(params, *self.splits.fold(*self.splits.folds[fold])[:2], init, rough=True)
        scaled = design.fit_and_forecast(params)
        if scaled is None:
            history, window, _ = self.splits.fold(*self.splits.folds[fold])
            return self._prophet(params, history, window, init, True, "stan", fallback=True)
        self.solved_by["exact"] += 1
        yhat = np.expm1(scaled) if log else scaled
        return (yhat if self.splits.floor is None else np.maximum(yhat, self.splits.floor)), None

    def _design(self, fold: int, log: bool) -> FoldDesign:
        """The fold's design, built on the first trial that needs it (the log variant from the plain one)."""
        if (fold, False) not in self._designs:
            history, window, _ = self.splits.fold(*self.splits.folds[fold])
            largest = largest_params(self.splits.seasonalities)
            self._designs[(fold, False)] = FoldDesign.build(
                history, window, largest, self.data.holidays, self.data.regressors
            )
        if (fold, log) not in self._designs:
            self._designs[(fold, log)] = self._designs[(fold, False)].logged()
        return self._designs[(fold, log)]

    def point(self, model: str, history: pd.DataFrame, at: pd.DataFrame, rough: bool = False) -> np.ndarray:
        """A model's point forecast at `at`, fitted on history; rough: a Prophet fit that only scores."""
        if ensemble := self.ensembles.get(model):
            return ensemble.combine({m: Forecast(self.point(m, history, at)) for m in ensemble.weights}).mean
        if model in PROPHETS:
            with charged(self.cpu, model):
                return self.prophet(self._params(model), history, at, rough=rough)[0]
        return self.challenger(model, history, at).mean

    def challenger(self, model: str, history: pd.DataFrame, at: pd.DataFrame, levels=()) -> Forecast:
        """The forecast, with bounds at the levels, of a challenger, clipped at the series' floor."""
        forecaster = self.challengers[model]
        with charged(self.cpu, model):
            return forecaster.forecast(self.view(forecaster), history, at, levels).at_least(self.splits.floor)

    def with_intervals(self, model: str, history: pd.DataFrame, at: pd.DataFrame, seed: int) -> Forecast:
        """A model's point forecast and its prediction intervals at the run's levels; an ensemble's combine its
        members', bound by bound."""
        if ensemble := self.ensembles.get(model):
            return ensemble.combine({m: self.with_intervals(m, history, at, seed) for m in ensemble.weights})
        if model not in PROPHETS:
            return self.challenger(model, history, at, self.data.bound_levels)
        data, floor = self.data, self.splits.floor
        with charged(self.cpu, model):
            out, fitted = prophet_intervals(
                history,
                self._params(model),
                at,
                data.bound_levels,
                floor,
                500,
                seed,
                data.holidays,
                data.regressors,
                self.solver,
            )
        self.solved_by[fitted.stan_backend.used or "constant"] += 1
        return out

    def _params(self, model: str) -> dict | None:
        return self.tuned_params if model == TUNED else None
