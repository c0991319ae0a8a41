"""Tuning survives a whole Ray node dying mid-study (its workers die with it): no series lost, every study ends
with exactly its trials."""

import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from app.processes import terminate_session
from manymodels.synthetic import make_retail_sales
from tests.helpers import BIN, LOCAL_RAY_CLUSTER, base_env, study_states

pytestmark = pytest.mark.e2e

SERIES, TRIALS, NODES = 6, 8, 3  # studies of a few seconds, so a kill lands inside one


def start_run(tmp_path: Path, env: dict[str, str], seed: int, *extra: str) -> subprocess.Popen:
    make_retail_sales(SERIES, days=365, seed=seed).to_parquet(tmp_path / "sales.parquet")
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
        "--output",
        tmp_path / "out",
        *extra,
    ]
    log = open(tmp_path / "run.log", "w")  # noqa: SIM115  (a pipe nobody reads while polling would block the run)
    with log:
        return subprocess.Popen(
            list(map(str, command)), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def studies_in_progress(out: Path) -> tuple[int, int]:
    """(series whose result is persisted, studies opened but not finished)."""
    work = out / "_work"
    done = len(list((work / "results").iterdir())) if (work / "results").exists() else 0
    opened = len(list((work / "optuna").glob("*.journal"))) if (work / "optuna").exists() else 0
    return done, opened - done


def finish(run: subprocess.Popen, tmp_path: Path) -> None:
    """Wait for the run; check that no series was lost and every study has exactly TRIALS finished trials."""
    try:
        run.wait(timeout=600)
    finally:
        terminate_session(run.pid)
    text = (tmp_path / "run.log").read_text()
    assert run.returncode == 0, text[-3000:]
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["series_forecast"] == SERIES and summary["counts"]["series_rejected"] == 0
    # nothing was cached before this run: what a killed batch finished before its retry counts as tuned here
    assert summary["tuning"]["cached"] == 0 and sum(summary["tuning"].values()) == SERIES
    for studies in study_states(out).values():  # finished: complete, or pruned after the first fold
        assert [s.count("COMPLETE") + s.count("PRUNED") for s in studies] == [TRIALS]


@pytest.fixture
def ray_nodes(tmp_path):
    """A Ray head with no CPUs and NODES one-CPU worker nodes, all on loopback; yields (address, control pipe)."""
    temp_dir = tempfile.mkdtemp(prefix="ray-")  # short: Ray's socket paths live under it
    with open(tmp_path / "cluster.log", "w") as log:
        cluster = subprocess.Popen(
            [sys.executable, "-m", "tests.ray_nodes", str(NODES), temp_dir],
            env=base_env(tmp_path) | LOCAL_RAY_CLUSTER,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
    try:
        address = cluster.stdout.readline().strip()
        assert address, (tmp_path / "cluster.log").read_text()[-3000:]
        yield address, cluster
    finally:
        cluster.stdin.close()  # the helper shuts its cluster down at end of input
        try:
            cluster.wait(timeout=60)
        finally:
            terminate_session(cluster.pid)
            shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_node_killed_mid_tuning_loses_no_series(prefect_server, ray_nodes, tmp_path, seed):
    address, cluster = ray_nodes
    env = prefect_server.env | LOCAL_RAY_CLUSTER | {"PREFECT_API_URL": prefect_server.api_url}
    run = start_run(tmp_path, env, seed, "--ray-address", address)
    rng = random.Random(seed)
    kill_after = rng.randint(0, 2)  # series finished before the kill: the moment varies with the seed
    try:
        deadline = time.monotonic() + 300
        choice, answer = rng.randrange(NODES), "none busy"
        while answer == "none busy":
            assert run.poll() is None and time.monotonic() < deadline, "tuning ended before the kill"
            time.sleep(0.05)
            if (progress := studies_in_progress(tmp_path / "out"))[0] >= kill_after and progress[1] >= NODES:
                cluster.stdin.write(f"kill-busy {choice}\n")  # a node inside a study, running its task
                cluster.stdin.flush()
                answer = cluster.stdout.readline().strip()
        assert answer.startswith("killed"), answer
    except BaseException:
        terminate_session(run.pid)
        raise
    finish(run, tmp_path)
