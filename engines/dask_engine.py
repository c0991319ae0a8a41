"""Dask as a resource: a LocalCluster started for the run, or a scheduler that is already up."""

import contextlib
import logging
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

import dask
from distributed import Client, LocalCluster, WorkerPlugin, get_worker
from distributed.security import Security

from engines.credentials import forwarded_secrets, s3_credentials
from manymodels import storage
from manymodels.settings import ComputeSpec

log = logging.getLogger("manymodels.engines")

# Below this much input, counted as it is parsed (decompressed), a local cluster runs its workers as threads of
# this process: starting worker processes costs more than the GIL does on so little data (benchmarks/RESULTS.md has
# the break-even measurement, near half a million rows: 2 MiB of gzip CSV, some 9 MiB inflated; the bound counts
# inflated bytes, so it errs towards processes). What the threads parse, the driver holds: counted on the stored
# size, a 2 MB gzip that inflates to gigabytes was parsed in the driver.
IN_PROCESS_MAX_BYTES = 2 * 2**20


class ImportDataFrame(WorkerPlugin):
    """Import dask.dataframe on each worker up front: a P2P shuffle thread racing that import found its pandas
    dispatch unregistered ("No dispatch for <class 'pandas.DataFrame'>") in one test run."""

    def setup(self, worker) -> None:
        import dask.dataframe  # noqa: F401


class ForwardedCredentials(WorkerPlugin):
    """The driver's S3 credentials for the tasks of one run on an existing Dask cluster (compute.forward_credentials).

    A worker process runs the tasks of every run on the cluster at once, so they stay out of its environment, which
    keeps the worker's own: each run registers a plugin of its own, named by a token new to the run, that keeps them
    on every worker under that token. The run's tasks carry the token as a Dask annotation (RUN_ANNOTATION), and
    storage.options puts the credentials of the run a task belongs to in the filesystems it makes. Removed when the
    run ends, with the filesystems made from them. They travel inside the plugin, through the scheduler, which
    keeps it until then. Only AWS's: a Dask worker's tasks reach S3 and nothing else that takes credentials."""

    def __init__(self, s3: dict[str, str], run: str) -> None:
        self.s3, self.run = s3, run
        self.name = f"manymodels-credentials-{run}"

    def setup(self, worker) -> None:
        _RUNS[self.run] = self.s3
        _look_up_run_credentials()

    def teardown(self, worker) -> None:
        _RUNS.pop(self.run, None)
        _forget_filesystems()


# The annotation that names the run a task belongs to, and in each process the S3 credentials of the runs that
# forward theirs, by run: on a worker from their plugins, on a driver its own while its client is open.
RUN_ANNOTATION = "manymodels_run"
_RUNS: dict[str, dict[str, str]] = {}
_DRIVER_RUN: ContextVar[str | None] = ContextVar("manymodels_dask_run", default=None)


def _run_s3_credentials() -> dict[str, str] | None:
    """The S3 credentials of the run calling, if it forwards them: on its driver inside DaskScheduler.client, in
    one of its tasks on a worker (an error if they are gone: a task of a run that has ended)."""
    run = _DRIVER_RUN.get() or _task_run()
    if run is None:
        return None
    try:
        return _RUNS[run]
    except KeyError:
        raise RuntimeError(f"run {run}'s forwarded credentials are not on this worker: the run has ended") from None


def _task_run() -> str | None:
    """The run the Dask task this thread is running belongs to, if it forwards credentials."""
    try:
        worker = get_worker()
        task = worker.state.tasks.get(worker.get_current_task())
    except (ValueError, KeyError):  # not on a worker, or not in one of its tasks
        return None
    return (task.annotations or {}).get(RUN_ANNOTATION) if task is not None else None


def _look_up_run_credentials() -> None:
    if _run_s3_credentials not in storage.CREDENTIAL_LOOKUPS:
        storage.CREDENTIAL_LOOKUPS.append(_run_s3_credentials)


