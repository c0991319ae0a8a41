"""Publishing that cannot lose the last good outputs: a run location marked as one, versions kept and restored,
deletes and moves that touch only the location's own names, literally."""

import os

import pandas as pd
import pyarrow.parquet as pq
import pytest

from manymodels import location, outputs, storage
from manymodels.evaluation import RunOutputs
from manymodels.layout import TABLES, RunLayout
from manymodels.location import NotALocation
from manymodels.summary import RunScores
from manymodels.timing import StepTimes
from tests.helpers import SUMMARY


def run_outputs(marker: float, forecast: int = 3) -> RunOutputs:
    tables = {name: pd.DataFrame({"marker": [] if name == "metrics" else [marker]}) for name in TABLES}
    scores = dict(SUMMARY) | {"counts": SUMMARY["counts"] | {"series_forecast": forecast}}
    scores = RunScores.model_validate({k: v for k, v in scores.items() if k in RunScores.model_fields})
    return RunOutputs(**tables, scores=scores)


def published_marker(layout: RunLayout) -> set[float]:
    return {v for t in TABLES for v in pd.read_parquet(layout.table(t))["marker"]}


def test_a_failed_run_leaves_the_published_set_exactly_as_it_was_and_says_so(tmp_path):
    layout = RunLayout(str(tmp_path / "out"))
    outputs.write_run(run_outputs(1.0), layout, "run-1", StepTimes())
    before = {p: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file() and p.suffix != ".json"}
    before_summary = storage.read_json(layout.summary)

    failed = outputs.write_run(run_outputs(2.0, forecast=0), layout, "run-2", StepTimes())

    assert not failed.published and failed.shortfall()
    assert failed.publishing_line() == "Nothing published: the outputs of run run-1 were left as they were."
    assert {p: p.read_bytes() for p in before} == before
    assert storage.read_json(layout.summary) == before_summary
    assert storage.read_json(layout.failed_summary)["flow_run_id"] == "run-2"  # its rejections are on record
    assert location.read_records(layout).runs() == ["run-1"]


def test_a_run_under_its_required_share_publishes_nothing(tmp_path):
    layout = RunLayout(str(tmp_path / "out"))
    outputs.write_run(run_outputs(1.0), layout, "run-1", StepTimes())
    short = outputs.write_run(run_outputs(2.0), layout, "run-2", StepTimes(), min_share=0.9)  # 3 of 5
    assert not short.published and published_marker(layout) == {1.0}


def test_every_published_table_and_the_summary_name_their_run(tmp_path):
    layout = RunLayout(str(tmp_path / "out"))
    summary = outputs.write_run(run_outputs(1.0), layout, "run-1", StepTimes())
    assert summary.published and summary.versions == ["run-1"]
    for table in TABLES:
        assert pq.read_schema(layout.table(table)).metadata[outputs.RUN_ID_KEY] == b"run-1"
    assert storage.read_json(layout.summary)["flow_run_id"] == "run-1"


def test_versions_are_kept_up_to_the_setting_listed_and_restorable(tmp_path):
    layout = RunLayout(str(tmp_path / "out"))
    for i in range(1, 5):
        outputs.write_run(run_outputs(float(i)), layout, f"run-{i}", StepTimes(), keep_versions=3)
    records = location.read_records(layout)
    assert records.runs() == ["run-4", "run-3", "run-2"] and records.published == "run-4"
    assert not (tmp_path / "out" / "versions" / "run-1").exists()  # its files removed, then its empty folder

    location.restore(layout, "run-2")
    assert published_marker(layout) == {2.0} and storage.read_json(layout.summary)["flow_run_id"] == "run-2"
    assert location.read_records(layout).published == "run-2"
    with pytest.raises(location.InputError, match="keeps no version of run run-1; kept: run-4, run-3, run-2"):
        location.restore(layout, "run-1")

    outputs.write_run(run_outputs(5.0), layout, "run-5", StepTimes(), keep_versions=1)
    assert location.read_records(layout).runs() == ["run-5"]


def test_a_folder_with_other_files_is_refused_and_an_empty_one_becomes_a_location(tmp_path):
    reports = tmp_path / "reports"
    (reports / "plots").mkdir(parents=True)
    (reports / "plots" / "my-chart.png").write_bytes(b"mine")
    with pytest.raises(NotALocation, match="already holds files and is not a manymodels run location"):
        location.claim(RunLayout(str(reports)))
    with pytest.raises(NotALocation):
        outputs.write_run(run_outputs(1.0), RunLayout(str(reports)), "run-1", StepTimes())
    assert [p.name for p in reports.iterdir()] == ["plots"]

    (tmp_path / "empty").mkdir()
    assert location.claim(RunLayout(str(tmp_path / "empty"))).published is None
    assert (tmp_path / "empty" / "manymodels-location.json").exists()


def test_a_location_of_an_earlier_version_is_adopted_by_its_summary(tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    storage.write_json(str(out / "summary.json"), SUMMARY | {"flow_run_id": "old-run"})
    assert location.claim(RunLayout(str(out))).published == "old-run"


def test_publishing_never_touches_what_the_user_put_in_the_location_nor_follows_a_link(tmp_path):
    layout = RunLayout(str(tmp_path / "out"))
    outputs.write_run(run_outputs(1.0), layout, "run-1", StepTimes(), keep_versions=1)
    (tmp_path / "out" / "plots").mkdir()
    (tmp_path / "out" / "plots" / "my-chart.png").write_bytes(b"mine")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "forecasts.parquet").write_bytes(b"not the run's")
    (elsewhere / "summary.json").write_bytes(b"{}")
    os.rename(tmp_path / "out" / "versions" / "run-1", tmp_path / "moved")
    os.symlink(elsewhere, tmp_path / "out" / "versions" / "run-1")  # the kept version now a link elsewhere

    outputs.write_run(run_outputs(2.0), layout, "run-2", StepTimes(), keep_versions=1)

    assert (tmp_path / "out" / "plots" / "my-chart.png").read_bytes() == b"mine"
    assert sorted(p.name for p in elsewhere.iterdir()) == ["forecasts.parquet", "summary.json"]
    assert location.read_records(layout).runs() == ["run-2"]


def test_a_location_that_names_a_pattern_is_refused():
    with pytest.raises(NotALocation, match=r"cannot hold \*, \?, \[ or \]"):
        location.claim(RunLayout("s3://bucket/runs/[ab]"))
    assert location.pattern_in("/tmp/runs/[ab]") is None  # a local path is taken literally


@pytest.mark.parametrize("name", ["[ab]", "?", "*"])
def test_object_store_removes_and_moves_take_names_literally(name):
    import fsspec

    fs = fsspec.filesystem("memory")
    others = [f"/bucket/runs/{run}/summary.json" for run in ("a", "b", "x")]
    for path in [*others, f"/bucket/runs/{name}/summary.json", f"/bucket/runs/{name}/one.json"]:
        fs.pipe_file(path, b"{}")
    try:
        storage.remove(f"memory://bucket/runs/{name}/summary.json")
        storage.move(f"memory://bucket/runs/{name}/one.json", f"memory://bucket/runs/{name}/two.json")
        assert sorted(fs.find("/bucket")) == sorted([*others, f"/bucket/runs/{name}/two.json"])
    finally:
        fs.rm("/bucket", recursive=True)
