import pandas as pd

from manymodels.contract import find_problems, to_contract
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
    assert list(frame.columns) == ["store", "item", "series_id", "ds", "y"]
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
