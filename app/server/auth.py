"""Who may call the local Prefect server, and how: its address, its basic-auth string (generated once, kept in
<home>/prefect-auth, readable by its owner only), and the environment of a flow run against a server."""

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from manymodels.storage import local_home as home

DEFAULT_PORT = 4200
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
