"""Nothing found in the run location, the input or the cluster is trusted: file:// run locations, passwords in RDB
URLs, unpriced instance types, data in the UI's markdown, and what `bench clean` may delete."""

import json

import pandas as pd
import pytest
from pydantic import ValidationError

from benchmarks import bench
from manymodels import storage
from manymodels.cost import PriceTable, estimate
from manymodels.layout import RunLayout
from manymodels.settings import ComputeSpec
from manymodels.studies import open_storage
from manymodels.summary import RunSummary
from tests.helpers import SUMMARY

PRICES = PriceTable.load()


# 1. A file:// run location is the local path it names, for every storage function and every layout path.


@pytest.mark.parametrize("spelling", ["file://{}", "FILE://{}", "file://localhost{}", "file:{}"])
@pytest.mark.parametrize("name", ["out", "o u t"])  # as_uri() percent-encodes the spaces
def test_a_file_url_run_location_writes_and_reads_the_path_itself(tmp_path, monkeypatch, spelling, name):
    cwd, out = tmp_path / "cwd", tmp_path / name
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    url = spelling.format(out.as_uri().removeprefix("file://"))
    layout = RunLayout(url, run="run-1")

    storage.write_json(layout.summary, {"n": 1})
    storage.write_parquet(layout.table("metrics"), pd.DataFrame({"a": [1]}))
    storage.write_bytes(layout.todo, b"{}")
    storage.move(layout.todo, storage.join(layout.work, "jobs.json"))
    open_storage(storage.join(layout.studies, "k.journal"))  # pathlib and Optuna's journal see the path too

    assert storage.read_json(layout.summary) == {"n": 1}
    assert storage.read_parquet(layout.table("metrics"))["a"].tolist() == [1]
    assert storage.filesystem(layout.summary).exists(storage.url_to_fs(layout.summary)[1])
    assert (out / "summary.json").is_file() and (out / "metrics.parquet").is_file()
    assert (out / "_work" / "jobs.json").is_file() and (out / "_work" / "optuna" / "k.journal").is_file()
    assert layout.summary == str(out / "summary.json") and layout.studies == str(out / "_work" / "optuna")
    assert storage.is_local(url) and storage.link(url) == out.as_uri()
    storage.remove(layout.summary)
    assert not (out / "summary.json").exists()
    assert list(cwd.iterdir()) == []  # nothing under <cwd>/file:/...


def test_a_file_url_naming_another_host_is_refused():
    with pytest.raises(ValueError, match="file:///path"):
        storage.normalise("file://elsewhere/tmp/run")
    assert storage.normalise("s3://bucket/run") == "s3://bucket/run" and storage.normalise("/tmp/x") == "/tmp/x"


# 2. A password in an RDB URL's query string is refused like one in its netloc.


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://me@db/optuna?password=hunter2",
        "postgresql://me@db/optuna?sslmode=require&PassWord=hunter2",
        "postgresql://me@db/optuna?pass%77ord=hunter2",
        "mysql+pymysql://me@db/optuna?passwd=hunter2",
    ],
)
def test_a_password_in_the_query_of_the_study_storage_url_is_refused(url):
    with pytest.raises(ValidationError, match="PGPASSWORD"):
        ComputeSpec(optuna_storage=url)


def test_a_query_without_a_password_is_kept():
    url = "postgresql://me@db/optuna?sslmode=require&application_name=password-free"
    assert ComputeSpec(optuna_storage=url).optuna_storage == url


# 4. An instance type missing from the price table never fails the run.


def test_an_unknown_instance_type_is_left_out_of_the_totals_and_listed_as_unpriced():
    cost = estimate({"c7i.2xlarge": 3600, "x9.huge": 1800}, series=10, prices=PRICES)
    c7i = PRICES.instance_types["c7i.2xlarge"]
    assert cost["on_demand_usd"] == pytest.approx(c7i.on_demand, abs=1e-6)
    assert cost["spot_usd"] == pytest.approx(c7i.spot, abs=1e-6)
    assert cost["unpriced"] == {"x9.huge": 1800} and cost["node_seconds"]["x9.huge"] == 1800


def test_an_unknown_instance_type_with_known_vcpus_is_priced_as_its_equivalent():
    cost = estimate({"x9.huge": 3600}, series=1, prices=PRICES, vcpus={"x9.huge": 8})
    equivalent = PRICES.instance_types[PRICES.equivalent(8)]
    assert cost["on_demand_usd"] == pytest.approx(equivalent.on_demand, abs=1e-6)
    assert cost["priced_as"] == {"x9.huge": PRICES.equivalent(8)} and cost["unpriced"] == {}


def test_the_summary_carries_and_shows_unpriced_types():
    cost = estimate({"c7i.large": 60, "x9.huge": 30}, series=3, prices=PRICES)
    summary = RunSummary.model_validate(SUMMARY | {"cost": cost})
    assert summary.cost.unpriced == {"x9.huge": 30}
    assert "x9.huge" in summary.to_markdown("/tmp/run").split("## Cost on EC2 (estimate)")[1].split("##")[0]
    assert RunSummary.model_validate(SUMMARY).cost.unpriced == {}  # a summary.json from before has none


# 5. What comes from the data is escaped in the UI's markdown.


def test_series_ids_reasons_and_names_are_escaped_in_the_markdown():
    hostile = SUMMARY | {
        "rejected": [{"series_id": "a|b<script>", "reason": "bad *value*\n| x | y |"}],
        "metrics": {"m|<b>": {"smape": 1.0}},
        "champions": {"_c_": 3},
        "cost": SUMMARY["cost"] | {"node_seconds": {"`t`": 1.0}},
    }
    text = RunSummary.model_validate(hostile).to_markdown("s3://bucket/ru`n")
    assert "| a\\|b&lt;script&gt; | bad \\*value\\* \\| x \\| y \\| |" in text
    assert "<script>" not in text and "<b>" not in text and "| m\\|&lt;b&gt; | 1.000 |" in text
    assert "\\_c\\_ 3" in text and "\\`t\\` 1.0" in text
    rows = [line for line in text.splitlines() if line.startswith("| a")]
    assert len(rows) == 1  # the newline in the reason does not start a row of its own
    assert "``s3://bucket/ru`n``" in text  # a backtick in the location cannot end its code span


# 6. `bench clean` deletes the results the benchmarks write, and nothing else.


def test_bench_clean_removes_only_benchmark_results(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    ours = {"startup": "startup.json", "throughput": "throughput-store-item-200.json", "scale": "scale-3000.json"}
    for name in ours.values():
        (out / name).write_text(json.dumps({"command": "python -m benchmarks.bench x", "date": "d"}))
    foreign = {
        "notes.txt": "mine",
        "data.json": "{}",
        "trial-cost.json": "mine",
        "scale-3000.json.bak": "{}",
        "accuracy-500.json": "{}",
    }
    for name, text in foreign.items():
        (out / name).write_text(text)
    (out / "sub").mkdir()
    (out / "sub" / "startup.json").write_text("{}")
    bench.clean(out)
    assert sorted(p.name for p in out.iterdir()) == sorted([*foreign, "sub"])
    assert (out / "sub" / "startup.json").exists()
    bench.clean(tmp_path / "missing")  # nothing to clean is fine
