"""One Optuna study per series, then the backtest and future forecasts of every model."""

import dataclasses
import time
import zlib
from dataclasses import dataclass, field

import numpy as np
import optuna
import pandas as pd

from manymodels.contract import SERIES_ID, TARGET, TIME
from manymodels.metrics import METRICS, seasonal_mae
from manymodels.models import fit_prophet, fitted_init, predict, seasonal_naive
from manymodels.search_space import ORDERS, Seasonalities, prophet_space
from manymodels.settings import DataSpec, TuningSpec
from manymodels.studies import StudyPlace, complete_trials, open_study, run_to

optuna.logging.set_verbosity(optuna.logging.WARNING)

TUNED, DEFAULT, SNAIVE = "prophet_tuned", "prophet_default", "seasonal_naive"


@dataclass
class SeriesResult:
    """Everything one series contributes to the run's outputs."""

    series_id: str
    best_params: dict
    best_value: float
    n_trials: int  # complete trials in the study
    n_fits: int  # Prophet fits performed by this call
    resumed: bool  # the study already had trials when this call started
    seconds: float
    backtest: pd.DataFrame = field(repr=False)  # ds, y, model, yhat on the test window
    forecast: pd.DataFrame = field(repr=False)  # ds, model, yhat after the last observation


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
        self.last: dict[str, tuple[dict, dict]] = {}  # seasonality mode -> (params, fitted init)

    def init_for(self, params: dict) -> dict | None:
        before = self.last.get(params["seasonality_mode"])
        if before is None:
            return None
        if any(before[0].get(order) != params.get(order) for order in ORDERS):
            return {**before[1], "beta": np.empty(0)}  # another shape: Prophet takes its own guess for those
        return before[1]

    def remember(self, params: dict, model) -> None:
        self.last[params["seasonality_mode"]] = (params, fitted_init(model))


def study_seed(seed: int, series_id: str) -> int:
    """A per-series sampler seed that does not depend on the order series are processed in."""
    return (seed * 1_000_003 + zlib.crc32(series_id.encode())) % 2**32


def tune_series(
    frame: pd.DataFrame,
    data: DataSpec,
    tuning: TuningSpec,
    place: StudyPlace | None = None,
    warm_start: dict | None = None,
) -> SeriesResult:
    """Tune Prophet on the validation window, then forecast the test window and the future."""
    started = time.perf_counter()
    series_id = str(frame[SERIES_ID].iloc[0])
    train, valid, test = (frame[frame["split"] == s] for s in ("train", "valid", "test"))
    known = frame[frame["split"] != "test"]
    floor = 0.0 if frame[TARGET].min() >= 0 else None
    objective_fn = METRICS[tuning.metric]
    scale = seasonal_mae(train[TARGET].to_numpy(), data.period)
    seasonalities = Seasonalities.for_series(data.freq, train[TIME].iloc[-1] - train[TIME].iloc[0])

    warm = WarmStarts()

    def objective(trial: optuna.Trial) -> float:
        params = prophet_space(trial, seasonalities)
        model = fit_prophet(train, params, warm.init_for(params))
        warm.remember(params, model)
        return objective_fn(valid[TARGET].to_numpy(), predict(model, valid[TIME], floor), scale)

    study, resumed = open_study(place or StudyPlace(storage=None, name=series_id), warm_start)
    n_started = run_to(study, objective, tuning.trials, study_seed(tuning.seed, series_id))
    n_complete = complete_trials(study)
    if not n_complete:
        raise RuntimeError(f"no Optuna trial completed for series {series_id}")
    best = study.best_trial
    # Refit on a search space restricted to the best trial, so optional seasonalities come out exactly.
    best_params = prophet_space(optuna.trial.FixedTrial(best.params), seasonalities)

    actual = test[TARGET].to_numpy()
    backtest = {
        TUNED: predict(fit_prophet(known, best_params), test[TIME], floor),
        DEFAULT: predict(fit_prophet(known), test[TIME], floor),
        SNAIVE: seasonal_naive(known[TARGET].to_numpy(), len(test), data.period),
    }
    future = pd.date_range(frame[TIME].iloc[-1], periods=data.horizon + 1, freq=data.freq)[1:]
    return SeriesResult(
        series_id=series_id,
        best_params=best_params,
        best_value=float(best.value),
        n_trials=n_complete,
        n_fits=n_started + 3,
        resumed=resumed,
        seconds=time.perf_counter() - started,
        backtest=pd.concat(
            [
                pd.DataFrame({TIME: test[TIME].to_numpy(), TARGET: actual, "model": m, "yhat": yhat})
                for m, yhat in backtest.items()
            ],
            ignore_index=True,
        ),
        forecast=pd.DataFrame(
            {TIME: future, "model": TUNED, "yhat": predict(fit_prophet(frame, best_params), future, floor)}
        ),
    )
