"""`make bench` smoke-tested by the smallest commands that prove it runs (the whole of it takes hours): its headline
benchmark, throughput (one series tuned by manymodels, the bare loop and the Ray Tune recipe alike), and the
benchmarks that run in one process of their own in seconds (trial cost, durable studies, ingest), each at its
smallest; then its report step (`make bench-report`) on the results kept in benchmarks/results with these fresh
ones among them. startup and scale are further whole runs, as throughput's manymodels run is: only their kept
results are rendered here. The numbers themselves belong to RESULTS.md."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, make

pytestmark = [pytest.mark.e2e, pytest.mark.benchmark, pytest.mark.ray, pytest.mark.slow]

KEPT = REPO / "benchmarks" / "results"
COMMANDS = {
    "throughput-synthetic-1": ["throughput", "--workload", "synthetic", "--series", "1", "--trials", "2",
                               "--raytune-series", "1", "--no-bracket"],
    "trial-cost": ["trial-cost", "--series", "1", "--trials", "2", "--workload", "synthetic"],
    "study-storage": ["study-storage", "--trials", "2", "--studies", "1"],
    "ingest-8000": ["ingest", "--rows", "8000", "--days", "400", "--series-per-file", "10"],
}  # fmt: skip


@pytest.fixture(scope="module")
def fresh(prefect_server, tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    """Each command of COMMANDS as `make bench` runs it, on the session's Prefect server; their folder and results."""
    out = tmp_path_factory.mktemp("bench") / "results"
    env = prefect_server.env | {"PREFECT_API_URL": prefect_server.api_url}
    for args in COMMANDS.values():
        command = [sys.executable, "-m", "benchmarks.bench", *args, "--out", str(out)]
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert set(results) == set(COMMANDS)
    for name, args in COMMANDS.items():
        assert results[name]["command"] == " ".join(["python -m benchmarks.bench", *args, "--out", str(out)])
    return out, results


def test_throughput_tunes_the_same_series_the_same_way_three_ways(fresh):
    _, results = fresh
    result = results["throughput-synthetic-1"]
    runs = result["runs"]
    assert set(runs) == {"manymodels", "bare_loop", "ray_tune"}
    # the same series, trials, space, split and seed: manymodels and the bare loop find the same optima
    # (3 years: 4 folds): 2 trials on the 2 tuning folds, the tuned Prophet on the 2 selection folds, the default on
    # all 4, both on the test window (a Prophet champion: +1 for its future, +2 or +4 for its bounds on the folds
    # that calibrate them)
    assert 12 <= runs["bare_loop"]["fits"] <= 17
    assert runs["manymodels"]["fits"] == runs["bare_loop"]["fits"]
    assert runs["manymodels"]["mean_best_value"] == pytest.approx(runs["bare_loop"]["mean_best_value"])
    assert runs["ray_tune"]["fits"] == 2 and runs["ray_tune"]["series"] == 1
    assert all(0 < run["cpu_share"] <= 1 for run in runs.values())
    assert set(result["ratios"]) == {"manymodels_vs_bare_loop", "manymodels_vs_ray_tune"}


def test_trial_cost_durable_studies_and_ingest_measure_what_they_say(fresh):
    _, results = fresh
    variants = results["trial-cost"]["variants"]
    assert set(variants) == {
        "prophet_defaults",
        "prophet_no_samples",
        "cold_no_samples",
        "stan_warm_rough",
        "manymodels",
    }
    assert all(
        v["cpu_per_trial"] > 0 and v["mean_valid_smape"] >= v["mean_best_valid_smape"] for v in variants.values()
    )
    compared = {f"{v}_vs_manymodels" for v in variants if v != "manymodels"}
    assert set(results["trial-cost"]["ratios"]) == compared

    stored = results["study-storage"]
    assert stored["s3"]["cpu_s"] > 0 and stored["local"]["cpu_s"] > 0 and stored["journal_bytes"] > 0

    ingest = results["ingest-8000"]
    assert ingest["rows"] == 20 * 400 and ingest["series"] == ingest["accepted"] == 20


def test_make_bench_report_renders_every_kept_result_and_the_fresh_ones(fresh, tmp_path):
    out, report = tmp_path / "results", tmp_path / "RESULTS.md"
    shutil.copytree(KEPT, out)
    for name in COMMANDS:
        shutil.copy(fresh[0] / f"{name}.json", out)
    results = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    kinds = ("throughput-", "trial-cost", "study-storage", "startup", "scale-", "ingest-", "accuracy-")
    assert all(any(name.startswith(kind) for name in results) for kind in kinds)  # a result for every section

    done = make("bench-report", {"BENCH_OUT": out, "BENCH_REPORT": report}, dict(os.environ))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = report.read_text()
    headings = ("## Throughput", "## Cost of one trial", "## Durable studies", "## Fixed cost", "## Scale", "## Ingest")
    for heading in (*headings, "## Accuracy"):
        assert heading in text
    for name, result in results.items():  # each result's command is named under its table
        assert f"`{result['command']}`" in text, name
    assert "python -m benchmarks.bench throughput --workload synthetic --series 1" in text
