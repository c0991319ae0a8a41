"""One run at a time on a run location, and outputs that a reader sees whole."""

import asyncio
import builtins
import contextlib
import os
import subprocess
import sys
import threading
import time
import types
import uuid

import pandas as pd
import pytest
from s3fs import S3FileSystem

from manymodels import lease, outputs, storage
from manymodels.evaluation import RunOutputs
from manymodels.ingest import remove_run_work
from manymodels.layout import MARKER, OUTPUT_FILES, TABLES, RunLayout
from manymodels.lease import Holder, LeaseLost, LocationBusy, RunLease, held
from manymodels.summary import RunScores
from manymodels.timing import StepTimes
from tests import faulty_s3
from tests.helpers import SUMMARY


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.server)])
def location(request, tmp_path) -> str:
    """A run location on a local disk, and one on the moto S3 server."""
    if request.param == "local":
        return str(tmp_path / "out")
    return f"s3://{request.getfixturevalue('s3_env').bucket}/leases/{uuid.uuid4().hex}"


def test_a_second_run_is_refused_while_the_first_holds_the_location(tmp_path):
    layout = RunLayout(str(tmp_path))
    with held(RunLease(layout, "run-1")), pytest.raises(LocationBusy, match="is in use by run run-1"):
        RunLease(layout, "run-2").acquire()
    RunLease(layout, "run-2").acquire()  # released on leaving


def write_holder(layout: RunLayout, **fields) -> None:
    holder = lease.me("gone").model_copy(update=fields)
    storage.write_bytes(storage.join(layout.work, "lease.json"), holder.model_dump_json().encode())


def last_written(layout: RunLayout, seconds_ago: float) -> None:
    """Sets the local lease's modification time: the store's clock, by which staleness goes."""
    then = time.time() - seconds_ago
    os.utime(storage.join(layout.work, "lease.json"), (then, then))


def test_a_stale_lease_or_one_of_a_dead_process_is_taken_over(tmp_path):
    layout = RunLayout(str(tmp_path))
    write_holder(layout)
    last_written(layout, lease.STALE_SECONDS + 1)
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


def test_a_lease_that_cannot_be_read_is_not_taken(location, monkeypatch):
    layout = RunLayout(location)
    write_holder(layout, run="run-1", host="another-machine")
    resets = []  # the first read of the lease loses its connection; later ones succeed

    def reset_once(path: str) -> None:
        if path.endswith("lease.json") and not resets:
            resets.append(path)
            raise ConnectionResetError(104, "Connection reset by peer")

    with monkeypatch.context() as patch:
        if location.startswith("s3://"):  # past s3fs's and botocore's retries
            real = S3FileSystem._call_s3

            async def call(self, method, *args, **kwargs):
                if method in ("get_object", "head_object"):
                    reset_once(kwargs.get("Key", ""))
                return await real(self, method, *args, **kwargs)

            patch.setattr(S3FileSystem, "_call_s3", call)
        else:
            real_open = builtins.open

            def call(file, mode="r", *args, **kwargs):
                if "r" in mode:
                    reset_once(str(file))
                return real_open(file, mode, *args, **kwargs)

            patch.setattr(builtins, "open", call)
        with pytest.raises(LocationBusy, match="cannot read the lease .*ConnectionResetError"):
            RunLease(layout, "run-2").acquire()
    assert resets and RunLease(layout, "run-2").holder().run == "run-1"


SLOW = 0.6  # seconds a write takes to land: longer than the old wait before reading the lease back (0.2 s)


def race(layout: RunLayout, first_write_started: threading.Event) -> list[str]:
    """Two runs take a free lease at once; the first one's write lands late. The runs that took it."""
    won = []

    def take(run: str) -> None:
        with contextlib.suppress(LocationBusy):
            RunLease(layout, run).acquire()
            won.append(run)

    first = threading.Thread(target=take, args=("run-1",), name="first")
    first.start()
    assert first_write_started.wait(10)
    second = threading.Thread(target=take, args=("run-2",))
    second.start()
    first.join()
    second.join()
    return won


def landing_late(land, started: threading.Event):
    def late(source, target, *args, **kwargs):
        first = str(target).endswith("lease.json") and threading.current_thread().name == "first"
        if first and not started.is_set():
            started.set()
            time.sleep(SLOW)
        return land(source, target, *args, **kwargs)

    return late


def test_of_two_runs_that_race_for_a_free_lease_on_a_local_disk_one_wins(tmp_path, monkeypatch):
    layout, started = RunLayout(str(tmp_path)), threading.Event()
    for name in ("rename", "replace", "link"):  # however a write lands, the first run's lands late
        monkeypatch.setattr(os, name, landing_late(getattr(os, name), started))
    won = race(layout, started)
    assert len(won) == 1 and RunLease(layout, "any").holder().run == won[0]


class SlowLeasePut(faulty_s3.Proxy):
    """A proxy in front of the moto server that holds the first PUT of a lease for SLOW seconds."""

    def __init__(self, upstream_port: int) -> None:
        super().__init__(upstream_port)
        self.started = threading.Event()

    async def answer(self, head: bytes, body: bytes, writer: asyncio.StreamWriter) -> None:
        method, target = head.split(b" ", 2)[:2]
        if method == b"PUT" and target.split(b"?")[0].endswith(b"lease.json") and not self.started.is_set():
            self.started.set()
            await asyncio.sleep(SLOW)
        await self.forward(head, body, writer)