@contextlib.contextmanager
def _forwarding_credentials(client: Client) -> Iterator[None]:
    """The driver's S3 credentials for the run's tasks on client's cluster (ForwardedCredentials) and its own calls
    (which a Dask graph carries to the workers, as s3fs filesystems), until the run ends."""
    s3 = s3_credentials(forwarded_secrets())
    if not s3:  # nothing to forward: the workers use their own
        yield
        return
    run = uuid.uuid4().hex
    plugin = ForwardedCredentials(s3, run)
    _look_up_run_credentials()
    _RUNS[run] = s3
    driver = _DRIVER_RUN.set(run)
    try:
        client.register_plugin(plugin)
        with dask.annotate(**{RUN_ANNOTATION: run}):
            yield
    finally:
        _DRIVER_RUN.reset(driver)
        _RUNS.pop(run, None)
        _forget_filesystems()
        with contextlib.suppress(Exception):  # a scheduler that is gone took the plugin with it
            client.unregister_worker_plugin(plugin.name)


def _forget_filesystems() -> None:
    """fsspec keeps filesystems, with the credentials they were made with, for reuse: a run's go when it ends."""
    import fsspec

    fsspec.AbstractFileSystem.clear_instance_cache()
    for cls in fsspec.registry.values():
        cls.clear_instance_cache()


def _quiet() -> None:
    logging.getLogger("distributed").setLevel(logging.WARNING)
    logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)  # p2p shuffle start/stop notices


@dataclass(frozen=True)
class DaskScheduler:
    """A Dask scheduler that is already running, at address (tls:// for the one infra/ray-cluster-aws.yaml starts)."""

    address: str
    forward_credentials: bool = False

    def security(self) -> Security:
        """The client's TLS settings, from Dask's own configuration: DASK_DISTRIBUTED__COMM__TLS__CA_FILE,
        ..._TLS__CLIENT__CERT and ..._TLS__CLIENT__KEY in the environment, or distributed.comm.tls in a Dask config
        file. A tls:// address without them is refused here, in words, rather than by Dask's TypeError."""
        security = Security()
        if self.address.startswith("tls://") and not (security.tls_ca_file and security.tls_client_cert):
            raise ValueError(
                f"the Dask scheduler at {self.address} takes TLS only: set DASK_DISTRIBUTED__COMM__TLS__CA_FILE, "
                "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT and DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY to the "
                "cluster's certificate and key (infra/README.md: `infra/cluster_secrets.py fetch`)"
            )
        return security

    @contextlib.contextmanager
    def client(self) -> Iterator[Client]:
        _quiet()
        with Client(self.address, security=self.security()) as client:
            client.register_plugin(ImportDataFrame())
            if not self.forward_credentials:
                yield client
                return
            with _forwarding_credentials(client):
                yield client


@dataclass(frozen=True)
class LocalDask:
    """A LocalCluster for the run: worker processes bound to 127.0.0.1, or threads of this process."""

    workers: int | None = None
    in_process: bool = False

    @contextlib.contextmanager
    def client(self) -> Iterator[Client]:
        _quiet()
        log.info("starting a local Dask cluster (%s)", "threads of this process" if self.in_process else "processes")
        # an in-process cluster talks over inproc://, which takes no host (so its workers' dashboards need one)
        where = (
            {"processes": False, "worker_dashboard_address": "127.0.0.1:0"}
            if self.in_process
            else {"host": "127.0.0.1"}
        )
        with (
            LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                dashboard_address="127.0.0.1:0",
                silence_logs=logging.CRITICAL,  # closing, it logs heartbeat tracebacks; failures reach us as errors
                **where,
            ) as cluster,
            Client(cluster) as client,
        ):
            log.info("Dask dashboard: http://127.0.0.1:%d/status", cluster.scheduler.http_server.port)
            client.register_plugin(ImportDataFrame())
            yield client


def dask_engine(compute: ComputeSpec, input_url: str | None = None) -> DaskScheduler | LocalDask:
    """The scheduler at compute.dask_address, or a local cluster sized for the input at input_url (threads of
    this process under IN_PROCESS_MAX_BYTES decompressed, counted by a streaming read that stops there)."""
    if compute.dask_address:
        return DaskScheduler(compute.dask_address, compute.forward_credentials)
    in_process = (
        input_url is not None
        and storage.input_uncompressed_bytes(input_url, up_to=IN_PROCESS_MAX_BYTES) < IN_PROCESS_MAX_BYTES
    )
    return LocalDask(workers=compute.workers, in_process=in_process)


def dask_client(compute: ComputeSpec, input_url: str | None = None) -> contextlib.AbstractContextManager[Client]:
    """A client on the Dask that dask_engine chooses, closed (and a local cluster stopped) on leaving."""
    return dask_engine(compute, input_url).client()
