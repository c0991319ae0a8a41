"""Prefect tasks that plan the tuning, reuse cached results and tune a batch of series; tune_batch runs on Ray."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect import get_run_logger, runtime, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from manymodels.jobs import TuneOutcome, stored_results, tune_jobs
from manymodels.layout import RunLayout
from manymodels.planning import (
    PlannedElsewhere,
    RunContext,
    SeriesJob,
    plan_jobs,
    previous_best,
    study_storage,
    write_jobs,
)
from manymodels.results import result_files
from manymodels.settings import ComputeSpec, DataSpec, TuningSpec

if TYPE_CHECKING:  # the ingest module imports Dask, which Ray workers have no use for
    from manymodels.ingest import Ingested


@task(name="plan-tuning", cache_policy=NO_CACHE)
def plan_tuning(
    ingested: Ingested, data: DataSpec, tuning: TuningSpec, compute: ComputeSpec, layout: RunLayout, learned=()
):
    """Give each series its durable study, its cache key and, if tuned before here, a warm start; learned: the
    models that learn across series whose forecasts compete."""
    return plan_jobs(ingested, data, tuning, study_storage(compute, layout), previous_best(layout), learned)


@task(name="reuse-cached", cache_policy=NO_CACHE)
def reuse_cached(jobs: list[SeriesJob], layout: RunLayout) -> tuple[TuneOutcome, str | None]:
    """Take the series whose result is cached under its key; save the others' jobs for Ray, and say where."""
    reused, todo = stored_results(jobs, result_files(layout))
    get_run_logger().info("%d of %d series taken from cache, %d to tune", len(reused.results), len(jobs), len(todo))
    if not todo:
        return reused, None
    write_jobs(layout.todo, todo)
    return reused, layout.todo


def _batch_name() -> str:
    jobs = runtime.task_run.parameters["jobs"]
    return f"tune-{jobs[0].series_id}" + (f"-and-{len(jobs) - 1}-more" if len(jobs) > 1 else "")


def worth_retrying(task, task_run, state) -> bool:
    """Whether a failed batch may succeed on a retry: not one planned for other code or other learned models."""
    return not isinstance(state.result(raise_on_failure=False), PlannedElsewhere)


@task(
    name="tune",
    task_run_name=_batch_name,
    retries=2,
    retry_delay_seconds=[1, 5],
    retry_condition_fn=worth_retrying,
    cache_policy=NO_CACHE,
)
def tune_batch(jobs: list[SeriesJob], context: RunContext, layout: RunLayout) -> TuneOutcome:
    """Run (or resume) each series' Optuna study over Prophet and forecast; store each result under its cache key."""
    outcome = tune_jobs(jobs, context, result_files(layout), logger=get_run_logger())
    if len(jobs) > 1:
        create_table_artifact(
            batch_table(outcome, context.tuning.metric), description=f"Series tuned by this task ({len(jobs)})"
        )
    return outcome


def batch_table(outcome: TuneOutcome, metric: str) -> list[dict]:
    """A batch's series with their best fold error, trials and seconds, and the failed ones with why."""
    done = [
        {
            "series": r.series_id,
            metric: None if r.best_value is None else round(r.best_value, 4),
            "trials": r.n_trials,
            "seconds": round(r.seconds, 2),
        }
        for r in outcome.results
    ]
    return done + [{"series": sid, metric: None, "trials": 0, "failed": why} for sid, why in outcome.failures.items()]
