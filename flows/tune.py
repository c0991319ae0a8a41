"""The tuning step: batches of series as Prefect tasks on Ray, a bounded number in flight."""

from collections import deque

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.futures import as_completed

from engines.ray_engine import cluster_cpus
from manymodels.batching import in_flight, series_per_task
from manymodels.jobs import TuneOutcome, stored_results
from manymodels.layout import RunLayout
from manymodels.planning import RunContext, read_jobs, study_storage
from manymodels.results import ResultFiles, result_files
from manymodels.settings import ComputeSpec
from tasks.tune import tune_batch

PROGRESS_SECONDS = 10.0  # how often the progress counts the series finished inside batches still running


class Progress:
    """The tuning's progress artifact and log lines: the series finished, those of the batches still running too
    (their results as stored, by one listing of the results folder)."""

    def __init__(self, total: int, cache: ResultFiles, logger) -> None:
        self.total, self.cache, self.logger, self.logged = total, cache, logger, 0
        self.artifact = create_progress_artifact(0.0, key="tuning-progress", description=f"Series tuned, of {total}")

    def show(self, outcome: TuneOutcome, running: dict) -> None:
        keys = [job.cache_key for batch in running.values() for job in batch]
        finished = len(outcome.results) + len(outcome.failures) + len(self.cache.saved(keys) if keys else ())
        done = f"{finished} of {self.total} series done, {len(outcome.failures)} failed"
        update_progress_artifact(self.artifact, 100 * finished / self.total, description=done)
        if finished * 20 // self.total > self.logged * 20 // self.total:  # every 5%
            failed = len(outcome.failures)
            self.logger.info("tuned %d/%d series (%s, %d failed)", finished, self.total, outcome.counts, failed)
            self.logged = finished


def next_finished(running: dict, progress: Progress, outcome: TuneOutcome):
    """The future of the next batch to finish, the progress shown every PROGRESS_SECONDS until one does."""
    while True:
        try:
            return next(as_completed(list(running), timeout=PROGRESS_SECONDS))
        except TimeoutError:
            progress.show(outcome, running)


@flow(name="tune-on-ray", flow_run_name="tune-{context.tuning.trials}-trials")
def tune_on_ray(context: RunContext, compute: ComputeSpec, output: str, run: str) -> TuneOutcome:
    """Tune the series of the run's job file on Ray in batches, each result cached under its key; report what was
    tuned, resumed, cached, and the progress as series finish. run: the forecast run, whose own work folder holds the
    job file and the series."""
    logger = get_run_logger()
    layout = RunLayout(output, run=run)
    jobs = read_jobs(layout.todo, layout, study_storage(compute, layout))
    pending = deque(jobs)
    logger.info("%d series to tune, in batches that shrink as the run nears its end", len(jobs))
    running: dict = {}
    outcome = TuneOutcome.empty()
    progress = Progress(len(jobs), result_files(layout), logger)
    while pending or running:
        while pending and len(running) < in_flight(cpus := cluster_cpus()):
            size = series_per_task(len(pending), cpus, compute.series_per_task)
            batch = [pending.popleft() for _ in range(min(size, len(pending)))]
            running[tune_batch.submit(batch, context, layout)] = batch
        future = next_finished(running, progress, outcome)
        batch = running.pop(future)
        future.wait()  # takes the final state from Ray rather than the API, which may lag behind
        if future.state.is_completed():
            outcome = outcome.merge(future.result())
        else:  # what the task stored before it failed is kept
            saved, lost = stored_results(batch, result_files(layout), this_run=True)
            message = future.state.message or future.state.type.value
            outcome = outcome.merge(saved)
            outcome.failures |= {job.series_id: message for job in lost}
        progress.show(outcome, running)
    return outcome
