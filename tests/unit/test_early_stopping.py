"""A study stops once its best value has not improved for early_stopping_rounds trials, also when resumed."""

import optuna
from optuna.trial import TrialState

from manymodels.settings import TuningSpec
from manymodels.studies import run_to, stalled


def scripted(values: list[float]):
    """An objective that returns the next value of the list, or prunes where it says None."""
    queue = iter(values)

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0, 1)
        value = next(queue)
        if value is None:
            raise optuna.TrialPruned()
        return value

    return objective


def test_a_study_stops_after_rounds_without_improvement_and_a_resumed_one_stays_stopped():
    study = optuna.create_study()
    started = run_to(study, scripted([5.0, 4.0, 4.5, None, 6.0, 1.0]), trials=20, seed=0, early_stopping_rounds=3)
    assert started == 5 and [t.value for t in study.trials][:3] == [5.0, 4.0, 4.5]
    assert study.trials[3].state == TrialState.PRUNED  # a pruned trial counts as one without improvement
    assert stalled(study, 3) and not stalled(study, 4)
    assert run_to(study, scripted([0.0]), trials=20, seed=0, early_stopping_rounds=3) == 0
    assert run_to(study, scripted([7.0]), trials=20, seed=0, early_stopping_rounds=4) == 1  # a longer patience


def test_without_rounds_every_trial_runs():
    study = optuna.create_study()
    assert run_to(study, scripted([1.0] * 6), trials=6, seed=0) == 6
    assert not stalled(study, None)


def test_a_study_of_only_pruned_trials_is_not_stalled():
    study = optuna.create_study()
    run_to(study, scripted([None] * 3), trials=3, seed=0)
    assert not stalled(study, 1)


def test_a_reseeded_sampler_asks_what_a_new_sampler_per_trial_would():
    from manymodels.search_space import Seasonalities, prophet_space

    seasonalities = Seasonalities(yearly=10, weekly=3, monthly=5)

    def objective(trial: optuna.Trial) -> float:
        params = prophet_space(trial, seasonalities, log_allowed=True)
        return params["changepoint_prior_scale"] * params["weekly_order"] + (params["transform"] == "log1p")

    ours = optuna.create_study()
    run_to(ours, objective, trials=25, seed=7)
    fresh = optuna.create_study()
    for done in range(25):  # the sampler run_to used to build anew before every trial
        fresh.sampler = optuna.samplers.TPESampler(seed=7 + done)
        trial = fresh.ask()
        fresh.tell(trial, objective(trial))
    assert [t.params for t in ours.trials] == [t.params for t in fresh.trials]


def test_by_default_a_short_study_runs_every_trial_and_a_long_stalled_one_stops():
    rounds = TuningSpec().early_stopping_rounds
    short = optuna.create_study()
    assert run_to(short, scripted([1.0] + [2.0] * rounds), trials=rounds + 1, seed=0, early_stopping_rounds=rounds)
    assert len(short.trials) == rounds + 1  # the best first, then every other trial worse: none stopped
    long = optuna.create_study()
    run_to(long, scripted([1.0] + [2.0] * 100), trials=100, seed=0, early_stopping_rounds=rounds)
    assert len(long.trials) == rounds + 1 and stalled(long, rounds)
