"""The tuning step: one Prefect task per series on Ray."""

import os

from prefect import flow, get_run_logger
from prefect.futures import as_completed
from prefect_ray import RayTaskRunner

from manymodels.caching import SeriesJob
from manymodels.settings import ComputeSpec, DataSpec, TuningSpec
from manymodels.tuning import TuneOutcome
from tasks.tune import result_storage, tune_one

# Handed to Ray workers, so remote nodes reach the same Prefect server and storage. Secrets go through a setup
# hook (pickled into Ray's internal store), never runtime_env env_vars: Ray's runtime-env agent logs those.
FORWARDED_ENV = ("PREFECT_API_URL", "PREFECT_LOGGING_EXTRA_LOGGERS", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION")
FORWARDED_SECRETS = ("PREFECT_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PGPASSWORD")


def ray_task_runner(compute: ComputeSpec) -> RayTaskRunner:
    """A RayTaskRunner on the cluster at compute.ray_address, or on a local Ray bound to this machine."""
    runtime_env: dict = {"env_vars": {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}}
    if secrets := {name: os.environ[name] for name in FORWARDED_SECRETS if name in os.environ}:

        def set_secrets() -> None:
            os.environ.update(secrets)

        runtime_env["worker_process_setup_hook"] = set_secrets
    init_kwargs: dict = {"runtime_env": runtime_env, "log_to_driver": False}
    if not compute.ray_address:
        # "local": a new instance, never the last `ray start` cluster of this machine (which may be long dead).
        init_kwargs |= {"address": "local", "num_cpus": compute.workers, "include_dashboard": False}
    return RayTaskRunner(address=compute.ray_address, init_kwargs=init_kwargs)


@flow(name="tune-series", flow_run_name="tune-{tuning.trials}-trials")
def tune_all(jobs: list[SeriesJob], data: DataSpec, tuning: TuningSpec, results_url: str) -> TuneOutcome:
    """Tune every series on Ray, each result cached under its key; report what was tuned, resumed or cached."""
    logger = get_run_logger()
    tune = tune_one.with_options(result_storage=result_storage(results_url))
    futures = {tune.submit(job, data, tuning): job.series_id for job in jobs}
    outcome = TuneOutcome.empty()
    for done, future in enumerate(as_completed(list(futures)), start=1):
        future.wait()  # takes the final state from Ray rather than the API, which may lag behind
        state = future.state
        if state.is_completed():
            result = future.result()
            outcome.add(result, "cached" if state.name == "Cached" else "resumed" if result.resumed else "tuned")
        else:
            outcome.failures[futures[future]] = state.message or state.type.value
        if done % max(1, len(futures) // 10) == 0 or done == len(futures):
            logger.info("tuned %d/%d series (%s, %d failed)", done, len(futures), outcome.counts, len(outcome.failures))
    return outcome
