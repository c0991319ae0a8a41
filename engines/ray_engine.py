"""Ray as a resource: a local Ray started for the run, or a cluster joined by address; when a run starts, reuses and
leaves it (RayResource); what its workers get from the driver, and the clock of the nodes a run held (no Prefect
import, so a run can start Ray while it imports the rest)."""

import contextlib
import importlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, InvalidStateError, wait
from dataclasses import dataclass, field
from secrets import token_urlsafe

import ray
from ray.experimental import internal_kv

from engines.credentials import forwarded_secrets
from manymodels import storage
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

    def start_early(self, warm: Sequence[str] = ()) -> None:
        """Start Ray and have a worker import the modules warm while the run imports Prefect and Dask on the other
        core; the run's session adopts it."""
        if not ray.is_initialized():
            ray.init(**self.init_kwargs())
            # One: the global model's task takes every CPU of this one node, so it waited for a warm-up per CPU
            # (RESULTS.md, fixed cost); the other workers import on their first task.
            warm_up_workers(1, warm)


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
def _import_modules(modules: Sequence[str]) -> None:
    for module in modules:
        importlib.import_module(module)


def warm_up_workers(count: int, modules: Sequence[str]) -> None:
    """Have count workers import modules (the code of the tasks the run sends to Ray, named by the layer that has
    them), so that the first tasks find them ready."""
    if modules:
        for _ in range(count):
            _import_modules.remote(tuple(modules))


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


class RayResource:
    """The run's Ray, from start to stop, in one place: the command that runs the flow asks for it early
    (start_early: a local Ray starts beside the driver's imports), the flow once its input is valid (input_valid,
    session_once_valid: Ray starts, or a cluster is joined, beside the split of the series); an instance of either
    adopts the Ray this process is connected to. A session leaves Ray in the background; stop leaves it for good.

    warm: the modules a Ray worker imports before its first task, named by the layer whose tasks run there (the
    engines import nothing above them)."""

    def __init__(self, compute: ComputeSpec, warm: Sequence[str] = ()) -> None:
        self.compute, self.warm = compute, tuple(warm)
        self._valid: Future[None] = Future()

    def start_early(self, input_url: str, beside: Callable[[], object] = lambda: None) -> None:
        """Start a local Ray, and warm up one worker, while beside (the driver's imports of the flow) runs on
        another thread; return when both are done. A cluster is joined by the session, and an input with nothing
        to read starts no Ray: the flow refuses it at once."""
        other_core = threading.Thread(target=beside, name="beside-ray-start")
        other_core.start()
        try:
            if not self.compute.ray_address and storage.input_bytes(input_url):
                LocalRay(self.compute.workers).start_early(self.warm)
        finally:
            other_core.join()

    def input_valid(self) -> None:
        """What the step that reads the input calls once the input has passed validation."""
        with contextlib.suppress(InvalidStateError):  # called again: nothing new
            self._valid.set_result(None)

    @contextlib.contextmanager
    def session_once_valid(self, reading: Future, sample_seconds: float = 10) -> Iterator[NodeClock]:
        """Wait until the input is valid (input_valid) or reading (the step that reads it) has ended. Valid input:
        a session, so that Ray starts, and its workers warm up, while the rest of reading splits the series. Input
        refused first: no Ray, and a clock of no nodes."""
        wait([self._valid, reading], return_when=FIRST_COMPLETED)
        if not self._valid.done():
            yield NodeClock()
            return
        with self.session(sample_seconds) as clock:
            yield clock

    @contextlib.contextmanager
    def session(self, sample_seconds: float = 10) -> Iterator[NodeClock]:
        """Start (or join, or adopt) Ray and have its workers import the modules warm (on a Ray this process started
        early, the one worker start_early warmed); leave Ray in the background on leaving.

        Entered while ingest runs, so that tuning starts at full speed: the tuning flow's RayTaskRunner finds Ray up.
        Yields the clock of the cluster's nodes, sampled every sample_seconds, for the cost estimate.
        """
        started_early = ray.is_initialized()  # by start_early, which warmed up a worker
        if started_early:
            log.info("using the local Ray started with the run")
        with ray_connected(ray_engine(self.compute)), _node_clock(sample_seconds) as clock:
            if not started_early:  # on a cluster, every node's workers, while ingest runs
                warm_up_workers(cluster_cpus(), self.warm)
            yield clock

    @staticmethod
    def stop() -> None:
        """Leave Ray for good, once a session's background disconnect is over: a local Ray stops, a cluster stays
        up (its workers otherwise log at the driver's exit, after its last line)."""
        disconnect()


@contextlib.contextmanager
def _node_clock(sample_seconds: float) -> Iterator[NodeClock]:
    """The clock of the cluster's nodes, sampled every sample_seconds on a thread, and once more on leaving."""
    clock, stop = NodeClock(), threading.Event()

    def sample() -> None:
        while True:
            clock.observe(ray.nodes(), time.time())
            if stop.wait(sample_seconds):
                return

    sampler = threading.Thread(target=sample, name="ray-node-clock", daemon=True)
    sampler.start()
    try:
        yield clock
    finally:
        stop.set()
        sampler.join()
        clock.observe(ray.nodes(), time.time())
