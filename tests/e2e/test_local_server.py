"""The local Prefect server that `manymodels start` leaves running: it answers only clients that carry its auth
string, allows cross-origin calls only from its own UI, wants a CSRF token on changes, and another manymodels home
does not adopt it."""

import base64
import json
import subprocess
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from tests.helpers import BIN, api, base_env

pytestmark = pytest.mark.e2e

EVIL = "http://evil.example"


def call(url: str, method: str = "GET", headers: dict | None = None, body: bytes | None = None):
    """(status, headers) of a plain HTTP request, whatever the status."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as e:
        return e.code, e.headers


def basic(auth: str) -> dict[str, str]:
    return {"Authorization": f"Basic {base64.b64encode(auth.encode()).decode()}"}


def test_the_api_answers_only_clients_with_the_auth_string(prefect_server):
    url = prefect_server.api_url
    assert call(f"{url}/health")[0] == 200  # probes need no credentials
    assert call(f"{url}/admin/version")[0] == 401
    auth = prefect_server.env["PREFECT_API_AUTH_STRING"]
    assert (prefect_server.home / "prefect-auth").read_text().strip() == auth
    assert (prefect_server.home / "prefect-auth").stat().st_mode & 0o777 == 0o600
    assert call(f"{url}/admin/version", headers=basic("manymodels:guess"))[0] == 401
    assert call(f"{url}/admin/version", headers=basic(auth))[0] == 200
    assert call(f"{url}/csrf-token?client=x")[0] == 401
    token = json.load(urllib.request.urlopen(urllib.request.Request(f"{url}/csrf-token?client=x", headers=basic(auth))))
    csrf = {"Prefect-Csrf-Token": token["token"], "Prefect-Csrf-Client": "x", "Content-Type": "application/json"}
    flows = f"{url}/flows/filter"
    assert call(flows, "POST", {"Content-Type": "application/json"}, b"{}")[0] in (401, 403)
    assert call(flows, "POST", csrf, b"{}")[0] == 401
    assert call(flows, "POST", {"Content-Type": "application/json"} | basic(auth), b"{}")[0] == 403  # no CSRF token
    assert call(flows, "POST", csrf | basic(auth), b"{}")[0] == 200
    assert isinstance(api(url, "/flows/filter", {}), list)  # the tests' client, as manymodels' own, has both


def test_cross_origin_calls_are_allowed_from_its_own_ui_only(prefect_server):
    url = prefect_server.api_url
    own = f"http://{urlsplit(url).netloc}"
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    status, headers = call(f"{url}/flows/filter", "OPTIONS", preflight | {"Origin": EVIL})
    assert status >= 400 and headers.get("access-control-allow-origin") not in ("*", EVIL)
    status, headers = call(f"{url}/flows/filter", "OPTIONS", preflight | {"Origin": own})
    assert status == 200 and headers.get("access-control-allow-origin") == own
    _, headers = call(f"{url}/health", headers={"Origin": EVIL})
    assert headers.get("access-control-allow-origin") is None


def test_another_home_does_not_adopt_the_server_on_its_port(prefect_server, tmp_path):
    port = prefect_server.env["MANYMODELS_PREFECT_PORT"]
    same = subprocess.run([BIN / "manymodels", "start"], env=prefect_server.env, capture_output=True, text=True)
    assert same.returncode == 0 and same.stdout.strip().splitlines()[-1] == prefect_server.api_url
    other = base_env(tmp_path) | {"MANYMODELS_HOME": str(tmp_path / "other"), "MANYMODELS_PREFECT_PORT": port}
    refused = subprocess.run([BIN / "manymodels", "start"], env=other, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    assert refused.stderr.strip() == f"error: port {port} is taken by a process manymodels did not start"
