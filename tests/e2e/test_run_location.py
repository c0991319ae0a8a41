"""What the CLI does with a run location it must not trust or cannot use: a run that forecasts nothing fails, and a
location another live run holds is refused."""

import os
import socket
import time

import pandas as pd
import pytest

from manymodels import storage
from manymodels.layout import RunLayout
from tests.helpers import COLUMNS, TUNING, api, manymodels

pytestmark = pytest.mark.e2e


def test_a_run_that_forecasts_nothing_exits_1_with_the_counts_and_ends_failed(prefect_server, tmp_path):
    dates = pd.date_range("2024-01-01", periods=60).strftime("%Y-%m-%d")
    rows = [{"store": s, "item": 1, "date": d, "sales": "n/a"} for s in (1, 2) for d in dates]
    pd.DataFrame(rows).to_csv(data := tmp_path / "in.csv", index=False)
    env = prefect_server.env | {"PREFECT_API_URL": prefect_server.api_url}
    done = manymodels("run", "--data", data, *COLUMNS, *TUNING, "--output", tmp_path / "out", env=env)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "error: no series was forecast: 2 of 2 rejected; most common reason: all targets missing (2 series)"
    )
    summary = storage.read_json(str(tmp_path / "out" / "summary.json"))  # the rejections are on record
    assert summary["counts"]["series_forecast"] == 0 and len(summary["rejected"]) == 2
    assert api(prefect_server.api_url, f"/flow_runs/{summary['flow_run_id']}")["state_type"] == "FAILED"


def test_a_location_held_by_a_live_run_is_refused_with_one_line(prefect_server, tmp_path):
    out = tmp_path / "out"
    holder = {"run": "other-run", "host": socket.gethostname(), "pid": os.getpid(), "process_start": None}
    lease = storage.join(RunLayout(str(out)).work, "lease.json")
    storage.write_json(lease, holder | {"renewed": time.time()})
    env = prefect_server.env | {"PREFECT_API_URL": prefect_server.api_url}
    done = manymodels("run", "--data", tmp_path / "none.csv", *COLUMNS, *TUNING, "--output", out, env=env)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {out} is in use by run other-run (process {os.getpid()} on ")
    assert storage.read_json(lease)["run"] == "other-run"  # left to its holder
