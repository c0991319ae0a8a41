"""The failure alert: the webhook's URL, whose path and query hold its token, is kept in the block's secret values,
so reading the block through the Prefect API shows no token, and a failed run's notice still reaches the webhook
at its full URL."""

import json
import subprocess
import sys
import uuid

import pytest

from tests.helpers import api

pytestmark = pytest.mark.e2e

# Deploys a flow that runs nothing (no work pool needed), sets the failure alert on it, and fails a run of it as
# the server sees runs end; prints the block's id and the run's name.
ALERT_AND_FAIL = """
import json, sys
from prefect.client.orchestration import get_client
from prefect.states import Failed
from app.alerts import BLOCK, alert_on_failure

webhook, flow_name = sys.argv[1:3]
with get_client(sync_client=True) as client:
    flow_id = client.create_flow_from_name(flow_name)
    deployment_id = client.create_deployment(flow_id=flow_id, name="alerted")
    alert_on_failure(webhook, [f"{flow_name}/alerted"])
    block = client.read_block_document_by_name(BLOCK, "custom-webhook")
    run = client.create_flow_run_from_deployment(deployment_id)
    client.set_flow_run_state(run.id, Failed(message="boom"), force=True)
print(json.dumps({"block": str(block.id), "run": run.name}))
"""


def test_the_webhook_token_is_a_block_secret_and_the_failure_notice_still_reaches_it(
    prefect_server, webhook_server, tmp_path
):
    port, posts = webhook_server
    in_path, in_query = f"path-{uuid.uuid4().hex}", f"query-{uuid.uuid4().hex}"
    path = f"/hooks/{in_path}?token={in_query}"
    env = prefect_server.env | {"PREFECT_API_URL": prefect_server.api_url}
    done = subprocess.run(
        [sys.executable, "-c", ALERT_AND_FAIL, f"http://127.0.0.1:{port}{path}", f"alerted-{uuid.uuid4().hex[:8]}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    made = json.loads(done.stdout.strip().splitlines()[-1])

    # read back as the UI and any API client do: no token, in the URL or anywhere
    shown = api(prefect_server.api_url, f"/block_documents/{made['block']}")
    listed = api(prefect_server.api_url, "/block_documents/filter", {"limit": 200})
    automations = api(prefect_server.api_url, "/automations/filter", {})
    for read in (shown, listed, automations):
        assert in_path not in json.dumps(read) and in_query not in json.dumps(read)
    assert shown["data"]["url"].startswith(f"http://127.0.0.1:{port}")
    # kept as a secret: only a read that asks for secrets has it
    secret = api(prefect_server.api_url, f"/block_documents/{made['block']}?include_secrets=true")
    assert in_path not in json.dumps(secret["data"]["url"]) and path in json.dumps(secret["data"]["secrets"])

    # the server's automation posts the notice to the full URL, token included
    received, body = posts.get(timeout=120)
    assert received == path and made["run"] in body["subject"] and "boom" in body["text"], (received, body)
