"""The series of a partition whose rows already are their grid, prepared together: one check over every row, one
Arrow table, a slice of it per series file. Most inputs are one row per period, in order, nothing missing; a
series that is not (gaps, duplicates, a bad value, too short, constant, regressors) goes to prepare_series."""

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from manymodels.columns import FILLED, SERIES_ID, SPLIT, TARGET, TEST, TIME, TRAIN
from manymodels.prepare import (
    DATA_HASH,
    MAX_PERIODS,
    accepted_profile,
    digest,
    fixed_length,
    row_hashes,
    series_key,
)
from manymodels.settings import DataSpec


@dataclass(frozen=True)
class Gridded:
    """What the partition's gridded series became: each one's profile and file contents (an Arrow table slice),
    and the rows of every other series."""

    profiles: list[dict]
    tables: list[pa.Table]
    rest: pd.DataFrame


def prepare_gridded(part: pd.DataFrame, spec: DataSpec, now: pd.Timestamp) -> Gridded:
    """Prepare, as prepare_series would, every series of part whose rows already are its grid."""
    step = pd.tseries.frequencies.to_offset(spec.freq)
    if spec.regressors or not (length := fixed_length(step)) or part.empty:
        return Gridded([], [], part)
    codes, series_ids = pd.factorize(part[SERIES_ID], sort=False)
    times = part[TIME].to_numpy()
    order = np.argsort(codes, kind="stable")  # each series' rows together, in the order read: by time, mostly
    grouped = codes[order]
    if not (np.diff(times[order])[grouped[1:] == grouped[:-1]] > np.timedelta64(0)).all():
        order = np.lexsort((times, codes))
    codes, times, y = codes[order], times[order], part[TARGET].to_numpy(float)[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    off_step = np.r_[False, np.diff(times) != length.to_timedelta64()]
    off_step[starts] = False  # a series' first row has no step before it
    unusable = off_step | ~np.isfinite(y) | (spec.non_negative & (y < 0))
    gridded = (np.add.reduceat(unusable, starts) == 0) & (times[ends - 1] <= now.to_datetime64())
    # a series with no test window of its own: prepare_series labels it
    gridded &= (ends - starts >= spec.scored_length) & (np.minimum.reduceat(y, starts) < np.maximum.reduceat(y, starts))
    gridded &= ends - starts <= MAX_PERIODS  # one row a period: longer, prepare_series rejects it with its span
    if isinstance(step, pd.offsets.Week) and step.weekday is not None:
        gridded &= pd.DatetimeIndex(times[starts]).weekday == step.weekday
    taken = np.repeat(gridded, ends - starts)
    rest = part.iloc[np.sort(order[~taken])]
    if not taken.any():
        return Gridded([], [], rest)
    sizes = (ends - starts)[gridded]
    firsts = np.r_[0, np.cumsum(sizes)[:-1]]
    times, y = times[taken], y[taken]
    firsts_read = order[starts[gridded]]  # each gridded series' first row in part
    labels = {col: part[col].iloc[firsts_read].to_numpy() for col in spec.id_cols}
    labels[SERIES_ID] = series_ids.to_numpy()[codes[starts[gridded]]]
    table = _table(times, y, sizes, firsts, labels, spec.horizon)
    hashes = row_hashes(times, y)
    profiles = []
    for i, (first, size) in enumerate(zip(firsts, sizes, strict=True)):
        rows = slice(first, first + size)
        series_id = str(labels[SERIES_ID][i])
        profiles.append(
            {col: labels[col][i] for col in spec.id_cols}
            | {SERIES_ID: series_id, "key": series_key(series_id), DATA_HASH: digest(hashes[rows])}
            | {"n_rows": size, "n_duplicates": 0, "length": size, "n_filled": 0}
            | {"start": pd.Timestamp(times[first]), "end": pd.Timestamp(times[first + size - 1])}
            | accepted_profile(y[rows], times[rows], spec)
        )
    tables = [
        _with_digest(table.slice(first, size), profile[DATA_HASH])
        for first, size, profile in zip(firsts, sizes, profiles, strict=True)
    ]
    return Gridded(profiles, tables, rest)


def _with_digest(table: pa.Table, data_hash: str) -> pa.Table:
    """The table with the digest of its data in its pandas metadata, as prepare_series' frame holds it in its attrs."""
    pandas = json.loads(table.schema.metadata[b"pandas"]) | {"attributes": {DATA_HASH: data_hash}}
    return table.replace_schema_metadata(table.schema.metadata | {b"pandas": json.dumps(pandas).encode()})


def _table(
    times: np.ndarray, y: np.ndarray, sizes: np.ndarray, firsts: np.ndarray, labels: dict, horizon: int
) -> pa.Table:
    """Every gridded series' file rows, one after another, with the columns (and the pandas metadata) that
    series_frame gives one series; the strings are taken from their few distinct values, not made row by row."""
    one = {TIME: times[:1], TARGET: y[:1], FILLED: [False], SPLIT: [TRAIN]}
    schema = pa.Table.from_pandas(
        pd.DataFrame(one | {c: v[:1] for c, v in labels.items()}), preserve_index=False
    ).schema
    series = np.repeat(np.arange(len(sizes)), sizes)
    position = np.arange(len(y)) - np.repeat(firsts, sizes)
    tested = (position >= np.repeat(sizes - horizon, sizes)).astype(np.int8)
    columns = [times, y, np.zeros(len(y), bool), pa.array([TRAIN, TEST]).take(tested)]
    columns += [pa.array(values, type=pa.large_string()).take(series) for values in labels.values()]
    return pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)], schema=schema)
