"""Tuning survives a Ray worker dying mid-study: no series lost, every study ends with exactly its trials."""

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from manymodels.localserver import terminate_group
from manymodels.synthetic import make_retail_sales
from tests.conftest import BIN
from tests.e2e.test_reruns import study_states

pytestmark = pytest.mark.e2e

SERIES, TRIALS = 6, 4


def processes() -> dict[int, tuple[int, int, bytes]]:
    """pid -> (parent pid, process group, command line) of every process."""
    found = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                found[int(proc.name)] = (int(stat[1]), int(stat[2]), (proc / "cmdline").read_bytes())
            except OSError:
                continue
    return found


def tune_workers(group: int) -> list[int]:
    """Pids of the Ray workers running a tune task under this run's raylet (workers have their own groups)."""
    table = processes()
    raylets = {pid for pid, (_, pgid, cmd) in table.items() if pgid == group and b"raylet" in cmd.split(b"\0")[0]}
    return [pid for pid, (ppid, _, cmd) in table.items() if ppid in raylets and cmd.startswith(b"ray::tune")]


@pytest.mark.parametrize("seed", [0, 1])
def test_a_worker_killed_mid_tuning_loses_no_series(prefect_server, tmp_path, seed):
    make_retail_sales(SERIES, days=150, seed=seed).to_parquet(tmp_path / "sales.parquet")
    out = tmp_path / "out"
    env = prefect_server.env | {"PREFECT_API_URL": prefect_server.api_url}
    command = [
        BIN / "manymodels",
        "run",
        "--data",
        tmp_path / "sales.parquet",
        "--id-cols",
        "store,item",
        "--time-col",
        "date",
        "--target-col",
        "sales",
        "--horizon",
        "7",
        "--trials",
        str(TRIALS),
        "--workers",
        "2",
        "--output",
        out,
    ]
    log = open(tmp_path / "run.log", "w")  # noqa: SIM115  (a pipe nobody reads while polling would block the run)
    run = subprocess.Popen(
        list(map(str, command)), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    rng = random.Random(seed)
    kill_after = rng.randint(0, 2)  # series finished before the kill: the moment varies with the seed
    results = out / "_work" / "results"
    killed = None
    try:
        deadline = time.monotonic() + 300
        while killed is None:
            assert run.poll() is None and time.monotonic() < deadline, "tuning ended before the kill"
            done = len(list(results.iterdir())) if results.exists() else 0
            busy = tune_workers(run.pid)
            if done >= kill_after and busy:
                time.sleep(rng.uniform(0.2, 1.0))  # somewhere inside a study
                killed = rng.choice(busy)
                os.kill(killed, signal.SIGKILL)
            time.sleep(0.05)
        run.wait(timeout=600)
    finally:
        terminate_group(run.pid)
        log.close()
    text = (tmp_path / "run.log").read_text()
    assert run.returncode == 0, text[-3000:]
    assert "so the task will be retried" in text  # Ray saw the worker die mid-task and ran the task again
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["series_forecast"] == SERIES and summary["counts"]["series_rejected"] == 0
    for studies in study_states(out).values():
        assert [s.count("COMPLETE") for s in studies] == [TRIALS]
