import tracemalloc

import numpy as np
import pandas as pd
import pytest

from manymodels import storage
from manymodels.gridded import prepare_gridded
from manymodels.prepare import prepare_series, series_key, split_labels
from manymodels.settings import DataSpec

SPEC = DataSpec(url="x", id_cols=["store"], time_col="date", target_col="sales", horizon=7)


def rows(y, start="2024-01-01", freq="D", dates=None) -> pd.DataFrame:
    ds = dates if dates is not None else pd.date_range(start, periods=len(y), freq=freq)
    frame = pd.DataFrame({"store": "1", "series_id": "1", "ds": ds, "y": np.asarray(y, dtype=float)})
    return frame.assign(row=np.arange(len(frame)))


def read_in_order(*parts: pd.DataFrame) -> pd.DataFrame:
    """Rows of several parts as read one after another (the row column numbers them in that order)."""
    frame = pd.concat(parts, ignore_index=True)
    return frame.assign(row=np.arange(len(frame)))


def test_a_regular_series_is_split_into_train_valid_test():
    frame, profile = prepare_series(rows(np.arange(40) % 5), SPEC)
    assert profile["status"] == "ok" and profile["length"] == 40 and profile["n_filled"] == 0
    assert frame["split"].value_counts().to_dict() == {"train": 33, "test": 7}
    assert (frame["split"].iloc[-7:] == "test").all() and frame["store"].eq("1").all()


def test_missing_periods_are_filled_and_recorded():
    series = rows(np.arange(40.0)).drop(index=[10, 11])
    series.loc[20, "y"] = np.nan
    frame, profile = prepare_series(series, SPEC)
    assert profile["n_filled"] == 3 and len(frame) == 40
    assert frame.loc[frame["filled"], "y"].tolist() == [10.0, 11.0, 20.0]  # linear interpolation


def test_fill_can_be_zero():
    series = rows(np.arange(1.0, 41.0)).drop(index=[10])
    frame, _ = prepare_series(series, SPEC.model_copy(update={"fill": "zero"}))
    assert frame.loc[frame["filled"], "y"].tolist() == [0.0]


def test_exact_duplicate_rows_are_merged_and_counted():
    series = rows(np.arange(40.0))
    frame, profile = prepare_series(read_in_order(series, series.iloc[:3]), SPEC)
    assert profile["status"] == "ok" and profile["n_rows"] == 43 and profile["n_duplicates"] == 3
    assert frame["y"].tolist() == list(np.arange(40.0))


def test_duplicated_timestamps_can_be_summed_or_take_the_last_row_read():
    series = read_in_order(rows(np.arange(40.0)), rows([5.0, -1.0]))  # days 1 and 2 again, read last
    summed, profile = prepare_series(series, SPEC.model_copy(update={"duplicates": "sum"}))
    assert summed["y"].tolist()[:3] == [5.0, 0.0, 2.0] and profile["n_duplicates"] == 2
    last, _ = prepare_series(series, SPEC.model_copy(update={"duplicates": "last"}))
    assert last["y"].tolist()[:3] == [5.0, -1.0, 2.0]
    first_read_last = read_in_order(rows([5.0, -1.0]), rows(np.arange(40.0)))
    assert prepare_series(first_read_last, SPEC.model_copy(update={"duplicates": "last"}))[0]["y"].tolist()[:2] == [
        0,
        1,
    ]


def test_future_timestamps_and_negative_targets_reject_when_asked():
    series = rows(np.arange(-1.0, 39.0))
    assert prepare_series(series, SPEC)[1]["status"] == "ok"
    assert prepare_series(series, SPEC.model_copy(update={"non_negative": True}))[1]["reason"] == "1 negative targets"
    _, profile = prepare_series(series, SPEC, now=pd.Timestamp("2024-02-05"))
    assert profile["reason"] == "4 timestamps in the future (after 2024-02-05 00:00 UTC)"


