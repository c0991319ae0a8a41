import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from manymodels.gridded import prepare_gridded
from manymodels.prepare import prepare_series
from manymodels.settings import DataSpec

SPEC = DataSpec(url="x", id_cols=["store", "item"], time_col="date", target_col="sales", horizon=7)
NOW = pd.Timestamp("2040-01-01")
ON_GRID = {"clean-1", "clean-2", "unordered-1"}  # rows out of order are sorted, as prepare_series does


def series(name: str, y, start: str, freq: str) -> pd.DataFrame:
    store, item = name.split("-")
    dates = pd.date_range(start, periods=len(y), freq=freq).as_unit("us")
    return pd.DataFrame({"store": store, "item": item, "series_id": name, "ds": dates, "y": np.asarray(y, float)})


def partition(start: str, freq: str) -> pd.DataFrame:
    """Series on their grid and series that are not, their rows interleaved."""
    y = np.arange(400) % 9 + 1.0
    gap, nan, negative, late = series("gap-1", y, start, freq), y.copy(), y.copy(), series("late-1", y, start, freq)
    nan[50], negative[60] = np.nan, -1.0
    duplicated = series("dup-1", y, start, freq)
    parts = [
        series("clean-1", y, start, freq),
        series("clean-2", y[::-1] * 3, start, freq),
        gap.drop(index=100),
        series("nan-1", nan, start, freq),
        series("neg-1", negative, start, freq),
        series("const-1", np.ones(400), start, freq),
        series("short-1", y[: SPEC.min_length - 1], start, freq),
        series("unscored-1", y[: 2 * SPEC.horizon - 1], start, freq),  # forecast, with no test window
        pd.concat([duplicated, duplicated.iloc[[10]]]),
        series("unordered-1", y, start, freq).iloc[::-1],
        late.assign(ds=late["ds"] + pd.Timedelta(days=20_000)),
    ]
    frame = pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=0)
    frame["store"], frame["item"] = frame["store"].astype("string"), frame["item"].astype("string")
    return frame.assign(row=np.arange(len(frame)))


def parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("freq", "start", "update"),
    [
        ("D", "2024-01-01", {}),
        ("D", "2024-01-01 05:00", {"non_negative": True}),
        ("h", "2024-03-30 22:00", {"horizon": 24, "freq": "h"}),
        ("W-SUN", "2024-01-07", {"freq": "W-SUN", "horizon": 8}),
        ("W-SUN", "2024-01-07 05:00", {"freq": "W-SUN", "horizon": 8}),
        ("W-SUN", "2024-01-07", {"freq": "W-SAT", "horizon": 8}),  # off the grid: every series to prepare_series
    ],
)
def test_series_on_their_grid_are_prepared_together_as_prepare_series_prepares_each(freq, start, update):
    spec, part = SPEC.model_copy(update=update), partition(start, freq)
    gridded = prepare_gridded(part, spec, NOW)
    taken = {profile["series_id"] for profile in gridded.profiles}
    on_grid = ON_GRID if spec.non_negative else ON_GRID | {"neg-1"}  # a negative target is fine unless refused
    assert taken == (set() if spec.freq == "W-SAT" else on_grid)
    for profile, table in zip(gridded.profiles, gridded.tables, strict=True):
        frame, expected = prepare_series(part[part["series_id"] == profile["series_id"]], spec, now=NOW)
        assert profile == expected
        assert parquet(table) == parquet(pa.Table.from_pandas(frame, preserve_index=False))
    assert set(gridded.rest["series_id"]) == set(part["series_id"]) - taken
    pd.testing.assert_frame_equal(gridded.rest, part[~part["series_id"].isin(taken)])


def test_a_series_with_regressors_is_left_to_prepare_series():
    spec = SPEC.model_copy(update={"regressors": ["price"]})
    part = partition("2024-01-01", "D").assign(price=1.0)
    gridded = prepare_gridded(part, spec, NOW)
    assert gridded.profiles == [] and gridded.rest is part


def test_a_series_on_its_grid_longer_than_a_series_may_span_is_left_to_prepare_series_which_rejects_it():
    spec = SPEC.model_copy(update={"freq": "min", "horizon": 60})
    y = np.arange(1_000_001) % 9 + 1.0  # one more minute than a series may span
    part = pd.concat([series("clean-1", y[:400], "2020-01-01", "min"), series("long-1", y, "2020-01-01", "min")])
    part = part.assign(row=np.arange(len(part)))
    gridded = prepare_gridded(part, spec, NOW)
    assert [profile["series_id"] for profile in gridded.profiles] == ["clean-1"]
    assert set(gridded.rest["series_id"]) == {"long-1"}
    frame, profile = prepare_series(gridded.rest, spec, now=NOW)
    assert frame is None and profile["reason"] == (
        "spans 1,000,001 periods of min from 2020-01-01 to 2021-11-25 10:40, over the 1,000,000 a series may span"
    )
