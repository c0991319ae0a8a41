"""Prefect task that tunes one series; it runs in a Ray worker."""

from prefect import task

from manymodels import storage
from manymodels.settings import DataSpec, TuningSpec
from manymodels.tuning import SeriesResult, tune_series


@task(name="tune", task_run_name="tune-{series_id}", retries=2, retry_delay_seconds=[1, 5])
def tune_one(series_id: str, url: str, data: DataSpec, tuning: TuningSpec) -> SeriesResult:
    """Run this series' Optuna study over Prophet and forecast its test window and future."""
    return tune_series(storage.read_parquet(url), data, tuning)
