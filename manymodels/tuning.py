"""One Optuna study per series, then the backtest and future forecasts of every model."""

import dataclasses
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import optuna
import pandas as pd

from manymodels.challengers import CHALLENGERS, NAIVE2, challenger_forecast, naive2
from manymodels.contract import SERIES_ID, TARGET, TIME
from manymodels.features import FUTURE
from manymodels.metrics import METRICS, seasonal_mae
from manymodels.models import fit_prophet, fitted_init, predict, prophet_intervals
from manymodels.pooled import POOLED, pooled_forecast
from manymodels.search_space import ORDERS, Seasonalities, prophet_space
from manymodels.settings import DataSpec, TuningSpec
from manymodels.studies import StudyPlace, complete_trials, finished_trials, open_study, run_to

optuna.logging.set_verbosity(optuna.logging.WARNING)

TUNED, DEFAULT, CHAMPION = "prophet_tuned", "prophet_default", "champion"
MODELS = (TUNED, DEFAULT, *CHALLENGERS, POOLED)  # the candidates for champion, in order of preference on a tie


@dataclass
class SeriesResult:
    """Everything one series contributes to the run's outputs."""

    series_id: str
    best_params: dict
    best_value: float
    n_trials: int  # finished (complete or pruned) trials in the study
    n_fits: int  # Prophet fits performed by this call
    resumed: bool  # the study already had trials when this call started
    seconds: float
    champion: str  # the model with the lowest mean error over the rolling-origin folds
    fold_errors: dict[str, float]  # each candidate's mean error over the folds
    backtest: pd.DataFrame = field(repr=False)  # ds, y, model, yhat on the test window; the champion's bounds
    forecast: pd.DataFrame = field(repr=False)  # ds, model (the champion), yhat and bounds after the last point


@dataclass
class TuneOutcome:
    """The tuning step's results, the series that failed with why, and how each result was obtained."""

    results: list[SeriesResult]
    failures: dict[str, str]
    counts: dict[str, int]  # tuned, resumed, cached

    @classmethod
    def empty(cls) -> "TuneOutcome":
        return cls(results=[], failures={}, counts={"tuned": 0, "resumed": 0, "cached": 0})

    def add(self, result: SeriesResult, how: str | None = None) -> None:
        """Record a series' result, obtained as `how`: cached, or (when None) tuned or resumed as the result says."""
        how = how or ("resumed" if result.resumed else "tuned")
        self.results.append(dataclasses.replace(result, n_fits=0) if how == "cached" else result)
        self.counts[how] += 1

    def merge(self, other: "TuneOutcome") -> "TuneOutcome":
        return TuneOutcome(
            results=self.results + other.results,
            failures=self.failures | other.failures,
            counts={how: n + other.counts[how] for how, n in self.counts.items()},
        )


class WarmStarts:
    """Each trial's fit starts from the last fit of the same seasonality mode (its seasonal terms only when the
    Fourier orders match): neighbouring trials' optima are close, so the optimiser has less far to go."""

    def __init__(self) -> None:
        self.last: dict[tuple, tuple[dict, dict]] = {}  # (seasonality mode, transform) -> (params, fitted init)

    @staticmethod
    def _kind(params: dict) -> tuple:
        return params["seasonality_mode"], params.get("transform")

    def init_for(self, params: dict) -> dict | None:
        before = self.last.get(self._kind(params))
        if before is None:
            return None
        if any(before[0].get(order) != params.get(order) for order in ORDERS):
            return {**before[1], "beta": np.empty(0)}  # another shape: Prophet takes its own guess for those
        return before[1]

    def remember(self, params: dict, model) -> None:
        self.last[self._kind(params)] = (params, fitted_init(model))


def study_seed(seed: int, series_id: str) -> int:
    """A per-series sampler seed that does not depend on the order series are processed in."""
    return (seed * 1_000_003 + zlib.crc32(series_id.encode())) % 2**32


def rolling_folds(n_known: int, horizon: int, folds: int) -> list[tuple[int, int]]:
    """(training end, window end) of each rolling-origin fold: the last `folds` windows of `horizon` points."""
    return [(n_known - (folds - k) * horizon, n_known - (folds - k - 1) * horizon) for k in range(folds)]


