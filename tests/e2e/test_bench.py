"""`make bench` at toy sizes: every benchmark runs and reports; the numbers themselves belong to RESULTS.md."""

import json

import pytest

from tests.helpers import make

pytestmark = [pytest.mark.e2e, pytest.mark.benchmark]


def test_make_bench_runs_every_benchmark_and_writes_the_report(prefect_server, tmp_path):
    out, report = tmp_path / "results", tmp_path / "RESULTS.md"
    settings = {
        "BENCH_OUT": out,
        "BENCH_REPORT": report,
        "BENCH_WORKLOADS": "synthetic",
        "BENCH_SERIES": 2,
        "BENCH_TRIALS": 2,
        "BENCH_RAYTUNE": 1,
        "BENCH_THROUGHPUT": "--no-bracket",  # the second manymodels run only steadies the ratio
        "BENCH_TRIAL_COST": "--series 1 --trials 2 --workload synthetic",
        "BENCH_STARTUP": "--runs 2",
        "BENCH_STUDY_STORAGE": "--trials 2 --studies 1",
        "BENCH_INGEST": "--rows 8000 --days 400 --series-per-file 10",
        "BENCH_SCALE": "--series 4 --days 150 --sample 2",
    }
    env = prefect_server.env | {"PREFECT_API_URL": prefect_server.api_url}
    done = make("bench", settings, env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    names = {"trial-cost", "study-storage", "startup", "throughput-synthetic-2", "ingest-8000", "scale-4"}
    assert set(results) == names

    runs = results["throughput-synthetic-2"]["runs"]
    assert set(runs) == {"manymodels", "bare_loop", "ray_tune"}
    # the same series, trials, space, split and seed: manymodels and the bare loop find the same optima
    # per series (3 years: 4 folds): 2 trials on the 2 tuning folds, the tuned Prophet on the 2 selection folds, the
    # default on all 4, both on the test window (a Prophet champion: +1 for its future, +2 or +4 for its bounds on
    # the folds that calibrate them)
    assert 2 * 12 <= runs["bare_loop"]["fits"] <= 2 * 17
    assert runs["manymodels"]["fits"] == runs["bare_loop"]["fits"]
    assert runs["manymodels"]["mean_best_value"] == pytest.approx(runs["bare_loop"]["mean_best_value"])
    assert runs["ray_tune"]["fits"] == 2 and runs["ray_tune"]["series"] == 1
    assert all(0 < run["cpu_share"] <= 1 for run in runs.values())

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

    stored = results["study-storage"]
    assert stored["s3"]["cpu_s"] > 0 and stored["local"]["cpu_s"] > 0 and stored["journal_bytes"] > 0

    ingest = results["ingest-8000"]
    assert ingest["rows"] == 20 * 400 and ingest["series"] == ingest["accepted"] == 20
    assert results["scale-4"]["manymodels"]["series"] == 4 and results["scale-4"]["peak_memory_gib"] > 0
    assert 0 < results["scale-4"]["manymodels"]["driver_peak_rss_gib"] < 8

    startup = results["startup"]
    assert len(startup["runs"]) == 2 and startup["fixed_cost"] in startup["runs"]

    compared = {f"{v}_vs_manymodels" for v in variants if v != "manymodels"}
    assert set(results["trial-cost"]["ratios"]) == compared

    text = report.read_text()
    headings = ("## Throughput", "## Cost of one trial", "## Durable studies", "## Fixed cost", "## Scale", "## Ingest")
    for heading in headings:
        assert heading in text
    assert "python -m benchmarks.bench throughput --workload synthetic --series 2" in text
