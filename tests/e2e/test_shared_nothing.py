"""Runs on a cluster whose machines share nothing but S3 (tests/shared_nothing.py): a Ray head with no CPUs and three
one-CPU worker nodes, a Dask scheduler with a worker, every node in a mount namespace of its own and without
credentials. A node lost mid-tuning and a killed run cost no series, and every study ends with exactly its trials,
resumed from the trials it had finished."""

import io
import json
import random
import re
import signal
import subprocess
import time
import uuid

import pytest

from app.processes import terminate_session
from manymodels import storage
from manymodels.layout import RunLayout
from manymodels.synthetic import make_retail_sales
from tests.helpers import BIN, GOOD_SERIES, HORIZON, LOCAL_RAY_CLUSTER, api, manymodels, messy_sales, study_states
from tests.shared_nothing import SharedNothing

pytestmark = [pytest.mark.e2e, pytest.mark.ray, pytest.mark.root, pytest.mark.stan, pytest.mark.slow]

# Studies of a few seconds each, so that a kill lands inside some: Stan's trials (about 0.1 s each); the exact
# solver's few milliseconds ended the studies between the journal's once-a-second saves.
SERIES, TRIALS = 6, 30
FINISHED = {1, 2, 3}  # Optuna's TrialState values of a finished trial: complete, pruned, failed


