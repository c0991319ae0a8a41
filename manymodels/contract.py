"""The long data contract every step speaks: id columns, series_id, ds, y."""

import pandas as pd

from manymodels.settings import DataSpec

SERIES_ID, TIME, TARGET = "series_id", "ds", "y"


def to_contract(raw: pd.DataFrame, spec: DataSpec) -> pd.DataFrame:
    """Map the user's columns onto the contract; unparseable values become missing (see find_problems)."""
    ids = raw[spec.id_cols].astype("string")
    frame = ids.copy()
    series_id = ids.iloc[:, 0]
    for col in ids.columns[1:]:
        series_id = series_id + "-" + ids[col]
    frame[SERIES_ID] = series_id
    frame[TIME] = _parse_times(raw[spec.time_col])
    frame[TARGET] = pd.to_numeric(raw[spec.target_col], errors="coerce").astype("float64")
    return frame


def find_problems(raw: pd.DataFrame, spec: DataSpec) -> pd.DataFrame:
    """One row per problem that stops the whole run: what it is, how many rows, an example value."""
    checks = {
        f"target column {spec.target_col!r} is not numeric": _unparsed(
            raw[spec.target_col], pd.to_numeric(raw[spec.target_col], errors="coerce")
        ),
        f"time column {spec.time_col!r} has values that are not timestamps": _unparsed(
            raw[spec.time_col], _parse_times(raw[spec.time_col])
        ),
        **{f"id column {col!r} has missing values": raw[col].isna() for col in spec.id_cols},
    }
    rows = [
        {"problem": problem, "count": int(mask.sum()), "example": str(raw.loc[mask].iloc[0].to_dict())}
        for problem, mask in checks.items()
        if mask.any()
    ]
    rows.append({"problem": "rows", "count": len(raw), "example": ""})
    return pd.DataFrame(rows, columns=["problem", "count", "example"])


def _parse_times(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, errors="coerce")


def _unparsed(raw: pd.Series, parsed: pd.Series) -> pd.Series:
    return raw.notna() & parsed.isna()
