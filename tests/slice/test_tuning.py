"""One series through the Optuna study on rolling-origin folds, the challengers and the champion, with real fits."""

import numpy as np
import optuna
import pandas as pd
import pytest

from manymodels import storage
from manymodels.candidates import CHAMPION, DEFAULT, TUNED, Candidates, model_names
from manymodels.ensembles import BEST3, ENSEMBLES, GREEDY, MEDIAN
from manymodels.evaluation import assemble_outputs
from manymodels.forecasters import registry
from manymodels.forecasters.global_lgbm import GLOBAL
from manymodels.forecasters.intermittent import Intermittent
from manymodels.forecasters.pooled import POOLED, own_factors, seasonal_index
from manymodels.ingest import Ingested
from manymodels.jobs import tune_jobs
from manymodels.layout import RunLayout
from manymodels.metrics import smape
from manymodels.models import fit_prophet, predict
from manymodels.naive2 import NAIVE2
from manymodels.planning import RunContext, SeriesJob, plan_jobs
from manymodels.prepare import prepare_series, profile_frame, series_key
from manymodels.results import ResultFiles
from manymodels.series import tune_series
from manymodels.settings import TuningSpec
from manymodels.splits import SeriesSplits, selection_folds
from manymodels.synthetic import make_retail_sales
from manymodels.tuning import fold_objective
from tests.helpers import SPEC

# the candidates of a series whose demand is not intermittent, in a run without a global model
INTERMITTENT = {m.name for m in registry.challengers() if isinstance(m, Intermittent)}
SMOOTH = set(model_names()) - INTERMITTENT - {GLOBAL}
FACTORS = {"day_of_week": [0.8, 0.9, 0.9, 1.0, 1.0, 1.1, 1.3], "month": [1.0] * 12}


def test_study_runs_the_requested_trials_on_every_fold_and_forecasts_every_window(series):
    own = own_factors(series["y"].to_numpy(), series["ds"], "D")["day_of_week"]  # a run whose series share its shape
    factors = {"day_of_week": list(own), "month": [1.0] * 12}
    result = tune_series(series, SPEC, TuningSpec(trials=3, seed=1), learned={POOLED: factors})
    # 386 known days allow 4 folds of 14: 3 trials x 2 tuning folds, the tuned Prophet on the 2 selection folds, the
    # default on all 4, both on the test window; a Prophet champion's future, and its bounds on the folds it was
    # chosen on (the tuned one's 2, the default's 4), which calibrate its intervals
    prophet_champion = {TUNED: 1 + 2, DEFAULT: 1 + 4}.get(result.champion, 0)
    assert result.n_trials == 3 and result.n_fits == 6 + 2 + 4 + 2 + prophet_champion
    assert {"seasonality_mode", "changepoint_prior_scale", "weekly_order"} <= set(result.best_params)
    assert "yearly_order" not in result.best_params  # 400 days: too short for yearly seasonality
    assert result.best_params["transform"] in ("none", "log1p")  # sales are non-negative: the log is a choice
    assert set(result.fold_errors) == SMOOTH  # daily sales: not intermittent
    assert {"study", "contest", "calibration", "forecast"} <= set(result.cpu_by_step)
    assert set(result.cpu_by_model) == SMOOTH - set(ENSEMBLES)  # an ensemble costs its members' fits
    assert 0 < sum(result.cpu_by_model.values()) <= sum(result.cpu_by_step.values())  # fits are within the steps
    test_days = series.loc[series["split"] == "test", "ds"]
    assert result.backtest.groupby("model")["ds"].apply(list).to_dict() == {
        m: test_days.tolist() for m in (*SMOOTH, NAIVE2, CHAMPION)
    }
    assert (result.backtest["yhat"] >= 0).all()
    champion = result.backtest[result.backtest["model"] == CHAMPION]
    chosen = result.backtest[result.backtest["model"] == result.champion]
    np.testing.assert_allclose(champion["yhat"], chosen["yhat"])
    by_model = result.backtest.pivot(index="ds", columns="model", values="yhat")
    assert result.ensembles[MEDIAN] == {m: 1 / 3 for m in ("seasonal_naive", "auto_ets", "auto_theta")}
    best3 = result.ensembles[BEST3]
    members = SMOOTH - {TUNED, DEFAULT, *ENSEMBLES}  # those with bounds from their fit
    beaten = members - set(best3)
    assert len(best3) == 3 and max(result.fold_errors[m] for m in best3) <= min(result.fold_errors[m] for m in beaten)
    for name in (MEDIAN, BEST3):
        np.testing.assert_allclose(by_model[name], by_model[list(result.ensembles[name])].median(axis=1))
    greedy = result.ensembles[GREEDY]
    assert sum(greedy.values()) == pytest.approx(1) and set(greedy) <= members
    np.testing.assert_allclose(by_model[GREEDY], sum(w * by_model[m] for m, w in greedy.items()))
    assert (champion["lo_95"] <= champion["lo_80"]).all() and (champion["lo_80"] <= champion["hi_80"]).all()
    assert (champion["hi_80"] <= champion["hi_95"]).all()
    expected_future = pd.date_range(series["ds"].iloc[-1], periods=15, freq="D")[1:]
    assert result.forecast["ds"].tolist() == expected_future.tolist()
    assert set(result.forecast["model"]) == {result.champion}
    assert list(result.forecast.columns) == ["ds", "model", "yhat", "lo_80", "hi_80", "lo_95", "hi_95"]


