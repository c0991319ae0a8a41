"""`make accuracy` at a toy size: the held-out scoring runs end to end and prints every target; the figures
themselves belong to benchmarks/RESULTS.md."""

import json

import pytest

from benchmarks.workloads import STORE_ITEM
from tests.helpers import make

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.benchmark,
    pytest.mark.skipif(not STORE_ITEM.exists(), reason=f"the store-item data is not at {STORE_ITEM}"),
]


def test_make_accuracy_scores_the_held_out_windows_and_prints_every_target(prefect_server, tmp_path):
    env = prefect_server.env | {"PREFECT_API_URL": prefect_server.api_url}
    args = f"--series 3 --trials 1 --panels quarterly --out {tmp_path}"
    done = make("accuracy", {"ACCURACY": args}, env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "accuracy-3.json").read_text())
    for kind in ("daily", "weekly", "panel_quarterly"):
        assert results[kind]["series_scored"] == 3 and results[kind]["series_missing"] == 0
        assert 0 < results[kind]["mean_smape"] < 200 and results[kind]["owa"] > 0
        assert sum(results[kind]["champions"].values()) == 3
        assert set(results[kind]["owa_single_models"]) == {
            "naive",
            "seasonal_naive",
            "auto_ets",
            "auto_theta",
            "global_lgbm",
        }
        assert set(results[kind]["coverage"]) == {"80", "95"} and 0 <= results[kind]["coverage"]["80"] <= 1
    assert set(results["met"]) == {
        "daily mean sMAPE <= 12.24",
        "daily: every series <= 1.05 x seasonal naive",
        "daily: 80% and 95% intervals cover within 2 points of nominal",
        "weekly OWA < 1",
        *(f"{kind}: champion OWA <= best single model's" for kind in ("daily", "weekly", "panel_quarterly")),
        "panel: mean champion OWA < 0.93",
    }
    for check, met in results["met"].items():
        assert f"{'met    ' if met else 'NOT MET'}  {check}" in done.stdout
