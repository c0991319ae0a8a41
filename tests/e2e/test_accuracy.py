"""`make accuracy` smoke-tested by the smallest commands that prove it runs: the held-out scoring of its smallest
data set (two series of the quarterly panel, one run) and of the competitions' (three yearly M3 series, one run)
end to end, with their targets printed. The figures themselves
belong to benchmarks/RESULTS.md; which targets each data set has is checked in tests/unit/test_benchmark_helpers.py."""

import json

import pytest

from tests.helpers import make

pytestmark = [pytest.mark.e2e, pytest.mark.benchmark, pytest.mark.ray]


def test_make_accuracy_scores_the_held_out_window_and_prints_its_targets(prefect_server, tmp_path):
    env = prefect_server.env | {"PREFECT_API_URL": prefect_server.api_url}
    args = f"--series 2 --trials 1 --only panel --panels quarterly --out {tmp_path}"
    competitions = f"--subsets m3_yearly --series 3 --trials 1 --out {tmp_path}"
    # MODELS_ALONE empty: models_alone's numba compilation of six models would take longer than the rest
    done = make("accuracy", {"ACCURACY": args, "COMPETITIONS": competitions, "MODELS_ALONE": ""}, env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "accuracy-2.json").read_text())
    assert results["command"] == f"python -m benchmarks.accuracy {args}"
    assert not {"daily", "weekly"} & set(results)
    quarterly = results["panel_quarterly"]
    assert quarterly["series_scored"] == 2 and quarterly["series_missing"] == 0
    assert 0 < quarterly["mean_smape"] < 200 and quarterly["owa"] > 0
    assert sum(quarterly["champions"].values()) == 2
    assert set(quarterly["owa_single_models"]) == {"naive", "seasonal_naive", "auto_ets", "auto_theta", "global_lgbm"}
    assert set(quarterly["coverage"]) == {"80", "95"} and 0 <= quarterly["coverage"]["80"] <= 1
    assert results["panel_mean_owa"] == quarterly["owa"]
    targets = {"panel_quarterly: champion OWA <= best single model's", "panel: mean champion OWA < 0.93"}
    assert set(results["met"]) == targets
    for check, met in results["met"].items():
        assert f"{'met    ' if met else 'NOT MET'}  {check}" in done.stdout
    m3 = json.loads((tmp_path / "competitions-3.json").read_text())
    assert m3["command"] == f"python -m benchmarks.competitions {competitions}"
    yearly = m3["m3_yearly"]
    assert yearly["metric"] == "smape" and yearly["series"] == 3 and yearly["series_missing"] == 0
    assert set(yearly["mean"]) == {"champion_model", "naive2", "seasonal_naive", "theta"}
    assert 0 < yearly["mean"]["champion_model"] < 200 and sum(yearly["champions"].values()) == 3
    assert yearly["run_seconds"] > 0 and "benchmarks.models_alone" not in done.stdout
    met = "met    " if yearly["met"] else "NOT MET"
    assert f"{met}  m3_yearly: champion smape {yearly['mean']['champion_model']} <= 16.0" in done.stdout
    assert set(yearly["singles"]) == {"naive", "seasonal_naive", "auto_ets", "auto_theta"}
    lo, hi = yearly["gap_interval"]
    assert lo <= hi and f"m3_yearly: champion <= always {yearly['best_single']}" in done.stdout