@pytest.mark.parametrize(
    ("series", "reason"),
    [
        (
            rows(np.arange(7.0)),
            "too short: 7 points, at least 8 are needed (a horizon of history and a point more)",
        ),
        (rows(np.full(40, 3.0)), "constant target (3)"),
        (rows(np.full(40, np.nan)), "all targets missing"),
        (
            read_in_order(rows(np.arange(40.0)), rows([99.0, 98.0])),
            "2 duplicated timestamps with different values (set duplicates to sum or last to merge them)",
        ),
        (rows(np.r_[np.arange(39.0), np.inf]), "1 non-finite targets"),
        (rows(np.arange(40.0), freq="12h"), "20 timestamps off the D grid"),
    ],
)
def test_broken_series_are_rejected_with_their_reason(series, reason):
    frame, profile = prepare_series(series, SPEC)
    assert frame is None and profile["status"] == "rejected" and profile["reason"] == reason


def test_a_short_series_gets_the_folds_its_history_allows_and_is_marked_so():
    for length, folds, short in (
        (14, 0, True),
        (20, 0, True),
        (21, 1, True),
        (27, 1, True),
        (28, 2, True),
        (34, 2, True),
        (35, 2, False),
        (49, 4, False),
        (99, 4, False),
    ):
        frame, profile = prepare_series(rows(np.arange(length) % 5), SPEC)  # min_train: 14 points
        assert profile["status"] == "ok" and (profile["folds"], profile["short_history"]) == (folds, short), length
    assert prepare_series(rows(np.arange(80) % 5), SPEC.model_copy(update={"folds": 3}))[1]["folds"] == 3


def test_profile_describes_the_series():
    y = np.r_[np.zeros(10), np.tile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], 5)]
    _, profile = prepare_series(rows(y), SPEC)
    assert profile["zero_share"] == pytest.approx(10 / 45)
    assert profile["mean"] == pytest.approx(y.mean())
    assert profile["volatility"] == pytest.approx(y.std() / y.mean())
    history = y[:-7]
    assert profile["mase_scale"] == pytest.approx(np.mean(np.abs(history[7:] - history[:-7])))


def test_split_labels_and_series_keys():
    assert split_labels(5, 1).tolist() == ["train", "train", "train", "train", "test"]
    assert series_key("1-2") == series_key("1-2") != series_key("1-3")
    assert len(series_key("a/b c")) == 16 and series_key("a/b c").isalnum()


REGRESSED = SPEC.model_copy(update={"regressors": ["promo"]})


def with_future(n_history: int, n_future: int, start="2024-01-01") -> pd.DataFrame:
    """A series with a promo regressor, and n_future rows after its last target that give only the promo."""
    series = rows(np.r_[np.arange(n_history) % 5 + 10.0, np.full(n_future, np.nan)], start=start)
    return series.assign(promo=np.arange(len(series)) % 3 == 0)


def test_rows_after_the_last_target_carry_the_regressors_future_values():
    frame, profile = prepare_series(with_future(40, 7), REGRESSED)
    assert profile["status"] == "ok" and profile["length"] == 40 and profile["n_filled"] == 0
    assert frame["split"].value_counts().to_dict() == {"train": 33, "test": 7, "future": 7}
    future = frame[frame["split"] == "future"]
    assert future["y"].isna().all() and future["promo"].tolist() == [(40 + k) % 3 == 0 for k in range(7)]
    assert future["ds"].tolist() == pd.date_range("2024-02-10", periods=7, freq="D").tolist()


def test_future_regressor_rows_may_lie_after_now_but_targets_may_not():
    now = pd.Timestamp("2024-02-12")  # three of the seven future rows are after it
    frame, profile = prepare_series(with_future(40, 7), REGRESSED, now=now)
    assert profile["status"] == "ok" and (frame["split"] == "future").sum() == 7
    _, plain = prepare_series(rows(np.arange(47.0)), SPEC, now=now)
    assert plain["status"] == "rejected" and "in the future" in plain["reason"]


