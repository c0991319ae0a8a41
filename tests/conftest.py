"""Real servers for the tests: a Prefect server, a moto S3 endpoint; each stopped by its pid."""

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.processes import terminate_session
from tests.helpers import (
    BIN,
    LOCAL_RAY_CLUSTER,
    RAY_CLIENT_FORK_SAFE,
    base_env,
    free_port,
    start_session,
    wait_for_port,
)


@dataclass
class PrefectServer:
    api_url: str
    home: Path
    env: dict[str, str]  # reaches this server through MANYMODELS_HOME/PORT, as `make demo` does


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory) -> PrefectServer:
    home = tmp_path_factory.mktemp("manymodels-home")
    env = base_env(home) | {"MANYMODELS_HOME": str(home), "MANYMODELS_PREFECT_PORT": str(free_port())}
    started = subprocess.run([BIN / "manymodels", "start"], env=env, capture_output=True, text=True, timeout=240)
    assert started.returncode == 0, started.stderr
    pid = int((home / "server.pid").read_text())
    try:
        yield PrefectServer(api_url=started.stdout.strip().splitlines()[-1], home=home, env=env)
    finally:
        subprocess.run([BIN / "manymodels", "stop"], env=env, capture_output=True, timeout=60)
        terminate_session(pid)


@dataclass
class S3:
    endpoint: str
    bucket: str
    env: dict[str, str]


@pytest.fixture(scope="session")
def s3() -> S3:
    port = free_port()
    process = start_session([BIN / "moto_server", "-H", "127.0.0.1", "-p", str(port)])
    try:
        endpoint = f"http://127.0.0.1:{port}"
        wait_for_port(port)
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        import boto3

        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket="manymodels-test")
        yield S3(endpoint=endpoint, bucket="manymodels-test", env=env)
    finally:
        terminate_session(process.pid)


@pytest.fixture
def s3_env(s3, monkeypatch) -> S3:
    """The moto endpoint in this process's environment (s3fs and Dask workers read it from there)."""
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    import fsspec

    fsspec.AbstractFileSystem.clear_instance_cache()
    return s3


@pytest.fixture(scope="session")
def postgres(tmp_path_factory) -> str:
    """A real PostgreSQL server (the binaries pgserver ships) on a Unix socket; yields its SQLAlchemy URL."""
    import pgserver
    import psutil

    server = pgserver.get_server(tmp_path_factory.mktemp("postgres"), cleanup_mode="stop")
    postmaster = psutil.Process(server.get_pid())
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        if postmaster.is_running() and postmaster.status() != psutil.STATUS_ZOMBIE:
            postmaster.kill()


@pytest.fixture
def ray_head(tmp_path):
    """A Ray head started with `ray start` as its own process, without Prefect or AWS settings; yields its address,
    its temp folder (short, for socket paths, and private: no record in /tmp/ray) and its Ray Client address."""
    port, client_port, temp = free_port(), free_port(), tempfile.mkdtemp(prefix="ray-")
    command = [BIN / "ray", "start", "--head", "--block", f"--port={port}", "--num-cpus=2", "--include-dashboard=false"]
    command += [f"--ray-client-server-port={client_port}", f"--temp-dir={temp}"]
    head = start_session(command, base_env(tmp_path) | LOCAL_RAY_CLUSTER | RAY_CLIENT_FORK_SAFE)
    try:
        wait_for_port(port)
        wait_for_port(client_port)
        yield f"127.0.0.1:{port}", Path(temp), f"ray://127.0.0.1:{client_port}"
    finally:
        terminate_session(head.pid, grace=2)  # `ray start --block` lets its processes ignore SIGTERM for 10 s+
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def external_clusters(ray_head, s3, tmp_path):
    """The Ray head (as ray_head yields it), and a Dask scheduler with one worker started as separate processes
    without Prefect settings; the Dask worker has S3 credentials of its own, the Ray head none."""
    env = base_env(tmp_path) | s3.env
    port = free_port()
    scheduler = ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", "127.0.0.1:0"]
    worker = ["worker", f"tcp://127.0.0.1:{port}", "--nworkers", "1", "--nthreads", "1", "--host", "127.0.0.1"]
    sessions = [
        start_session([BIN / "dask", *scheduler], env),
        start_session([BIN / "dask", *worker, "--dashboard-address", "127.0.0.1:0"], env),
    ]
    try:
        wait_for_port(port)
        yield ray_head, f"tcp://127.0.0.1:{port}"
    finally:
        for session in sessions:
            terminate_session(session.pid)
