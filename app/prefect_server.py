"""Start, reuse and stop the local Prefect server, and serve the deployments to a worker (no Prefect import).

The local server asks every client for its basic-auth string (kept in <home>/prefect-auth), allows cross-origin
calls from its own UI only and wants a CSRF token on changes (Prefect's client and UI fetch one). Its pid files
record the identity of the process started, so that nothing else is signalled, or adopted, in its place."""

import base64
import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import psutil

from app.processes import Identity, terminate_session
from manymodels.storage import local_home as home

DEFAULT_PORT = 4200
WORK_POOL = "manymodels-process"  # the pools of deployments/prefect.yaml: this machine's, and a Ray cluster head's
CLUSTER_POOL = "manymodels-cluster"
LOCAL_DEPLOYMENTS = ("adhoc", "nightly")
CLUSTER_DEPLOYMENTS = ("adhoc-cluster", "nightly-cluster")
AUTH_FILE = "prefect-auth"  # under home(): the local server's auth string, readable by its owner only


def port() -> int:
    """The local server's port: MANYMODELS_PREFECT_PORT, else 4200."""
    return int(os.environ.get("MANYMODELS_PREFECT_PORT", DEFAULT_PORT))


def local_url() -> str:
    """The API URL of the local server."""
    return f"http://127.0.0.1:{port()}/api"


def auth_file() -> Path:
    return home() / AUTH_FILE


def auth_string() -> str:
    """The local server's basic-auth string ('manymodels:<random>'): generated once, kept in <home>/prefect-auth
    with mode 0600."""
    path = auth_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, draft = tempfile.mkstemp(dir=path.parent, prefix=f".{AUTH_FILE}-")  # created 0600
        try:
            with os.fdopen(fd, "w") as f:
                f.write(f"manymodels:{secrets.token_urlsafe(32)}\n")
            with contextlib.suppress(FileExistsError):  # another command made it first: theirs stands
                os.link(draft, path)
        finally:
            os.unlink(draft)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return path.read_text().strip()


def api_auth(url: str) -> str | None:
    """The auth string a client of manymodels sends to url: the local server's when url is on it (and
    PREFECT_API_URL is unset), else PREFECT_API_AUTH_STRING as the user configured it."""
    local = local_url()
    if not os.environ.get("PREFECT_API_URL") and (url == local or url.startswith(f"{local}/")) and auth_file().exists():
        return auth_string()
    return os.environ.get("PREFECT_API_AUTH_STRING")