def test_a_series_without_the_regressors_future_values_is_rejected():
    _, profile = prepare_series(with_future(40, 3), REGRESSED)
    assert profile["status"] == "rejected"
    assert profile["reason"] == "regressors need values for the 7 periods after the last target (3 given)"


@pytest.mark.parametrize("taken", ["store", "sales", "date", "y", "split"])
def test_a_regressor_cannot_be_an_id_time_target_or_contract_column(taken):
    with pytest.raises(ValueError, match="regressor columns must be other columns"):
        DataSpec(**SPEC.model_dump() | {"regressors": [taken]})


@pytest.mark.parametrize(
    ("spec", "again"),
    [
        # the case: the last 30 days read twice, once 200 higher; the series keeps the copy read last
        (SPEC.model_copy(update={"duplicates": "last"}), lambda s: s.iloc[-30:].assign(y=s["y"].iloc[-30:] + 200)),
        # summed targets, and the promo of the row read last
        (REGRESSED.model_copy(update={"duplicates": "sum"}), lambda s: s.iloc[30:40].assign(promo=~s["promo"])),
    ],
)
def test_the_data_hash_follows_the_rows_in_the_order_the_series_keeps_them(spec, again):
    series = with_future(40, 7) if spec.regressors else rows(np.arange(60.0) % 7)
    copies = again(series)
    first, first_profile = prepare_series(read_in_order(series, copies), spec)
    second, second_profile = prepare_series(read_in_order(copies, series), spec)
    assert not first.equals(second)  # the same rows, read in another order: another series
    assert first_profile["data_hash"] != second_profile["data_hash"]


def test_the_data_hash_does_not_depend_on_the_order_of_identical_copies_or_distinct_times():
    series = rows(np.arange(40.0) % 7)
    shuffled = series.sample(frac=1.0, random_state=0).assign(row=np.arange(40))
    assert prepare_series(shuffled, SPEC)[1]["data_hash"] == prepare_series(series, SPEC)[1]["data_hash"]
    once, twice = read_in_order(series, series.iloc[:3]), read_in_order(series.iloc[:3], series)
    assert prepare_series(once, SPEC)[1]["data_hash"] == prepare_series(twice, SPEC)[1]["data_hash"]


def test_a_series_file_records_the_digest_of_the_data_it_holds(tmp_path):
    series = rows(np.arange(40.0) % 7)
    frame, profile = prepare_series(series.assign(series_id="1"), SPEC)
    storage.write_parquet(str(tmp_path / "prepared.parquet"), frame)
    gridded = prepare_gridded(series, SPEC, pd.Timestamp("2040-01-01"))
    storage.write_table(str(tmp_path / "gridded.parquet"), gridded.tables[0])
    assert gridded.profiles[0]["data_hash"] == profile["data_hash"]
    for name in ("prepared", "gridded"):
        assert storage.read_parquet(str(tmp_path / f"{name}.parquet")).attrs == {"data_hash": profile["data_hash"]}


def test_a_series_spanning_more_periods_than_a_series_may_is_rejected_without_making_its_grid():
    decades = rows([1.0, 2.0], dates=pd.to_datetime(["1990-01-01", "2020-01-01"]))
    spec = SPEC.model_copy(update={"freq": "15min"})
    tracemalloc.start()
    try:
        frame, profile = prepare_series(decades, spec, now=pd.Timestamp("2040-01-01"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert frame is None and profile["status"] == "rejected"
    assert profile["reason"] == (
        "spans 1,051,873 periods of 15min from 1990-01-01 to 2020-01-01, over the 1,000,000 a series may span"
    )
    assert peak < 2**20  # the grid (1,051,873 timestamps, 8 MB) is never made
    hours = rows([1.0, 2.0], dates=pd.to_datetime(["2019-12-31 22:30", "2020-01-01 06:45"]))
    frame, profile = prepare_series(hours, spec, now=pd.Timestamp("2040-01-01"))  # a span under the limit
    assert profile["status"] == "ok" and len(frame) == profile["length"] == 34 and profile["n_filled"] == 32
