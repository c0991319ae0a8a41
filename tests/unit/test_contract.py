import re

import pandas as pd
import pytest

from manymodels.columns import PATH
from manymodels.contract import find_problems, series_ids, to_contract
from manymodels.settings import DataSpec

SPEC = DataSpec(url="x", id_cols=["store", "item"], time_col="date", target_col="sales")


def raw(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "store": ["1", "1"],
            "item": ["7", "8"],
            "date": ["2024-01-01", "2024-01-02"],
            "sales": ["3", "4.5"],
            "extra": ["a", "b"],
        }
    )
    return frame.assign(**overrides)


def test_columns_map_onto_the_contract_and_ids_join_into_series_id():
    frame = to_contract(raw(), SPEC)
    assert list(frame.columns) == ["store", "item", "series_id", "ds", "y", "row"]
    assert frame["series_id"].tolist() == ["1-7", "1-8"]
    assert frame["y"].tolist() == [3.0, 4.5]
    assert frame["ds"].dt.day.tolist() == [1, 2]


def test_clean_input_has_no_problems_and_counts_its_rows():
    problems = find_problems(raw(), SPEC)
    assert problems.to_dict("records") == [{"problem": "rows", "count": 2, "example": ""}]


def test_non_numeric_target_is_reported_with_an_example():
    problems = find_problems(raw(sales=["3", "lots"]), SPEC).set_index("problem")
    row = problems.loc["target column 'sales' is not numeric"]
    assert row["count"] == 1 and "lots" in row["example"]


def test_missing_targets_are_not_a_parse_problem():
    problems = find_problems(raw(sales=["3", None]), SPEC)
    assert problems["problem"].tolist() == ["rows"]


def test_unparseable_times_and_missing_ids_are_reported():
    problems = find_problems(raw(date=["2024-01-01", "yesterday"], item=["7", None]), SPEC)
    assert set(problems["problem"]) == {
        "time column 'date' has values that are not timestamps",
        "id column 'item' has missing values",
        "rows",
    }


def test_rows_are_numbered_in_the_order_read_across_partitions():
    first, second = to_contract(raw(), SPEC, {"number": 0}), to_contract(raw(), SPEC, {"number": 1})
    assert first["row"].tolist() < second["row"].tolist() and first["row"].is_monotonic_increasing


def test_times_with_offsets_become_utc_and_iso_variants_parse():
    dates = ["2024-03-30T12:00:00+01:00", "2024-03-31T12:00:00+02:00", "2024-04-01", "2024-04-02T00:00:00Z"]
    frame = to_contract(raw(date=dates[:2]), SPEC)
    assert frame["ds"].astype(str).tolist() == ["2024-03-30 11:00:00", "2024-03-31 10:00:00"]
    both = pd.concat([raw(), raw()], ignore_index=True).assign(date=dates)
    assert to_contract(both, SPEC)["ds"].astype(str).tolist()[2:] == ["2024-04-01 00:00:00", "2024-04-02 00:00:00"]
    assert find_problems(both, SPEC)["problem"].tolist() == ["rows"]


def test_missing_times_are_reported_and_problems_name_their_file():
    problems = find_problems(raw(date=["2024-01-01", None]).assign(**{PATH: ["a.csv", "b.csv"]}), SPEC)
    assert problems["problem"].tolist()[0] == "b.csv: time column 'date' has missing values"
    assert "b.csv" not in problems["example"].iloc[0]


def test_regressors_are_kept_as_numbers_and_non_numeric_ones_reported():
    spec = SPEC.model_copy(update={"regressors": ["price"]})
    frame = to_contract(raw(price=["1.5", None]), spec)
    assert frame["price"].tolist()[0] == 1.5 and frame["price"].isna().tolist() == [False, True]
    problems = find_problems(raw(price=["1.5", "cheap"]), spec)
    assert "regressor column 'price' is not numeric" in problems["problem"].tolist()


def test_ids_that_join_alike_stay_apart():
    spec = DataSpec(url="x", id_cols=["store", "item"], time_col="date", target_col="sales")
    raw = pd.DataFrame({"store": ["a-b", "a", "1"], "item": ["c", "b-c", "2"], "date": "2024-01-01", "sales": "1"})
    ids = to_contract(raw, spec)["series_id"].tolist()
    assert len(set(ids)) == 3 and ids[2] == "1-2"


def test_series_ids_escape_dashes_and_backslashes_and_a_missing_id_gives_none():
    ids = pd.DataFrame(
        {"a": ["a-b", "a", None, "x\\", "x", "q", "a"], "b": ["c", "b-c", "z", "-y", "\\-y", None, "b-c"], "c": "1"},
        dtype="string",
    )
    expected = ["a\\-b-c-1", "a-b\\-c-1", None, "x\\\\-\\-y-1", "x-\\\\\\-y-1", None, "a-b\\-c-1"]
    assert series_ids(ids).tolist() == [pd.NA if e is None else e for e in expected]


@pytest.mark.parametrize(
    ("columns", "problem"),
    [
        ({"id_cols": ["y"]}, "id columns cannot be named ['y']"),
        ({"id_cols": ["status"]}, "id columns cannot be named ['status']"),
        ({"id_cols": ["store"], "target_col": "store"}, "a column cannot be an id, the time and the target at once"),
        ({"time_col": "sales"}, "a column cannot be an id, the time and the target at once"),
        ({"id_cols": ["store", "store"]}, "a column cannot be an id, the time and the target at once"),
    ],
)
def test_columns_are_checked_against_the_reserved_names_and_each_other(columns, problem):
    fields = {"url": "x", "id_cols": ["store"], "time_col": "date", "target_col": "sales"} | columns
    with pytest.raises(ValueError, match=re.escape(problem)):
        DataSpec(**fields)


@pytest.mark.parametrize("unit", ["s", "ms", "ns"])
def test_timestamps_read_as_timestamps_map_as_their_text_does(unit):
    times = pd.Series(pd.date_range("2024-03-30 22:00", periods=6, freq="h").as_unit(unit)).where(
        lambda t: t.index != 2
    )
    spec = DataSpec(url="x", id_cols=["store"], time_col="date", target_col="sales")
    raw = pd.DataFrame({"store": "1", "date": times, "sales": "1"})
    as_text = raw.assign(date=times.dt.strftime("%Y-%m-%d %H:%M:%S"))
    pd.testing.assert_series_equal(to_contract(raw, spec)["ds"], to_contract(as_text, spec)["ds"])
    assert to_contract(raw, spec)["ds"].dtype == "datetime64[us]"
