"""Prepare and check each series: reject what cannot be used, regularise to the frequency, profile, label the
test window and the future."""

import hashlib
import json

import numpy as np
import pandas as pd

from manymodels.columns import FILLED, FUTURE, PROFILE, ROW, SERIES_ID, SPLIT, TARGET, TEST, TIME, TRAIN
from manymodels.forecasters import registry
from manymodels.forecasters.intermittent import is_intermittent
from manymodels.metrics import seasonal_mae
from manymodels.settings import DataSpec

DATA_HASH = "data_hash"  # a series' profile field, and the key of its file's attrs (pandas metadata) that holds it

# The most periods a series may span, first timestamp to last: its grid is made whole, so two rows decades apart at
# a sub-hourly frequency would be billions of points; a series over it is rejected with its span. About 28 years of
# quarter-hours, 114 of hours, 2 of minutes: more than the models fit in a run. A constant, not a setting: a bound on
# one series' memory (a few hundred bytes a period where it is prepared: the driver, on a small input), not a choice.
MAX_PERIODS = 1_000_000


def series_key(series_id: str) -> str:
    """A short file-safe key for a series, stable across runs and machines."""
    return hashlib.blake2b(series_id.encode(), digest_size=8).hexdigest()


def prepare_series(
    rows: pd.DataFrame, spec: DataSpec, now: pd.Timestamp | None = None
) -> tuple[pd.DataFrame | None, dict]:
    """Return the regularised series with its split labels (None if rejected) and its profile."""
    series_id = str(rows[SERIES_ID].iloc[0])
    ids = {col: rows[col].iloc[0] for col in spec.id_cols}
    now = now or pd.Timestamp.now(tz="UTC").tz_localize(None)
    if not (increasing := _increasing(rows[TIME].to_numpy())):
        rows = rows.sort_values([TIME, ROW])
    n_duplicates = 0 if increasing else int(rows[TIME].duplicated().sum())
    profile = {
        **ids,
        SERIES_ID: series_id,
        "key": series_key(series_id),
        "data_hash": data_hash(rows, spec.regressors),
        "n_rows": len(rows),
        "n_duplicates": n_duplicates,
    }
    if isinstance(made := regularised(rows, spec, now), str):
        return None, profile | {"status": "rejected", "reason": made}
    y, filled, regressors, future = made
    grid = y.index
    profile |= {"length": len(y), "n_filled": int(filled.sum()), "start": grid[0], "end": grid[-1]}
    if len(y) < spec.min_length:
        return None, profile | {
            "status": "rejected",
            "reason": f"too short: {len(y)} points, at least {spec.min_length} are needed (a horizon of history "
            "and a point more)",
        }
    if y.nunique() == 1:
        return None, profile | {"status": "rejected", "reason": f"constant target ({y.iloc[0]:g})"}
    frame = series_frame(y, filled, regressors, future, spec, ids | {SERIES_ID: series_id})
    frame.attrs[DATA_HASH] = profile["data_hash"]  # its file records it: pyarrow keeps a frame's attrs
    return frame, profile | accepted_profile(y.to_numpy(), grid, spec)


def accepted_profile(y: np.ndarray, dates, spec: DataSpec) -> dict:
    """The profile fields of an accepted series, from its values on its grid."""
    history = y[: len(y) - spec.test_length(len(y))]
    folds = spec.folds_for(len(history))
    before_folds = len(history) - folds * spec.horizon
    summaries = {
        model.name: summary
        for model in registry.across_series()
        if (summary := model.summarise(y[:before_folds], dates[:before_folds], spec)) is not None
    }
    return {
        "status": "ok",
        "reason": "",
        "folds": folds,
        "short_history": spec.is_short(len(history)),
        "scored": len(history) < len(y),
        "intermittent": is_intermittent(history[:before_folds]),
        **describe(y, history, spec.period),
        "summaries": json.dumps(summaries) if summaries else "",
    }


