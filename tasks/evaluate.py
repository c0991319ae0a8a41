"""Prefect tasks that score the run and publish its outputs, with what the UI shows of them."""

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from manymodels.ingest import Ingested
from manymodels.publish import RunOutputs, assemble_outputs, write_outputs, write_plots
from manymodels.report import best_and_worst, summary_markdown
from manymodels.settings import DataSpec, TuningSpec
from manymodels.tuning import TuneOutcome


@task(name="evaluate", cache_policy=NO_CACHE)
def evaluate_run(
    ingested: Ingested, outcome: TuneOutcome, data: DataSpec, tuning: TuningSpec, node_seconds: dict[str, float]
) -> RunOutputs:
    """Score every model on every series' test window, aggregate against the baselines, estimate the EC2 cost."""
    return assemble_outputs(ingested, outcome, data, tuning, node_seconds)


@task(name="publish", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[10, 30, 60])
def publish(outputs: RunOutputs, summary: dict, output: str, id_cols: list[str]) -> None:
    """Write the outputs and plots to the run location; show the summary, best and worst series and plots in the UI."""
    plots = write_plots(outputs, output)
    write_outputs(outputs, summary | {"plots": plots}, output)
    create_markdown_artifact(summary_markdown(summary, output, plots), key="forecast-summary")
    if not outputs.metrics.empty:
        create_table_artifact(
            best_and_worst(outputs.metrics, id_cols),
            key="best-and-worst-series",
            description="Series with the lowest and highest error of tuned Prophet on the test window",
        )
    for name, url in plots.items():
        create_link_artifact(url, link_text=name, description=f"Plot: {name}")
