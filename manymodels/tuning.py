"""Tuning Prophet: one durable, seeded Optuna study per series, scored on its rolling-origin folds."""

import zlib
from dataclasses import dataclass

import numpy as np
import optuna

from manymodels.candidates import Candidates
from manymodels.metrics import METRICS
from manymodels.models import fitted_init
from manymodels.search_space import ORDERS, prophet_space
from manymodels.settings import TuningSpec
from manymodels.studies import StudyPlace, complete_trials, finished_trials, open_study, run_to, stalled


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


@dataclass(frozen=True)
class TunedProphet:
    params: dict  # the best trial's, as prophet_space gives them
    value: float | None  # its mean error over the tuning folds
    n_trials: int  # finished (complete or pruned) trials in the study
    resumed: bool  # the study already had trials when tuning started
    stopped_early: bool  # it ended before tuning.trials: its best value stopped improving


NOT_TUNED = TunedProphet(params={}, value=None, n_trials=0, resumed=False, stopped_early=False)


def fold_objective(candidates: Candidates, metric: str):
    """An Optuna objective: a trial's mean error over the tuning folds; pruned after the first if hopeless."""
    splits, error, warm = candidates.splits, METRICS[metric], WarmStarts()
    log_allowed = splits.floor is not None

    def objective(trial: optuna.Trial) -> float:
        params = prophet_space(trial, splits.seasonalities, log_allowed=log_allowed)
        errors = []
        for step in splits.tuning:
            cut, end = splits.folds[step]
            yhat, model = candidates.trial(params, step, warm.init_for(params))
            if model is not None:
                warm.remember(params, model)
            errors.append(error(splits.y[cut:end], yhat, splits.scale))
            if step == 0:
                trial.report(errors[0], 0)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        return float(np.mean(errors))

    return objective


def tune_prophet(
    candidates: Candidates, tuning: TuningSpec, place: StudyPlace | None = None, warm_start: dict | None = None
) -> TunedProphet:
    """Run (or resume) the series' study to tuning.trials finished trials; the best parameters. NOT_TUNED for a
    series with no fold to tune on (one fold: it chooses the champion)."""
    splits = candidates.splits
    if not splits.tuning:
        return NOT_TUNED
    study, resumed = open_study(place or StudyPlace(storage=None, name=splits.series_id), warm_start)
    seed = study_seed(tuning.seed, splits.series_id)
    run_to(study, fold_objective(candidates, tuning.metric), tuning.trials, seed, tuning.early_stopping_rounds)
    if not complete_trials(study):
        raise RuntimeError(f"no Optuna trial completed for series {splits.series_id}")
    best = study.best_trial
    # Refit on a search space restricted to the best trial, so optional seasonalities come out exactly.
    fixed = optuna.trial.FixedTrial(best.params)
    params = prophet_space(fixed, splits.seasonalities, log_allowed=splits.floor is not None)
    n_trials = finished_trials(study)
    stopped_early = n_trials < tuning.trials and stalled(study, tuning.early_stopping_rounds)
    return TunedProphet(params, float(best.value), n_trials, resumed, stopped_early)
