"""The tuning step: batches of series as Prefect tasks on Ray, a bounded number in flight."""

from collections import deque

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.futures import as_completed

from engines.ray_engine import cluster_cpus
from manymodels.batching import in_flight, series_per_task
from manymodels.layout import RunLayout
from manymodels.planning import RunContext, read_jobs, study_storage
from manymodels.results import result_files
from manymodels.series import TuneOutcome, stored_results
from manymodels.settings import ComputeSpec
from tasks.tune import tune_batch


@flow(name="tune-on-ray", flow_run_name="tune-{context.tuning.trials}-trials")
def tune_on_ray(context: RunContext, compute: ComputeSpec, output: str, run: str) -> TuneOutcome:
    """Tune the series of the run's job file on Ray in batches, each result cached under its key; report what was
    tuned, resumed, cached. run: the forecast run, whose own work folder holds the job file and the series."""
    logger = get_run_logger()
    layout = RunLayout(output, run=run)
    jobs = read_jobs(layout.todo, layout, study_storage(compute, layout))
    pending = deque(jobs)
    logger.info("%d series to tune, in batches that shrink as the run nears its end", len(jobs))
    running: dict = {}
    outcome = TuneOutcome.empty()
    progress = create_progress_artifact(0.0, key="tuning-progress", description=f"Series tuned, of {len(jobs)}")
    while pending or running:
        while pending and len(running) < in_flight(cpus := cluster_cpus()):
            size = series_per_task(len(pending), cpus, compute.series_per_task)
            batch = [pending.popleft() for _ in range(min(size, len(pending)))]
            running[tune_batch.submit(batch, context, layout)] = batch
        future = next(as_completed(list(running)))
        batch = running.pop(future)
        future.wait()  # takes the final state from Ray rather than the API, which may lag behind
        if future.state.is_completed():
            outcome = outcome.merge(future.result())
        else:  # what the task stored before it failed is kept
            saved, lost = stored_results(batch, result_files(layout), this_run=True)
            message = future.state.message or future.state.type.value
            outcome = outcome.merge(saved)
            outcome.failures |= {job.series_id: message for job in lost}
        finished = len(outcome.results) + len(outcome.failures)
        done = f"{finished} of {len(jobs)} series done, {len(outcome.failures)} failed"
        update_progress_artifact(progress, 100 * finished / len(jobs), description=done)
        if finished * 20 // len(jobs) > (finished - len(batch)) * 20 // len(jobs):  # every 5%
            logger.info(
                "tuned %d/%d series (%s, %d failed)", finished, len(jobs), outcome.counts, len(outcome.failures)
            )
    return outcome