def test_the_champion_is_chosen_on_folds_no_trial_saw(series, monkeypatch):
    splits = SeriesSplits.of(series, SPEC)
    assert (splits.tuning, splits.selection) == ([0, 1], [2, 3])
    result = tune_series(series, SPEC, TuningSpec(trials=3, seed=1))
    seen, trial = [], Candidates.trial
    monkeypatch.setattr(Candidates, "trial", lambda self, p, fold, init=None: seen.append(fold) or trial(self, p, fold))
    fold_objective(Candidates(splits, SPEC), "smape")(optuna.trial.FixedTrial(result.best_params))
    assert seen == [0, 1]
    refits = []
    for cut, end in (splits.folds[i] for i in splits.selection):
        history, window, actual = splits.fold(cut, end)
        refits.append(smape(actual, predict(fit_prophet(history, result.best_params), window, splits.floor)))
    np.testing.assert_allclose(result.fold_errors[TUNED], np.mean(refits), rtol=1e-6)


def test_a_series_gets_as_many_folds_as_its_history_allows():
    assert [SPEC.folds_for(n) for n in (28 + 2 * 14, 28 + 3 * 14, 28 + 10 * 14)] == [2, 3, 4]
    assert SPEC.model_copy(update={"folds": 6}).folds_for(28 + 3 * 14) == 3  # configured: the most
    assert SPEC.model_copy(update={"folds": 6}).folds_for(28 + 8 * 14) == 6
    assert SPEC.folds_for(3 * 14) == 2 and SPEC.is_short(3 * 14) and not SPEC.is_short(28 + 2 * 14)
    assert SPEC.folds_for(3 * 14 - 1) == SPEC.folds_for(2 * 14) == 1 and SPEC.is_short(2 * 14)  # a horizon before
    assert SPEC.folds_for(2 * 14 - 1) == SPEC.folds_for(14) == 0 and SPEC.is_short(14)
    assert [selection_folds(n) for n in (2, 3, 4, 6)] == [1, 1, 2, 3]


@pytest.mark.parametrize("days", [3 * 14 + 5, 2 * 14 + 5])
def test_a_series_too_short_for_two_folds_is_forecast_on_what_it_has_with_prophet_untuned(tmp_path, days):
    raw = make_retail_sales(1, days=days, seed=3).rename(columns={"date": "ds", "sales": "y"})
    frame, profile = prepare_series(raw.assign(series_id="1-1", row=range(len(raw))), SPEC)
    folds = (days - 14) // 14 - 1
    assert (profile["status"], profile["folds"], profile["short_history"]) == ("ok", folds, True)
    result = tune_series(frame, SPEC, TuningSpec(trials=3, seed=1))
    # no fold to tune on, nor others to choose an ensemble's members on: the untuned candidates and the fixed median
    # on one fold; on none, the median, which needs no choosing, and no fold forecasts to calibrate on
    assert (result.n_trials, result.best_params, result.best_value) == (0, {}, None)
    assert set(result.ensembles) == {MEDIAN} and len(result.folds) == 14 * folds
    if folds:
        assert set(result.fold_errors) == SMOOTH - {TUNED, BEST3, GREEDY, POOLED}
        assert np.isfinite(list(result.fold_errors.values())).all() and result.champion in result.fold_errors
    else:
        assert (result.fold_errors, result.champion) == ({}, MEDIAN)
    assert len(result.forecast) == 14 and np.isfinite(result.forecast[["yhat", "lo_80", "hi_95"]]).all().all()
    assert (result.forecast["lo_95"] <= result.forecast["hi_95"]).all()
    files = ResultFiles(str(tmp_path / "results"), str(tmp_path / "aside"))
    files.save("k", result)
    assert files.load("k").best_value is None  # the result round-trips as it is


