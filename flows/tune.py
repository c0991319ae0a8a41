"""The tuning step: batches of series as Prefect tasks on Ray, a bounded number in flight."""

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Iterator

import ray
from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.futures import as_completed
from prefect.logging.handlers import APILogHandler
from prefect_ray import RayTaskRunner

from manymodels.batching import in_flight, series_per_task
from manymodels.caching import read_jobs
from manymodels.cost import NodeClock
from manymodels.settings import ComputeSpec, DataSpec, TuningSpec
from manymodels.tuning import TuneOutcome
from tasks.tune import result_store, stored_results, tune_batch

# Handed to Ray workers, so remote nodes reach the same Prefect server and storage. Secrets go through a setup
# hook (pickled into Ray's internal store), never runtime_env env_vars: Ray's runtime-env agent logs those.
FORWARDED_ENV = ("PREFECT_API_URL", "PREFECT_LOGGING_EXTRA_LOGGERS", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION")
FORWARDED_SECRETS = ("PREFECT_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PGPASSWORD")


def ray_init_kwargs(compute: ComputeSpec) -> dict:
    """ray.init arguments: a cluster at compute.ray_address, or a local Ray bound to this machine."""
    runtime_env: dict = {"env_vars": {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}}
    if secrets := {name: os.environ[name] for name in FORWARDED_SECRETS if name in os.environ}:

        def set_secrets() -> None:
            os.environ.update(secrets)

        runtime_env["worker_process_setup_hook"] = set_secrets
    init_kwargs: dict = {"runtime_env": runtime_env, "log_to_driver": False}
    if not compute.ray_address:
        # "local": a new instance, never the last `ray start` cluster of this machine (which may be long dead).
        init_kwargs |= {"address": "local", "num_cpus": compute.workers, "include_dashboard": False}
    return init_kwargs


class LoggedRayTaskRunner(RayTaskRunner):
    """A RayTaskRunner whose tasks' logs reach their task runs in the UI.

    A task's log lines wait in a batch that Prefect sends every two seconds; prefect-ray returns without sending it,
    so the lines of a short task, or of the last tasks before Ray shuts down, were lost. Here each task sends its
    batch before returning its state.
    """

    @staticmethod
    def _run_prefect_task(*upstream_ray_obj_refs, **kwargs):
        try:
            return RayTaskRunner._run_prefect_task(*upstream_ray_obj_refs, **kwargs)
        finally:
            APILogHandler().flush()


def ray_task_runner(compute: ComputeSpec) -> RayTaskRunner:
    """A task runner on Ray as ray_init_kwargs describes it (or on the Ray this process already started)."""
    return LoggedRayTaskRunner(address=compute.ray_address, init_kwargs=ray_init_kwargs(compute))


@ray.remote(num_cpus=1)
def _import_tuning() -> None:
    import prefect.task_engine  # noqa: F401
    import prophet  # noqa: F401
    import statsforecast.models  # noqa: F401

    import tasks.tune  # noqa: F401


@contextlib.contextmanager
def ray_started(compute: ComputeSpec, sample_seconds: float = 10) -> Iterator[NodeClock]:
    """Start (or connect to) Ray and have its workers import the tuning code; disconnect on leaving.

    Entered while ingest runs, so that tuning starts at full speed: the tuning flow's RayTaskRunner finds Ray up.
    Yields the clock of the cluster's nodes, sampled every sample_seconds, for the cost estimate.
    """
    if compute.ray_address:
        get_run_logger().info("connecting to the Ray cluster at %s", compute.ray_address)
        ray.init(compute.ray_address, **ray_init_kwargs(compute))
    else:
        get_run_logger().info("starting a local Ray")
        ray.init(**ray_init_kwargs(compute))
    clock, stop = NodeClock(), threading.Event()

    def sample() -> None:
        while True:
            clock.observe(ray.nodes(), time.time())
            if stop.wait(sample_seconds):
                return

    sampler = threading.Thread(target=sample, name="ray-node-clock", daemon=True)
    sampler.start()
    try:
        for _ in range(cluster_cpus()):
            _import_tuning.remote()
        yield clock
    finally:
        stop.set()
        sampler.join()
        clock.observe(ray.nodes(), time.time())
        ray.shutdown()


def cluster_cpus() -> int:
    """CPUs of the Ray cluster now (an autoscaling cluster grows and shrinks)."""
    return int(ray.cluster_resources().get("CPU", 1))


@flow(name="tune-series", flow_run_name="tune-{tuning.trials}-trials")
def tune_all(jobs_url: str, data: DataSpec, tuning: TuningSpec, compute: ComputeSpec, results_url: str) -> TuneOutcome:
    """Tune the series on Ray in batches, each result cached under its key; report what was tuned, resumed, cached."""
    logger = get_run_logger()
    jobs = read_jobs(jobs_url)
    pending = deque(jobs)
    logger.info("%d series to tune, in batches that shrink as the run nears its end", len(jobs))
    running: dict = {}
    outcome = TuneOutcome.empty()
    progress = create_progress_artifact(0.0, key="tuning-progress", description=f"Series tuned, of {len(jobs)}")
    while pending or running:
        while pending and len(running) < in_flight(cpus := cluster_cpus()):
            size = series_per_task(len(pending), cpus, compute.series_per_task)
            batch = [pending.popleft() for _ in range(min(size, len(pending)))]
            running[tune_batch.submit(batch, data, tuning, results_url)] = batch
        future = next(as_completed(list(running)))
        batch = running.pop(future)
        future.wait()  # takes the final state from Ray rather than the API, which may lag behind
        if future.state.is_completed():
            outcome = outcome.merge(future.result())
        else:  # what the task stored before it failed is kept
            saved, lost = stored_results(batch, result_store(results_url, save=False), this_run=True)
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
