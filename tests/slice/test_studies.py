"""Durable studies in journal files and in PostgreSQL: resumed, never over-run, identical to an uninterrupted one."""

import multiprocessing
import os
import uuid

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from manymodels.candidates import DEFAULT, TUNED
from manymodels.search_space import Seasonalities, prophet_space
from manymodels.series import tune_series
from manymodels.settings import TuningSpec
from manymodels.studies import StudyPlace, open_study, run_to
from manymodels.tuning import study_seed
from tests.helpers import SPEC


class Crash(BaseException):
    """Stands for the process dying in the middle of a trial."""


@pytest.fixture(params=["journal", "s3-journal", "postgresql"])
def place(request, tmp_path):
    """Makes a fresh study's place: a journal file per study, locally or on S3 (moto), or a study of its own in one
    PostgreSQL database."""

    def make(name: str = "s") -> StudyPlace:
        if request.param == "journal":
            return StudyPlace(storage=str(tmp_path / f"{name}.journal"), name="1-1:test")
        if request.param == "s3-journal":
            bucket = request.getfixturevalue("s3_env").bucket
            return StudyPlace(storage=f"s3://{bucket}/studies-{uuid.uuid4().hex}/{name}.journal", name="1-1:test")
        return StudyPlace(storage=request.getfixturevalue("postgres"), name=f"1-1:{uuid.uuid4().hex}")

    return make


def states(place_: StudyPlace) -> list[TrialState]:
    study, _ = open_study(StudyPlace(place_.storage, place_.name))
    return [t.state for t in study.trials]


def fits_besides_trials(result) -> int:
    """The tuned Prophet on the 2 selection folds, the default on all 4, both on the test window, and a Prophet
    champion's future and its bounds on the folds it was chosen on (trials fit the 2 tuning folds)."""
    return 2 + 4 + 2 + {TUNED: 1 + 2, DEFAULT: 1 + 4}.get(result.champion, 0)


def test_rerun_adds_no_trial_and_a_bigger_budget_adds_only_the_difference(series, place):
    where = place()
    first = tune_series(series, SPEC, TuningSpec(trials=3), where)
    assert (first.n_trials, first.n_fits - fits_besides_trials(first), first.resumed) == (3, 3 * 2, False)
    again = tune_series(series, SPEC, TuningSpec(trials=3), where)
    assert (again.n_trials, again.n_fits - fits_besides_trials(again), again.resumed) == (3, 0, True)
    assert again.best_params == first.best_params
    more = tune_series(series, SPEC, TuningSpec(trials=5), where)
    pruned = states(where).count(TrialState.PRUNED)  # a pruned trial stops after its first fold
    assert (more.n_trials, more.n_fits - fits_besides_trials(more)) == (5, 2 * 2 - pruned)
    assert states(where)[:3] == [TrialState.COMPLETE] * 3 and len(states(where)) == 5


def crash_during_trial(series, where: StudyPlace, after: int, seed: int) -> dict:
    """Run `after` trials, then die in the next one after its parameters were drawn; that trial's parameters."""
    train = series[series["split"] == "train"]
    seasonalities = Seasonalities.for_series("D", train["ds"].iloc[-1] - train["ds"].iloc[0])
    study, _ = open_study(where)

    def objective(trial: optuna.Trial) -> float:
        prophet_space(trial, seasonalities, log_allowed=True)  # as tune_series asks for non-negative sales
        if trial.number < after:
            return float(trial.number)
        raise Crash

    with pytest.raises(Crash):
        run_to(study, objective, after + 1, seed)
    return study.trials[-1].params


def test_a_trial_whose_process_died_is_retried_with_its_parameters(series, place, request):
    where = place()
    tune_series(series, SPEC, TuningSpec(trials=2, seed=4), where)
    dead_params = crash_during_trial(series, where, after=2, seed=study_seed(4, "1-1"))
    result = tune_series(series, SPEC, TuningSpec(trials=4, seed=4), where)
    assert result.n_trials == 4 and result.resumed
    trials = open_study(StudyPlace(where.storage, where.name))[0].trials
    if "journal" in request.node.callspec.id:  # saved after finished trials only: the dead one left no trace
        assert [t.state for t in trials] == [TrialState.COMPLETE] * 4 and trials[2].params == dead_params
    else:  # recorded as it started: failed on resuming, and asked again
        assert [t.state for t in trials] == [TrialState.COMPLETE] * 2 + [TrialState.FAIL] + [TrialState.COMPLETE] * 2
        assert trials[3].params == dead_params


