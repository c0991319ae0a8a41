"""The local services' records: a pid file is trusted only while its process is the one that was started, and the
server that answers on the local port is used only if it is the one manymodels started."""

import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from app.server import auth, background, lifecycle
from tests.helpers import BIN, free_port, start_session, wait_for_port


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MANYMODELS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MANYMODELS_PREFECT_PORT", str(free_port()))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    return tmp_path / "home"


@pytest.fixture
def stranger():
    """A process manymodels did not start, leading a session of its own (as a process given a reused pid may)."""
    process = start_session(["sleep", "300"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def started_and_gone(name: str, monkeypatch) -> int:
    """The pid of a process start_background started under name and that has since exited."""
    monkeypatch.setattr(background, "prefect_bin", lambda: sys.executable)
    process = background.start_background(name, ["-c", "import time; time.sleep(0.3)"], {})
    assert (background.home() / f"{name}.pid").read_text() == str(process.pid)
    process.wait()
    return process.pid


def test_a_pid_file_whose_pid_now_names_another_process_is_cleared_without_signalling_it(home, stranger, monkeypatch):
    started_and_gone("server", monkeypatch)
    (home / "server.pid").write_text(str(stranger.pid))  # the kernel gave the gone process's pid to another one
    assert not background.is_alive("server")
    assert not background.stop_background("server")
    time.sleep(0.2)
    assert stranger.poll() is None and psutil.Process(stranger.pid).status() != psutil.STATUS_ZOMBIE
    assert [p.name for p in home.iterdir() if p.name.startswith("server.") and p.suffix != ".log"] == []


def test_manymodels_stop_does_not_signal_the_session_that_now_leads_a_stale_pid(home, stranger, monkeypatch):
    started_and_gone("worker", monkeypatch)
    started_and_gone("server", monkeypatch)
    for name in ("worker", "server"):
        (home / f"{name}.pid").write_text(str(stranger.pid))
    stopped = subprocess.run([BIN / "manymodels", "stop"], capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    assert "no Prefect server was started here" in stopped.stdout
    time.sleep(0.2)
    assert stranger.poll() is None


def test_a_pid_file_of_a_process_that_is_gone_is_cleared(home, monkeypatch):
    started_and_gone("worker", monkeypatch)
    assert not background.is_alive("worker")
    assert not (home / "worker.pid").exists()
    assert not background.stop_background("worker")


def test_a_process_that_still_is_the_one_started_is_alive_and_stopped(home, monkeypatch):
    monkeypatch.setattr(background, "prefect_bin", lambda: sys.executable)
    process = background.start_background("worker", ["-c", "import time; time.sleep(300)"], {})
    try:
        assert background.is_alive("worker")
        assert background.stop_background("worker")
        assert process.wait(timeout=15) is not None and not (home / "worker.pid").exists()
    finally:
        process.kill()
        process.wait()


def test_the_auth_string_is_generated_once_and_readable_only_by_its_owner(home):
    first = auth.auth_string()
    assert len(first) > 30 and auth.auth_string() == first
    assert (home / "prefect-auth").stat().st_mode & 0o777 == 0o600


@pytest.fixture
def foreign_server(tmp_path, home):
    """A plain HTTP server manymodels did not start, on the local server's port, answering 200 on /api/health."""
    (tmp_path / "www" / "api").mkdir(parents=True)
    (tmp_path / "www" / "api" / "health").write_text("true")
    port = auth.port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", tmp_path / "www"]
    process = start_session(command)
    try:
        wait_for_port(port)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5) as answer:
            assert answer.status == 200
        yield process
    finally:
        process.kill()
        process.wait()


def test_a_foreign_server_answering_health_on_the_port_is_refused(foreign_server):
    with pytest.raises(RuntimeError, match=f"port {auth.port()} is taken by a process manymodels did not"):
        lifecycle.ensure_server()
    assert foreign_server.poll() is None


def test_a_foreign_server_is_refused_even_when_the_server_pid_file_names_a_live_process(
    foreign_server, home, monkeypatch
):
    monkeypatch.setattr(background, "prefect_bin", lambda: sys.executable)
    sleeper = ["-c", "import time; time.sleep(300)", "--port", str(auth.port())]  # listens nowhere
    ours = background.start_background("server", sleeper, {})
    try:
        with pytest.raises(RuntimeError, match="is taken by a process manymodels did not start"):
            lifecycle.ensure_server()
        assert foreign_server.poll() is None
    finally:
        ours.kill()
        ours.wait()


def test_manymodels_start_refuses_a_foreign_server(foreign_server, home):
    started = subprocess.run([BIN / "manymodels", "start"], capture_output=True, text=True, timeout=60)
    assert started.returncode == 1
    assert started.stderr.strip() == f"error: port {auth.port()} is taken by a process manymodels did not start"


def test_a_user_server_at_prefect_api_url_keeps_the_users_auth(monkeypatch, home):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", "theirs")
    env = auth.run_env("http://127.0.0.1:9/api")
    assert env["PREFECT_API_AUTH_STRING"] == "theirs" and not (home / "prefect-auth").exists()
