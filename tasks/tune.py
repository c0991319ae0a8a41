"""Prefect tasks that plan the tuning and tune one series; tune_one runs in a Ray worker."""

from prefect import task
from prefect.cache_policies import NO_CACHE

from manymodels import storage
from manymodels.caching import SeriesJob, default_study_storage, plan_jobs, previous_best
from manymodels.ingest import Ingested
from manymodels.settings import ComputeSpec, DataSpec, TuningSpec
from manymodels.tuning import SeriesResult, tune_series


@task(name="plan-tuning", cache_policy=NO_CACHE)
def plan_tuning(ingested: Ingested, data: DataSpec, tuning: TuningSpec, compute: ComputeSpec, output: str):
    """Give each series its durable study, its cache key and, if tuned before here, a warm start."""
    study_storage = compute.optuna_storage or default_study_storage(storage.join(output, "_work"))
    return plan_jobs(ingested, data, tuning, study_storage, previous_best(output))


def _job_key(context, parameters) -> str:
    return parameters["job"].cache_key


@task(
    name="tune",
    task_run_name="tune-{job.series_id}",
    retries=2,
    retry_delay_seconds=[1, 5],
    cache_key_fn=_job_key,
    persist_result=True,
)
def tune_one(job: SeriesJob, data: DataSpec, tuning: TuningSpec) -> SeriesResult:
    """Run (or resume) this series' Optuna study over Prophet and forecast its test window and future."""
    return tune_series(storage.read_parquet(job.url), data, tuning, job.place, job.warm_start)
