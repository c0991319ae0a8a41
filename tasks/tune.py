"""Prefect tasks that plan the tuning, reuse cached results and tune one series; tune_one runs in a Ray worker."""

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.filesystems import LocalFileSystem, RemoteFileSystem, WritableFileSystem
from prefect.results import ResultStore

from manymodels import storage
from manymodels.caching import SeriesJob, default_study_storage, digest, plan_jobs, previous_best
from manymodels.ingest import Ingested
from manymodels.settings import ComputeSpec, DataSpec, TuningSpec
from manymodels.tuning import SeriesResult, TuneOutcome, tune_series


def result_storage(url: str) -> WritableFileSystem:
    """Where tuning results are persisted and looked up by cache key, saved as a block so workers can load it."""
    if storage.is_local(url):
        block = LocalFileSystem(basepath=url)
    else:
        block = RemoteFileSystem(basepath=url, settings=storage.options(url))
    block.save(f"manymodels-results-{digest(url)}", overwrite=True)
    return block


@task(name="plan-tuning", cache_policy=NO_CACHE)
def plan_tuning(ingested: Ingested, data: DataSpec, tuning: TuningSpec, compute: ComputeSpec, output: str):
    """Give each series its durable study, its cache key and, if tuned before here, a warm start."""
    study_storage = compute.optuna_storage or default_study_storage(storage.join(output, "_work"))
    return plan_jobs(ingested, data, tuning, study_storage, previous_best(output))


@task(name="reuse-cached", cache_policy=NO_CACHE)
def reuse_cached(jobs: list[SeriesJob], results_url: str) -> tuple[TuneOutcome, list[SeriesJob]]:
    """Take the series whose result is cached under its key, so that only the others go to Ray."""
    store = ResultStore(result_storage=result_storage(results_url), cache_result_in_memory=False)
    reused, todo = TuneOutcome.empty(), []
    for job in jobs:
        if store.exists(job.cache_key):
            reused.add(store.read(job.cache_key).result, "cached")
        else:
            todo.append(job)
    get_run_logger().info("%d of %d series taken from cache, %d to tune", len(reused.results), len(jobs), len(todo))
    return reused, todo


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
