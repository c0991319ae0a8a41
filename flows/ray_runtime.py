"""The Ray the flows run on: how to start or join it, and what its workers get from the driver (no Prefect import,
so that a run can start Ray while it imports the rest)."""

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator

import ray
from ray.experimental import internal_kv

from manymodels.cost import NodeClock
from manymodels.settings import ComputeSpec

# Handed to Ray workers as runtime_env variables, so remote nodes reach the same Prefect server and storage.
FORWARDED_ENV = ("PREFECT_API_URL", "PREFECT_LOGGING_EXTRA_LOGGERS", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION")
# Handed over through Ray's internal store instead: Ray's runtime-env agent writes runtime_env variables to its
# logs, and Ray Client cannot carry a worker setup hook (it JSON-encodes the runtime_env).
FORWARDED_SECRETS = ("PREFECT_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PGPASSWORD")
SECRETS_NAMESPACE = "manymodels"


def ray_init_kwargs(compute: ComputeSpec) -> dict:
    """ray.init arguments: a cluster at compute.ray_address, or a local Ray bound to this machine."""
    env_vars = {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}
    init_kwargs: dict = {"runtime_env": {"env_vars": env_vars}, "log_to_driver": False}
    if not compute.ray_address:
        # "local": a new instance, never the last `ray start` cluster of this machine (which may be long dead).
        init_kwargs |= {"address": "local", "num_cpus": compute.workers, "include_dashboard": False}
    return init_kwargs


def _secrets_key() -> str:
    """One key per Ray job: the driver and its workers share the job id."""
    return f"secrets-{ray.get_runtime_context().get_job_id()}"


def share_secrets() -> bool:
    """Put this driver's credentials where the Ray workers of its job fetch them; True if it had any."""
    secrets = {name: os.environ[name] for name in FORWARDED_SECRETS if name in os.environ}
    if secrets:
        internal_kv._internal_kv_put(_secrets_key(), json.dumps(secrets), namespace=SECRETS_NAMESPACE)
    return bool(secrets)


def fetch_secrets() -> None:
    """In a Ray worker: take the credentials its driver shared into this process's environment."""
    if shared := internal_kv._internal_kv_get(_secrets_key(), namespace=SECRETS_NAMESPACE):
        os.environ.update(json.loads(shared))


def forget_secrets() -> None:
    internal_kv._internal_kv_del(_secrets_key(), namespace=SECRETS_NAMESPACE)


_disconnecting: threading.Thread | None = None


def _disconnect_in_background() -> None:
    """ray.shutdown, which waits a second or more for a local Ray's processes to end, beside what the run does
    next; the next ray_connected (or the interpreter's exit) waits for it."""
    global _disconnecting
    _disconnecting = threading.Thread(target=ray.shutdown, name="ray-shutdown")
    _disconnecting.start()


@contextlib.contextmanager
def ray_connected(compute: ComputeSpec) -> Iterator[None]:
    """Start or join Ray as ray_init_kwargs describes it, with this process's credentials shared with the
    workers; remove them and disconnect on leaving."""
    if _disconnecting:
        _disconnecting.join()
    with contextlib.ExitStack() as stack:
        if not ray.is_initialized():  # else start_local_early started it
            ray.init(*filter(None, [compute.ray_address]), **ray_init_kwargs(compute))
        stack.callback(_disconnect_in_background)
        if share_secrets():
            stack.callback(forget_secrets)
        yield


@ray.remote(num_cpus=1)
def _import_tuning() -> None:
    import prefect.task_engine  # noqa: F401
    import prophet  # noqa: F401
    import statsforecast.models  # noqa: F401

    import tasks.tune  # noqa: F401


def warm_up_workers() -> None:
    """Have a worker per CPU import the tuning code."""
    for _ in range(cluster_cpus()):
        _import_tuning.remote()


def start_local_early(compute: ComputeSpec) -> None:
    """Start the local Ray a run will use, and warm up its workers, while the run imports Prefect and Dask: its
    start and the workers' imports (about 10 s on 2 cores) then overlap the driver's own 5 s of imports on the
    other core. ray_connected adopts it."""
    if not compute.ray_address and not ray.is_initialized():
        ray.init(**ray_init_kwargs(compute))
        warm_up_workers()


@contextlib.contextmanager
def ray_started(compute: ComputeSpec, sample_seconds: float = 10) -> Iterator[NodeClock]:
    """Start (or connect to) Ray and have its workers import the tuning code; disconnect on leaving.

    Entered while ingest runs, so that tuning starts at full speed: the tuning flow's RayTaskRunner finds Ray up.
    Yields the clock of the cluster's nodes, sampled every sample_seconds, for the cost estimate.
    """
    from prefect import get_run_logger

    started_early = ray.is_initialized()  # by start_local_early, which warmed up its workers
    if compute.ray_address:
        get_run_logger().info("connecting to the Ray cluster at %s", compute.ray_address)
    else:
        get_run_logger().info("using the local Ray started with the run" if started_early else "starting a local Ray")
    with ray_connected(compute):
        clock, stop = NodeClock(), threading.Event()

        def sample() -> None:
            while True:
                clock.observe(ray.nodes(), time.time())
                if stop.wait(sample_seconds):
                    return

        sampler = threading.Thread(target=sample, name="ray-node-clock", daemon=True)
        sampler.start()
        try:
            if not started_early:
                warm_up_workers()
            yield clock
        finally:
            stop.set()
            sampler.join()
            clock.observe(ray.nodes(), time.time())


def cluster_cpus() -> int:
    """CPUs of the Ray cluster now (an autoscaling cluster grows and shrinks)."""
    return int(ray.cluster_resources().get("CPU", 1))
