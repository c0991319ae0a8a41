"""`manymodels deploy` (server, work pool, deployments, worker) and a deployment run triggered from Prefect's CLI,
as a user does it; then what the UI shows of that run, pictured with headless Chromium."""

import json
import subprocess
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from app.processes import terminate_session
from app.screenshot import flow_run_pictures
from manymodels.synthetic import make_retail_sales
from tests.helpers import BIN, api

pytestmark = [pytest.mark.e2e, pytest.mark.ray]

SERIES, TRIALS = 3, 2
NEW_YORK = ZoneInfo("America/New_York")


# The worker asks the server for runs every second rather than Prefect's 10: the deployment run waits on it.
WORKER_POLL = {"PREFECT_WORKER_QUERY_SECONDS": "1"}


@pytest.fixture(scope="module")
def served(prefect_server):
    env = prefect_server.env | WORKER_POLL
    done = subprocess.run([BIN / "manymodels", "deploy"], env=env, capture_output=True, text=True)
    worker_pid = prefect_server.home / "worker.pid"
    try:
        assert done.returncode == 0, done.stderr[-2000:]
        assert "prefect deployment run forecast/adhoc" in done.stdout
        yield prefect_server
    finally:
        if worker_pid.exists():
            terminate_session(int(worker_pid.read_text()), grace=2)  # it lets 10 s pass on SIGTERM
            worker_pid.unlink()


@pytest.fixture(scope="module")
def deployment_run(served, tmp_path_factory):
    work = tmp_path_factory.mktemp("deployment-run")
    make_retail_sales(SERIES, days=200, seed=5).to_parquet(work / "sales.parquet")
    data = {"url": str(work / "sales.parquet"), "id_cols": ["store", "item"], "time_col": "date",
            "target_col": "sales", "horizon": 14}  # fmt: skip
    command = [BIN / "prefect", "deployment", "run", "forecast/adhoc", "--watch", "--watch-timeout", "600"]
    command += ["--watch-interval", "1"]
    command += ["--params", json.dumps({"data": data, "tuning": {"trials": TRIALS}, "output": str(work / "out")})]
    env = served.env | {"PREFECT_API_URL": served.api_url}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=700)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    (deployment,) = api(served.api_url, "/deployments/filter", {"deployments": {"name": {"any_": ["adhoc"]}}})
    (run,) = api(served.api_url, "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [deployment["id"]]}}})
    return run, work / "out"


@pytest.mark.slow
def test_a_deployment_run_triggered_from_the_cli_completes_on_the_worker(served, deployment_run):
    run, out = deployment_run
    assert run["state_type"] == "COMPLETED" and run["parameters"]["tuning"]["trials"] == TRIALS
    summary = json.loads((out / "summary.json").read_text())
    assert summary["flow_run_id"] == run["id"] and summary["counts"]["series_forecast"] == SERIES
    assert summary["trials"] == SERIES * TRIALS and summary["cost"]["on_demand_usd"] > 0


def test_the_nightly_deployment_is_scheduled_with_its_own_parameters_and_the_ui_form_describes_each_field(served):
    (nightly,) = api(served.api_url, "/deployments/filter", {"deployments": {"name": {"any_": ["nightly"]}}})
    (schedule,) = nightly["schedules"]
    assert schedule["schedule"]["cron"] == "0 2 * * *" and schedule["schedule"]["timezone"] == "America/New_York"
    assert schedule["active"] and schedule["parameters"]["tuning"]["trials"] == 20
    form = nightly["parameter_openapi_schema"]
    assert form["required"] == ["data", "output"]
    data_fields = form["definitions"]["DataSpec"]["properties"]
    assert all(field.get("description") for field in data_fields.values())
    assert data_fields["horizon"]["minimum"] == 1


def test_the_local_deployments_default_to_the_demo_data_and_outputs_in_the_home(served):
    home = served.home  # the server's: what `manymodels deploy` wrote the demo data to and deployed with
    for name in ("adhoc", "nightly"):
        (deployment,) = api(served.api_url, "/deployments/filter", {"deployments": {"name": {"any_": [name]}}})
        assert deployment["parameters"]["data"]["url"] == f"{home}/demo/sales-40-0.parquet"
        assert deployment["parameters"]["output"] == f"{home}/{name}/run"
    assert (home / "demo" / "sales-40-0.parquet").is_file()


def test_the_servers_scheduler_puts_the_nightly_runs_on_the_calendar(served):
    (nightly,) = api(served.api_url, "/deployments/filter", {"deployments": {"name": {"any_": ["nightly"]}}})
    deadline, scheduled = time.monotonic() + 120, []
    while not scheduled and time.monotonic() < deadline:  # the scheduler looks at new deployments every few seconds
        time.sleep(2)
        query = {"flow_runs": {"deployment_id": {"any_": [nightly["id"]]}, "state": {"type": {"any_": ["SCHEDULED"]}}}}
        scheduled = api(served.api_url, "/flow_runs/filter", query)
    assert scheduled, "the server's scheduler created no runs of the nightly deployment (see its server.log)"
    assert all(run["parameters"]["tuning"]["trials"] == 20 for run in scheduled)
    starts = [datetime.fromisoformat(run["expected_start_time"]).astimezone(NEW_YORK) for run in scheduled]
    assert all((start.hour, start.minute) == (2, 0) for start in starts), starts


@pytest.mark.slow
def test_the_ui_shows_the_run_and_its_summary(deployment_run, served, tmp_path):
    run, _ = deployment_run
    pages = flow_run_pictures(served.api_url, run["id"], tmp_path)
    assert set(pages) == {"flow-run.png", "summary.png"}
    for name in pages:
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG") and (tmp_path / name).stat().st_size > 50_000
    assert run["name"] in pages["flow-run.png"] and "Completed" in pages["flow-run.png"]
    assert f"{SERIES} series forecast of {SERIES} (0 rejected)" in pages["summary.png"]
    assert (
        "Cost on EC2 (estimate)" in pages["summary.png"] and "Can't connect to Server API" not in pages["summary.png"]
    )
