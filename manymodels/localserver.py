"""Start, reuse and stop the local Prefect server that runs appear in (no Prefect import needed)."""

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

DEFAULT_PORT = 4200


def port() -> int:
    """The local server's port: MANYMODELS_PREFECT_PORT, else 4200."""
    return int(os.environ.get("MANYMODELS_PREFECT_PORT", DEFAULT_PORT))


def home() -> Path:
    """Where manymodels keeps local state: the server's database, pid file and logs."""
    return Path(os.environ.get("MANYMODELS_HOME", ".manymodels")).resolve()


def is_healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def ensure_server(timeout: float = 120) -> str:
    """PREFECT_API_URL if set, else the local server: reused if it answers, started if not."""
    if url := os.environ.get("PREFECT_API_URL"):
        if not is_healthy(url):
            raise RuntimeError(f"the Prefect server at PREFECT_API_URL={url} does not answer")
        return url
    url = f"http://127.0.0.1:{port()}/api"
    if is_healthy(url):
        return url
    state = home()
    state.mkdir(parents=True, exist_ok=True)
    env = os.environ | {"PREFECT_HOME": str(state / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    prefect = Path(sys.executable).with_name("prefect")
    with open(state / "server.log", "ab") as log:
        process = subprocess.Popen(
            [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port())],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (state / "server.pid").write_text(str(process.pid))
    deadline = time.monotonic() + timeout
    while not is_healthy(url):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_server()
            raise RuntimeError(f"the Prefect server did not start; see {state / 'server.log'}")
        time.sleep(0.5)
    return url


def stop_server() -> bool:
    """Stop the server this machine's `ensure_server` started (by its pid); True if one was running."""
    pid_file = home() / "server.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text())
    pid_file.unlink()
    return terminate_group(pid)


def terminate_group(pid: int, grace: float = 10) -> bool:
    """SIGTERM the process group led by pid, SIGKILL it after grace seconds; True if it was alive."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):  # our own child: reap it, or its zombie keeps the group alive
            os.waitpid(pid, os.WNOHANG)
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True


def ui_url(api_url: str, flow_run_id: str) -> str:
    return f"{api_url.rstrip('/').removesuffix('/api')}/runs/flow-run/{flow_run_id}"