def test_an_interrupted_study_ends_where_an_uninterrupted_one_does(series, place):
    tuning = TuningSpec(trials=4, seed=9)
    straight = tune_series(series, SPEC, tuning, place("straight"))
    broken = place("broken")
    tune_series(series, SPEC, TuningSpec(trials=1, seed=9), broken)
    crash_during_trial(series, broken, after=1, seed=study_seed(9, "1-1"))
    resumed = tune_series(series, SPEC, tuning, broken)
    assert resumed.best_params == straight.best_params and resumed.best_value == straight.best_value
    pd.testing.assert_frame_equal(resumed.forecast, straight.forecast)
    pd.testing.assert_frame_equal(resumed.backtest, straight.backtest)


def test_warm_start_is_the_first_trial_of_a_new_study(series, place):
    warm = {
        "seasonality_mode": "additive",
        "transform": "none",
        "changepoint_prior_scale": 0.05,
        "seasonality_prior_scale": 1.0,
        "holidays_prior_scale": 1.0,
        "weekly_order": 2,
        "monthly_order": 0,
    }
    where = place()
    tune_series(series, SPEC, TuningSpec(trials=2), where, warm_start=warm)
    assert open_study(StudyPlace(where.storage, where.name))[0].trials[0].params == warm


def test_a_hopeless_trial_is_pruned_after_its_first_fold_and_counts_against_the_budget():
    study, _ = open_study(StudyPlace(storage=None, name="prune"))
    second_folds = []

    def objective(trial: optuna.Trial) -> float:
        first = 100.0 if trial.number == 5 else 10.0 - trial.number  # each better than the last
        trial.report(first, 0)
        if trial.should_prune():
            raise optuna.TrialPruned()
        second_folds.append(trial.number)
        return first

    assert run_to(study, objective, 6, seed=0) == 6
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 5 + [TrialState.PRUNED]
    assert second_folds == [0, 1, 2, 3, 4]


def test_a_journal_cut_off_mid_write_resumes_with_its_complete_trials(tmp_path):
    place = StudyPlace(storage=str(tmp_path / "s.journal"), name="1-1:test")
    study, _ = open_study(place)
    run_to(study, lambda trial: trial.suggest_float("x", 0, 1), 2, seed=0)
    with open(place.storage, "ab") as journal:
        journal.write(b'{"op_code": 5, "worker_id": "dead", "trial_id": 2, "sta')  # the process died here
    study, resumed = open_study(place)
    run_to(study, lambda trial: trial.suggest_float("x", 0, 1), 4, seed=0)
    assert resumed and states(place) == [TrialState.COMPLETE] * 4


def test_a_journal_damaged_elsewhere_is_set_aside_and_the_study_starts_afresh(tmp_path):
    place = StudyPlace(storage=str(tmp_path / "s.journal"), name="1-1:test")
    study, _ = open_study(place)
    run_to(study, lambda trial: trial.suggest_float("x", 0, 1), 2, seed=0)
    lines = (tmp_path / "s.journal").read_bytes().splitlines(keepends=True)
    (tmp_path / "s.journal").write_bytes(lines[0] + b"garbage\n" + b"".join(lines[1:]))
    study, resumed = open_study(place)
    run_to(study, lambda trial: trial.suggest_float("x", 0, 1), 2, seed=0)
    assert not resumed and states(place) == [TrialState.COMPLETE] * 2
    assert len(list(tmp_path.glob("s.journal.aside-*"))) == 1


BAD_LINES = {
    "deeply-nested": b"[" * 100_000 + b"]" * 100_000,
    "unknown-op-code": b'{"op_code": 99, "worker_id": "w"}',
    "not-an-operation": b"5",
    "complete-trial-valued-in-text": b'{"op_code": 4, "worker_id": "w", "study_id": 0, "state": 1, "values": ["x"], '
    b'"datetime_start": "2024-01-01T00:00:00", "datetime_complete": "2024-01-01T00:00:01"}',
}


