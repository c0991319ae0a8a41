"""One series end to end: tune Prophet, choose the champion, forecast; or forecast again with the run's champion."""

import dataclasses
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pydantic import ConfigDict

from manymodels.bounds import Forecast
from manymodels.calibration import Corrections, calibrated, fold_corrections
from manymodels.candidates import CHAMPION, Candidates
from manymodels.champion import DEFAULT_RULE, ChampionRule, choose_champion, fold_errors, mean_errors
from manymodels.columns import MODEL, TARGET, TIME, YHAT
from manymodels.cpu import charged, spent
from manymodels.ensembles import ENSEMBLES, from_weights
from manymodels.naive2 import NAIVE2, naive2
from manymodels.settings import DataSpec, TuningSpec
from manymodels.solver_check import compare_solvers, is_checked
from manymodels.splits import SeriesSplits
from manymodels.studies import StudyPlace
from manymodels.tuning import study_seed, tune_prophet

log = logging.getLogger(__name__)


@dataclass
class SeriesResult:
    """Everything one series contributes to the run's outputs."""

    series_id: str
    best_params: dict
    best_value: float | None  # the tuned Prophet's mean error on its tuning folds; None where it had none
    n_trials: int  # finished (complete or pruned) trials in the study
    n_fits: int  # Prophet fits performed by this call
    fits_by_solver: dict[str, int]  # those fits by what solved them: exact, stan, fallback (to Stan), constant
    resumed: bool  # the study already had trials when this call started
    stopped_early: bool  # the study ended before its trials: its best value stopped improving
    seconds: float
    champion: str  # the model chosen on the folds (champion.choose_champion)
    fold_errors: dict[str, float]  # each candidate's mean error over the folds it was scored on
    errors_by_fold: dict[str, list[float]]  # each candidate's error on each of those folds
    models: list[str]  # every candidate that competed (those of a series with no fold too)
    scaled_scores: dict[str, list[float]]  # by level, the champion's conformity scores over its scale (kept few)
    dropped: dict[str, str]  # challengers that raised on a fold, with why: out of the series' contest
    ensembles: dict[str, dict[str, float]]  # each ensemble's members and their weights, chosen on every fold
    solver_gap: dict[str, float] | None  # where --solver-check sampled the series: compare_solvers
    cpu_by_step: dict[str, float]  # CPU seconds of this call by step: study, contest, calibration, forecast, io
    cpu_by_model: dict[str, float]  # CPU seconds of this call by model: its fits and forecasts in every step
    backtest: pd.DataFrame = field(repr=False)  # ds, y, model, yhat on the test window; the champion's bounds
    forecast: pd.DataFrame = field(repr=False)  # ds, model (the champion), yhat and bounds after the last point
    folds: pd.DataFrame = field(repr=False)  # ds, y, yhat: the champion on the folds it was scored on

    def summary(self, key: str) -> "SeriesSummary":
        kept = [f.name for f in dataclasses.fields(SeriesSummary) if f.name != "key"]
        return SeriesSummary(key=key, **{name: getattr(self, name) for name in kept})


@dataclass(frozen=True)
class SeriesSummary:
    """What the driver keeps of a series' result: its numbers, and the cache key under which its frames are stored
    (a run of tens of thousands of series does not hold their frames, nor pass them through Ray)."""

    # read back from a result file's metadata: nothing unknown; a NaN fold error (a model that failed a fold) kept
    __pydantic_config__ = ConfigDict(extra="forbid", ser_json_inf_nan="constants")

    key: str
    series_id: str
    best_params: dict[str, float | int | str]
    best_value: float | None
    n_trials: int
    n_fits: int
    fits_by_solver: dict[str, int]
    resumed: bool
    stopped_early: bool
    seconds: float
    champion: str
    fold_errors: dict[str, float]
    errors_by_fold: dict[str, list[float]]
    models: list[str]
    scaled_scores: dict[str, list[float]]
    dropped: dict[str, str]
    ensembles: dict[str, dict[str, float]]
    solver_gap: dict[str, float] | None
    cpu_by_step: dict[str, float]
    cpu_by_model: dict[str, float]


