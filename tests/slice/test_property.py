"""Property: whatever long table a warehouse exports, the run ends with its own one-line error, or with every
input series either forecast or rejected with a reason. Hostile inputs (a gzip bomb, a series spanning decades at a
sub-hourly frequency) end so too, with the driver's memory bounded."""

import contextlib
import gzip
import resource
import threading
from collections.abc import Iterator

import numpy as np
import pandas as pd
import psutil
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from engines.dask_engine import IN_PROCESS_MAX_BYTES, dask_client, dask_engine
from manymodels import storage
from manymodels.errors import InputError
from manymodels.evaluation import assemble_outputs
from manymodels.ingest import ingest
from manymodels.jobs import TuneOutcome
from manymodels.layout import RunLayout
from manymodels.prepare import series_key
from manymodels.results import result_files
from manymodels.series import tune_series
from manymodels.settings import ComputeSpec, DataSpec, TuningSpec

IDS = st.sampled_from(["1", "2", "Zürich", " x ", "a,b", "../../escaped"])
TIMES = st.one_of(
    st.integers(0, 60).map(lambda d: str(pd.Timestamp("2023-01-01") + pd.Timedelta(days=d))[:10]),
    st.integers(0, 60 * 24).map(lambda h: (pd.Timestamp("2023-01-01") + pd.Timedelta(hours=h)).isoformat()),
    st.integers(0, 60).map(lambda d: f"{pd.Timestamp('2023-01-01') + pd.Timedelta(days=d):%Y-%m-%d}T00:00:00+01:00"),
    st.just("2999-01-01"),
)
TARGETS = st.one_of(
    st.floats(-1e9, 1e9).map(repr),
    st.integers(0, 50).map(str),
    st.sampled_from(["", "nan", "inf", "-inf", "1e400", None]),
)
# Each stops the whole run: a missing id or time, a time or target that is no value of its kind.
STOPPERS = st.sampled_from(
    [(None, "2023-01-01", "1"), ("1", None, "1"), ("1", "soon", "1"), ("1", "2023-01-01", "n/a")]
)


@st.composite
def messy_tables(draw) -> pd.DataFrame:
    """A few regular daily series, then rows with every kind of damage; now and then one that stops the run."""
    frames = []
    for store in draw(st.lists(st.sampled_from(["1", "2", "Zürich"]), min_size=1, max_size=3, unique=True)):
        days = draw(st.integers(0, 45))
        level = draw(st.integers(0, 30))
        dates = pd.date_range("2023-01-01", periods=days, freq="D").strftime("%Y-%m-%d")
        sales = (level + np.arange(days) % 7).astype(str)
        frames.append(pd.DataFrame({"store": store, "day": dates, "sales": sales}))
    noise = draw(st.lists(st.tuples(IDS, TIMES, TARGETS), max_size=10))
    noise += draw(st.lists(STOPPERS, max_size=1)) if draw(st.integers(0, 4)) == 0 else []
    frames.append(pd.DataFrame(noise, columns=["store", "day", "sales"], dtype=object))
    table = pd.concat(frames, ignore_index=True)
    return table.assign(extra="x").sample(frac=1, random_state=draw(st.integers(0, 9)), ignore_index=True)


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    table=messy_tables(),
    duplicates=st.sampled_from(["fail", "sum", "last"]),
    non_negative=st.booleans(),
    fill=st.sampled_from(["interpolate", "zero"]),
)
@pytest.mark.slow
def test_every_series_is_forecast_or_rejected_or_the_run_stops_with_one_clear_line(
    dask, tmp_path_factory, table, duplicates, non_negative, fill
):
    work = tmp_path_factory.mktemp("property")
    table.to_csv(work / "in.csv", index=False)
    data = DataSpec(
        url=str(work / "in.csv"),
        id_cols=["store"],
        time_col="day",
        target_col="sales",
        horizon=3,
        duplicates=duplicates,
        non_negative=non_negative,
        fill=fill,
    )
    try:
        ingested = ingest(data, RunLayout(str(work), run="run-1"))
    except InputError as error:
        assert sorted(p.name for p in work.iterdir()) == ["in.csv"]  # nothing written
        assert str(error) and "\n" not in str(error)
        event("the run stopped with its one-line error")
        return
    assert set(ingested.profiles["series_id"]) == set(table.dropna(subset=["store"])["store"].astype(str))
    assert sorted(p.name for p in work.iterdir()) == ["_work", "in.csv"]  # ids name no path
    outcome, results = TuneOutcome.empty(), result_files(ingested.layout)
    for series_id, url in ingested.series_urls().items():
        frame = storage.read_parquet(url)
        assert np.isfinite(frame["y"]).all() and frame["ds"].diff().dropna().eq(pd.Timedelta(days=1)).all()
        if non_negative:
            assert (frame["y"] >= 0).all(), series_id
        result, key = tune_series(frame, data, TuningSpec(trials=1)), f"tune-{series_key(series_id)}"
        results.save(key, result)
        outcome.add(key, result, "tuned")
    frames = results.frames(outcome.results)
    counts = assemble_outputs(ingested, outcome, frames, data, TuningSpec(trials=1), {}).scores.counts
    assert counts.series_in == counts.series_forecast + counts.series_rejected == len(ingested.profiles)
    event(f"series forecast: {'some' if counts.series_forecast else 'none'}, rejected: {counts.series_rejected}")


