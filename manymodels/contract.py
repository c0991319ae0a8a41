"""The long data contract every step speaks: id columns, series_id, ds, y, and each row's place in the input."""

import numpy as np
import pandas as pd

from manymodels.columns import PATH, ROW, SERIES_ID, TARGET, TIME
from manymodels.settings import DataSpec


def to_contract(raw: pd.DataFrame, spec: DataSpec, partition_info: dict | None = None) -> pd.DataFrame:
    """Map the user's columns onto the contract; unparseable values become missing (see find_problems).

    ROW orders the rows as read (partition, then position), so `duplicates="last"` means the last row read.
    """
    ids = raw[spec.id_cols].astype("string")
    frame = ids.copy()
    frame[SERIES_ID] = series_ids(ids)
    frame[TIME] = _parse_times(raw[spec.time_col])
    frame[TARGET] = pd.to_numeric(raw[spec.target_col], errors="coerce").astype("float64")
    for col in spec.regressors:
        frame[col] = pd.to_numeric(raw[col], errors="coerce").astype("float64")
    partition = (partition_info or {}).get("number") or 0
    frame[ROW] = (partition << 40) + pd.RangeIndex(len(raw)).to_numpy()
    return frame


def series_ids(ids: pd.DataFrame) -> pd.Series:
    """One id per row from the id columns, joined with '-'; with several columns, a '-' or '\\' inside a value is
    escaped with '\\', so ('a-b', 'c') and ('a', 'b-c') stay two series. Joined once per distinct combination."""
    if len(ids.columns) == 1:
        return ids.iloc[:, 0]
    codes = np.zeros(len(ids), dtype=np.int64)
    for col in ids:
        values, distinct = pd.factorize(ids[col], use_na_sentinel=False)
        codes = pd.factorize(codes * len(distinct) + values)[0]  # renumbered each time: no overflow
    firsts = pd.Series(np.arange(len(ids))).groupby(codes, sort=True).first().to_numpy()
    parts = [
        ids[col].iloc[firsts].str.replace("\\", "\\\\", regex=False).str.replace("-", "\\-", regex=False) for col in ids
    ]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + "-" + part
    return pd.Series(joined.array.take(codes), index=ids.index, dtype="string")


def find_problems(raw: pd.DataFrame, spec: DataSpec, contract: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per problem that stops the whole run: what it is, how many rows, an example value.

    `contract` is raw as to_contract mapped it (mapped here when not given), so values are parsed once.
    """
    contract = to_contract(raw, spec) if contract is None else contract
    checks = {
        f"target column {spec.target_col!r} is not numeric": _unparsed(raw[spec.target_col], contract[TARGET]),
        f"time column {spec.time_col!r} has values that are not timestamps": _unparsed(
            raw[spec.time_col], contract[TIME]
        ),
        f"time column {spec.time_col!r} has missing values": raw[spec.time_col].isna(),
        **{f"regressor column {col!r} is not numeric": _unparsed(raw[col], contract[col]) for col in spec.regressors},
        **{f"id column {col!r} has missing values": raw[col].isna() for col in spec.id_cols},
    }
    rows = [
        {"problem": _where(problem, raw.loc[mask]), "count": int(mask.sum()), "example": _example(raw.loc[mask])}
        for problem, mask in checks.items()
        if mask.any()
    ]
    rows.append({"problem": "rows", "count": len(raw), "example": ""})
    return pd.DataFrame(rows, columns=["problem", "count", "example"])


def _parse_times(values: pd.Series) -> pd.Series:
    """Timestamps as naive UTC: values with an offset or zone are converted, values without are taken as UTC.

    The format is inferred from the first value; values in other ISO 8601 forms are parsed as such.
    """
    if isinstance(values.dtype, np.dtype) and values.dtype.kind == "M":  # naive timestamps (Parquet): UTC as they are
        return values.astype("datetime64[us]")
    parsed = pd.to_datetime(values, errors="coerce", utc=True)
    retry = values.notna() & parsed.isna()
    if retry.any():
        parsed = parsed.where(~retry, pd.to_datetime(values[retry], errors="coerce", utc=True, format="ISO8601"))
    return parsed.dt.tz_localize(None).astype("datetime64[us]")  # one unit in every partition, whatever parsed


def _where(problem: str, bad: pd.DataFrame) -> str:
    return f"{bad[PATH].iloc[0]}: {problem}" if PATH in bad.columns else problem


def _example(bad: pd.DataFrame) -> str:
    return str(bad.drop(columns=PATH, errors="ignore").iloc[0].to_dict())


def _unparsed(raw: pd.Series, parsed: pd.Series) -> pd.Series:
    return raw.notna() & parsed.isna()
