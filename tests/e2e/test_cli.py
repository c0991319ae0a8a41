"""The manymodels command end to end: a real Prefect server, local Ray and Dask, a moto S3 endpoint."""

import base64
import json
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.forecast import RECHOSEN
from manymodels import storage
from manymodels.candidates import PROPHETS
from manymodels.ensembles import CHOSEN, ENSEMBLES
from manymodels.forecasters import registry
from manymodels.forecasters.global_lgbm import GLOBAL
from manymodels.layout import MARKER, OUTPUT_FILES
from manymodels.naive2 import NAIVE2
from tests.helpers import (
    COLUMNS,
    EXPECTED_REJECTIONS,
    GOOD_SERIES,
    HORIZON,
    LOCAL_RAY_CLUSTER,
    TRIALS,
    TUNING,
    api,
    base_env,
    manymodels,
    messy_sales,
)

pytestmark = [pytest.mark.e2e, pytest.mark.ray]

# the models of every series of messy_sales: too short for the pooled factors, of demand not intermittent
MODELS = [*PROPHETS, *(m.name for m in registry.every_series()), GLOBAL, *ENSEMBLES, NAIVE2]


@pytest.fixture(scope="module")
def local_run(prefect_server, tmp_path_factory):
    work = tmp_path_factory.mktemp("local-run")
    messy_sales().to_csv(work / "sales.csv.gz", index=False)
    # A dead cluster address in the environment must not stop local runs from starting their own Ray.
    env = prefect_server.env | {"PREFECT_API_URL": prefect_server.api_url, "RAY_ADDRESS": "127.0.0.1:9"}
    checked = ["--solver-check", "1", "--quantiles", "0.9,0.1,0.5", "--hierarchy", "store,item"]  # Stan fits too
    data = ["--data", work / "sales.csv.gz"]
    done = manymodels("run", *data, *COLUMNS, *TUNING, *checked, "--output", work / "out", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return work / "out", done


@pytest.mark.slow
@pytest.mark.stan
def test_run_writes_every_output_and_accounts_for_every_series(local_run):
    out, done = local_run
    assert "using the local Ray started with the run" in done.stderr + done.stdout  # a line bad input never reaches
    listed = sorted(p.name for p in out.iterdir() if not p.name.startswith("_"))
    assert listed == sorted([*OUTPUT_FILES, MARKER, "versions"])
    summary = json.loads((out / "summary.json").read_text())
    counts = summary["counts"]
    assert counts["series_in"] == counts["series_forecast"] + counts["series_rejected"] == GOOD_SERIES + 4
    assert counts["series_forecast"] == GOOD_SERIES and counts["periods_filled"] == 8
    reasons = {r["series_id"]: r["reason"] for r in summary["rejected"]}
    assert reasons.keys() == EXPECTED_REJECTIONS.keys()
    assert all(EXPECTED_REJECTIONS[s] in reasons[s] for s in reasons)
    champions = pd.read_parquet(out / "best_params.parquet")["champion"]
    # per series, 4 folds of 7 days (113 known): trials on the 2 tuning folds, the tuned Prophet on the 2 selection
    # folds, the default on all 4, both on the test window, a Prophet champion's future and its bounds on the folds
    # it was chosen on (which calibrate its intervals); a series forecast again with what the run learned keeps its
    # contest, and fits its new champion on its folds, test window and future (a chosen ensemble runs its contest
    # again, all but the trials)
    champion_fits = {"prophet_tuned": 1 + 2, "prophet_default": 1 + 4}
    run_choice, moved_from, moved_to = summary["run_choice"], Counter(), Counter()
    for move, n in run_choice["moves"].items():
        source, target = move.split(" -> ")
        moved_from[source] += n
        moved_to[target] += n
    first = Counter(champions) - moved_to + moved_from
    again = moved_to + (Counter(run_choice["forecast_again"]) - moved_from)  # moved, or forecast again for the pool
    fits = sum(n * (2 * TRIALS + 2 + 4 + 2 + champion_fits.get(c, 0)) for c, n in first.items())
    refit = {c: 2 + 4 + 2 + champion_fits.get(c, 0) if c in CHOSEN else champion_fits.get(c, -1) + 1 for c in again}
    fits += sum(n * refit[c] for c, n in again.items())
    assert run_choice["changed"] == sum(run_choice["moves"].values()) <= sum(run_choice["forecast_again"].values())
    assert summary["trials"] == GOOD_SERIES * TRIALS and summary["prophet_fits"] == fits
    assert sum(summary["fits_by_solver"].values()) == fits and summary["fits_by_solver"]["exact"] > 0
    check = summary["solver_check"]
    assert check["series"] == GOOD_SERIES and check["min_log_posterior_gain"] >= -1e-6
    assert summary["champions"] == champions.value_counts().to_dict()
    assert set(summary["step_seconds"]) == set(summary["step_started_at"]) == {"ingest", "tune", "evaluate"}
    cpu = summary["cpu_per_series"]
    steps = {"io", "study", "contest", "calibration", "forecast", "learn"}  # learn: the models learning across series
    assert cpu["series"] == GOOD_SERIES and steps <= set(cpu["by_step"])
    learned = {model.name for model in registry.across_series()}  # each charged its learning, applied or not
    assert set(cpu["by_model"]) == set(MODELS) - {NAIVE2, *ENSEMBLES} | learned
    assert "CPU seconds a series" in done.stdout
    assert set(summary["metrics"]) == set(MODELS) | {"champion"}
    assert set(summary["owa"]) == set(MODELS) - {"naive2"} | {"champion"}
    selection = summary["selection"]
    assert selection["champion_owa"] == summary["owa"]["champion"] and 0 <= selection["champion_best_share"] <= 1
    assert selection["best_single_owa"] == min(v for m, v in summary["owa"].items() if m != "champion")
    assert f"Chosen with the whole run: {run_choice['changed']} champions changed" in done.stdout
    assert set(summary["intervals"]["coverage"]) == {"80", "95"} and summary["intervals"]["pinball"] > 0
    assert set(summary["metrics_by"]["store"]["1"]["prophet_tuned"]) == {"smape", "mase", "wape", "rmse", "bias"}
    assert set(summary["champion_vs_models"]) == set(MODELS)
    cost = summary["cost"]
    assert cost["node_seconds"]["c7i.large"] > 0 and 0 < cost["spot_usd"] < cost["on_demand_usd"]
    for url in summary["plots"].values():  # each run's plots kept with its version
        assert url.startswith(f"file://{out}/versions/{summary['flow_run_id']}/")
        assert Path(url.removeprefix("file://")).read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
@pytest.mark.stan
def test_the_reconciled_forecasts_add_up_at_every_level(local_run):
    out, done = local_run
    levels = pd.read_parquet(out / "hierarchy.parquet")
    assert set(levels["level"]) == {"total", "store", "store/item"} and set(levels["window"]) == {"test", "future"}
    assert levels.loc[levels["level"] == "store/item", "unique_id"].nunique() == GOOD_SERIES
    for (window, _), rows in levels[levels["level"] != "store/item"].groupby(["window", "level"]):
        items = levels[(levels["window"] == window) & (levels["level"] == "store/item")].groupby("ds")
        for method in ("bottom_up", "mint_shrink"):
            summed = rows.groupby("ds")[method].sum()
            np.testing.assert_allclose(summed, items[method].sum().loc[summed.index], rtol=1e-9)
    test = levels[levels["window"] == "test"]
    assert test["y"].notna().all() and levels[levels["window"] == "future"]["y"].isna().all()
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["hierarchy"]) == {"total", "store", "store/item"}
    assert all(set(by) == {"base", "bottom_up", "mint_shrink"} for by in summary["hierarchy"].values())
    assert "Reconciled across the hierarchy" in done.stdout


