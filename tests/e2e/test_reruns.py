"""Reruns and killed runs against real servers: only what changed or did not finish is tuned again."""

import json
import signal
import subprocess
import time

import pandas as pd
import pytest

from app.processes import terminate_session
from manymodels.prepare import series_key
from tests.helpers import (
    BIN,
    COLUMNS,
    GOOD_SERIES,
    HORIZON,
    fresh_database,
    is_loopback,
    listening_sockets,
    manymodels,
    messy_sales,
    studies,
    study_states,
)

pytestmark = [pytest.mark.e2e, pytest.mark.ray, pytest.mark.slow]

TRIALS = 3


def run_args(data, out, workers=2) -> list:
    return [
        "run",
        "--data",
        data,
        *COLUMNS,
        "--horizon",
        HORIZON,
        "--trials",
        TRIALS,
        "--workers",
        workers,
        "--output",
        out,
    ]


def summary(out) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def first_run(prefect_server, tmp_path_factory):
    work = tmp_path_factory.mktemp("reruns")
    messy_sales().to_parquet(work / "sales.parquet")
    env = prefect_server.env | {"PREFECT_API_URL": prefect_server.api_url}
    done = manymodels(*run_args(work / "sales.parquet", work / "out"), env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return work, env, pd.read_parquet(work / "out" / "forecasts.parquet")


def test_reruns_tune_only_what_changed(first_run):
    work, env, forecasts = first_run
    out = work / "out"
    assert summary(out)["tuning"] == {"tuned": GOOD_SERIES, "resumed": 0, "cached": 0}
    first_states = study_states(out)
    assert len(first_states) == GOOD_SERIES
    assert all(s == [["COMPLETE"] * TRIALS] for s in first_states.values())

    unchanged = manymodels(*run_args(work / "sales.parquet", out), env=env)
    assert unchanged.returncode == 0, unchanged.stderr[-3000:]
    assert summary(out)["tuning"] == {"tuned": 0, "resumed": 0, "cached": GOOD_SERIES}
    assert summary(out)["prophet_fits"] == 0
    assert study_states(out) == first_states  # no study gained a trial
    pd.testing.assert_frame_equal(pd.read_parquet(out / "forecasts.parquet"), forecasts)

    best_before = pd.read_parquet(out / "best_params.parquet").set_index("series_id").loc["1-2"]
    hashes_before = summary(out)["manifest"]["series_hashes"]
    changed = messy_sales()
    changed.loc[(changed["store"] == 1) & (changed["item"] == 2) & (changed["date"] == "2022-02-01"), "sales"] += 7
    changed.to_parquet(work / "changed.parquet")
    rerun = manymodels(*run_args(work / "changed.parquet", out), env=env)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert summary(out)["tuning"] == {"tuned": 1, "resumed": 0, "cached": GOOD_SERIES - 1}
    hashes_after = summary(out)["manifest"]["series_hashes"]
    assert [s for s in hashes_after if hashes_after[s] != hashes_before[s]] == ["1-2"]
    retuned = [study for study in studies(out).values() if len(study) == 2]
    assert len(retuned) == 1  # a new study beside the old one, for the changed series only
    old, new = retuned[0]
    assert [t.state.name for t in new] == ["COMPLETE"] * TRIALS
    assert new[0].params["changepoint_prior_scale"] == pytest.approx(best_before["changepoint_prior_scale"])


def test_a_killed_run_finishes_only_the_remaining_series(first_run, tmp_path, postgres):
    """With its studies in PostgreSQL (the journals, the default, have killed-run tests of their own on S3)."""
    work, env, forecasts = first_run
    out = tmp_path / "out"
    database = fresh_database(postgres)
    extra = ["--optuna-storage", database]
    command = [BIN / "manymodels", *map(str, run_args(work / "sales.parquet", out, workers=1)), *extra]
    listening_before = listening_sockets()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    results = out / "_work" / "results"
    try:
        deadline = time.monotonic() + 300
        while not (results.exists() and any(results.iterdir())):
            assert process.poll() is None and time.monotonic() < deadline, "no series finished before the kill"
            time.sleep(0.1)
        opened = listening_sockets() - listening_before  # the run's local Ray is up
        assert opened and all(is_loopback(address) for address, _ in opened), opened
        terminate_session(process.pid, sig=signal.SIGKILL)  # Ray's workers too: none may finish a series after
    finally:
        terminate_session(process.pid)
    finished_keys = {path.name.split("-")[1] for path in results.iterdir()}  # tune-<series key>-<digest>
    finished = len(finished_keys)
    assert 1 <= finished < GOOD_SERIES and not (out / "summary.json").exists()

    rerun = manymodels(*run_args(work / "sales.parquet", out), *extra, env=env)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    counts = summary(out)["tuning"]
    assert counts["cached"] == finished and counts["tuned"] + counts["resumed"] == GOOD_SERIES - finished
    states = study_states(out, database)
    assert len(states) == GOOD_SERIES
    for series_studies in states.values():
        assert [s.count("COMPLETE") for s in series_studies] == [TRIALS]
    after = pd.read_parquet(out / "forecasts.parquet")
    assert after[["series_id", "ds"]].equals(forecasts[["series_id", "ds"]]) and after["yhat"].notna().all()
    # what finished before the kill is what an uninterrupted run made; a study cut off mid-trial resumes with its
    # fits started afresh rather than from the lost process's last fit, so its scores may differ slightly
    before_kill = forecasts["series_id"].map(series_key).isin(finished_keys)
    pd.testing.assert_frame_equal(after[before_kill], forecasts[before_kill])
