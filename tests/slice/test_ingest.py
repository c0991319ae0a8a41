"""The Dask ingest step on a real LocalCluster, on tiny generated inputs."""

import gzip
import lzma
import re

import dask.dataframe as dd
import pandas as pd
import pytest

from engines.dask_engine import IN_PROCESS_MAX_BYTES, dask_client, dask_engine
from manymodels import storage
from manymodels.errors import InputError
from manymodels.ingest import ingest
from manymodels.layout import RunLayout
from manymodels.settings import ComputeSpec, DataSpec
from tests.helpers import EXPECTED_REJECTIONS, GOOD_SERIES, HORIZON, messy_sales

RUN = "run-1"  # the run whose own work folder the series are written to


def spec(url: str, **overrides) -> DataSpec:
    return DataSpec(
        url=url, id_cols=["store", "item"], time_col="date", target_col="sales", horizon=HORIZON, **overrides
    )


def test_messy_csv_is_regularised_split_and_written_one_file_per_series(dask, tmp_path):
    data = tmp_path / "sales.csv.gz"
    messy_sales().to_csv(data, index=False)
    result = ingest(spec(str(data)), RunLayout(str(tmp_path), run=RUN))

    assert result.n_rows == len(messy_sales())
    rejected = dict(zip(result.rejected["series_id"], result.rejected["reason"], strict=True))
    assert set(rejected) == set(EXPECTED_REJECTIONS)
    for series_id, reason in EXPECTED_REJECTIONS.items():
        assert reason in rejected[series_id]
    assert len(result.accepted) == GOOD_SERIES
    urls = result.series_urls()
    assert sorted(p.name for p in (tmp_path / "_work" / RUN / "series").iterdir()) == sorted(
        u.rsplit("/", 1)[1] for u in urls.values()
    )
    for series_id, url in urls.items():
        frame = storage.read_parquet(url)
        assert frame["series_id"].unique().tolist() == [series_id]
        assert frame["ds"].diff().dropna().eq(pd.Timedelta(days=1)).all()
        assert (frame["split"] == "test").sum() == HORIZON and (frame["split"] == "test").iloc[-HORIZON:].all()
    pd.testing.assert_frame_equal(storage.read_parquet(str(tmp_path / "_work" / "profiles.parquet")), result.profiles)
    gappy = result.profiles.set_index("series_id").loc["1-1"]
    assert gappy["n_filled"] == 2 * 4  # days 3 and 4 of four months


def test_parquet_glob_of_several_files_is_one_data_set(dask, tmp_path):
    frame = messy_sales()
    frame.iloc[: len(frame) // 2].to_parquet(tmp_path / "part-1.parquet")
    frame.iloc[len(frame) // 2 :].to_parquet(tmp_path / "part-2.parquet")
    result = ingest(spec(str(tmp_path / "part-*.parquet")), RunLayout(str(tmp_path), run=RUN))
    assert result.n_rows == len(frame) and len(result.profiles) == GOOD_SERIES + len(EXPECTED_REJECTIONS)


def test_input_and_work_location_on_s3(s3_env):
    url = f"s3://{s3_env.bucket}/ingest/sales.csv"
    storage.write_bytes(url, messy_sales().to_csv(index=False).encode())
    with dask_client(ComputeSpec(workers=1)):  # workers started after the endpoint is in the environment
        result = ingest(spec(url), RunLayout(f"s3://{s3_env.bucket}/ingest", run=RUN))
    assert len(result.accepted) == GOOD_SERIES
    assert all(storage.read_parquet(u)["series_id"].nunique() == 1 for u in result.series_urls().values())


def write_csv(path, text: str | bytes) -> str:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (
            lambda d: write_csv(d / "a.csv", "store,item,day,sales\n1,1,2024-01-01,3\n"),
            "column 'date' is not in .*a.csv; did you mean 'day'\\?",
        ),
        (
            lambda d: write_csv(d / "a.csv", "store,item,date,sales\n1,1,2024-01-01,3\n1,1,2024-01-02,many\n"),
            "target column 'sales' is not numeric: 1 rows, e.g. .*many",
        ),
        (lambda d: write_csv(d / "a.csv", "store,item,date,sales\n"), "no rows in .*a.csv"),
        (lambda d: str(d / "absent.csv"), "cannot read .*absent.csv"),
        (lambda d: str(d / "nothing-*.csv"), "no file matches .*nothing-\\*.csv"),
        (lambda d: write_csv(d / "bad.csv.gz", b"not gzip"), "cannot read .*bad.csv.gz"),
        (
            lambda d: write_csv(d / "a.csv", "store,item,date,sales\nZ\xfcrich,1,2024-01-01,3\n".encode("latin-1")),
            "cannot read .*a.csv: not utf-8 text .*; set its encoding",
        ),
        (
            lambda d: write_csv(d / "a.csv", "") and write_csv(d / "b.csv", "") and str(d / "*.csv"),
            "every file is empty",
        ),
        (
            lambda d: (
                write_csv(d / "a.csv", "store,item,date,sales\n1,1,2024-01-01,3\n")
                and write_csv(d / "b.csv", "store,item,date,sales\n1,1,2024-01-02,3\n1,1,soon,4\n")
                and str(d / "*.csv")
            ),
            "b.csv: time column 'date' has values that are not timestamps: 1 rows, e.g. .*soon",
        ),
    ],
    ids=[
        "misnamed-column",
        "non-numeric-target",
        "header-only",
        "missing-file",
        "empty-glob",
        "corrupt-gzip",
        "wrong-encoding",
        "only-empty-files",
        "bad-time-in-one-file",
    ],
)
def test_bad_input_raises_one_clear_line_and_writes_nothing(dask, tmp_path, make_input, message):
    url = make_input(tmp_path)
    with pytest.raises(InputError, match=message) as error:
        ingest(spec(url), RunLayout(str(tmp_path), run=RUN))
    assert "\n" not in str(error.value)
    assert not (tmp_path / "_work").exists()


