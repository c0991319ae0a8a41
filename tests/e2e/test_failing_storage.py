"""Input and output on S3. An endpoint that throttles and drops connections changes nothing in the outputs, and
the credential the runs were given appears in no output, log, artifact or run parameter."""

import json
import re
import time
import urllib.request
import uuid
from pathlib import Path

import pandas as pd
import pytest

from manymodels import storage
from manymodels.layout import OUTPUT_FILES
from tests.faulty_s3 import FaultyProxy
from tests.helpers import COLUMNS, EXPECTED_REJECTIONS, GOOD_SERIES, HORIZON, TUNING, api, manymodels, messy_sales

pytestmark = [pytest.mark.e2e, pytest.mark.ray, pytest.mark.slow]


def everything_on_the_server(api_url: str) -> str:
    """Logs, artifacts, flow and task runs (with parameters) and block documents (secrets included), as JSON."""
    found = []
    for kind, extra in [
        ("logs", {}),
        ("artifacts", {}),
        ("flow_runs", {}),
        ("task_runs", {}),
        ("block_documents", {"include_secrets": True}),
    ]:
        offset = 0
        while page := api(api_url, f"/{kind}/filter", {"limit": 200, "offset": offset, **extra}):
            assert isinstance(page, list), page
            found += page
            offset += len(page)
    return json.dumps(found)


def ray_logs_since(started: float) -> list[Path]:
    sessions = [s for s in Path("/tmp/ray").glob("session_2*") if s.stat().st_mtime >= started]
    return [p for s in sessions for p in (s / "logs").rglob("*") if p.is_file()]


def objects_under(url: str) -> dict[str, bytes]:
    fs = storage.filesystem(url)
    fs.invalidate_cache()
    return {path: fs.cat_file(path) for path in fs.find(url)}


def planted_secrets() -> dict[str, str]:
    """Credentials for the runs' environment, each unique: the AWS ones they use (moto takes any), the others there
    only to be found (the auth string wins over an API key; nothing of a run reads the webhook or PGPASSWORD)."""
    return {
        "AWS_SECRET_ACCESS_KEY": f"mm-secret-{uuid.uuid4().hex}",
        "AWS_SESSION_TOKEN": f"mm-session-{uuid.uuid4().hex}",
        "PREFECT_API_KEY": f"mm-api-key-{uuid.uuid4().hex}",
        "PGPASSWORD": f"mm-pgpassword-{uuid.uuid4().hex}",
        "MANYMODELS_ALERT_WEBHOOK": f"https://hooks.example.invalid/services/mm-webhook-{uuid.uuid4().hex}",
    }


def without_presigned_tokens(text: str) -> str:
    """text without the session token a presigned URL carries (X-Amz-Security-Token, in any case): one signed with
    temporary credentials must, and the token signs nothing without the secret key."""
    return re.sub(r"X-Amz-Security-Token=[^&\"\s]+", "X-Amz-Security-Token=", text, flags=re.IGNORECASE)


def test_throttling_and_dropped_connections_change_nothing_and_no_secret_leaks(prefect_server, s3_env, monkeypatch):
    started = time.time()
    planted = planted_secrets()
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):  # this process reads and writes with the same
        monkeypatch.setenv(name, planted[name])
    base = f"s3://{s3_env.bucket}/faults"
    storage.write_bytes(f"{base}/sales.csv", messy_sales().to_csv(index=False).encode())
    env = prefect_server.env | {"PREFECT_API_URL": prefect_server.api_url} | s3_env.env | planted
    args = ["run", "--data", f"{base}/sales.csv", *COLUMNS, *TUNING, "--output"]

    healthy = manymodels(*args, f"{base}/healthy", env=env)
    assert healthy.returncode == 0, healthy.stderr[-3000:]
    assert {f"{base}/healthy/{name}".removeprefix("s3://") for name in OUTPUT_FILES} <= set(objects_under(base))
    counts = storage.read_json(f"{base}/healthy/summary.json")["counts"]
    assert counts["series_forecast"] == GOOD_SERIES and counts["series_rejected"] == len(EXPECTED_REJECTIONS)
    assert len(storage.read_parquet(f"{base}/healthy/forecasts.parquet")) == GOOD_SERIES * HORIZON
    run_id = storage.read_json(f"{base}/healthy/summary.json")["flow_run_id"]
    artifacts = api(prefect_server.api_url, "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}}})
    images = [a["data"] for a in artifacts if a["type"] == "image"]
    assert len(images) == 2 and all(url.startswith(s3_env.endpoint) for url in images)
    for url in images:  # presigned: a browser in the UI loads them with no credentials of its own
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.read().startswith(b"\x89PNG\r\n\x1a\n")
    with FaultyProxy(int(s3_env.endpoint.rsplit(":", 1)[1])) as proxy:
        faulty = manymodels(*args, f"{base}/faulty", env=env | {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}"})
    assert faulty.returncode == 0, faulty.stderr[-3000:]
    assert proxy.counts["throttled"] > 0 and proxy.counts["dropped"] > 0, proxy.counts

    for name in OUTPUT_FILES[:-1]:
        pd.testing.assert_frame_equal(
            storage.read_parquet(f"{base}/faulty/{name}"), storage.read_parquet(f"{base}/healthy/{name}")
        )
    summaries = [storage.read_json(f"{base}/{run}/summary.json") for run in ("healthy", "faulty")]
    for run, summary in zip(("healthy", "faulty"), summaries, strict=True):
        version = f"{base}/{run}/versions/{summary['flow_run_id']}/"
        assert all(url.startswith(version) for url in summary.pop("plots").values())
        measured = ("flow_run_id", "versions", "step_seconds", "step_started_at", "cost", "cpu_per_series")
        for timing in measured:  # differ between runs
            summary.pop(timing)
    assert summaries[0] == summaries[1]

    places = {
        "command output": healthy.stdout + healthy.stderr + faulty.stdout + faulty.stderr,
        "Prefect server": everything_on_the_server(prefect_server.api_url),
        "run files": json.dumps({k: v.decode("latin-1") for k, v in objects_under(base).items()}),
        "Ray session logs": "\n".join(p.read_text("latin-1") for p in ray_logs_since(started)),
        "local logs": "\n".join(p.read_text("latin-1") for p in prefect_server.home.rglob("*.log")),
    }
    secrets = {**planted, "PREFECT_API_AUTH_STRING": prefect_server.env["PREFECT_API_AUTH_STRING"]}
    found = {(name, where) for name, value in secrets.items() for where, text in places.items() if value in text}
    assert found <= {("AWS_SESSION_TOKEN", "Prefect server")}, found  # the presigned image URLs: checked below
    rest = without_presigned_tokens(places["Prefect server"])
    token = planted["AWS_SESSION_TOKEN"]
    assert token not in rest, [rest[max(0, i - 300) : i + 100] for i in range(len(rest)) if rest.startswith(token, i)]