def is_healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def ensure_server(timeout: float = 120) -> str:
    """PREFECT_API_URL if set, else the local server: the one manymodels started, if it is alive and listens on the
    port, else a new one; a port taken by any other process is refused."""
    if url := os.environ.get("PREFECT_API_URL"):
        if not is_healthy(url):
            raise RuntimeError(f"the Prefect server at PREFECT_API_URL={url} does not answer")
        return url
    url, listen = local_url(), port()
    foreign = f"port {listen} is taken by a process manymodels did not start"
    started = _started("server")
    if started and not _serves(started[1], listen):
        raise RuntimeError(f"the Prefect server manymodels started is not on port {listen}: `manymodels stop` it first")
    if not (started and _listens(started[0], listen)) and _port_taken(listen):
        raise RuntimeError(foreign)
    process = None
    if started:  # ours: up, or still starting
        pid, identity = started
    else:
        auth = auth_string()
        env = os.environ | {
            "PREFECT_HOME": str(home() / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_API_URL": url,  # else the UI's pages call port 4200, whatever port the server is on
            "PREFECT_SERVER_API_AUTH_STRING": auth,
            "PREFECT_API_AUTH_STRING": auth,  # the server's own clients
            "PREFECT_SERVER_CORS_ALLOWED_ORIGINS": f"http://127.0.0.1:{listen}",  # its UI's origin only
            "PREFECT_SERVER_CSRF_PROTECTION_ENABLED": "true",
        }
        process = start_background("server", ["server", "start", "--host", "127.0.0.1", "--port", str(listen)], env)
        pid, identity = process.pid, None
    deadline = time.monotonic() + timeout
    while not (is_healthy(url) and _listens(pid, listen)):
        alive = process.poll() is None if process else identity.matches(pid)
        if not alive or time.monotonic() > deadline:
            stop_background("server")
            if _port_taken(listen):
                raise RuntimeError(foreign)
            raise RuntimeError(f"the Prefect server did not start; see {home() / 'server.log'}")
        time.sleep(0.5)
    return url


def _serves(identity: Identity, listen: int) -> bool:
    """Whether the server of that identity was started on port listen."""
    args = identity.cmdline
    return any(a == "--port" and b == str(listen) for a, b in zip(args, args[1:], strict=False))


def _listens(pid: int, listen: int) -> bool:
    """Whether the process at pid, or one of its descendants, listens on TCP port listen."""
    try:
        leader = psutil.Process(pid)
        family = [leader, *leader.children(recursive=True)]
    except psutil.Error:
        return False
    for process in family:
        with contextlib.suppress(psutil.Error):
            for c in process.net_connections(kind="tcp"):
                if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == listen:
                    return True
    return False


def _port_taken(listen: int) -> bool:
    """Whether anything accepts connections on 127.0.0.1:listen."""
    try:
        socket.create_connection(("127.0.0.1", listen), timeout=2).close()
    except OSError:
        return False
    return True


def run_env(api_url: str, local_ray: bool = True) -> dict[str, str]:
    """The environment of a flow run against the server at api_url, started here or by a worker: with the local
    server's auth string when api_url is the local server's, and the user's own settings otherwise."""
    env = os.environ | {"PREFECT_API_URL": api_url}
    if auth := api_auth(api_url):
        env["PREFECT_API_AUTH_STRING"] = auth
    env.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "manymodels")  # our log lines reach the console and UI
    if local_ray:  # Ray's switch, read on import, that keeps a local Ray on 127.0.0.1; a driver that joins a
        env.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # cluster as a node must not have it (ray:// may)
    return env


def deploy(root: Path, limit: int = 1, cluster: bool = False, timeout: float = 120) -> str:
    """The deployments of deployments/prefect.yaml on their process work pool, and a worker on the pool (reused if
    its pid is alive); returns the API URL. Locally: the local server (or PREFECT_API_URL's), adhoc and nightly.
    On a Ray cluster's head (cluster): PREFECT_API_URL's server, adhoc-cluster and nightly-cluster, whose flow runs
    join the head's Ray."""
    if cluster:
        env = cluster_env()
        pool, names = CLUSTER_POOL, CLUSTER_DEPLOYMENTS
    else:
        env, pool, names = run_env(ensure_server()), WORK_POOL, LOCAL_DEPLOYMENTS
    env |= {"PWD": str(root)}  # flow runs start in the worker's $PWD: the repository
    _prefect(["work-pool", "create", pool, "--type", "process", "--overwrite"], env, root)
    chosen = [arg for name in names for arg in ("--name", f"forecast/{name}")]
    _prefect(["--no-prompt", "deploy", *chosen, "--prefect-file", "deployments/prefect.yaml"], env, root)
    worker = "cluster-worker" if cluster else "worker"
    if not is_alive(worker):
        start_background(worker, ["worker", "start", "--pool", pool, "--limit", str(limit)], env, root)
    deadline = time.monotonic() + timeout
    while not _online_workers(env["PREFECT_API_URL"], pool):
        if not is_alive(worker) or time.monotonic() > deadline:
            stop_background(worker)
            raise RuntimeError(f"the worker did not come online; see {home() / f'{worker}.log'}")
        time.sleep(0.5)
    return env["PREFECT_API_URL"]


def cluster_env() -> dict[str, str]:
    """The environment of a cluster head's worker and its flow runs: the team's Prefect API and the run locations
    from the head's environment (never from a file of this repository), the head's own Ray and Dask by default."""
    missing = [
        name for name in ("PREFECT_API_URL", "MANYMODELS_DATA_URL", "MANYMODELS_RUNS_URL") if not os.environ.get(name)
    ]
    if missing:
        raise RuntimeError(f"a cluster's worker needs {', '.join(missing)} in its environment (infra/README.md)")
    if not is_healthy(os.environ["PREFECT_API_URL"]):
        raise RuntimeError(f"the Prefect server at PREFECT_API_URL={os.environ['PREFECT_API_URL']} does not answer")
    defaults = {"MANYMODELS_RAY_ADDRESS": "auto", "MANYMODELS_DASK_ADDRESS": "tls://127.0.0.1:8786"}
    env = defaults | dict(os.environ)
    env.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "manymodels")
    return env