def test_a_missing_regressor_column_is_named(dask, tmp_path):
    url = write_csv(tmp_path / "a.csv", "store,item,date,sales\n1,1,2024-01-01,3\n")
    with pytest.raises(InputError, match="column 'price' is not in .*a.csv; it has store, item, date, sales"):
        ingest(spec(url, regressors=["price"]), RunLayout(str(tmp_path), run=RUN))
    assert not (tmp_path / "_work").exists()


def test_gzip_csv_reads_as_one_partition(dask, tmp_path):
    data = tmp_path / "s.csv.gz"
    with gzip.open(data, "wt") as f:
        messy_sales().to_csv(f, index=False)
    assert ingest(spec(str(data)), RunLayout(str(tmp_path), run=RUN)).n_rows == len(messy_sales())


def test_empty_files_among_many_are_skipped_and_listed_and_encodings_can_be_set(dask, tmp_path):
    frame = messy_sales()
    frame["store"] = frame["store"].astype(str).replace({"9": "Zürich"})
    frame.iloc[: len(frame) // 2].to_csv(tmp_path / "a.csv", index=False, encoding="latin-1")
    frame.iloc[len(frame) // 2 :].to_csv(tmp_path / "c.csv", index=False, encoding="latin-1")
    write_csv(tmp_path / "b.csv", "")
    result = ingest(spec(str(tmp_path / "*.csv"), encoding="latin-1"), RunLayout(str(tmp_path), run=RUN))
    assert result.n_rows == len(frame) and result.empty_files == [str(tmp_path / "b.csv")]
    assert set(result.rejected["series_id"]) == {k.replace("9", "Zürich") for k in EXPECTED_REJECTIONS}


def test_input_size_counts_a_file_a_folder_and_a_glob_and_nothing_for_a_missing_path(tmp_path):
    (tmp_path / "parts").mkdir()
    for name, size in (("a.csv", 10), ("b.csv", 20)):
        (tmp_path / "parts" / name).write_bytes(b"x" * size)
    assert storage.input_bytes(str(tmp_path / "parts" / "a.csv")) == 10
    assert storage.input_bytes(str(tmp_path / "parts")) == storage.input_bytes(str(tmp_path / "parts" / "*.csv")) == 30
    assert storage.input_bytes(str(tmp_path / "nothing.csv")) == 0


def test_a_small_input_is_ingested_by_threads_of_this_process_a_large_one_by_worker_processes(tmp_path):
    data = tmp_path / "sales.csv"
    messy_sales().to_csv(data, index=False)
    with dask_client(ComputeSpec(workers=2), str(data)) as client:
        assert client.scheduler.address.startswith("inproc://")
        result = ingest(spec(str(data)), RunLayout(str(tmp_path), run=RUN))
        assert len(result.accepted) == GOOD_SERIES
    large = tmp_path / "large.csv"
    large.write_bytes(b"x" * IN_PROCESS_MAX_BYTES)
    with dask_client(ComputeSpec(workers=2), str(large)) as client:
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")


def test_an_input_written_by_groups_of_series_skips_the_shuffle_and_prepares_the_same(dask, tmp_path, monkeypatch):
    frame, parts = messy_sales(), tmp_path / "parts"
    parts.mkdir()
    for number, (_, rows) in enumerate(frame.groupby(frame["item"] % 5)):  # each file its own series
        rows.to_parquet(parts / f"part-{number}.parquet")
    frame.to_parquet(tmp_path / "one.parquet")  # one partition: shuffled into as many as the workers take
    shuffled = ingest(spec(str(tmp_path / "one.parquet")), RunLayout(str(tmp_path / "shuffled"), run=RUN))

    def no_shuffle(*args, **kwargs):
        raise AssertionError("shuffled an input already partitioned by series")

    split = frame.groupby(frame["item"] % 5).ngroups
    assert split >= 2 * len(dask.nthreads())
    monkeypatch.setattr(dd.DataFrame, "shuffle", no_shuffle)
    direct = ingest(spec(str(tmp_path / "parts" / "*.parquet")), RunLayout(str(tmp_path / "direct"), run=RUN))
    pd.testing.assert_frame_equal(direct.profiles, shuffled.profiles)
    for series_id, url in shuffled.series_urls().items():
        pd.testing.assert_frame_equal(storage.read_parquet(direct.series_urls()[series_id]), storage.read_parquet(url))


def gzip_members(path, *parts: bytes) -> str:
    """A gzip file of one member per part: its trailer (ISIZE) gives the last member's size alone."""
    path.write_bytes(b"".join(gzip.compress(part, compresslevel=9) for part in parts))
    return str(path)


def test_the_input_is_sized_as_it_inflates_by_a_bounded_streaming_read(tmp_path):
    text = messy_sales().to_csv(index=False).encode()
    big = text * (3 * 2**20 // len(text) + 1)  # 3 MiB and more of CSV
    (tmp_path / "parts").mkdir()
    plain = write_csv(tmp_path / "parts" / "a.csv", text)
    packed = gzip_members(tmp_path / "parts" / "b.csv.gz", big)
    members = gzip_members(tmp_path / "members.csv.gz", *[text] * 40)
    assert int.from_bytes((tmp_path / "members.csv.gz").read_bytes()[-4:], "little") == len(text)  # ISIZE: 1 of 40
    xz = write_csv(tmp_path / "c.csv.xz", lzma.compress(big))
    corrupt = write_csv(tmp_path / "d.csv.gz", b"not gzip")

    assert storage.input_uncompressed_bytes(plain, up_to=2**30) == len(text)
    assert storage.input_uncompressed_bytes(packed, up_to=2**30) == len(big)
    assert storage.input_uncompressed_bytes(xz, up_to=2**30) == len(big)
    assert storage.input_uncompressed_bytes(members, up_to=2**30) == 40 * len(text)
    assert 2**20 <= storage.input_uncompressed_bytes(packed, up_to=2**20) < len(big)  # it stops past up_to
    assert storage.input_uncompressed_bytes(str(tmp_path / "parts"), up_to=2**30) == len(text) + len(big)
    assert storage.input_uncompressed_bytes(str(tmp_path / "parts" / "*.csv*"), up_to=2**30) == len(text) + len(big)
    assert storage.input_uncompressed_bytes(corrupt, up_to=2**30) == len(b"not gzip")  # reading it says what is wrong
    assert storage.input_uncompressed_bytes(str(tmp_path / "nothing.csv.gz"), up_to=2**30) == 0


def test_a_small_compressed_input_that_inflates_past_the_bound_is_ingested_by_worker_processes(tmp_path):
    text = messy_sales().to_csv(index=False).encode()
    inflating = gzip_members(tmp_path / "inflating.csv.gz", text * (2 * IN_PROCESS_MAX_BYTES // len(text)))
    assert (tmp_path / "inflating.csv.gz").stat().st_size < IN_PROCESS_MAX_BYTES // 10
    small = gzip_members(tmp_path / "small.csv.gz", text)
    assert not dask_engine(ComputeSpec(workers=2), inflating).in_process
    assert dask_engine(ComputeSpec(workers=2), small).in_process


def test_only_the_columns_the_run_uses_are_read(dask, tmp_path):
    frame = messy_sales().assign(path="elsewhere.csv", notes='a,"quoted" note')  # path: the contract's own name
    frame.to_csv(tmp_path / "in.csv", index=False)
    result = ingest(spec(str(tmp_path / "in.csv")), RunLayout(str(tmp_path / "csv"), run=RUN))
    assert result.n_rows == len(frame) and len(result.accepted) == GOOD_SERIES
    frame["date"] = frame["date"].astype(str).mask(frame.index == 5, "soon")
    frame.to_parquet(tmp_path / "in.parquet")
    url = str(tmp_path / "in.parquet")
    with pytest.raises(InputError, match=f"^{re.escape(url)}: time column 'date' has values that are not timestamps"):
        ingest(spec(url), RunLayout(str(tmp_path / "parquet"), run=RUN))  # the file named is the input, not path
