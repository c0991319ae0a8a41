"""Ray as a resource: a local Ray started for the run, or a cluster joined by address; what its workers get from the
driver, and the clock of the nodes a run held (no Prefect import, so a run can start Ray while it imports the rest)."""

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from secrets import token_urlsafe

import ray
from ray.experimental import internal_kv

from engines.credentials import forwarded_secrets
from manymodels.cost import PriceTable
from manymodels.settings import ComputeSpec

log = logging.getLogger("manymodels.engines")

# Handed to Ray workers as runtime_env variables, so remote nodes reach the same Prefect server and storage.
FORWARDED_ENV = ("PREFECT_API_URL", "PREFECT_LOGGING_EXTRA_LOGGERS", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION")
# With forward_credentials, handed over through Ray's internal store instead: Ray's runtime-env agent writes
# runtime_env variables to its logs, and Ray Client cannot carry a worker setup hook (it JSON-encodes the runtime_env).
SECRETS_NAMESPACE = "manymodels"
# A runtime_env variable: the random part of the key under which the workers find their run's credentials (the
# key's name, not a secret; the key also names the run's Ray job, so that a later run can tell when it is stale).
SECRETS_TOKEN_VAR = "MANYMODELS_SECRETS_TOKEN"
INSTANCE_TYPE_LABEL = "ec2-instance-type"  # set on each node by infra/ray-cluster-aws.yaml


def _runtime_env() -> dict:
    return {"env_vars": {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}}


@dataclass(frozen=True)
class RayCluster:
    """A Ray cluster that is already running, joined at address (host:port or ray://); with forward_credentials,
    its workers get the driver's credentials under a key with secrets_token, a new random one per run."""

    address: str
    forward_credentials: bool = False
    secrets_token: str = field(default_factory=lambda: token_urlsafe(24), repr=False, compare=False)

    def init_kwargs(self) -> dict:
        runtime_env = _runtime_env()
        if self.forward_credentials:
            runtime_env["env_vars"][SECRETS_TOKEN_VAR] = self.secrets_token
        return {"runtime_env": runtime_env, "log_to_driver": False}

    def connect(self) -> None:
        log.info("connecting to the Ray cluster at %s", self.address)
        ray.init(self.address, **self.init_kwargs())


@dataclass(frozen=True)
class LocalRay:
    """A Ray started on this machine for the run, bound to it, with cpus CPUs (None: all)."""

    cpus: int | None = None

    def init_kwargs(self) -> dict:
        # "local": a new instance, never the last `ray start` cluster of this machine (which may be long dead).
        local = {"address": "local", "num_cpus": self.cpus, "include_dashboard": False}
        return {"runtime_env": _runtime_env(), "log_to_driver": False} | local

    def connect(self) -> None:
        log.info("starting a local Ray")
        ray.init(**self.init_kwargs())

    def start_early(self) -> None:
        """Start Ray and warm up a worker while the run imports Prefect and Dask on the other core; the run's
        ray_session adopts it."""
        if not ray.is_initialized():
            ray.init(**self.init_kwargs())
            # One: the global model's task takes every CPU of this one node, so it waited for a warm-up per CPU
            # (RESULTS.md, fixed cost); the other workers import on their first task.
            warm_up_workers(1)


def ray_engine(compute: ComputeSpec) -> RayCluster | LocalRay:
    if compute.ray_address:
        return RayCluster(compute.ray_address, forward_credentials=compute.forward_credentials)
    return LocalRay(compute.workers)


def _secrets_key(token: str) -> str:
    """The key of a run's credentials: its Ray job (the driver and its workers share it) and its random token."""
    return f"secrets-{ray.get_runtime_context().get_job_id()}-{token}"


def _job_of(key: str) -> str:
    """The Ray job id in a credentials key (secrets-JOB-TOKEN, or secrets-JOB as earlier versions wrote it)."""
    return key.removeprefix("secrets-").split("-", 1)[0]


def share_secrets(token: str) -> bool:
    """Put this driver's credentials where the Ray workers of its job, which have token, fetch them; True if it had
    any."""
    if secrets := forwarded_secrets():
        internal_kv._internal_kv_put(_secrets_key(token), json.dumps(secrets), namespace=SECRETS_NAMESPACE)
        log.info("the Ray workers get %s from this driver for the run", ", ".join(secrets))
    return bool(secrets)


def fetch_secrets() -> None:
    """In a Ray worker: take the credentials its driver shared, if it forwards them, into this process's
    environment."""
    token = os.environ.get(SECRETS_TOKEN_VAR)
    if token and (shared := internal_kv._internal_kv_get(_secrets_key(token), namespace=SECRETS_NAMESPACE)):
        os.environ.update(json.loads(shared))


def forget_secrets(token: str) -> None:
    internal_kv._internal_kv_del(_secrets_key(token), namespace=SECRETS_NAMESPACE)


@ray.remote(num_cpus=0)
def _remove_stale_secrets() -> int:
    """Delete the credentials that runs whose Ray job has ended left behind (a killed driver removes nothing); in
    a worker, which reads the job table as a Ray Client driver cannot."""
    alive = {job["JobID"] for job in ray._private.state.jobs() if not job["IsDead"]}
    stale = [
        key
        for key in internal_kv._internal_kv_list("secrets-", namespace=SECRETS_NAMESPACE)
        if _job_of(key.decode()) not in alive
    ]
    for key in stale:
        internal_kv._internal_kv_del(key, namespace=SECRETS_NAMESPACE)
    return len(stale)


def remove_stale_secrets() -> None:
    if removed := ray.get(_remove_stale_secrets.remote()):
        log.info("removed the credentials of %d ended runs from the Ray cluster", removed)


_disconnecting: threading.Thread | None = None


def _disconnect_in_background() -> None:
    """ray.shutdown, which waits a second or more for a local Ray's processes to end, beside what the run does
    next; the next ray_connected (or the interpreter's exit) waits for it."""
    global _disconnecting
    _disconnecting = threading.Thread(target=ray.shutdown, name="ray-shutdown")
    _disconnecting.start()


def disconnect() -> None:
    """Wait for a disconnect under way, and leave Ray if this process is still connected."""
    if _disconnecting:
        _disconnecting.join()
    if ray.is_initialized():
        ray.shutdown()


@contextlib.contextmanager
def ray_connected(engine: RayCluster | LocalRay) -> Iterator[None]:
    """Start or join Ray; on a cluster, remove the credentials of ended runs, and, if the run forwards them, share
    this process's with the workers (a local Ray's have its environment). Remove them and disconnect on leaving."""
    if _disconnecting:
        _disconnecting.join()
    with contextlib.ExitStack() as stack:
        if not ray.is_initialized():  # else start_early started it
            engine.connect()
        stack.callback(_disconnect_in_background)
        if isinstance(engine, RayCluster):
            remove_stale_secrets()
            if engine.forward_credentials and share_secrets(engine.secrets_token):
                stack.callback(forget_secrets, engine.secrets_token)
        yield


@ray.remote(num_cpus=1)
def _import_tuning() -> None:
    import prefect.task_engine  # noqa: F401
    import prophet  # noqa: F401
    import statsforecast.models  # noqa: F401

    import tasks.tune  # noqa: F401


def warm_up_workers(count: int) -> None:
    """Have count workers import the tuning code, so that the first tasks find them ready."""
    for _ in range(count):
        _import_tuning.remote()


def _with_secrets(fn, *args, **kwargs):
    # before any storage call: a worker's filesystem objects are cached, with the credentials they were made with
    fetch_secrets()
    return fn(*args, **kwargs)


def on_largest_node(fn, *args):
    """fn(*args, threads=...) as a Ray task holding every CPU of the cluster's largest node, for a multi-threaded
    fit, with the driver's credentials where the run forwards them; its result."""
    threads = max(int(node["Resources"].get("CPU", 0)) for node in ray.nodes() if node["Alive"]) or 1
    return ray.get(ray.remote(num_cpus=threads)(_with_secrets).remote(fn, *args, threads=threads))


def cluster_cpus() -> int:
    """CPUs of the Ray cluster now (an autoscaling cluster grows and shrinks)."""
    return int(ray.cluster_resources().get("CPU", 1))


@dataclass
class NodeClock:
    """Seconds each node was seen up, from the node lists (ray.nodes()) observed at moments of the run."""

    first_seen: dict[str, float] = field(default_factory=dict)
    last_seen: dict[str, float] = field(default_factory=dict)
    instance_type: dict[str, str] = field(default_factory=dict)
    cpus: dict[str, float] = field(default_factory=dict)

    def observe(self, nodes: list[dict], now: float) -> None:
        for node in nodes:
            if not node.get("Alive"):
                continue
            node_id = node["NodeID"]
            self.first_seen.setdefault(node_id, now)
            self.last_seen[node_id] = now
            self.cpus[node_id] = node.get("Resources", {}).get("CPU", 0.0)
            if label := node.get("Labels", {}).get(INSTANCE_TYPE_LABEL):
                self.instance_type[node_id] = label

    def node_seconds(self, prices: PriceTable) -> dict[str, float]:
        """Seconds by instance type; nodes without an instance-type label count as their equivalent type."""
        totals: dict[str, float] = {}
        for node_id, first in self.first_seen.items():
            kind = self.instance_type.get(node_id) or prices.equivalent(max(self.cpus[node_id], 1))
            totals[kind] = totals.get(kind, 0.0) + self.last_seen[node_id] - first
        return totals


@contextlib.contextmanager
def ray_session(compute: ComputeSpec, sample_seconds: float = 10) -> Iterator[NodeClock]:
    """Start (or join) Ray and have its workers import the tuning code (one, on a local Ray); disconnect on leaving.

    Entered while ingest runs, so that tuning starts at full speed: the tuning flow's RayTaskRunner finds Ray up.
    Yields the clock of the cluster's nodes, sampled every sample_seconds, for the cost estimate.
    """
    started_early = ray.is_initialized()  # by LocalRay.start_early, which warmed up a worker
    if started_early:
        log.info("using the local Ray started with the run")
    with ray_connected(ray_engine(compute)):
        clock, stop = NodeClock(), threading.Event()

        def sample() -> None:
            while True:
                clock.observe(ray.nodes(), time.time())
                if stop.wait(sample_seconds):
                    return

        sampler = threading.Thread(target=sample, name="ray-node-clock", daemon=True)
        sampler.start()
        try:
            if not started_early:  # on a cluster, every node's workers, while ingest runs
                warm_up_workers(cluster_cpus())
            yield clock
        finally:
            stop.set()
            sampler.join()
            clock.observe(ray.nodes(), time.time())