def _prefect(args: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run([_prefect_bin(), *args], env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise RuntimeError(f"prefect {args[0] if args[0] != '--no-prompt' else args[1]} failed: {last}")


def post_json(url: str, body: dict, timeout: float = 30):
    """POST body as JSON to url (a Prefect API filter, say); the decoded answer."""
    return call_api(url, body, timeout)


_csrf_tokens: dict[str, dict[str, str]] = {}  # API base URL -> the CSRF headers this process was given


def call_api(url: str, body: dict | None = None, timeout: float = 30, auth: str | None = None):
    """GET url, or POST body to it as JSON, on a Prefect API; the decoded answer. The request carries the auth
    string (auth, else the one api_auth gives), and a CSRF token once the server asks for one."""
    headers = {"Content-Type": "application/json"}
    if auth := auth or api_auth(url):
        headers["Authorization"] = f"Basic {base64.b64encode(auth.encode()).decode()}"
    base = url.partition("/api/")[0] + "/api" if "/api/" in url else None
    try:
        return _send(url, body, headers | _csrf_tokens.get(base, {}), timeout)
    except urllib.error.HTTPError as e:
        if body is None or base is None or e.code != 403 or "csrf" not in e.read().decode(errors="replace").lower():
            raise
    client = str(uuid.uuid4())
    token = _send(f"{base}/csrf-token?client={client}", None, headers, timeout)["token"]
    _csrf_tokens[base] = {"Prefect-Csrf-Token": token, "Prefect-Csrf-Client": client}
    return _send(url, body, headers | _csrf_tokens[base], timeout)


def _send(url: str, body: dict | None, headers: dict[str, str], timeout: float):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method="GET" if body is None else "POST")
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
    """Start `prefect <args>` in its own session, logging to <home>/<name>.log, its pid in <name>.pid and its
    identity (start time, command line) in <name>.identity."""
    state = home()
    state.mkdir(parents=True, exist_ok=True)
    _forget(name)
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
    if identity := Identity.of(process.pid):  # else it has already ended: nothing to record
        _write(state / f"{name}.identity", json.dumps(identity.to_json()))
        _write(state / f"{name}.pid", str(process.pid))
    return process


def _write(path: Path, text: str) -> None:
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    draft.write_text(text)
    draft.replace(path)


def _started(name: str) -> tuple[int, Identity] | None:
    """The pid and identity of the process start_background started under name, if that process still runs. A
    record of a process that is gone, or whose pid now names another process, is removed; nothing is signalled."""
    pid_file, identity_file = home() / f"{name}.pid", home() / f"{name}.identity"
    if not pid_file.exists():
        return None
    try:
        pid = int(pid_file.read_text())
        identity = Identity.from_json(json.loads(identity_file.read_text()))
    except (OSError, ValueError, KeyError, TypeError):  # no identity recorded: nothing can be trusted
        _forget(name)
        return None
    if not identity.matches(pid):
        _forget(name)
        return None
    return pid, identity


def _forget(name: str) -> None:
    for suffix in ("pid", "identity"):
        (home() / f"{name}.{suffix}").unlink(missing_ok=True)


def is_alive(name: str) -> bool:
    """Whether the process this machine started under name (by start_background) still runs as that process."""
    return _started(name) is not None


def stop_background(name: str) -> bool:
    """Stop the session started under name, by its pid, if its leader is still the process started; True if it
    was running."""
    started = _started(name)
    _forget(name)
    return started is not None and terminate_session(started[0], identity=started[1])


def stop_server() -> bool:
    """Stop the workers and the server this machine started; True if the server was running."""
    stop_background("worker")
    stop_background("cluster-worker")
    return stop_background("server")


def ui_base(api_url: str) -> str:
    """The Prefect UI's address, from its API's."""
    return api_url.rstrip("/").removesuffix("/api")


def ui_url(api_url: str, flow_run_id: str) -> str:
    """The page of a flow run in the Prefect UI."""
    return f"{ui_base(api_url)}/runs/flow-run/{flow_run_id}"