def test_of_two_runs_that_race_for_a_free_lease_on_s3_one_wins(s3_env, monkeypatch):
    with SlowLeasePut(int(s3_env.endpoint.rsplit(":", 1)[1])) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{proxy.port}")
        S3FileSystem.clear_instance_cache()  # each class keeps its own instances
        try:
            layout = RunLayout(f"s3://{s3_env.bucket}/leases/{uuid.uuid4().hex}")
            won = race(layout, proxy.started)
            assert len(won) == 1 and RunLease(layout, "any").holder().run == won[0]
        finally:
            S3FileSystem.clear_instance_cache()


def test_a_renewal_that_finds_another_holder_stops_the_run_before_it_publishes(location):
    layout = RunLayout(location)
    with held(RunLease(layout, "run-1"), renew_every=0.05) as mine:
        mine.confirm()
        RunLease(layout, "run-1").confirm()  # as the publish task checks it: through the holding of this process
        with pytest.raises(LeaseLost):
            RunLease(layout, "run-3").confirm()
        write_holder(layout, run="run-2", host="another-machine")  # another run took it over (it found it stale)
        for _ in range(200):
            if mine.lost:
                break
            time.sleep(0.05)
        assert RunLease(layout, "any").holder().run == "run-2"  # not written over by a renewal
        with pytest.raises(LeaseLost, match="run run-2 .*took its lease"):
            mine.confirm()
        with pytest.raises(LeaseLost):
            RunLease(layout, "run-1").confirm()
    assert RunLease(layout, "any").holder().run == "run-2"  # left to its holder


def test_staleness_goes_by_the_stores_clock_not_the_holders_nor_ours(location, monkeypatch):
    layout = RunLayout(location)
    write_holder(layout, run="run-1", host="another-machine", renewed=time.time() - 10 * lease.STALE_SECONDS)
    with pytest.raises(LocationBusy, match="in use by run run-1"):  # its clock is behind: written just now all the same
        RunLease(layout, "run-2").acquire()
    ahead = types.SimpleNamespace(time=lambda: time.time() + 10 * lease.STALE_SECONDS, sleep=time.sleep)
    monkeypatch.setattr(lease, "time", ahead)  # this machine's clock is ahead
    with pytest.raises(LocationBusy, match="in use by run run-1"):
        RunLease(layout, "run-2").acquire()


def test_a_lease_the_store_has_not_seen_written_for_long_is_stale_whatever_it_claims(tmp_path):
    layout = RunLayout(str(tmp_path))
    write_holder(layout, run="run-1", host="another-machine", renewed=time.time() + 3600)
    last_written(layout, lease.STALE_SECONDS + 10)
    RunLease(layout, "run-2").acquire()
    assert RunLease(layout, "any").holder().run == "run-2"


def test_each_run_stages_and_spills_under_names_of_its_own(tmp_path):
    one, two = RunLayout(str(tmp_path), run="run-1"), RunLayout(str(tmp_path), run="run-2")

    def own(layout: RunLayout) -> list[str]:
        return [layout.contract, layout.series_file("k"), layout.todo]

    for layout in (one, two):
        assert all(
            path.startswith(f"{tmp_path}/_work/{layout.run}/") for path in [*own(layout), layout.learned("global_lgbm")]
        )
    assert not set(own(one)) & set(own(two))
    assert (one.results, one.studies, one.profiles) == (two.results, two.studies, two.profiles)  # every run's
    with pytest.raises(ValueError, match="run id"):
        RunLayout(str(tmp_path)).series_file("k")
    for name in ("results", "optuna", "lease.json", "..", ".hidden", "a/b", ""):
        with pytest.raises(ValueError):
            RunLayout(str(tmp_path), run=name)


def test_a_run_removes_its_own_work_folder_and_no_other(tmp_path):
    one, two = RunLayout(str(tmp_path), run="run-1"), RunLayout(str(tmp_path), run="run-2")
    for layout in (one, two):
        storage.write_bytes(layout.series_file("k"), b"x")
        storage.write_bytes(layout.todo, b"[]")
    storage.write_bytes(storage.join(one.results, "tune-k.json"), b"{}")
    remove_run_work(one)
    assert not (tmp_path / "_work" / "run-1").exists()
    assert (tmp_path / "_work" / "run-2" / "series" / "k.parquet").is_file()
    assert (tmp_path / "_work" / "results" / "tune-k.json").is_file()


def run_outputs(marker: float) -> RunOutputs:
    tables = {name: pd.DataFrame({"marker": [] if name == "metrics" else [marker]}) for name in TABLES}
    scores = RunScores.model_validate({k: v for k, v in SUMMARY.items() if k in RunScores.model_fields})
    return RunOutputs(**tables, scores=scores)


@pytest.mark.parametrize("cut", ["write_table", "copy"])
def test_a_publish_cut_off_midway_never_leaves_new_tables_beside_the_old_summary(tmp_path, monkeypatch, cut):
    layout = RunLayout(str(tmp_path))
    outputs.write_run(run_outputs(1.0), layout, "run-1", StepTimes())
    listed = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("_"))
    assert listed == sorted([*OUTPUT_FILES, MARKER, "versions"])
    monkeypatch.setattr(storage, cut, failing_after_one(getattr(storage, cut)))
    with pytest.raises(OSError):
        outputs.write_run(run_outputs(2.0), layout, "run-2", StepTimes())
    if (tmp_path / "summary.json").exists():  # then it and every table are still the previous run's
        assert storage.read_json(layout.summary)["flow_run_id"] == "run-1"
        assert all(pd.read_parquet(layout.table(t))["marker"].isin([1.0]).all() for t in TABLES)


def failing_after_one(write):
    calls = []

    def failing(*args, **kwargs):
        if calls:
            raise OSError("connection lost")
        calls.append(args)
        write(*args, **kwargs)

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