@pytest.mark.slow
@pytest.mark.stan
def test_tables_have_the_documented_shape(local_run):
    out, _ = local_run
    forecasts = pd.read_parquet(out / "forecasts.parquet")
    bounds, quantiles = ["lo_80", "hi_80", "lo_95", "hi_95"], ["q_0.1", "q_0.5", "q_0.9"]
    assert list(forecasts.columns) == ["store", "item", "series_id", "ds", "model", "yhat", *quantiles, *bounds]
    assert (forecasts["lo_95"] <= forecasts["yhat"]).all() and (forecasts["yhat"] <= forecasts["hi_95"]).all()
    assert (forecasts["q_0.1"] <= forecasts["q_0.5"]).all() and (forecasts["q_0.5"] <= forecasts["q_0.9"]).all()
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["intervals"]["quantiles"]) == {"0.1", "0.5", "0.9"}
    assert all(0 <= below <= 1 and loss >= 0 for below, loss in summary["intervals"]["quantiles"].values())
    assert forecasts.groupby("series_id").size().eq(HORIZON).all() and forecasts["series_id"].nunique() == GOOD_SERIES
    backtest = pd.read_parquet(out / "backtest.parquet")
    assert backtest.groupby(["series_id", "model"]).size().eq(HORIZON).all()
    assert set(backtest["model"]) == set(MODELS) | {"champion"}
    assert backtest["y"].notna().all() and backtest["yhat"].notna().all()
    assert forecasts["ds"].min() > backtest["ds"].max()
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert len(metrics) == (len(MODELS) + 1) * GOOD_SERIES
    assert metrics[["smape", "mase", "wape", "rmse"]].notna().all().all()
    best = pd.read_parquet(out / "best_params.parquet")
    assert best["n_trials"].eq(TRIALS).all() and best["best_value"].ge(0).all()
    assert {"changepoint_prior_scale", "seasonality_mode", "store", "item"} <= set(best.columns)