@pytest.mark.parametrize("bad", BAD_LINES.values(), ids=BAD_LINES)
def test_a_journal_optuna_cannot_open_is_set_aside_and_the_study_starts_afresh(tmp_path, bad):
    place = StudyPlace(storage=str(tmp_path / "s.journal"), name="1-1:test")
    study, _ = open_study(place)
    run_to(study, lambda trial: trial.suggest_float("x", 0, 1), 2, seed=0)
    lines = (tmp_path / "s.journal").read_bytes().splitlines(keepends=True)
    (tmp_path / "s.journal").write_bytes(lines[0] + bad + b"\n" + b"".join(lines[1:]))
    study, resumed = open_study(place)
    run_to(study, lambda trial: trial.suggest_float("x", 0, 1), 2, seed=0)
    assert not resumed and states(place) == [TrialState.COMPLETE] * 2
    assert len(list(tmp_path.glob("s.journal.aside-*"))) == 1


def test_a_study_on_s3_is_written_back_when_created_at_most_once_a_second_and_when_it_stops(s3_env, monkeypatch):
    from manymodels import storage, studies

    place = StudyPlace(storage=f"s3://{s3_env.bucket}/studies-{uuid.uuid4().hex}/k.journal", name="1-1:test")
    writes = []
    write = storage.write_bytes
    monkeypatch.setattr(studies.storage, "write_bytes", lambda url, data: writes.append(url) or write(url, data))
    study, resumed = open_study(place)
    run_to(study, lambda trial: trial.suggest_float("x", 0, 1), 3, seed=0)
    assert not resumed and writes == [place.storage] * 2  # created; the three quick trials together as it stopped
    monkeypatch.setattr(studies, "SAVE_EVERY", 0.0)
    run_to(study, lambda trial: trial.suggest_float("x", 0, 1), 5, seed=0)
    assert writes == [place.storage] * (2 + 2)  # each trial, when the last save is SAVE_EVERY old
    elsewhere, resumed = open_study(place)  # a new local copy, as on another node
    assert resumed and [t.state for t in elsewhere.trials] == [TrialState.COMPLETE] * 5
    assert elsewhere.trials[4].params == study.trials[4].params


def _killed_after(path: str, trials: int) -> None:
    """In a child process: a study whose journal is saved once an hour, killed in trial `trials` (no clean-up)."""
    from manymodels import studies

    studies.SAVE_EVERY = 3600.0
    study, _ = open_study(StudyPlace(path, "1-1:test"))

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        if trial.number == trials:
            os._exit(0)
        return x

    run_to(study, objective, trials + 1, seed=3)


def test_a_process_killed_between_saves_loses_only_those_trials_and_its_study_asks_them_again(tmp_path):
    killed = multiprocessing.get_context("fork").Process(target=_killed_after, args=(str(tmp_path / "k.journal"), 3))
    killed.start()
    killed.join(60)
    assert killed.exitcode == 0
    assert states(StudyPlace(str(tmp_path / "k.journal"), "1-1:test")) == []  # the study created, no trial saved
    study, _ = open_study(StudyPlace(str(tmp_path / "k.journal"), "1-1:test"))
    run_to(study, lambda trial: trial.suggest_float("x", 0, 1), 4, seed=3)
    straight, _ = open_study(StudyPlace(str(tmp_path / "straight.journal"), "1-1:test"))
    run_to(straight, lambda trial: trial.suggest_float("x", 0, 1), 4, seed=3)
    assert [t.params for t in study.trials] == [t.params for t in straight.trials]
    assert states(StudyPlace(str(tmp_path / "k.journal"), "1-1:test")) == [TrialState.COMPLETE] * 4


def test_a_damaged_study_on_s3_is_set_aside_and_starts_afresh(s3_env):
    from manymodels import storage

    folder = f"s3://{s3_env.bucket}/studies-{uuid.uuid4().hex}"
    place = StudyPlace(storage=f"{folder}/k.journal", name="1-1:test")
    study, _ = open_study(place)
    run_to(study, lambda trial: trial.suggest_float("x", 0, 1), 2, seed=0)
    storage.write_bytes(place.storage, b"garbage\n" + storage.filesystem(folder).cat_file(place.storage))
    study, resumed = open_study(place)
    run_to(study, lambda trial: trial.suggest_float("x", 0, 1), 2, seed=0)
    assert not resumed and states(place) == [TrialState.COMPLETE] * 2
    assert len(storage.filesystem(folder).glob(f"{folder}/k.journal.aside-*")) == 1
