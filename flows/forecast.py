"""The forecast flow: ingest on Dask, tune on Ray, evaluate and publish."""

from prefect import flow, runtime
from prefect.states import Failed

from flows.tune import ray_task_runner, tune_all
from manymodels import storage
from manymodels.settings import ComputeSpec, DataSpec, TuningSpec
from manymodels.timing import timed
from tasks.evaluate import evaluate_run, publish
from tasks.ingest import ingest_data
from tasks.tune import plan_tuning, reuse_cached


@flow(name="forecast", flow_run_name="forecast-h{data.horizon}-t{tuning.trials}")
def forecast(
    data: DataSpec, output: str, tuning: TuningSpec = TuningSpec(), compute: ComputeSpec = ComputeSpec()
) -> dict:
    """Tune and forecast one Prophet model per series, against baselines; write the outputs to `output`."""
    seconds: dict[str, float] = {}
    with timed(seconds, "ingest"):
        ingested = ingest_data(data, compute, storage.join(output, "_work"), return_state=True)
        if ingested.is_failed():  # bad input: end the run with the task's one-line message
            return Failed(message=ingested.message)
        ingested = ingested.result()
    with timed(seconds, "tune"):
        results_url = storage.join(output, "_work", "results")
        outcome, todo = reuse_cached(plan_tuning(ingested, data, tuning, compute, output), results_url)
        if todo:  # Ray is started only when something is left to tune
            tune = tune_all.with_options(task_runner=ray_task_runner(compute))
            outcome = outcome.merge(tune(todo, data, tuning, compute, results_url))
    with timed(seconds, "evaluate"):
        outputs = evaluate_run(ingested, outcome, data, tuning)
    summary = {"flow_run_id": str(runtime.flow_run.id), **outputs.summary, "step_seconds": seconds}
    publish(outputs, summary, output)
    return summary
