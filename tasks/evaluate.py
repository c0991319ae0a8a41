"""Prefect tasks that score the run and publish its outputs."""

from prefect import task
from prefect.cache_policies import NO_CACHE

from manymodels.ingest import Ingested
from manymodels.publish import RunOutputs, assemble_outputs, write_outputs
from manymodels.settings import DataSpec, TuningSpec
from manymodels.tuning import TuneOutcome


@task(name="evaluate", cache_policy=NO_CACHE)
def evaluate_run(ingested: Ingested, outcome: TuneOutcome, data: DataSpec, tuning: TuningSpec) -> RunOutputs:
    """Score every model on every series' test window and aggregate against the baselines."""
    return assemble_outputs(ingested, outcome, data, tuning)


@task(name="publish", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[10, 30, 60])
def publish(outputs: RunOutputs, summary: dict, output: str) -> None:
    """Write forecasts, backtest, metrics, best parameters and summary.json to the run location."""
    write_outputs(outputs, summary, output)