def tune_series(
    frame: pd.DataFrame,
    data: DataSpec,
    tuning: TuningSpec,
    place: StudyPlace | None = None,
    warm_start: dict | None = None,
    seasonal_factors: dict[str, list[float]] | None = None,
) -> SeriesResult:
    """Tune Prophet on rolling-origin folds; choose the champion among it and the challengers on the same folds;
    forecast the test window with every model, and the future with the champion, with intervals.

    seasonal_factors: the run's pooled factors (Ingested.seasonal_factors); without them, no pooled challenger.
    """
    started = time.perf_counter()
    series_id = str(frame[SERIES_ID].iloc[0])
    future_rows, frame = frame[frame["split"] == FUTURE], frame[frame["split"] != FUTURE]
    known, test = frame[frame["split"] != "test"], frame[frame["split"] == "test"]
    y, dates = known[TARGET].to_numpy(), known[TIME]
    folds = rolling_folds(len(known), data.horizon, data.folds)
    floor = 0.0 if frame[TARGET].min() >= 0 else None
    error = METRICS[tuning.metric]
    scale = seasonal_mae(y[: folds[0][0]], data.period)
    seasonalities = Seasonalities.for_series(data.freq, dates.iloc[folds[0][0] - 1] - dates.iloc[0])
    fits = Counter()

    def prophet(params: dict | None, history: pd.DataFrame, at: pd.DataFrame, init=None, rough=False):
        fits["prophet"] += 1
        model = fit_prophet(history, params, init, data.holidays, data.regressors, rough)
        return predict(model, at, floor), model

    warm = WarmStarts()

    def objective(trial: optuna.Trial) -> float:
        params = prophet_space(trial, seasonalities, log_allowed=floor is not None)
        errors = []
        for step, (cut, end) in enumerate(folds):
            yhat, model = prophet(params, known.iloc[:cut], known.iloc[cut:end], warm.init_for(params), rough=True)
            warm.remember(params, model)
            errors.append(error(y[cut:end], yhat, scale))
            if step == 0:
                trial.report(errors[0], 0)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        return float(np.mean(errors))

    study, resumed = open_study(place or StudyPlace(storage=None, name=series_id), warm_start)
    run_to(study, objective, tuning.trials, study_seed(tuning.seed, series_id))
    if not complete_trials(study):
        raise RuntimeError(f"no Optuna trial completed for series {series_id}")
    best = study.best_trial
    # Refit on a search space restricted to the best trial, so optional seasonalities come out exactly.
    best_params = prophet_space(optuna.trial.FixedTrial(best.params), seasonalities, log_allowed=floor is not None)

    def point(model: str, history: pd.DataFrame, at: pd.DataFrame, rough: bool = False) -> np.ndarray:
        if model in (TUNED, DEFAULT):
            return prophet(best_params if model == TUNED else None, history, at, rough=rough)[0]
        return challenger(model, history, at)["mean"]

    def challenger(model: str, history: pd.DataFrame, at: pd.DataFrame, levels=()) -> dict[str, np.ndarray]:
        if model == POOLED:
            y_past, past, dates = history[TARGET].to_numpy(), history[TIME], at[TIME]
            out = pooled_forecast(y_past, past, dates, data.freq, seasonal_factors, levels)
        else:
            out = challenger_forecast(model, history[TARGET].to_numpy(), len(at), data.period, levels)
        return out if floor is None else {k: np.maximum(v, floor) for k, v in out.items()}

    candidates = [m for m in MODELS if m != POOLED or seasonal_factors]
    fold_errors = {TUNED: float(best.value)}
    for model in candidates[1:]:
        errors = [
            error(y[cut:end], point(model, known.iloc[:cut], known.iloc[cut:end], rough=True), scale)
            for cut, end in folds
        ]
        fold_errors[model] = float(np.mean(errors))
    champion = min(fold_errors, key=lambda m: (np.nan_to_num(fold_errors[m], nan=np.inf), MODELS.index(m)))

    def with_intervals(history: pd.DataFrame, at: pd.DataFrame) -> dict[str, np.ndarray]:
        if champion in (TUNED, DEFAULT):
            fits["prophet"] += 1
            params = best_params if champion == TUNED else None
            seed = study_seed(tuning.seed, series_id)
            holidays, regressors = data.holidays, data.regressors
            return prophet_intervals(history, params, at, data.levels, floor, 500, seed, holidays, regressors)
        return challenger(champion, history, at, data.levels)

    actual = test[TARGET].to_numpy()
    test_forecasts = {m: point(m, known, test) for m in candidates if m != champion}
    test_forecasts[NAIVE2] = naive2(y, len(test), data.period)
    champion_test = with_intervals(known, test)
    test_forecasts[champion] = champion_test["mean"]
    if len(future_rows):  # the dates after the last target, with the regressors' values there
        future = future_rows
    else:
        future = pd.DataFrame({TIME: pd.date_range(frame[TIME].iloc[-1], periods=data.horizon + 1, freq=data.freq)[1:]})
    champion_future = with_intervals(frame, future)
    backtest = [
        pd.DataFrame({TIME: test[TIME].to_numpy(), TARGET: actual, "model": m, "yhat": yhat})
        for m, yhat in test_forecasts.items()
    ]
    backtest.append(
        pd.DataFrame({TIME: test[TIME].to_numpy(), TARGET: actual, "model": CHAMPION} | _bands(champion_test))
    )
    return SeriesResult(
        series_id=series_id,
        best_params=best_params,
        best_value=float(best.value),
        n_trials=finished_trials(study),
        n_fits=fits["prophet"],
        resumed=resumed,
        seconds=time.perf_counter() - started,
        champion=champion,
        fold_errors=fold_errors,
        backtest=pd.concat(backtest, ignore_index=True),
        forecast=pd.DataFrame({TIME: future[TIME].to_numpy(), "model": champion} | _bands(champion_future)),
    )


def _bands(forecast: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A forecast's point and bounds as columns: yhat, lo_80, hi_80, ..."""
    return {"yhat": forecast["mean"]} | {k.replace("-", "_"): v for k, v in forecast.items() if k != "mean"}