def tune_series(
    frame: pd.DataFrame,
    data: DataSpec,
    tuning: TuningSpec,
    place: StudyPlace | None = None,
    warm_start: dict | None = None,
    learned: dict[str, Any] | None = None,
    rule: ChampionRule = DEFAULT_RULE,
    champion: str | None = None,
    pooled: dict[str, float] | None = None,
) -> SeriesResult:
    """Tune Prophet on the tuning folds; choose the champion among it and the challengers on the selection folds,
    which no trial saw, by the rule (or take `champion`, chosen with the whole run: run_selection); forecast the test
    window with every model, and the future with the champion, with intervals calibrated on its folds (or, at a
    level its folds hold too few scores for, by the run's `pooled` scaled correction). learned: the series' share of
    what each model that learns across series learned, by name."""
    started, steps = time.perf_counter(), Counter()
    with charged(steps, "splits"):
        splits = SeriesSplits.of(frame, data)
    candidates = Candidates(splits, data, learned or {}, solver=tuning.solver)
    if splits.intermittent and tuning.metric == "smape":  # sMAPE scores each period of zero demand 0 or 200,
        tuning = tuning.model_copy(update={"metric": "rmse"})  # and MAE (MASE) favours forecasting no demand at all
    with charged(steps, "study"):
        tuned = tune_prophet(candidates, tuning, place, warm_start)
    candidates.tuned_params = tuned.params
    with charged(steps, "contest"):
        errors, on_folds = fold_errors(candidates, tuning.metric)
    champion = the_champion(candidates, errors, rule, champion)
    seed = study_seed(tuning.seed, candidates.splits.series_id)
    with charged(steps, "calibration"):
        calibration = fold_corrections(candidates, champion, seed, on_folds, pooled)
    with charged(steps, "forecast"):
        backtest, forecast = forecast_series(candidates, champion, seed, calibration.corrections)
    checked = is_checked(candidates.splits.series_id, tuning.solver_check)
    with charged(steps, "solver_check"):
        solver_gap = compare_solvers(candidates, tuned.params) if checked and tuned.n_trials else None
    return SeriesResult(
        series_id=candidates.splits.series_id,
        best_params=tuned.params,
        best_value=tuned.value,
        n_trials=tuned.n_trials,
        n_fits=candidates.prophet_fits,
        fits_by_solver=dict(candidates.solved_by),
        resumed=tuned.resumed,
        stopped_early=tuned.stopped_early,
        seconds=time.perf_counter() - started,
        champion=champion,
        fold_errors=mean_errors(errors),
        errors_by_fold=errors,
        models=candidates.models,
        ensembles={name: ensemble.weights for name, ensemble in candidates.ensembles.items()},
        solver_gap=solver_gap,
        backtest=backtest,
        forecast=forecast,
        folds=calibration.on_folds,
        scaled_scores=calibration.scores,
        dropped=candidates.dropped,
        cpu_by_step=spent(steps),
        cpu_by_model=dict(candidates.cpu),
    )


def the_champion(candidates: Candidates, errors: dict, rule: ChampionRule, given: str | None) -> str:
    """The champion chosen by the rule on the fold errors, or the one given, which must be a candidate."""
    if given is None:
        return choose_champion(errors, rule)
    return a_candidate(given, candidates.splits.series_id, candidates.models)


def a_candidate(champion: str, series_id: str, models: list[str]) -> str:
    """The champion chosen with the whole run, refused if it is not one of the series' candidates."""
    if champion not in models:
        raise ValueError(f"{champion} was chosen for series {series_id}, whose candidates are {models}")
    return champion


