"""Prefect tasks that plan the tuning, reuse cached results and tune a batch of series; tune_batch runs on Ray."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect import get_run_logger, runtime, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.filesystems import LocalFileSystem, RemoteFileSystem, WritableFileSystem
from prefect.results import ResultStore

from manymodels import storage
from manymodels.caching import SeriesJob, default_study_storage, digest, plan_jobs, previous_best, write_jobs
from manymodels.settings import ComputeSpec, DataSpec, TuningSpec
from manymodels.tuning import TuneOutcome, tune_series

if TYPE_CHECKING:  # the ingest module imports Dask, which Ray workers have no use for
    from manymodels.ingest import Ingested


def result_storage(url: str, save: bool = True) -> WritableFileSystem:
    """Where tuning results are persisted by cache key; saved as a block for the UI unless save is False."""
    if storage.is_local(url):
        block = LocalFileSystem(basepath=url)
    else:
        block = RemoteFileSystem(basepath=url, settings=storage.options(url))
    if save:
        block.save(f"manymodels-results-{digest(url)}", overwrite=True)
    return block


def result_store(url: str, save: bool = True) -> ResultStore:
    return ResultStore(result_storage=result_storage(url, save), cache_result_in_memory=False)


@task(name="plan-tuning", cache_policy=NO_CACHE)
def plan_tuning(ingested: Ingested, data: DataSpec, tuning: TuningSpec, compute: ComputeSpec, output: str):
    """Give each series its durable study, its cache key and, if tuned before here, a warm start."""
    study_storage = compute.optuna_storage or default_study_storage(storage.join(output, "_work"))
    return plan_jobs(ingested, data, tuning, study_storage, previous_best(output))


def stored_results(
    jobs: list[SeriesJob], store: ResultStore, this_run: bool = False
) -> tuple[TuneOutcome, list[SeriesJob]]:
    """The results stored under the jobs' cache keys, and the jobs that have none. Results stored in this run (by an
    earlier attempt of a task) count as tuned or resumed, as they were; others as cached."""
    found, todo = TuneOutcome.empty(), []
    for job in jobs:
        if store.exists(job.cache_key):
            found.add(store.read(job.cache_key).result, None if this_run else "cached")
        else:
            todo.append(job)
    return found, todo


@task(name="reuse-cached", cache_policy=NO_CACHE)
def reuse_cached(jobs: list[SeriesJob], results_url: str, todo_url: str) -> tuple[TuneOutcome, str | None]:
    """Take the series whose result is cached under its key; save the others' jobs at todo_url, for Ray."""
    reused, todo = stored_results(jobs, result_store(results_url))
    get_run_logger().info("%d of %d series taken from cache, %d to tune", len(reused.results), len(jobs), len(todo))
    if not todo:
        return reused, None
    write_jobs(todo_url, todo)
    return reused, todo_url


def _batch_name() -> str:
    jobs = runtime.task_run.parameters["jobs"]
    return f"tune-{jobs[0].series_id}" + (f"-and-{len(jobs) - 1}-more" if len(jobs) > 1 else "")


@task(name="tune", task_run_name=_batch_name, retries=2, retry_delay_seconds=[1, 5], cache_policy=NO_CACHE)
def tune_batch(
    jobs: list[SeriesJob],
    data: DataSpec,
    tuning: TuningSpec,
    results_url: str,
    seasonal_factors: dict[str, list[float]] | None = None,
) -> TuneOutcome:
    """Run (or resume) each series' Optuna study over Prophet and forecast; store each result under its cache key."""
    logger = get_run_logger()
    store = result_store(results_url, save=False)
    outcome, todo = stored_results(jobs, store, this_run=True)  # some finished in an earlier attempt
    for job in todo:
        try:
            frame = storage.read_parquet(job.url)
            result = tune_series(frame, data, tuning, job.place, job.warm_start, seasonal_factors)
        except Exception as e:  # one series' failure is reported with the series, the others go on
            outcome.failures[job.series_id] = f"{type(e).__name__}: {e}"
            logger.warning("series %s failed: %s", job.series_id, outcome.failures[job.series_id])
            continue
        store.write(result, key=job.cache_key)
        outcome.add(result)
        logger.info(
            "series %s: %s %.4f after %d trials", job.series_id, tuning.metric, result.best_value, result.n_trials
        )
    logger.info("%d series tuned, %d failed: %s", len(outcome.results), len(outcome.failures), outcome.counts)
    if len(jobs) > 1:
        create_table_artifact(
            [
                {
                    "series": r.series_id,
                    tuning.metric: round(r.best_value, 4),
                    "trials": r.n_trials,
                    "seconds": round(r.seconds, 2),
                }
                for r in outcome.results
            ]
            + [
                {"series": sid, tuning.metric: None, "trials": 0, "failed": why}
                for sid, why in outcome.failures.items()
            ],
            description=f"Series tuned by this task ({len(jobs)})",
        )
    return outcome