@pytest.fixture(scope="module")
def cluster(s3, tmp_path_factory):
    config = {name: s3.env[name] for name in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION")}  # no keys
    started = SharedNothing(tmp_path_factory.mktemp("shared-nothing"), config)
    try:
        yield started.start()
    finally:
        started.stop()


@pytest.fixture
def full_cluster(cluster):
    """The cluster with all its Ray nodes: those an earlier test killed are replaced."""
    if missing := cluster.ray_nodes - len(cluster.live_nodes()):
        cluster.add_ray_nodes(missing)
    return cluster


def sales_on_s3(s3, seed: int) -> str:
    url = f"s3://{s3.bucket}/shared-nothing-{uuid.uuid4().hex}/sales.parquet"
    buffer = io.BytesIO()
    make_retail_sales(SERIES, days=365, seed=seed).to_parquet(buffer)
    storage.write_bytes(url, buffer.getvalue())
    return url


def new_location(s3) -> str:
    return f"s3://{s3.bucket}/run-{uuid.uuid4().hex}"


def start_run(data: str, output: str, env: dict[str, str], log, *addresses: str) -> subprocess.Popen:
    command = [BIN / "manymodels", "run", "--data", data, "--id-cols", "store,item", "--time-col", "date"]
    command += ["--target-col", "sales", "--horizon", "7", "--trials", str(TRIALS), "--solver", "stan"]
    command += ["--early-stopping-rounds", str(TRIALS)]  # every trial: a study's count is what the tests check
    command += ["--output", output]
    command += [*addresses, "--forward-credentials"]
    return subprocess.Popen(
        list(map(str, command)), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def run_env(prefect_server, s3) -> dict[str, str]:
    return prefect_server.env | LOCAL_RAY_CLUSTER | s3.env | {"PREFECT_API_URL": prefect_server.api_url}


def studies_under_way(output: str) -> tuple[int, list[int]]:
    """(series with a result, and for each study opened on S3 without a result yet, its finished trials)."""
    fs = storage.filesystem(output)
    fs.invalidate_cache()
    work = output.removeprefix("s3://") + "/_work"
    done = {path.rsplit("/", 1)[1].split("-")[1] for path in fs.glob(f"{work}/results/*.parquet")}
    finished = []
    for path in fs.glob(f"{work}/optuna/*.journal"):
        if path.rsplit("/", 1)[1].removesuffix(".journal") not in done:
            lines = [json.loads(line) for line in fs.cat_file(path).splitlines()]
            finished.append(sum(e.get("op_code") == 6 and e.get("state") in FINISHED for e in lines))
    return len(done), finished


def wait_for(run: subprocess.Popen, log_path, ready, timeout: float = 300) -> None:
    """Poll until ready() holds; the run must still be going."""
    deadline = time.monotonic() + timeout
    while not ready():
        text = log_path.read_text()[-3000:]
        assert run.poll() is None and time.monotonic() < deadline, f"the run ended before the kill: {text}"
        time.sleep(0.2)


def finish(run: subprocess.Popen, log_path) -> None:
    try:
        run.wait(timeout=600)
    finally:
        terminate_session(run.pid)
    assert run.returncode == 0, log_path.read_text()[-3000:]


def assert_every_study_has_exactly_its_trials(output: str) -> None:
    states = study_states(output)
    assert len(states) == SERIES
    for studies in states.values():  # finished: complete, or pruned after the first fold
        assert [s.count("COMPLETE") + s.count("PRUNED") for s in studies] == [TRIALS]


# Ray Client with the cluster's Dask here; the killed-run test below joins Ray by its GCS address with a local Dask.
@pytest.mark.parametrize("via", ["ray-client, remote dask"])
def test_a_node_lost_mid_tuning_costs_no_series_and_its_study_resumes(
    prefect_server, s3_env, full_cluster, tmp_path, via
):
    cluster, rng, s3 = full_cluster, random.Random(via), s3_env
    addresses = ["--ray-address", cluster.gcs if via.startswith("gcs") else cluster.client]
    if via.endswith("remote dask"):
        addresses += ["--dask-address", cluster.dask]
    data, output, log_path = sales_on_s3(s3, seed=len(via)), new_location(s3), tmp_path / "run.log"
    env = run_env(prefect_server, s3)
    with open(log_path, "w") as log:
        run = start_run(data, output, env, log, *addresses)
    try:  # every node inside a study that has finished a trial: whichever is lost, its study resumes
        wait_for(
            run,
            log_path,
            lambda: (
                len(busy := cluster.busy_nodes()) == cluster.ray_nodes
                and (under_way := studies_under_way(output)[1])
                and len(under_way) >= len(busy)
                and min(under_way) >= 1
            ),
        )
        cluster.kill(rng.choice(cluster.busy_nodes() or cluster.live_nodes()))
    except BaseException:
        terminate_session(run.pid)
        raise
    finish(run, log_path)
    summary = storage.read_json(f"{output}/summary.json")
    assert summary["counts"]["series_forecast"] == SERIES and summary["counts"]["series_rejected"] == 0
    assert summary["tuning"]["resumed"] >= 1 and summary["tuning"]["cached"] == 0, summary["tuning"]
    assert "global_lgbm" in summary["metrics"]  # trained on a node that shares nothing with the driver but S3
    assert_every_study_has_exactly_its_trials(output)
    text = log_path.read_text()
    assert f"connecting to the Ray cluster at {addresses[1]}" in text and "local Ray" not in text
    assert ("starting a local Dask cluster" in text) == via.endswith("local dask")

    with open(tmp_path / "rerun.log", "w") as log:
        rerun = start_run(data, output, env, log, *addresses)
    finish(rerun, tmp_path / "rerun.log")
    assert storage.read_json(f"{output}/summary.json")["tuning"] == {"tuned": 0, "resumed": 0, "cached": SERIES}


def test_a_killed_run_rerun_tunes_only_its_unfinished_series_and_resumes_the_cut_studies(
    prefect_server, s3_env, full_cluster, tmp_path
):
    s3 = s3_env
    cluster = full_cluster
    data, output, log_path = sales_on_s3(s3, seed=7), new_location(s3), tmp_path / "run.log"
    env = run_env(prefect_server, s3)
    with open(log_path, "w") as log:
        run = start_run(data, output, env, log, "--ray-address", cluster.gcs)
    try:
        wait_for(
            run,
            log_path,
            lambda: (progress := studies_under_way(output))[0] >= 1 and progress[1] and min(progress[1]) >= 1,
        )
    finally:
        terminate_session(run.pid, sig=signal.SIGKILL)  # the driver: Ray then ends its job's tasks on the nodes
    deadline = time.monotonic() + 120
    while cluster.busy_nodes():
        assert time.monotonic() < deadline, "the killed run's tasks go on"
        time.sleep(0.5)
    finished, cut = studies_under_way(output)
    assert 1 <= finished < SERIES and max(cut, default=0) >= 1
    assert not storage.filesystem(output).exists(f"{output}/summary.json")

    with open(tmp_path / "rerun.log", "w") as log:
        rerun = start_run(data, output, env, log, "--ray-address", cluster.gcs)
    finish(rerun, tmp_path / "rerun.log")
    counts = storage.read_json(f"{output}/summary.json")["tuning"]
    assert counts["cached"] == finished and counts["tuned"] + counts["resumed"] == SERIES - finished
    assert counts["resumed"] >= len([c for c in cut if c >= 1]), counts
    assert_every_study_has_exactly_its_trials(output)


def test_a_worker_on_the_head_runs_a_cluster_deployment_and_a_run_that_falls_short_is_announced(
    prefect_server, s3_env, full_cluster, webhook_server, tmp_path
):
    """The head's worker (in the driver's namespace, as the head is) takes a run of nightly-cluster triggered
    from the CLI; its tuning runs on the worker nodes (the head has no CPUs), its outputs land on S3, and as it
    forecasts under the share it requires, it ends Failed and the automation posts to the webhook."""
    cluster, s3 = full_cluster, s3_env
    port, posts = webhook_server
    webhook_url = f"http://127.0.0.1:{port}/alerts"
    data, runs = f"s3://{s3.bucket}/nightly-{uuid.uuid4().hex}/sales.csv", new_location(s3)
    storage.write_bytes(data, messy_sales().to_csv(index=False).encode())
    head = run_env(prefect_server, s3) | {
        "MANYMODELS_HOME": str(tmp_path / "head"),
        "MANYMODELS_DATA_URL": data,
        "MANYMODELS_RUNS_URL": runs,
        "MANYMODELS_RAY_ADDRESS": cluster.gcs,
        "MANYMODELS_DASK_ADDRESS": cluster.dask,
        "MANYMODELS_ALERT_WEBHOOK": webhook_url,
    }
    deployed = manymodels("deploy", "--cluster", env=head)
    try:
        assert deployed.returncode == 0, deployed.stderr[-3000:]
        data_spec = {"url": data, "id_cols": ["store", "item"], "time_col": "date", "target_col": "sales"}
        params = {
            "data": data_spec | {"freq": "D", "horizon": HORIZON},
            "tuning": {"trials": 2},
            "compute": {"ray_address": cluster.gcs, "dask_address": cluster.dask, "forward_credentials": True},
            "min_forecast_share": 1.0,  # the messy data has rejected series: the run falls short
        }
        triggered = subprocess.run(
            [BIN / "prefect", "deployment", "run", "forecast/nightly-cluster", "--params", json.dumps(params)],
            env=head,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert triggered.returncode == 0, triggered.stderr[-3000:]
        run_id = re.search(r"UUID: ([0-9a-f-]{36})", triggered.stdout).group(1)
        run = finished_flow_run(prefect_server.api_url, run_id)
        assert run["state_type"] == "FAILED" and "too few series forecast" in run["state"]["message"], run["state"]
        summary = storage.read_json(RunLayout(f"{runs}/nightly").failed_summary)  # and nothing published
        assert summary["flow_run_id"] == run_id and summary["counts"]["series_forecast"] == GOOD_SERIES
        assert not storage.filesystem(runs).exists(RunLayout(f"{runs}/nightly").summary)
        logs = api(prefect_server.api_url, "/logs/filter", {"logs": {"flow_run_id": {"any_": [run_id]}}, "limit": 200})
        assert any(f"connecting to the Ray cluster at {cluster.gcs}" in log["message"] for log in logs)
        notice = posts.get(timeout=120)[1]
        assert run["name"] in notice["subject"] and "too few series forecast" in notice["text"], notice
    finally:
        subprocess.run([BIN / "manymodels", "stop"], env=head, capture_output=True, timeout=60)


def finished_flow_run(api_url: str, run_id: str, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while (run := api(api_url, f"/flow_runs/{run_id}"))["state_type"] not in ("COMPLETED", "FAILED", "CRASHED"):
        assert time.monotonic() < deadline, run["state"]
        time.sleep(1)
    return run
