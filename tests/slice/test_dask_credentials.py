"""Credentials forwarded to an existing Dask cluster's workers: there for the run only, and only when asked for."""

import os
import uuid

import pytest
from distributed import LocalCluster

from engines.dask_engine import DaskScheduler

NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def worker_credentials() -> dict:
    return {name: os.environ.get(name) for name in NAMES}


@pytest.fixture(scope="module")
def scheduler():
    """A Dask cluster of one worker process started without any AWS credentials."""
    saved = {name: os.environ.pop(name) for name in NAMES if name in os.environ}
    try:
        with LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0") as cluster:
            yield cluster.scheduler_address
    finally:
        os.environ.update(saved)


def seen_by_the_worker(address: str, forward: bool) -> tuple[dict, dict]:
    """What the worker's environment holds during a run, and after it."""
    with DaskScheduler(address, forward_credentials=forward).client() as client:
        during = next(iter(client.run(worker_credentials).values()))
    with DaskScheduler(address).client() as client:
        after = next(iter(client.run(worker_credentials).values()))
    return during, after


def test_forwarded_credentials_reach_the_workers_for_the_run_only(scheduler, monkeypatch):
    secret = f"secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")
    during, after = seen_by_the_worker(scheduler, forward=True)
    assert during == {"AWS_ACCESS_KEY_ID": "ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": "token"}
    assert after == dict.fromkeys(NAMES)


def test_without_forwarding_the_workers_keep_their_own(scheduler, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "the driver's")
    assert seen_by_the_worker(scheduler, forward=False) == (dict.fromkeys(NAMES), dict.fromkeys(NAMES))