def forecast_series(
    candidates: Candidates, champion: str, seed: int, corrections: Corrections, kept: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The test window forecast by every model (Naive2 too, and the champion with its bounds) beside the actuals,
    and the future forecast by the champion with its bounds, moved by each level's conformal correction. kept: an
    earlier backtest of the series whose other models' rows are kept, the champion's (and its members') made again."""
    splits = candidates.splits
    future = calibrated(
        candidates.with_intervals(champion, splits.history, splits.future, seed), corrections, splits.floor
    )
    forecast = pd.DataFrame({TIME: splits.future[TIME].to_numpy(), MODEL: champion} | future.columns())
    if splits.test.empty:  # a series under two horizons: forecast, with no test window to score
        empty = {TIME: "datetime64[ns]", TARGET: "float64", MODEL: "object", YHAT: "float64"}
        return pd.DataFrame({column: pd.Series(dtype=kind) for column, kind in empty.items()}), forecast
    if kept is not None:
        with_bounds, champion_test = on_the_test(candidates, champion, seed, corrections)
        others = kept[~kept[MODEL].isin([CHAMPION, *with_bounds])]
        again = test_rows(splits.test, {m: f.mean for m, f in with_bounds.items()}, champion_test)
        return pd.concat([others, again], ignore_index=True), forecast
    return backtest_of(candidates, champion, seed, corrections), forecast


def backtest_of(candidates: Candidates, champion: str, seed: int, corrections: Corrections) -> pd.DataFrame:
    """The test window forecast by every model (Naive2 too, and the champion with its bounds) beside the actuals."""
    splits = candidates.splits
    known, test = splits.known, splits.test
    with_bounds, champion_test = on_the_test(candidates, champion, seed, corrections)
    points = {
        m: with_bounds[m].mean if m in with_bounds else candidates.point(m, known, test)
        for m in candidates.models
        if m not in ENSEMBLES
    }
    for name, each in candidates.ensembles.items():
        points[name] = each.combine({m: Forecast(points[m]) for m in each.weights}).mean
    points[NAIVE2] = naive2(splits.y, len(test), candidates.data.period)
    return test_rows(test, points, champion_test)


def on_the_test(
    candidates: Candidates, champion: str, seed: int, corrections: Corrections
) -> tuple[dict[str, Forecast], Forecast]:
    """The test window forecast with bounds by the champion (or each of its members), and the champion's forecast
    with its bounds calibrated."""
    splits = candidates.splits
    ensemble = candidates.ensembles.get(champion)
    bounded = tuple(ensemble.weights) if ensemble else (champion,)
    with_bounds = {m: candidates.with_intervals(m, splits.known, splits.test, seed) for m in bounded}
    combined = ensemble.combine(with_bounds) if ensemble else with_bounds[champion]
    return with_bounds, calibrated(combined, corrections, splits.floor)


def test_rows(test: pd.DataFrame, points: dict[str, object], champion: Forecast) -> pd.DataFrame:
    """The backtest rows: each model's points, and the champion's with its bounds, beside the actuals."""
    dates, actual = test[TIME].to_numpy(), test[TARGET].to_numpy()
    backtest = [pd.DataFrame({TIME: dates, TARGET: actual, MODEL: m, YHAT: yhat}) for m, yhat in points.items()]
    backtest.append(pd.DataFrame({TIME: dates, TARGET: actual, MODEL: CHAMPION} | champion.columns()))
    return pd.concat(backtest, ignore_index=True)


def forecast_again(
    first: SeriesResult,
    frame: pd.DataFrame,
    data: DataSpec,
    tuning: TuningSpec,
    learned: dict[str, Any] | None,
    champion: str,
    pooled: dict[str, float] | None,
) -> SeriesResult:
    """The series' first result with the champion the whole run chose: its contest kept (the study, the fold
    errors, the ensembles, every other model's test-window forecast), the champion's intervals calibrated on its
    folds (or by the run's pooled correction) and its test window and future forecast again."""
    champion = a_candidate(champion, first.series_id, first.models)
    started, steps = time.perf_counter(), Counter()
    with charged(steps, "splits"):
        splits = SeriesSplits.of(frame, data)
    candidates = Candidates(splits, data, learned or {}, solver=tuning.solver, tuned_params=first.best_params)
    candidates.ensembles = {name: from_weights(name, weights) for name, weights in first.ensembles.items()}
    seed = study_seed(tuning.seed, splits.series_id)
    with charged(steps, "calibration"):
        calibration = fold_corrections(candidates, champion, seed, {}, pooled)
    with charged(steps, "forecast"):
        backtest, forecast = forecast_series(candidates, champion, seed, calibration.corrections, first.backtest)
    return dataclasses.replace(
        first,
        champion=champion,
        n_fits=candidates.prophet_fits,
        fits_by_solver=dict(candidates.solved_by),
        seconds=time.perf_counter() - started,
        backtest=backtest,
        forecast=forecast,
        folds=calibration.on_folds,
        scaled_scores=calibration.scores,
        cpu_by_step=spent(steps),
        cpu_by_model=dict(candidates.cpu),
    )