@pytest.mark.slow
@pytest.mark.stan
def test_run_is_recorded_in_prefect_with_one_task_per_series(local_run, prefect_server):
    out, done = local_run
    summary = json.loads((out / "summary.json").read_text())
    run_id = summary["flow_run_id"]
    assert f"/runs/flow-run/{run_id}" in done.stdout
    assert "starting a local Dask cluster" in done.stderr + done.stdout
    assert api(prefect_server.api_url, f"/flow_runs/{run_id}")["state_type"] == "COMPLETED"
    children = api(
        prefect_server.api_url, "/flow_runs/filter", {"flow_runs": {"parent_flow_run_id": {"any_": [run_id]}}}
    )
    children = sorted(children, key=lambda c: c["name"] != f"tune-{TRIALS}-trials")  # tuning, then the second forecasts
    rechosen = [RECHOSEN] if summary["run_choice"]["changed"] else []
    assert [(c["name"], c["state_type"]) for c in children] == [
        (n, "COMPLETED") for n in [children[0]["name"], *rechosen]
    ]
    tasks = api(prefect_server.api_url, "/task_runs/filter", {"flow_runs": {"id": {"any_": [children[0]["id"]]}}})
    names = sorted(t["name"] for t in tasks)
    assert names == sorted(f"tune-1-{i}" for i in range(1, GOOD_SERIES + 1))
    assert {t["state_type"] for t in tasks} == {"COMPLETED"}
    logs = api(prefect_server.api_url, "/logs/filter", {"logs": {"task_run_id": {"any_": [t["id"] for t in tasks]}}})
    lines = {(log["task_run_id"], log["message"].split(":")[0]) for log in logs}
    artifacts = api(prefect_server.api_url, "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}}})
    by_key = {a["key"]: a for a in artifacts if a["key"]}
    assert f"**{GOOD_SERIES}** series forecast of {GOOD_SERIES + 4}" in by_key["forecast-summary"]["data"]
    assert "| 9-2 | constant target" in by_key["forecast-summary"]["data"]
    assert "Test points at or below the champion's 0.1 quantile" in by_key["forecast-summary"]["data"]
    assert (
        f"Chosen with the whole run: {summary['run_choice']['changed']} champions" in by_key["forecast-summary"]["data"]
    )
    assert len(json.loads(by_key["best-and-worst-series"]["data"])) == GOOD_SERIES
    for key in ("plot-forecasts-against-actuals", "plot-errors-per-model"):  # the images themselves, in the UI
        assert by_key[key]["type"] == "image", by_key[key]
        data_url = by_key[key]["data"]
        assert base64.b64decode(data_url.removeprefix("data:image/png;base64,")).startswith(b"\x89PNG\r\n\x1a\n")
    progress = api(prefect_server.api_url, "/artifacts/filter", {"artifacts": {"key": {"any_": ["tuning-progress"]}}})
    assert [p["data"] for p in progress if p["flow_run_id"] == children[0]["id"]] == [100]
    for t in tasks:  # logged in a Ray worker, shown under the task run
        assert (t["id"], f"series {t['name'].removeprefix('tune-')}") in lines
        assert (t["id"], "Finished in state Completed()") in lines


# One case per way a run can stop on its input (each message is tested in tests/slice/test_ingest.py): rows that
# fail validation after Dask has read them, an input that cannot be read, settings refused before the flow starts.
@pytest.mark.parametrize(
    ("content", "extra", "problem"),
    [
        ("store,item,date,sales\n1,1,2024-01-01,x\n", [], "target column 'sales' is not numeric"),
        (None, [], "cannot read"),
        ("store,item,date,sales\n", ["--freq", "fortnightly"], "data.freq: unknown frequency 'fortnightly'"),
    ],
    ids=["non-numeric-target", "missing-file", "unknown-frequency"],
)
def test_bad_input_exits_non_zero_with_one_line_and_writes_nothing(prefect_server, tmp_path, content, extra, problem):
    data = tmp_path / "in.csv"
    if content is not None:
        data.write_text(content)
    env = prefect_server.env | {"PREFECT_API_URL": prefect_server.api_url}
    done = manymodels("run", "--data", data, *COLUMNS, *TUNING, *extra, "--output", tmp_path / "out", env=env)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and problem in last
    assert "Traceback" not in done.stderr + done.stdout
    if content is None or extra:  # refused settings, or no input to read: Ray is not started (it is beside a read)
        assert "Ray" not in done.stderr + done.stdout
    assert not any((tmp_path / "out" / name).exists() for name in OUTPUT_FILES)


def test_demo_reuses_the_local_server(prefect_server, tmp_path):
    pid_before = (prefect_server.home / "server.pid").read_text()
    done = manymodels(
        "demo",
        "--series",
        3,
        "--trials",
        2,
        "--horizon",
        HORIZON,
        "--output",
        tmp_path / "demo",
        env=prefect_server.env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Prefect UI: {prefect_server.api_url.removesuffix('/api')}/runs/flow-run/" in done.stdout
    assert "seasonal_naive" in done.stdout
    assert (prefect_server.home / "server.pid").read_text() == pid_before
    summary = storage.read_json(str(tmp_path / "demo" / "summary.json"))
    assert summary["counts"]["series_forecast"] == 3
    # the pooled challenger ran on exactly the series whose own shape agreed with the pooled one (the generator gives
    # each series a weekly and yearly timing of its own), and was scored on their selection folds
    backtest = pd.read_parquet(tmp_path / "demo" / "backtest.parquet")
    best = pd.read_parquet(tmp_path / "demo" / "best_params.parquet")
    pooled = set(backtest.loc[backtest["model"] == "pooled_seasonal", "series_id"])
    errors = best["folds_pooled_seasonal"] if "folds_pooled_seasonal" in best else pd.Series(float("nan"), best.index)
    scored = set(best.loc[errors.notna(), "series_id"])
    assert pooled == scored and len(best) == 3


SECRET_PROBE = """
import os, sys, ray
from ray.experimental import internal_kv
from engines.ray_engine import SECRETS_NAMESPACE, fetch_secrets, ray_connected, ray_engine
from manymodels.settings import ComputeSpec

def worker_secret():  # what LoggedRayTaskRunner does before each task
    fetch_secrets()
    return os.environ.get("AWS_SECRET_ACCESS_KEY")

cluster = ray_engine(ComputeSpec(ray_address=sys.argv[1], forward_credentials=True))
with ray_connected(cluster):
    print(ray.get(ray.remote(worker_secret).remote()))
del os.environ["AWS_SECRET_ACCESS_KEY"]
with ray_connected(cluster):  # a later driver finds no credentials left in the cluster
    print(len(internal_kv._internal_kv_list("", namespace=SECRETS_NAMESPACE)))
"""


@pytest.mark.parametrize("ray_via", ["gcs", "ray-client"])
def test_secrets_reach_remote_ray_workers_but_not_the_cluster_logs(ray_head, tmp_path, ray_via):
    gcs_address, ray_temp, client_address = ray_head  # started without any AWS settings
    secret = f"mm-secret-{uuid.uuid4().hex}"
    env = base_env(tmp_path) | LOCAL_RAY_CLUSTER | {"AWS_SECRET_ACCESS_KEY": secret}
    address = gcs_address if ray_via == "gcs" else client_address
    probe = subprocess.run(
        [sys.executable, "-c", SECRET_PROBE, address], env=env, capture_output=True, text=True, timeout=180
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    assert probe.stdout.strip().splitlines()[-2:] == [secret, "0"]
    logs = [p for p in ray_temp.rglob("*") if p.is_file() and "logs" in p.parts]
    assert logs and [p.name for p in logs if secret in p.read_text("latin-1")] == []
