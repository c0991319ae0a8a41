"""Start, reuse and stop the local Prefect server.

The local server asks every client for its basic-auth string (app.server.auth), allows cross-origin calls from its
own UI only and wants a CSRF token on changes (Prefect's client and UI fetch one). It runs as a background process
(app.server.background) whose record names the process started, so that nothing else is adopted in its place."""

import contextlib
import os
import socket
import time

import psutil

from app.processes import Identity
from app.server.api import is_healthy
from app.server.auth import auth_string, local_url, port
from app.server.background import start_background, started, stop_background
from manymodels.storage import local_home as home


def ensure_server(timeout: float = 120) -> str:
    """PREFECT_API_URL if set, else the local server: the one manymodels started, if it is alive and listens on the
    port, else a new one; a port taken by any other process is refused."""
    if url := os.environ.get("PREFECT_API_URL"):
        if not is_healthy(url):
            raise RuntimeError(f"the Prefect server at PREFECT_API_URL={url} does not answer")
        return url
    url, listen = local_url(), port()
    foreign = f"port {listen} is taken by a process manymodels did not start"
    ours = started("server")
    if ours and not _serves(ours[1], listen):
        raise RuntimeError(f"the Prefect server manymodels started is not on port {listen}: `manymodels stop` it first")
    if not (ours and _listens(ours[0], listen)) and _port_taken(listen):
        raise RuntimeError(foreign)
    process = None
    if ours:  # up, or still starting
        pid, identity = ours
    else:
        process = start_background("server", ["server", "start", "--host", "127.0.0.1", "--port", str(listen)], _env())
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


def _env() -> dict[str, str]:
    """The local server's environment: its database under the home, its auth string, its UI's origin."""
    auth = auth_string()
    return os.environ | {
        "PREFECT_HOME": str(home() / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_API_URL": local_url(),  # else the UI's pages call port 4200, whatever port the server is on
        "PREFECT_SERVER_API_AUTH_STRING": auth,
        "PREFECT_API_AUTH_STRING": auth,  # the server's own clients
        "PREFECT_SERVER_CORS_ALLOWED_ORIGINS": f"http://127.0.0.1:{port()}",  # its UI's origin only
        "PREFECT_SERVER_CSRF_PROTECTION_ENABLED": "true",
    }


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


def stop_server() -> bool:
    """Stop the workers and the server this machine started; True if the server was running."""
    stop_background("worker")
    stop_background("cluster-worker")
    return stop_background("server")
