"""One run at a time on a run location, and outputs that a reader sees whole."""

import subprocess
import sys
import time

import pandas as pd
import pytest

from manymodels import lease, outputs, storage
from manymodels.evaluation import RunOutputs
from manymodels.layout import OUTPUT_FILES, TABLES, RunLayout
from manymodels.lease import Holder, LocationBusy, RunLease, held
from manymodels.summary import RunScores
from manymodels.timing import StepTimes
from tests.helpers import SUMMARY


@pytest.fixture(autouse=True)
def quick_settle(monkeypatch):
    monkeypatch.setattr(lease, "SETTLE_SECONDS", 0.01)


def test_a_second_run_is_refused_while_the_first_holds_the_location(tmp_path):
    layout = RunLayout(str(tmp_path))
    with held(RunLease(layout, "run-1")), pytest.raises(LocationBusy, match="is in use by run run-1"):
        RunLease(layout, "run-2").acquire()
    RunLease(layout, "run-2").acquire()  # released on leaving


def write_holder(layout: RunLayout, **fields) -> None:
    holder = lease.me("gone").model_copy(update=fields)
    storage.write_bytes(storage.join(layout.work, "lease.json"), holder.model_dump_json().encode())


def test_a_stale_lease_or_one_of_a_dead_process_is_taken_over(tmp_path):
    layout = RunLayout(str(tmp_path))
    write_holder(layout, renewed=time.time() - lease.STALE_SECONDS - 1)
    RunLease(layout, "run-2").acquire()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    write_holder(layout, pid=int(dead.stdout), process_start=None)
    RunLease(layout, "run-3").acquire()
    assert RunLease(layout, "run-3").holder().run == "run-3"


def test_a_lease_of_another_host_is_honoured_until_stale(tmp_path):
    layout = RunLayout(str(tmp_path))
    write_holder(layout, host="another-machine", pid=1)
    with pytest.raises(LocationBusy, match="on another-machine"):
        RunLease(layout, "run-2").acquire()


def run_outputs(marker: float) -> RunOutputs:
    tables = {name: pd.DataFrame({"marker": [] if name == "metrics" else [marker]}) for name in TABLES}
    scores = RunScores.model_validate({k: v for k, v in SUMMARY.items() if k in RunScores.model_fields})
    return RunOutputs(**tables, scores=scores)


@pytest.mark.parametrize("cut", ["write_parquet", "move"])
def test_a_publish_cut_off_midway_never_leaves_new_tables_beside_the_old_summary(tmp_path, monkeypatch, cut):
    layout = RunLayout(str(tmp_path))
    outputs.write_run(run_outputs(1.0), layout, "run-1", StepTimes())
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("_")) == sorted(OUTPUT_FILES)
    monkeypatch.setattr(storage, cut, failing_after_one(getattr(storage, cut)))
    with pytest.raises(OSError):
        outputs.write_run(run_outputs(2.0), layout, "run-2", StepTimes())
    if (tmp_path / "summary.json").exists():  # then it and every table are still the previous run's
        assert storage.read_json(layout.summary)["flow_run_id"] == "run-1"
        assert all(pd.read_parquet(layout.table(t))["marker"].isin([1.0]).all() for t in TABLES)


def failing_after_one(write):
    calls = []

    def failing(*args):
        if calls:
            raise OSError("connection lost")
        calls.append(args)
        write(*args)

    return failing


def test_a_run_that_forecast_nothing_says_why():
    from manymodels.summary import RunSummary

    summary = RunSummary.model_validate(
        SUMMARY
        | {
            "counts": SUMMARY["counts"] | {"series_forecast": 0, "series_rejected": 5},
            "rejected": [{"series_id": f"s{i}", "reason": "all targets missing"} for i in range(4)]
            + [{"series_id": "s9", "reason": "too short"}],
        }
    )
    assert summary.shortfall() == (
        "no series was forecast: 5 of 5 rejected; most common reason: all targets missing (4 series)"
    )
    assert RunSummary.model_validate(SUMMARY).shortfall() is None


def test_holders_are_checked_data():
    with pytest.raises(ValueError):
        Holder.model_validate_json(b'{"run": 1}')


def test_a_run_under_its_required_share_of_series_forecast_falls_short():
    from manymodels.summary import RunSummary

    counts = SUMMARY["counts"] | {"series_in": 10, "series_forecast": 7, "series_rejected": 3}
    rejected = [{"series_id": f"s{i}", "reason": "too short"} for i in range(3)]
    summary = RunSummary.model_validate(SUMMARY | {"counts": counts, "rejected": rejected})
    assert summary.shortfall(0.7) is None and summary.shortfall() is None
    assert summary.shortfall(0.8) == (
        "too few series forecast: 7 of 10 (70%), under the 80% this run requires; 3 rejected; "
        "most common reason: too short (3 series)"
    )
