"""Real servers for the tests: a Prefect server, a moto S3 endpoint; each stopped by its pid."""

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from manymodels.localserver import terminate_group

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AWS_"))}
    return env | {"PREFECT_HOME": str(home / "client"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


@dataclass
class PrefectServer:
    api_url: str
    home: Path
    env: dict[str, str]  # reaches this server through MANYMODELS_HOME/PORT, as `make demo` does


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory) -> PrefectServer:
    home = tmp_path_factory.mktemp("manymodels-home")
    env = base_env(home) | {"MANYMODELS_HOME": str(home), "MANYMODELS_PREFECT_PORT": str(free_port())}
    started = subprocess.run([BIN / "manymodels", "server"], env=env, capture_output=True, text=True, timeout=240)
    assert started.returncode == 0, started.stderr
    pid = int((home / "server.pid").read_text())
    try:
        yield PrefectServer(api_url=started.stdout.strip().splitlines()[-1], home=home, env=env)
    finally:
        subprocess.run([BIN / "manymodels", "stop"], env=env, capture_output=True, timeout=60)
        terminate_group(pid)


@dataclass
class S3:
    endpoint: str
    bucket: str
    env: dict[str, str]


@pytest.fixture(scope="session")
def s3() -> S3:
    port = free_port()
    process = subprocess.Popen(
        [BIN / "moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.2)
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
        terminate_group(process.pid)


@pytest.fixture
def s3_env(s3, monkeypatch) -> S3:
    """The moto endpoint in this process's environment (s3fs and Dask workers read it from there)."""
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    import fsspec

    fsspec.AbstractFileSystem.clear_instance_cache()
    return s3
