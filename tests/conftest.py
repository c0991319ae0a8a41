"""Real servers for the tests, each started once per session and stopped by its pid: a Prefect server, a moto S3
endpoint, PostgreSQL, a Ray head; and the markers that say what each test needs (tests/README.md)."""

import http.server
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.processes import Identity, terminate_session
from tests.helpers import (
    BIN,
    LOCAL_RAY_CLUSTER,
    RAY_CLIENT_FORK_SAFE,
    base_env,
    free_port,
    start_session,
    wait_for_port,
)

# The fixtures that start a server, and what a test that uses one (directly or through another fixture) needs.
NEEDS = {
    "prefect_server": ("server",),
    "s3": ("server",),
    "postgres": ("server",),
    "dask": ("server",),
    "ray_head": ("server", "ray"),
}
NOT_ROOT = "needs root: its nodes run in mount namespaces of their own (unshare -m, mount); run as root, as CI does"


def pytest_collection_modifyitems(config, items) -> None:
    """Marks each test with what its fixtures start, so that -m selects by need; skips root tests without root."""
    for item in items:
        for need in sorted({need for name in getattr(item, "fixturenames", ()) for need in NEEDS.get(name, ())}):
            item.add_marker(need)
        if item.get_closest_marker("root") and os.geteuid() != 0:
            item.add_marker(pytest.mark.skip(reason=NOT_ROOT))


@dataclass
class PrefectServer:
    api_url: str
    home: Path
    # reaches this server through MANYMODELS_HOME/PORT, as `make demo` does, and carries its auth string for the
    # clients a test starts itself (`prefect deployment run`, a run given PREFECT_API_URL)
    env: dict[str, str]


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory) -> PrefectServer:
    home = tmp_path_factory.mktemp("manymodels-home")
    env = base_env(home) | {"MANYMODELS_HOME": str(home), "MANYMODELS_PREFECT_PORT": str(free_port())}
    started = subprocess.run([BIN / "manymodels", "start"], env=env, capture_output=True, text=True, timeout=240)
    assert started.returncode == 0, started.stderr
    pid = int((home / "server.pid").read_text())
    server = Identity.of(pid)  # what is left of it is stopped below, and nothing that reuses its pid
    env["PREFECT_API_AUTH_STRING"] = (home / "prefect-auth").read_text().strip()
    try:
        with pytest.MonkeyPatch.context() as patch:  # the tests' own calls (helpers.api, app.screenshot) carry it
            patch.setenv("PREFECT_API_AUTH_STRING", env["PREFECT_API_AUTH_STRING"])
            yield PrefectServer(api_url=started.stdout.strip().splitlines()[-1], home=home, env=env)
    finally:
        subprocess.run([BIN / "manymodels", "stop"], env=env, capture_output=True, timeout=60)
        if server is not None:
            terminate_session(pid, identity=server)


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


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory):
    """A Ray head started with `ray start` as its own process, without Prefect or AWS settings, once for the session
    (the tests that use it leave nothing behind in it); yields its address, its temp folder (short, for socket
    paths, and private: no record in /tmp/ray) and its Ray Client address."""
    port, client_port, temp = free_port(), free_port(), tempfile.mkdtemp(prefix="ray-")
    command = [BIN / "ray", "start", "--head", "--block", f"--port={port}", "--num-cpus=2", "--include-dashboard=false"]
    command += [f"--ray-client-server-port={client_port}", f"--temp-dir={temp}"]
    home = tmp_path_factory.mktemp("ray-head")
    head = start_session(command, base_env(home) | LOCAL_RAY_CLUSTER | RAY_CLIENT_FORK_SAFE)
    try:
        wait_for_port(port)
        wait_for_port(client_port)
        yield f"127.0.0.1:{port}", Path(temp), f"ray://127.0.0.1:{client_port}"
    finally:
        terminate_session(head.pid, grace=2)  # `ray start --block` lets its processes ignore SIGTERM for 10 s+
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def webhook_server():
    """A webhook on 127.0.0.1; yields its port and a queue of what each POST brought: (path with query, JSON body)."""
    posts: queue.Queue[tuple[str, dict]] = queue.Queue()

    class Received(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802  (http.server's name)
            posts.put((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Received)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], posts
    finally:
        server.shutdown()
        server.server_close()
