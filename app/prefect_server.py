"""Start, reuse and stop the local Prefect server, and serve the deployments to a worker (no Prefect import)."""

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from app.processes import terminate_session
from manymodels.storage import local_home as home

DEFAULT_PORT = 4200
WORK_POOL = "manymodels-process"  # the pool of deployments/prefect.yaml


def port() -> int:
    """The local server's port: MANYMODELS_PREFECT_PORT, else 4200."""
    return int(os.environ.get("MANYMODELS_PREFECT_PORT", DEFAULT_PORT))


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
    env = os.environ | {
        "PREFECT_HOME": str(home() / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_API_URL": url,  # else the UI's pages call port 4200, whatever port the server is on
    }
    process = start_background("server", ["server", "start", "--host", "127.0.0.1", "--port", str(port())], env)
    deadline = time.monotonic() + timeout
    while not is_healthy(url):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_background("server")
            raise RuntimeError(f"the Prefect server did not start; see {home() / 'server.log'}")
        time.sleep(0.5)
    return url


def run_env(api_url: str, local_ray: bool = True) -> dict[str, str]:
    """The environment of a flow run against the server at api_url, started here or by a worker."""
    env = os.environ | {"PREFECT_API_URL": api_url}
    env.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "manymodels")  # our log lines reach the console and UI
    if local_ray:  # Ray's switch, read on import, that keeps a local Ray on 127.0.0.1; a driver that joins a
        env.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # cluster as a node must not have it (ray:// may)
    return env


def deploy(root: Path, pool: str = WORK_POOL, limit: int = 1, timeout: float = 120) -> str:
    """The server, the process work pool, the deployments of deployments/prefect.yaml and a worker on the pool
    (reused if its pid is alive); returns the API URL."""
    env = run_env(ensure_server()) | {"PWD": str(root)}  # flow runs start in the worker's $PWD: the repository
    _prefect(["work-pool", "create", pool, "--type", "process", "--overwrite"], env, root)
    _prefect(["--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml"], env, root)
    if not is_alive("worker"):
        start_background("worker", ["worker", "start", "--pool", pool, "--limit", str(limit)], env, root)
    deadline = time.monotonic() + timeout
    while not _online_workers(env["PREFECT_API_URL"], pool):
        if not is_alive("worker") or time.monotonic() > deadline:
            stop_background("worker")
            raise RuntimeError(f"the worker did not come online; see {home() / 'worker.log'}")
        time.sleep(0.5)
    return env["PREFECT_API_URL"]


def _prefect(args: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run([_prefect_bin(), *args], env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise RuntimeError(f"prefect {args[0] if args[0] != '--no-prompt' else args[1]} failed: {last}")


def post_json(url: str, body: dict, timeout: float = 30):
    """POST body as JSON to url (a Prefect API filter, say); the decoded answer."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def _online_workers(api_url: str, pool: str) -> list[dict]:
    try:
        workers = post_json(f"{api_url.rstrip('/')}/work_pools/{pool}/workers/filter", {}, timeout=5)
    except OSError:
        return []
    return [w for w in workers if w.get("status") == "ONLINE"]


def _prefect_bin() -> str:
    return str(Path(sys.executable).with_name("prefect"))


def start_background(name: str, prefect_args: list[str], env: dict[str, str], cwd: Path | None = None):
    """Start `prefect <args>` in its own session, logging to <home>/<name>.log, its pid in <name>.pid."""
    state = home()
    state.mkdir(parents=True, exist_ok=True)
    with open(state / f"{name}.log", "ab") as log:
        process = subprocess.Popen(
            [_prefect_bin(), *prefect_args],
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (state / f"{name}.pid").write_text(str(process.pid))
    return process


def is_alive(name: str) -> bool:
    """Whether the process this machine started under name (by start_background) still runs."""
    pid_file = home() / f"{name}.pid"
    if not pid_file.exists():
        return False
    try:
        os.kill(int(pid_file.read_text()), 0)
    except ProcessLookupError:
        return False
    return True


def stop_background(name: str) -> bool:
    """Stop the session started under name, by its pid; True if one was running."""
    pid_file = home() / f"{name}.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text())
    pid_file.unlink()
    return terminate_session(pid)


def stop_server() -> bool:
    """Stop the worker and the server this machine started; True if the server was running."""
    stop_background("worker")
    return stop_background("server")


def ui_base(api_url: str) -> str:
    """The Prefect UI's address, from its API's."""
    return api_url.rstrip("/").removesuffix("/api")


def ui_url(api_url: str, flow_run_id: str) -> str:
    """The page of a flow run in the Prefect UI."""
    return f"{ui_base(api_url)}/runs/flow-run/{flow_run_id}"
