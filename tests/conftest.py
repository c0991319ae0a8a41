"""Real servers for the tests: a Prefect server, a moto S3 endpoint; each stopped by its pid."""

import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.processes import terminate_session

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


def fresh_database(url: str) -> str:
    """A new, empty database on the server at url; returns its URL."""
    import sqlalchemy

    name = f"db_{uuid.uuid4().hex}"
    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    finally:
        engine.dispose()
    return sqlalchemy.make_url(url).set(database=name).render_as_string(hide_password=False)


# Ray rewrites 127.0.0.1 in an address to the machine's interface address unless its cluster mode is off, so
# off it is: head and driver stay on loopback. `ray start` turns token auth on, which the driver does not expect.
LOCAL_RAY_CLUSTER = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}
# as infra/ray-cluster-aws.yaml starts its head: Ray Client's proxy otherwise loses a forked server now and then
RAY_CLIENT_FORK_SAFE = {"GRPC_ENABLE_FORK_SUPPORT": "0"}


def start_session(command: list, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a long-running server in its own session (stopped with terminate_session(pid))."""
    return subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def listening_sockets() -> set[tuple[str, int]]:
    """(address, port) of every TCP socket listening on this machine, IPv4 and IPv6, from /proc/net."""
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A":  # LISTEN
                address, port = local.split(":")
                words = bytes.fromhex(address)  # 32-bit words in host (little-endian) order
                packed = b"".join(words[i : i + 4][::-1] for i in range(0, len(words), 4))
                found.add((socket.inet_ntop(family, packed), int(port, 16)))
    return found


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback


def wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"nothing listens on port {port}"
            time.sleep(0.2)


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
