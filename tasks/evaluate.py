"""Prefect tasks that score the run and publish its outputs, with what the UI shows of them."""

from prefect import runtime, task
from prefect.artifacts import create_image_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from manymodels import storage
from manymodels.evaluation import RunOutputs, assemble_outputs, best_and_worst
from manymodels.ingest import Ingested
from manymodels.jobs import TuneOutcome
from manymodels.layout import RunLayout
from manymodels.lease import LeaseLost, RunLease
from manymodels.location import KEEP_VERSIONS
from manymodels.outputs import write_run
from manymodels.results import result_files
from manymodels.settings import DataSpec, TuningSpec
from manymodels.summary import RunSummary
from manymodels.timing import StepTimes


@task(name="evaluate", cache_policy=NO_CACHE)
def evaluate_run(
    ingested: Ingested,
    outcome: TuneOutcome,
    data: DataSpec,
    tuning: TuningSpec,
    node_seconds: dict[str, float],
) -> RunOutputs:
    """Score every model on every series' test window, aggregate against the baselines, estimate the EC2 cost."""
    frames = result_files(ingested.layout).frames(outcome.results)
    return assemble_outputs(ingested, outcome, frames, data, tuning, node_seconds)


def unless_lease_lost(task, task_run, state) -> bool:
    """Retry a failed publish, unless the run lost its lease: then it publishes nothing."""
    return not isinstance(state.data, LeaseLost)


@task(
    name="publish",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[10, 30, 60],
    retry_condition_fn=unless_lease_lost,
)
def publish(
    outputs: RunOutputs,
    layout: RunLayout,
    steps: StepTimes,
    id_cols: list[str],
    min_share: float = 0.0,
    keep_versions: int = KEEP_VERSIONS,
) -> RunSummary:
    """Publish outputs and plots as a new version if the run succeeded; show the summary, best and worst series and
    the plots in the UI. The run must still hold its location's lease, as the store says (LeaseLost if not)."""
    RunLease(layout, str(runtime.flow_run.id)).confirm()
    summary = write_run(outputs, layout, str(runtime.flow_run.id), steps, min_share, keep_versions)
    create_markdown_artifact(summary.to_markdown(layout.output), key="forecast-summary")
    if not outputs.metrics.empty:
        create_table_artifact(
            best_and_worst(outputs.metrics, id_cols),
            key="best-and-worst-series",
            description="Series with the lowest and highest error of tuned Prophet on the test window",
        )
    for name, url in summary.plots.items():
        create_image_artifact(storage.image_url(url), key=f"plot-{name.replace(' ', '-')}", description=f"Plot: {name}")
    return summary
