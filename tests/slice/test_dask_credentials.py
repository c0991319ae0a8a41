"""Credentials forwarded to an existing Dask cluster's workers: there for the run's own tasks only, and only when
asked for; two runs on one cluster at once each reach S3 with their own, and the workers keep their own."""

import json
import os
import re
import subprocess
import sys
import urllib.parse
import uuid

import pytest
from distributed import LocalCluster

from engines.dask_engine import DaskScheduler
from manymodels import storage
from tests.faulty_s3 import Proxy, headers
from tests.helpers import GOOD_SERIES, base_env, messy_sales

NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def worker_credentials() -> dict:
    return {name: os.environ.get(name) for name in NAMES}


def task_credentials() -> dict:
    """The credentials a task's S3 filesystems are made with (none: the process's own, from its environment)."""
    return {k: v for k, v in storage.options("s3://bucket/key").items() if k in ("key", "secret", "token")}


@pytest.fixture(scope="module")
def scheduler():
    """A Dask cluster of one worker process started without any AWS credentials."""
    saved = {name: os.environ.pop(name) for name in NAMES if name in os.environ}
    try:
        with LocalCluster(
            n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address="127.0.0.1:0"
        ) as cluster:
            yield cluster.scheduler_address
    finally:
        os.environ.update(saved)


def seen_by_the_worker(address: str, forward: bool) -> tuple[dict, dict, dict]:
    """What a task of a run reaches S3 with, what a task after it does, and the worker's environment then."""
    with DaskScheduler(address, forward_credentials=forward).client() as client:
        during = client.submit(task_credentials, pure=False).result()
    with DaskScheduler(address).client() as client:
        after = client.submit(task_credentials, pure=False).result()
        environment = next(iter(client.run(worker_credentials).values()))
    return during, after, environment


def test_forwarded_credentials_reach_the_runs_tasks_for_the_run_only(scheduler, monkeypatch):
    secret = f"secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")
    during, after, environment = seen_by_the_worker(scheduler, forward=True)
    assert during == {"key": "ASIAEXAMPLE", "secret": secret, "token": "token"}
    assert after == {} and environment == dict.fromkeys(NAMES)


def test_without_forwarding_the_workers_keep_their_own(scheduler, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "the driver's")
    assert seen_by_the_worker(scheduler, forward=False) == ({}, {}, dict.fromkeys(NAMES))


# --- Two runs on one cluster at once ---


class SigningProxy(Proxy):
    """Passes every request on to moto, keeping the access key id and session token it was signed with."""

    def __init__(self, upstream_port: int):
        super().__init__(upstream_port)
        self.requests: list[tuple[str, str | None, str]] = []  # (access key id, session token, request target)

    async def answer(self, head, body, writer) -> None:
        fields = headers(head)
        signed = re.search(r"Credential=([^/]+)/", fields.get("authorization", ""))
        target = urllib.parse.unquote(head.split(b" ", 2)[1].decode("latin-1"))
        self.requests.append((signed.group(1) if signed else "", fields.get("x-amz-security-token"), target))
        await self.forward(head, body, writer)

    def signers(self, part: str) -> set[tuple[str, str | None]]:
        """Who signed the requests for the paths that hold part."""
        return {(key, token) for key, token, target in self.requests if part in target}


WORKER = {"AWS_ACCESS_KEY_ID": "AKIAWORKEROWN", "AWS_SECRET_ACCESS_KEY": "worker-own", "AWS_SESSION_TOKEN": "worker-t"}
RUNS = {  # one run with session credentials, one with long-term keys (no token)
    "first": {"AWS_ACCESS_KEY_ID": "ASIAFIRSTRUN", "AWS_SECRET_ACCESS_KEY": "first-secret", "AWS_SESSION_TOKEN": "f-t"},
    "second": {"AWS_ACCESS_KEY_ID": "AKIASECONDRUN", "AWS_SECRET_ACCESS_KEY": "second-secret"},
}

