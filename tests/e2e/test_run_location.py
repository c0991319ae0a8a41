"""What the CLI does with a run location it must not trust or cannot use: a run that forecasts nothing fails and
leaves the published forecasts as they were, a folder that is not a run location and one another live run holds are
refused."""

import os
import socket
import time

import pandas as pd
import pyarrow.parquet as pq
import pytest

from manymodels import location, storage
from manymodels.layout import TABLES, RunLayout
from manymodels.synthetic import make_retail_sales
from tests.helpers import COLUMNS, TUNING, api, manymodels

pytestmark = [pytest.mark.e2e, pytest.mark.ray]


def nightly_inputs(folder) -> tuple:
    """A good input of two series, and the same file broken upstream: every target `n/a`."""
    good = make_retail_sales(2, days=60, seed=3)
    good.to_csv(ok := folder / "good.csv", index=False)
    good.assign(sales="n/a").to_csv(broken := folder / "broken.csv", index=False)
    return ok, broken


@pytest.mark.slow
@pytest.mark.parametrize("store", ["local", "s3"])
def test_a_nightly_sequence_never_empties_the_published_forecasts(prefect_server, s3_env, tmp_path, store):
    """Good run, failing run, good run on one location: the failing run publishes nothing and says so, every
    published set is one run's, and the kept versions are listed and restorable."""
    ok, broken = nightly_inputs(tmp_path)
    out = str(tmp_path / "out") if store == "local" else f"s3://{s3_env.bucket}/nightly/{tmp_path.name}"
    layout = RunLayout(out)
    env = prefect_server.env | {"PREFECT_API_URL": prefect_server.api_url} | s3_env.env
    nightly = [*COLUMNS, "--horizon", "7", "--trials", "1", "--workers", "2", "--no-global-model", "--output", out]

    first = manymodels("run", "--data", ok, *nightly, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    good = storage.read_parquet(layout.table("forecasts"))
    first_run = storage.read_json(layout.summary)["flow_run_id"]
    assert len(good) == 14

    failing = manymodels("run", "--data", broken, *nightly, env=env)
    assert failing.returncode == 1
    assert failing.stderr.strip().splitlines()[-1] == (
        "error: no series was forecast: 2 of 2 rejected; most common reason: all targets missing (2 series). "
        f"Nothing published: the outputs of run {first_run} were left as they were."
    )
    pd.testing.assert_frame_equal(storage.read_parquet(layout.table("forecasts")), good)
    assert storage.read_json(layout.summary)["flow_run_id"] == first_run
    failed = storage.read_json(layout.failed_summary)  # its rejections are on record beside the published set
    assert failed["counts"]["series_forecast"] == 0 and len(failed["rejected"]) == 2 and not failed["published"]
    assert api(prefect_server.api_url, f"/flow_runs/{failed['flow_run_id']}")["state_type"] == "FAILED"

    second = manymodels("run", "--data", ok, *nightly, "--seed", "7", env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    second_run = storage.read_json(layout.summary)["flow_run_id"]
    for table in TABLES:  # one consistent set, each table naming the run that made it
        fs, path = storage.url_to_fs(layout.table(table))
        with fs.open(path, "rb") as f:
            assert pq.read_schema(f).metadata[b"manymodels.run_id"] == second_run.encode()

    listed = manymodels("versions", out, env=env)
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[:2] for line in listed.stdout.splitlines()] == [["*", second_run], [first_run, "published"]]
    restored = manymodels("restore", out, first_run, env=env)
    assert restored.returncode == 0, restored.stderr
    pd.testing.assert_frame_equal(storage.read_parquet(layout.table("forecasts")), good)
    assert storage.read_json(layout.summary)["flow_run_id"] == first_run
    unknown = manymodels("restore", out, "no-such-run", env=env)
    assert unknown.returncode == 1
    kept = f"kept: {second_run}, {first_run}"
    assert unknown.stderr.strip() == f"error: {out} keeps no version of run no-such-run; {kept}"


def test_a_folder_that_is_not_a_run_location_is_refused_and_left_as_it_was(prefect_server, tmp_path):
    reports = tmp_path / "reports"
    (reports / "plots").mkdir(parents=True)
    (reports / "plots" / "chart.png").write_bytes(b"the user's own chart")
    ok, _ = nightly_inputs(tmp_path)
    env = prefect_server.env | {"PREFECT_API_URL": prefect_server.api_url}
    done = manymodels("run", "--data", ok, *COLUMNS, *TUNING, "--output", reports, env=env)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: {reports} already holds files and is not a manymodels run location (no manymodels-location.json); "
        "choose a new or empty folder"
    )
    assert [str(p.relative_to(reports)) for p in reports.rglob("*")] == ["plots", "plots/chart.png"]


def test_a_location_held_by_a_live_run_is_refused_with_one_line(prefect_server, tmp_path):
    out = tmp_path / "out"
    holder = {"run": "other-run", "host": socket.gethostname(), "pid": os.getpid(), "process_start": None}
    location.claim(RunLayout(str(out)))  # the other run made it a run location
    lease = storage.join(RunLayout(str(out)).work, "lease.json")
    storage.write_json(lease, holder | {"renewed": time.time()})
    env = prefect_server.env | {"PREFECT_API_URL": prefect_server.api_url}
    done = manymodels("run", "--data", tmp_path / "none.csv", *COLUMNS, *TUNING, "--output", out, env=env)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {out} is in use by run other-run (process {os.getpid()} on ")
    assert storage.read_json(lease)["run"] == "other-run"  # left to its holder
