"""A small client of a Prefect server's REST API: its health, calls that carry the auth string and a CSRF token,
and the addresses of the UI's pages."""

import base64
import json
import urllib.error
import urllib.request
import uuid

from app.server.auth import api_auth


def is_healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


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


def ui_base(api_url: str) -> str:
    """The Prefect UI's address, from its API's."""
    return api_url.rstrip("/").removesuffix("/api")


def ui_url(api_url: str, flow_run_id: str) -> str:
    """The page of a flow run in the Prefect UI."""
    return f"{ui_base(api_url)}/runs/flow-run/{flow_run_id}"