def regularised(rows: pd.DataFrame, spec: DataSpec, now: pd.Timestamp):
    """A series' rows (in time order) checked, merged and put on their grid, gaps filled: (y, filled, regressors,
    future), or why the series cannot be used."""
    if reason := rejection(rows, spec, now):
        return reason
    rows = merge_duplicates(rows, spec.duplicates, spec.regressors).set_index(TIME)
    future = None
    if spec.regressors:
        rows, future = split_future(rows, spec)
        if isinstance(future, str):
            return future
    if reason := too_long(rows.index[0], rows.index[-1], spec.freq):
        return reason
    grid = pd.date_range(rows.index[0], rows.index[-1], freq=spec.freq)
    if n_off := int((~rows.index.isin(grid)).sum()):
        return f"{n_off} timestamps off the {spec.freq} grid"
    y = rows[TARGET].reindex(grid)
    filled = y.isna()
    regressors = rows[spec.regressors].reindex(grid).apply(_filled, fill=spec.fill)
    if empty := [col for col in spec.regressors if regressors[col].isna().any()]:
        return f"regressor {empty[0]!r} has no values"
    return _filled(y, spec.fill), filled, regressors, future


def too_long(first: pd.Timestamp, last: pd.Timestamp, freq: str) -> str:
    """Why a series from first to last spans too many periods of freq to be put on its grid, or ''. Counted, not
    made, where periods have a fixed length; a frequency without (months, business days, business hours) has at most
    about 1.2 million within pandas' timestamps (1677 to 2262), so its grid is made to count them."""
    step = pd.tseries.frequencies.to_offset(freq)
    length = fixed_length(step)
    periods = (last - first) // length + 1 if length else len(pd.date_range(first, last, freq=step))
    if periods <= MAX_PERIODS:
        return ""
    return (
        f"spans {periods:,} periods of {freq} from {_moment(first)} to {_moment(last)}, over the {MAX_PERIODS:,} a "
        "series may span"
    )


def _moment(when: pd.Timestamp) -> str:
    """A timestamp as briefly as it reads whole: its date alone at midnight, its minute on the minute."""
    if when == when.normalize():
        return f"{when:%Y-%m-%d}"
    return f"{when:%Y-%m-%d %H:%M}" if when == when.floor("min") else str(when)


def _increasing(times: np.ndarray) -> bool:
    return bool((times[1:] > times[:-1]).all())


def fixed_length(step: pd.DateOffset) -> pd.Timedelta | None:
    """The length of a frequency's periods where every period has the same (on naive timestamps), else None."""
    if isinstance(step, pd.offsets.Tick | pd.offsets.Day):
        return pd.Timedelta(step)
    if isinstance(step, pd.offsets.Week):
        return pd.Timedelta(days=7 * step.n)
    return None


def series_frame(
    y: pd.Series, filled, regressors: pd.DataFrame | None, future: pd.DataFrame | None, spec: DataSpec, labels: dict
) -> pd.DataFrame:
    """The series file's rows: the regular grid with its split labels and regressors, then the future's dates with
    the regressors' values there; labels (the ids) on every row."""
    columns = {
        TIME: y.index,
        TARGET: y.to_numpy(),
        FILLED: np.asarray(filled),
        SPLIT: split_labels(len(y), spec.test_length(len(y))),
    }
    frame = pd.DataFrame(columns | {col: regressors[col].to_numpy() for col in spec.regressors} | labels)
    if future is not None:
        tail = {TIME: future.index, TARGET: np.nan, FILLED: False, SPLIT: FUTURE}
        tail = pd.DataFrame(tail | {col: future[col].to_numpy() for col in spec.regressors} | labels)
        frame = pd.concat([frame, tail], ignore_index=True)
    return frame


def _filled(values: pd.Series, fill: str) -> pd.Series:
    return values.fillna(0.0) if fill == "zero" else values.interpolate(limit_direction="both")


def split_future(rows: pd.DataFrame, spec: DataSpec) -> tuple[pd.DataFrame, pd.DataFrame | str]:
    """A series' rows up to its last target, and its regressors' values over the horizon after it (indexed by
    those dates), or why they are not all given."""
    last = rows[TARGET].last_valid_index()
    dates = pd.date_range(last, periods=spec.horizon + 1, freq=spec.freq)[1:]
    given = rows.loc[rows.index > last, spec.regressors].reindex(dates)
    if (n_given := int(given.notna().all(axis=1).sum())) < spec.horizon:
        return rows.loc[:last], (
            f"regressors need values for the {spec.horizon} periods after the last target ({n_given} given)"
        )
    return rows.loc[:last], given