@contextlib.contextmanager
def driver_memory() -> Iterator[dict[str, int]]:
    """How far this process's resident memory rose, at its highest, above where it stood on entering ("grown", in
    bytes, set on leaving): sampled every 2 ms, and taken from the kernel's high-water mark (ru_maxrss) if that rose
    meanwhile, so that no peak between two samples is missed."""
    process, done, peak = psutil.Process(), threading.Event(), {}
    start = peak["rss"] = process.memory_info().rss
    high = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def sample() -> None:
        while not done.wait(0.002):
            peak["rss"] = max(peak["rss"], process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    grown: dict[str, int] = {}
    try:
        yield grown
    finally:
        done.set()
        sampler.join()
        if (after := resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) > high:
            peak["rss"] = max(peak["rss"], after * 1024)  # Linux counts it in KiB
        grown["bytes"] = peak["rss"] - start


HEADER = b"store,item,date,sales\n"
GOOD_ROWS = b"".join(f"1,1,2024-01-{day:02d},{day % 7}\n".encode() for day in range(1, 29))


def gzip_bomb(path, line: bytes, inflated: int) -> int:
    """A CSV of a few good rows, then line again and again, gzip at level 9, written as a stream (the test never
    holds it): a 16 MiB run of lines compressed once, as one gzip member, then written as many times as it takes
    (so the trailer's ISIZE names one member's size, not the file's). Its size inflated."""
    run = line * (2**24 // len(line))
    member, times = gzip.compress(run, compresslevel=9), inflated // len(run)
    with open(path, "wb") as f:
        f.write(gzip.compress(HEADER + GOOD_ROWS, compresslevel=9))
        for _ in range(times):
            f.write(member)
    return len(HEADER + GOOD_ROWS) + times * len(run)


def test_a_gzip_bomb_is_sized_as_it_inflates_so_the_driver_does_not_parse_it(tmp_path):
    bomb = tmp_path / "bomb.csv.gz"
    inflated = gzip_bomb(bomb, b"1,1,2024-01-01,3\n", 700 * 2**20)
    assert bomb.stat().st_size < IN_PROCESS_MAX_BYTES < inflated // 300  # small on disk: 400-fold inflated
    with driver_memory() as memory:
        engine = dask_engine(ComputeSpec(workers=2), str(bomb))
        counted = storage.input_uncompressed_bytes(str(bomb), up_to=2**40)  # all of it, as a stream
    assert not engine.in_process  # worker processes parse it, not threads of the driver
    assert counted == inflated  # its trailer names one 16 MiB member
    assert memory["bytes"] < 32 * 2**20, memory


def test_a_gzip_bomb_is_parsed_by_worker_processes_and_the_run_ends_with_one_line(tmp_path):
    bomb = tmp_path / "bomb.csv.gz"
    inflated = gzip_bomb(bomb, b"1,1,soon,4\n", 32 * 2**20)
    data = DataSpec(url=str(bomb), id_cols=["store", "item"], time_col="date", target_col="sales", horizon=3)
    with driver_memory() as memory, dask_client(ComputeSpec(workers=2), str(bomb)) as client:
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        with pytest.raises(InputError) as error:
            ingest(data, RunLayout(str(tmp_path), run="run-1"))
    bad = (inflated - len(HEADER + GOOD_ROWS)) // len(b"1,1,soon,4\n")
    assert f"time column 'date' has values that are not timestamps: {bad} rows" in str(error.value)
    assert "\n" not in str(error.value)
    assert memory["bytes"] < 64 * 2**20, memory  # parsed by threads of the driver, it took 550 MB there


def test_a_series_spanning_decades_at_a_sub_hourly_frequency_is_rejected_and_the_others_go_on(tmp_path):
    good = pd.DataFrame({"store": "good", "at": pd.date_range("2024-01-01", periods=480, freq="15min")})
    good["load"] = np.arange(480) % 96 + 10.0
    decades = pd.DataFrame({"store": "decades", "at": pd.to_datetime(["1990-01-01", "2020-01-01"]), "load": [1, 2]})
    pd.concat([good, decades]).to_csv(tmp_path / "in.csv", index=False)
    data = DataSpec(
        url=str(tmp_path / "in.csv"), id_cols=["store"], time_col="at", target_col="load", freq="15min", horizon=8
    )
    with driver_memory() as memory, dask_client(ComputeSpec(workers=2), data.url) as client:
        assert client.scheduler.address.startswith("inproc://")  # a small input: prepared in this process
        ingested = ingest(data, RunLayout(str(tmp_path), run="run-1"))
    assert memory["bytes"] < 64 * 2**20, memory  # its grid, never made, would be 1,051,873 points
    reasons = dict(zip(ingested.rejected["series_id"], ingested.rejected["reason"], strict=True))
    span = "spans 1,051,873 periods of 15min from 1990-01-01 to 2020-01-01, over the 1,000,000 a series may span"
    assert reasons == {"decades": span}
    assert list(ingested.series_urls()) == ["good"]
    frame = storage.read_parquet(ingested.series_urls()["good"])
    outcome, results = TuneOutcome.empty(), result_files(ingested.layout)
    result, key = tune_series(frame, data, TuningSpec(trials=1)), f"tune-{series_key('good')}"
    results.save(key, result)
    outcome.add(key, result, "tuned")
    frames = results.frames(outcome.results)
    counts = assemble_outputs(ingested, outcome, frames, data, TuningSpec(trials=1), {}).scores.counts
    assert (counts.series_in, counts.series_forecast, counts.series_rejected) == (2, 1, 1)