# A run's driver on the shared cluster, forwarding its credentials: it ingests its input while the other run is on
# the cluster too; the second ingests again once the first has ended and removed what it forwarded.
RUN = """
import json, sys, time
from pathlib import Path
from engines.dask_engine import DaskScheduler
from manymodels.ingest import ingest
from manymodels.layout import RunLayout
from manymodels.settings import DataSpec

address, name, other, folder, base = sys.argv[1:6]
folder = Path(folder)

def signal(what):
    (folder / f"{name}.{what}").touch()

def wait_for(who, what):
    deadline = time.monotonic() + 120
    while not (folder / f"{who}.{what}").exists():
        assert time.monotonic() < deadline, f"{who} never {what}"
        time.sleep(0.05)

def ingest_to(step):
    spec = DataSpec(url=f"{base}/{name}/sales.csv", id_cols=["store", "item"], time_col="date",
                    target_col="sales", horizon=7)
    return len(ingest(spec, RunLayout(f"{base}/{name}/{step}", run=step)).accepted)

accepted = {}
with DaskScheduler(address, forward_credentials=True).client():
    signal("registered")
    wait_for(other, "registered")  # both runs have forwarded their credentials
    accepted["together"] = ingest_to("together")
    signal("ingested")
    wait_for(other, "ingested")  # neither ends before both have ingested
    if name == "second":
        wait_for(other, "ended")
        accepted["alone"] = ingest_to("alone")
signal("ended")
print(json.dumps(accepted))
"""


@pytest.fixture(scope="module")
def shared_cluster(s3):
    """A Dask cluster of one worker process (two threads) with AWS credentials of its own, reaching moto through
    a SigningProxy; the test process's environment is left as it was."""
    with SigningProxy(int(s3.endpoint.rsplit(":", 1)[1])) as proxy:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in (s3.env | WORKER).items():
                patch.setenv(name, value)
            patch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{proxy.port}")
            cluster = LocalCluster(n_workers=1, threads_per_worker=2, host="127.0.0.1", dashboard_address="127.0.0.1:0")
        with cluster:
            yield cluster.scheduler_address, proxy


def test_two_runs_on_one_cluster_at_once_each_reach_s3_with_their_own_keys(shared_cluster, s3_env, tmp_path):
    address, proxy = shared_cluster
    prefix = f"shared-{uuid.uuid4().hex}"
    base = f"s3://{s3_env.bucket}/{prefix}"
    fs = storage.filesystem(base)
    for name in RUNS:
        fs.pipe_file(f"{base}/{name}/sales.csv", messy_sales().to_csv(index=False).encode())
    endpoint = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}", "AWS_DEFAULT_REGION": "us-east-1"}
    drivers = {
        name: subprocess.Popen(
            [sys.executable, "-c", RUN, address, name, next(n for n in RUNS if n != name), str(tmp_path), base],
            env=base_env(tmp_path) | endpoint | keys,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, keys in RUNS.items()
    }
    try:
        done = {name: driver.communicate(timeout=300) for name, driver in drivers.items()}
    finally:
        for driver in drivers.values():
            driver.kill()  # by its own handle; a no-op once it has exited
            driver.wait()
    for name, driver in drivers.items():
        assert driver.returncode == 0, done[name][1][-3000:]
    assert {name: json.loads(out.splitlines()[-1]) for name, (out, _) in done.items()} == {
        "first": {"together": GOOD_SERIES},
        "second": {"together": GOOD_SERIES, "alone": GOOD_SERIES},
    }

    for name, keys in RUNS.items():  # each run's reads and writes, on the driver and the worker, signed with its own
        assert proxy.signers(f"{prefix}/{name}/") == {(keys["AWS_ACCESS_KEY_ID"], keys.get("AWS_SESSION_TOKEN"))}
    assert proxy.signers(f"{prefix}/second/alone/") == {("AKIASECONDRUN", None)}  # the first's end took nothing

    # after both: the worker's own variables as they were, and its tasks reach S3 with them
    seen = len(proxy.requests)
    with DaskScheduler(address).client() as client:
        assert next(iter(client.run(worker_credentials).values())) == WORKER
        client.submit(lambda: storage.filesystem(base).ls(f"{base}/first/"), pure=False).result()
    assert {(key, token) for key, token, _ in proxy.requests[seen:]} == {
        (WORKER["AWS_ACCESS_KEY_ID"], WORKER["AWS_SESSION_TOKEN"])
    }