def rejection(rows: pd.DataFrame, spec: DataSpec, now: pd.Timestamp) -> str:
    """Why a series' rows (sorted by time) cannot be used as given, or '' if they can. With regressors, rows
    without a target are the future's and may lie after now."""
    y = rows[TARGET]
    if y.isna().all():
        return "all targets missing"
    if n := int(np.isinf(y).sum()):
        return f"{n} non-finite targets"
    if spec.non_negative and (n := int((y < 0).sum())):
        return f"{n} negative targets"
    dated = rows.loc[y.notna(), TIME] if spec.regressors else rows[TIME]
    if n := int((dated > now).sum()):
        return f"{n} timestamps in the future (after {now:%Y-%m-%d %H:%M} UTC)"
    if spec.duplicates == "fail":
        copies = rows.drop_duplicates([TIME, TARGET])
        if n := int(copies[TIME].duplicated().sum()):
            return f"{n} duplicated timestamps with different values (set duplicates to sum or last to merge them)"
    return ""


def merge_duplicates(rows: pd.DataFrame, how: str, regressors: list[str] = ()) -> pd.DataFrame:
    """One row per timestamp: identical copies collapse; otherwise sum them (the regressors' last values kept),
    or keep the last row read."""
    if how == "sum":
        by_time = rows.groupby(TIME)
        return by_time[TARGET].sum(min_count=1).to_frame().join(by_time[list(regressors)].last()).reset_index()
    return rows.drop_duplicates([TIME], keep="last")


def data_hash(rows: pd.DataFrame, regressors: list[str] = ()) -> str:
    """A digest of a series' rows (time, target and every regressor), so reruns can tell which series changed: in time
    order, the rows of one time in the order given, which decides what duplicates = last and sum keep."""
    if not _increasing(rows[TIME].to_numpy()):  # else the sort changes nothing
        rows = rows.sort_values(TIME, kind="stable")
    return digest(row_hashes(rows[TIME].to_numpy(), rows[TARGET].to_numpy(), [rows[c].to_numpy() for c in regressors]))


def row_hashes(times: np.ndarray, y: np.ndarray, regressors: list[np.ndarray] = ()) -> np.ndarray:
    """One hash per row of (time, target, regressors); a row's hash does not depend on the other rows."""
    values = pd.DataFrame({"ds": times.astype("datetime64[us]").view("int64"), "y": y})
    for number, column in enumerate(regressors):
        values[f"x{number}"] = column
    return pd.util.hash_pandas_object(values, index=False).to_numpy()


def digest(hashes: np.ndarray) -> str:
    return hashlib.blake2b(hashes.tobytes(), digest_size=8).hexdigest()


def split_labels(length: int, test: int) -> np.ndarray:
    """The last `test` points are 'test', the rest 'train' (the folds are cut from them at tuning time)."""
    labels = np.full(length, TRAIN, dtype=object)
    labels[length - test :] = TEST
    return labels


def describe(y: np.ndarray, history: np.ndarray, period: int) -> dict[str, float]:
    """Profile of a series; mase_scale is the in-sample seasonal naive MAE on the history before the test."""
    mean = float(y.mean())
    return {
        "zero_share": float((y == 0).mean()),
        "mean": mean,
        "volatility": float(y.std() / mean) if mean else np.nan,
        "mase_scale": seasonal_mae(history, period),
    }


def profile_schema(spec: DataSpec) -> dict[str, str]:
    """Column types of the profile table: the id columns, then PROFILE."""
    return {col: "string" for col in spec.id_cols} | PROFILE


def profile_frame(profiles: list[dict], spec: DataSpec) -> pd.DataFrame:
    """Profiles as a frame with the profile_schema types."""
    schema = profile_schema(spec)
    return pd.DataFrame(profiles, columns=list(schema)).astype(schema)