@pytest.mark.parametrize("solver", ["exact", pytest.param("stan", marks=pytest.mark.stan)])
def test_every_fit_is_counted_by_what_solved_it(series, solver):
    result = tune_series(series, SPEC, TuningSpec(trials=3, seed=1, solver=solver))
    assert sum(result.fits_by_solver.values()) == result.n_fits
    assert set(result.fits_by_solver) == {solver}  # nothing here needs a fallback, nor anything else from Stan


def test_same_seed_gives_the_same_study_and_forecast(series):
    first = tune_series(series, SPEC, TuningSpec(trials=3, seed=7))
    second = tune_series(series, SPEC, TuningSpec(trials=3, seed=7))
    assert first.best_params == second.best_params and first.champion == second.champion
    pd.testing.assert_frame_equal(first.forecast, second.forecast)


def test_a_challenger_wins_where_prophet_cannot_follow(series):
    """A pure weekly pattern with no trend: seasonal naive is exact, and is chosen over Prophet."""
    pattern = np.tile([5.0, 9, 13, 11, 7, 20, 30], len(series) // 7 + 1)[: len(series)]
    result = tune_series(series.assign(y=pattern), SPEC, TuningSpec(trials=2, seed=1))
    assert result.fold_errors["seasonal_naive"] == 0 and result.champion in (
        "naive",
        "seasonal_naive",
        "auto_ets",
        "auto_theta",
    )
    assert result.forecast["yhat"].round(6).tolist() == np.resize(pattern[-7:], 14).tolist()


def test_the_pooled_challenger_wins_where_the_series_follows_the_pooled_shape(series):
    """A straight line times the run's factors: the pooled-seasonal model is exact, and is chosen."""
    shape = (40 + 0.05 * np.arange(len(series))) * seasonal_index(series["ds"], "D", FACTORS)
    result = tune_series(series.assign(y=shape), SPEC, TuningSpec(trials=2, seed=1), learned={POOLED: FACTORS})
    assert result.fold_errors[POOLED] == pytest.approx(0, abs=1e-9) and result.champion == POOLED
    future = pd.date_range(series["ds"].iloc[-1], periods=15, freq="D")[1:]
    expected = (40 + 0.05 * np.arange(len(series), len(series) + 14)) * seasonal_index(future, "D", FACTORS)
    np.testing.assert_allclose(result.forecast["yhat"], expected, rtol=1e-9)


def test_a_series_whose_shape_differs_from_the_pooled_one_gets_no_pooled_challenger(series):
    """The run's weekly shape reversed: the series shares no shape with the other series, so no pooled model."""
    shape = (40 + 0.05 * np.arange(len(series))) * seasonal_index(series["ds"], "D", FACTORS)
    reversed_factors = {"day_of_week": FACTORS["day_of_week"][::-1], "month": FACTORS["month"]}
    result = tune_series(series.assign(y=shape), SPEC, TuningSpec(trials=2, seed=1), learned={POOLED: reversed_factors})
    assert POOLED not in result.fold_errors and POOLED not in set(result.backtest["model"])


def test_without_pooled_factors_there_is_no_pooled_challenger(series):
    result = tune_series(series, SPEC, TuningSpec(trials=2, seed=1))
    assert set(result.fold_errors) == SMOOTH - {POOLED} and POOLED not in set(result.backtest["model"])


def test_holidays_reach_every_prophet_fit_of_the_study(series):
    result = tune_series(series, SPEC.model_copy(update={"holidays": "US"}), TuningSpec(trials=2, seed=1))
    assert result.n_trials == 2 and set(result.fold_errors) == SMOOTH - {POOLED}
    plain = tune_series(series, SPEC, TuningSpec(trials=2, seed=1))
    assert result.fold_errors[DEFAULT] != plain.fold_errors[DEFAULT]  # the same fits, with holiday effects


def test_regressors_reach_every_prophet_fit_and_their_future_values_the_forecast(series):
    """Sales lifted by 30 on promotion days, which only the regressor knows: Prophet with it follows them."""
    promo = (np.arange(len(series)) % 5 == 0).astype(float)
    lifted = series.assign(y=series["y"] + 30 * promo, promo=promo)
    future = pd.DataFrame({"ds": pd.date_range(series["ds"].iloc[-1], periods=15)[1:], "split": "future"})
    future = future.assign(y=np.nan, promo=[1.0, 0.0] * 7, series_id=series["series_id"].iloc[0])
    frame = pd.concat([lifted, future], ignore_index=True)
    spec = SPEC.model_copy(update={"regressors": ["promo"]})
    with_promo = tune_series(frame, spec, TuningSpec(trials=2, seed=1))
    without = tune_series(lifted.drop(columns="promo"), SPEC, TuningSpec(trials=2, seed=1))
    assert with_promo.fold_errors[DEFAULT] < 0.5 * without.fold_errors[DEFAULT]
    assert with_promo.forecast["ds"].tolist() == future["ds"].tolist()
    assert with_promo.champion in (TUNED, DEFAULT)  # no other model sees the promotions
    on, off = with_promo.forecast["yhat"].iloc[::2], with_promo.forecast["yhat"].iloc[1::2]
    assert (on.to_numpy() - off.to_numpy()).mean() > 20


def planned(series: pd.DataFrame, layout: RunLayout, tuning: TuningSpec, learned=()) -> SeriesJob:
    """The job the driver plans for the series, whose file is written where the run's layout puts it."""
    key = series_key("1-1")
    profile = {"store": "1", "item": "1", "series_id": "1-1", "key": key, "status": "ok"}
    profiles = pd.DataFrame([profile | {"data_hash": series.attrs["data_hash"]}])
    storage.write_parquet(layout.series_file(key), series)
    return plan_jobs(Ingested(profiles, layout, len(series)), SPEC, tuning, layout.studies, {}, learned)[0]


def test_a_series_file_holding_other_data_than_planned_on_is_not_tuned(series, tmp_path):
    layout, tuning = RunLayout(str(tmp_path), run="this-run"), TuningSpec(trials=1, global_model=False)
    files = ResultFiles(layout.results, layout.results_aside)
    job = planned(series, layout, tuning)
    elsewhere = job.model_copy(update={"data_hash": "0123456789abcdef"})  # the file another run's task wrote
    outcome = tune_jobs([elsewhere], RunContext(data=SPEC, tuning=tuning), files)
    assert "holds other data" in outcome.failures["1-1"] and files.load(job.cache_key) is None
    assert tune_jobs([job], RunContext(data=SPEC, tuning=tuning), files).counts["tuned"] == 1


def test_jobs_planned_by_other_code_or_for_another_use_of_the_global_model_are_refused(series, tmp_path):
    layout, tuning = RunLayout(str(tmp_path), run="this-run"), TuningSpec(trials=1, global_model=False)
    files = ResultFiles(layout.results, layout.results_aside)
    job = planned(series, layout, tuning)
    with pytest.raises(RuntimeError, match="planned by other code than this worker's"):
        tune_jobs(
            [job.model_copy(update={"code_version": "0123456789abcdef"})], RunContext(data=SPEC, tuning=tuning), files
        )
    given_global = RunContext(data=SPEC, tuning=tuning, learned={GLOBAL: str(tmp_path / "forecasts.parquet")})
    with pytest.raises(RuntimeError, match="planned with what no model learned across series, and are given what"):
        tune_jobs([job], given_global, files)
    with_global = planned(series, layout, tuning, learned=[GLOBAL])
    with pytest.raises(RuntimeError, match=f"planned with what {GLOBAL} learned across series, and are given what no"):
        tune_jobs([with_global], RunContext(data=SPEC, tuning=tuning), files)
    assert files.load(job.cache_key) is None and files.load(with_global.cache_key) is None


def test_a_series_under_two_horizons_is_forecast_by_the_fixed_median_and_not_scored(series, tmp_path):
    raw = make_retail_sales(1, days=2 * SPEC.horizon - 1, seed=3).rename(columns={"date": "ds", "sales": "y"})
    raw["series_id"], raw["row"] = "1-2", range(len(raw))
    raw["item"] = 2
    frame, profile = prepare_series(raw, SPEC)
    assert profile["status"] == "ok" and not profile["scored"] and profile["folds"] == 0
    assert (frame["split"] == "train").all()
    result = tune_series(frame, SPEC, TuningSpec(trials=2, seed=1))
    assert result.backtest.empty and result.fold_errors == {} and result.champion == MEDIAN
    assert len(result.forecast) == SPEC.horizon and np.isfinite(result.forecast["yhat"]).all()
    assert (result.forecast["lo_95"] <= result.forecast["yhat"]).all()
    assert (result.forecast["ds"] > raw["ds"].max()).all()
    # beside a scored series, through the outputs: forecast and counted, in no score
    layout, tuning = RunLayout(str(tmp_path), run="run-1"), TuningSpec(trials=1, global_model=False)
    files, profiles = ResultFiles(layout.results, layout.results_aside), []
    for each in (series, frame):
        sid = str(each["series_id"].iloc[0])
        profiles.append(prepare_series(raw_of(each), SPEC)[1])
        storage.write_parquet(layout.series_file(series_key(sid)), each)
    ingested = Ingested(profile_frame(profiles, SPEC), layout, len(series) + len(frame))
    jobs = plan_jobs(ingested, SPEC, tuning, layout.studies, {})
    outcome = tune_jobs(jobs, RunContext(data=SPEC, tuning=tuning), files)
    outputs = assemble_outputs(ingested, outcome, files.frames(outcome.results), SPEC, tuning, {})
    assert outputs.scores.counts.series_forecast == 2 and outputs.scores.counts.series_unscored == 1
    assert set(outputs.forecasts["series_id"]) == {"1-1", "1-2"} and set(outputs.metrics["series_id"]) == {"1-1"}


def raw_of(frame: pd.DataFrame) -> pd.DataFrame:
    """A prepared series' rows as the input gave them."""
    rows = frame[frame["split"] != "future"][["store", "item", "series_id", "ds", "y"]]
    return rows.assign(row=range(len(rows)))


@pytest.mark.parametrize("champion", [TUNED, "auto_theta", GREEDY])
def test_a_series_forecast_again_with_the_runs_champion_keeps_its_contest_and_matches_a_contest_run_anew(
    series, tmp_path, champion
):
    layout, tuning = RunLayout(str(tmp_path), run="this-run"), TuningSpec(trials=2, seed=1, global_model=False)
    files, context = ResultFiles(layout.results, layout.results_aside), RunContext(data=SPEC, tuning=tuning)
    job = planned(series, layout, tuning)
    first = tune_jobs([job], context, files).results[0]
    assert first.champion != champion  # the run's choice moves it
    again_job = job.with_the_run(champion, {})
    assert again_job.first == job.cache_key
    tune_jobs([again_job], context, files)
    again = files.load(again_job.cache_key)
    anew = tune_series(series, SPEC, tuning, champion=champion)  # the whole contest again, as before
    assert again.champion == champion and again.fold_errors == anew.fold_errors == first.fold_errors
    assert again.scaled_scores == anew.scaled_scores and again.ensembles == anew.ensembles
    stored = {"check_dtype": False}  # a stored result's floats are float64
    pd.testing.assert_frame_equal(again.forecast, anew.forecast, **stored)
    pd.testing.assert_frame_equal(again.folds, anew.folds, **stored)
    order = ["model", "ds"]
    pd.testing.assert_frame_equal(
        again.backtest.sort_values(order, ignore_index=True),
        anew.backtest.sort_values(order, ignore_index=True),
        **stored,
    )
    kept = again.cpu_by_model.keys()  # a chosen ensemble's contest is run again: its folds' members are chosen there
    assert kept == {champion} if champion != GREEDY else kept == anew.cpu_by_model.keys()
