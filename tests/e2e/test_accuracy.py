"""`make accuracy` smoke-tested by the smallest command that proves it runs: the held-out scoring of its smallest
data set (two series of the quarterly panel, one run) end to end, with its targets printed. The figures themselves
belong to benchmarks/RESULTS.md; which targets each data set has is checked in tests/unit/test_benchmark_helpers.py."""

import json

import pytest

from tests.helpers import make

pytestmark = [pytest.mark.e2e, pytest.mark.benchmark, pytest.mark.ray]


def test_make_accuracy_scores_the_held_out_window_and_prints_its_targets(prefect_server, tmp_path):
    env = prefect_server.env | {"PREFECT_API_URL": prefect_server.api_url}
    args = f"--series 2 --trials 1 --only panel --panels quarterly --out {tmp_path}"
    done = make("accuracy", {"ACCURACY": args}, env)
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
