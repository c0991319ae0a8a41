"""The forecast flow: ingest on Dask, tune on Ray, evaluate and publish."""

import time

from prefect import flow, runtime
from prefect.states import Failed

from flows.tune import ray_task_runner, tune_all
from manymodels import storage
from manymodels.settings import ComputeSpec, DataSpec, TuningSpec
from tasks.evaluate import evaluate_run, publish
from tasks.ingest import ingest_data


@flow(name="forecast", flow_run_name="forecast-h{data.horizon}-t{tuning.trials}", validate_parameters=True)
def forecast(
    data: DataSpec, output: str, tuning: TuningSpec = TuningSpec(), compute: ComputeSpec = ComputeSpec()
) -> dict:
    """Tune and forecast one Prophet model per series, against baselines; write the outputs to `output`."""
    seconds = {}
    started = time.perf_counter()
    ingested = ingest_data(data, compute, storage.join(output, "_work"), return_state=True)
    if ingested.is_failed():  # bad input: end the run with the task's one-line message
        return Failed(message=ingested.message)
    ingested = ingested.result()
    seconds["ingest"] = time.perf_counter() - started

    started = time.perf_counter()
    series = ingested.series_urls()
    results, failures = tune_all.with_options(task_runner=ray_task_runner(compute))(series, data, tuning)
    seconds["tune"] = time.perf_counter() - started

    started = time.perf_counter()
    outputs = evaluate_run(ingested, results, failures, data.id_cols)
    seconds["evaluate"] = time.perf_counter() - started
    summary = {"flow_run_id": str(runtime.flow_run.id), **outputs.summary, "step_seconds": seconds}
    publish(outputs, summary, output)
    return summary
