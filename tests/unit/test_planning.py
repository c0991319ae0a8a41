import pandas as pd

from manymodels.ingest import Ingested
from manymodels.layout import RunLayout
from manymodels.planning import plan_jobs, previous_best
from manymodels.series import SeriesResult, TuneOutcome
from manymodels.settings import DataSpec, TuningSpec

DATA = DataSpec(url="x", id_cols=["store"], time_col="date", target_col="sales")


def ingested(data_hash: str) -> Ingested:
    profiles = pd.DataFrame(
        {
            "store": ["1", "2"],
            "series_id": ["1", "2"],
            "key": ["k1", "k2"],
            "status": "ok",
            "data_hash": [data_hash, "h2"],
        }
    )
    return Ingested(profiles=profiles, layout=RunLayout("/w"), n_rows=10)


def job(data_hash="h1", tuning=TuningSpec(), storage="/w/optuna", data=DATA):
    return plan_jobs(ingested(data_hash), data, tuning, storage, previous={})[0]


def test_same_inputs_give_the_same_keys():
    assert job() == job()
    assert job().url == "/w/_work/series/k1.parquet" and job().place.storage == "/w/optuna/k1.journal"


def test_changed_data_metric_seed_or_horizon_make_a_new_study_and_cache_key():
    base = job()
    for other in (
        job(data_hash="h1b"),
        job(tuning=TuningSpec(metric="mase")),
        job(tuning=TuningSpec(seed=1)),
        job(data=DATA.model_copy(update={"horizon": 14})),
    ):
        assert other.place.name != base.place.name and other.cache_key != base.cache_key


def test_a_bigger_trial_budget_resumes_the_same_study_under_a_new_cache_key():
    base, more = job(tuning=TuningSpec(trials=5)), job(tuning=TuningSpec(trials=8))
    assert more.place == base.place and more.cache_key != base.cache_key


def test_a_database_url_holds_every_study():
    assert job(storage="postgresql://db/optuna").place.storage == "postgresql://db/optuna"


def test_previous_best_parameters_come_back_typed(tmp_path):
    assert previous_best(RunLayout(str(tmp_path))) == {}
    best = pd.DataFrame(
        {
            "store": ["1"],
            "series_id": ["1"],
            "seasonality_mode": ["additive"],
            "changepoint_prior_scale": [0.1],
            "seasonality_prior_scale": [1.0],
            "holidays_prior_scale": [1.0],
            "weekly_order": [3.0],
            "yearly_order": [float("nan")],
            "best_value": [9.0],
            "n_trials": [5],
        }
    )
    best.to_parquet(tmp_path / "best_params.parquet")
    assert previous_best(RunLayout(str(tmp_path))) == {
        "1": {
            "seasonality_mode": "additive",
            "changepoint_prior_scale": 0.1,
            "seasonality_prior_scale": 1.0,
            "holidays_prior_scale": 1.0,
            "weekly_order": 3,
        }
    }


def test_a_cached_result_counts_no_fits_and_outcomes_merge_by_adding():
    def result(series_id: str, resumed: bool = False) -> SeriesResult:
        return SeriesResult(
            series_id,
            {},
            1.0,
            3,
            n_fits=6,
            resumed=resumed,
            seconds=1.0,
            champion="prophet_tuned",
            fold_errors={},
            backtest=pd.DataFrame(),
            forecast=pd.DataFrame(),
        )

    reused, tuned = TuneOutcome.empty(), TuneOutcome.empty()
    reused.add(result("a"), "cached")
    tuned.add(result("b"))
    tuned.add(result("d", resumed=True))  # tuned or resumed, as the result says
    tuned.failures["c"] = "boom"
    merged = reused.merge(tuned)
    assert [(r.series_id, r.n_fits) for r in merged.results] == [("a", 0), ("b", 6), ("d", 6)]
    assert merged.counts == {"tuned": 1, "resumed": 1, "cached": 1} and merged.failures == {"c": "boom"}


def test_jobs_saved_for_the_tuning_flow_come_back_equal(tmp_path):
    from manymodels.planning import SeriesJob, read_jobs, write_jobs
    from manymodels.studies import StudyPlace

    jobs = [
        SeriesJob("1-1", "s/a.parquet", StudyPlace("o/a.journal", "1-1:k"), "tune-a", {"weekly_order": 3}),
        SeriesJob("1-2", "s/b.parquet", StudyPlace(None, "1-2:k"), "tune-b"),
    ]
    write_jobs(str(tmp_path / "todo.json"), jobs)
    assert read_jobs(str(tmp_path / "todo.json")) == jobs
