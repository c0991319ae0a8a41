"""Dask as a resource: a LocalCluster started for the run, or a scheduler that is already up."""

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

from distributed import Client, LocalCluster, WorkerPlugin

from engines.credentials import forwarded_secrets
from manymodels import storage
from manymodels.settings import ComputeSpec

log = logging.getLogger("manymodels.engines")

# Below this much input a local cluster runs its workers as threads of this process: starting worker processes
# costs more than the GIL does on so little data (benchmarks/RESULTS.md has the break-even measurement).
IN_PROCESS_MAX_BYTES = 2 * 2**20


class ImportDataFrame(WorkerPlugin):
    """Import dask.dataframe on each worker up front: a P2P shuffle thread racing that import found its pandas
    dispatch unregistered ("No dispatch for <class 'pandas.DataFrame'>") in one test run."""

    def setup(self, worker) -> None:
        import dask.dataframe  # noqa: F401


class ForwardedCredentials(WorkerPlugin):
    """The driver's credentials in the environment of each worker of an existing Dask cluster, for the run only
    (compute.forward_credentials): set when the plugin is registered, removed when the run unregisters it. They
    travel inside the plugin, through the scheduler, which keeps it until then."""

    name = "manymodels-credentials"

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets

    def setup(self, worker) -> None:
        os.environ.update(self.secrets)
        _forget_filesystems()

    def teardown(self, worker) -> None:
        for name in self.secrets:
            os.environ.pop(name, None)
        _forget_filesystems()


def _forget_filesystems() -> None:
    """fsspec keeps filesystems, with the credentials they were made with, for reuse: a new set needs new ones."""
    import fsspec

    fsspec.AbstractFileSystem.clear_instance_cache()
    for cls in fsspec.registry.values():
        cls.clear_instance_cache()


def _quiet() -> None:
    logging.getLogger("distributed").setLevel(logging.WARNING)
    logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)  # p2p shuffle start/stop notices


@dataclass(frozen=True)
class DaskScheduler:
    """A Dask scheduler that is already running, at address."""

    address: str
    forward_credentials: bool = False

    @contextlib.contextmanager
    def client(self) -> Iterator[Client]:
        _quiet()
        with Client(self.address) as client:
            client.register_plugin(ImportDataFrame())
            if not self.forward_credentials:
                yield client
                return
            client.register_plugin(ForwardedCredentials(forwarded_secrets()))
            try:
                yield client
            finally:
                with contextlib.suppress(Exception):  # a scheduler that is gone took the plugin with it
                    client.unregister_worker_plugin(ForwardedCredentials.name)


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
    this process under IN_PROCESS_MAX_BYTES)."""
    if compute.dask_address:
        return DaskScheduler(compute.dask_address, compute.forward_credentials)
    in_process = input_url is not None and storage.input_bytes(input_url) < IN_PROCESS_MAX_BYTES
    return LocalDask(workers=compute.workers, in_process=in_process)


def dask_client(compute: ComputeSpec, input_url: str | None = None) -> contextlib.AbstractContextManager[Client]:
    """A client on the Dask that dask_engine chooses, closed (and a local cluster stopped) on leaving."""
    return dask_engine(compute, input_url).client()
