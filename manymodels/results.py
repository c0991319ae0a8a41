"""Tuning results under their cache keys, as Parquet: data that cannot run code, checked when read. A file that
cannot be read or fails the check is moved aside, logged, and its series recomputed."""

import io
import logging
import re
import uuid
from collections.abc import Iterable

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict

from manymodels import storage
from manymodels.columns import SERIES_ID
from manymodels.layout import RunLayout
from manymodels.series import SeriesResult, SeriesSummary

log = logging.getLogger(__name__)

KEY = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
META = b"manymodels.result"
PARTS = ("backtest", "forecast", "folds")


class ResultRecord(BaseModel):
    """A result's numbers (under its key) and its frames' columns, stored in the Parquet file's metadata."""

    model_config = ConfigDict(extra="forbid")

    summary: SeriesSummary
    columns: dict[str, list[str]]  # part -> its columns


class ResultFiles:
    """One Parquet file per cache key under url; those that fail to load go to aside_url."""

    def __init__(self, url: str, aside_url: str) -> None:
        self.url, self.aside_url = url, aside_url

    def path(self, key: str) -> str:
        if not KEY.match(key):
            raise ValueError(f"not a cache key: {key!r}")
        return storage.join(self.url, f"{key}.parquet")

    def save(self, key: str, result: SeriesResult) -> None:
        frames = {part: getattr(result, part) for part in PARTS}
        record = ResultRecord(
            summary=result.summary(key), columns={part: list(f.columns) for part, f in frames.items()}
        )
        rows = pd.concat([f.assign(part=p) for p, f in frames.items()], ignore_index=True)
        floats = rows.select_dtypes("floating").columns  # one schema for every result: statsforecast gives float32
        table = pa.Table.from_pandas(rows.astype(dict.fromkeys(floats, "float64")))
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), META: record.model_dump_json()})
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        storage.write_bytes(self.path(key), buffer.getvalue())

    def saved(self, keys: Iterable[str]) -> set[str]:
        """Which of the keys have a result stored, by one fresh listing of the folder."""
        names = storage.names_in(self.url)
        return {key for key in keys if f"{key}.parquet" in names}

    def load(self, key: str) -> SeriesResult | None:
        """The result stored under key; None if there is none, or if what is there is unreadable or invalid (then
        it is moved aside)."""
        path = self.path(key)
        fs = storage.filesystem(path)
        try:
            with fs.open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        try:
            return self._parse(key, data)
        except Exception as e:  # anything wrong with a file found in a shared place: recompute, keep it to look at
            self._set_aside(key, path, e)
            return None

    def frames(self, results: list[SeriesSummary], batch: int = 1000) -> tuple[pd.DataFrame, ...]:
        """Every result's backtest, forecast and folds rows, each with its series_id: read in batches
        (concurrently from S3) and stacked as Arrow tables, so the driver never holds a frame per series."""
        fs, _ = storage.url_to_fs(self.url)
        tables, columns = [], {part: {} for part in PARTS}
        for start in range(0, len(results), batch):
            paths = {storage.url_to_fs(self.path(r.key))[1]: r for r in results[start : start + batch]}
            found = fs.cat(list(paths))
            for path, summary in paths.items():
                table, record = self._checked(summary.key, found[path])
                if record.summary.series_id != summary.series_id:
                    raise ValueError(
                        f"result {summary.key} changed during the run: it is for {record.summary.series_id}"
                    )
                for part in PARTS:
                    columns[part] |= dict.fromkeys(record.columns[part])
                ids = pa.array([summary.series_id] * len(table), pa.string())
                tables.append(table.replace_schema_metadata(None).append_column(SERIES_ID, ids))
        if not tables:
            return tuple(pd.DataFrame({SERIES_ID: pd.Series(dtype="string")}) for _ in PARTS)
        stacked = pa.concat_tables(tables, promote_options="permissive")  # files of earlier versions had float32
        return tuple(
            stacked.filter(pc.equal(stacked["part"], part)).select([*columns[part], SERIES_ID]).to_pandas()
            for part in PARTS
        )

    @staticmethod
    def _checked(key: str, data: bytes) -> tuple[pa.Table, ResultRecord]:
        table = pq.read_table(io.BytesIO(data))
        record = ResultRecord.model_validate_json((table.schema.metadata or {})[META])
        if record.summary.key != key:
            raise ValueError(f"stored under {key} but made for {record.summary.key}")
        return table, record

    @staticmethod
    def _parse(key: str, data: bytes) -> SeriesResult:
        table, record = ResultFiles._checked(key, data)
        frame = table.to_pandas()
        frames = {}
        for part in PARTS:
            rows = frame[frame["part"] == part]
            frames[part] = rows[record.columns[part]].reset_index(drop=True)
        scalars = {name: value for name, value in vars(record.summary).items() if name != "key"}
        return SeriesResult(**scalars, **frames)

    def _set_aside(self, key: str, path: str, error: Exception) -> None:
        aside = storage.join(self.aside_url, f"{key}.{uuid.uuid4().hex[:8]}.parquet")
        log.warning(
            "result %s could not be used (%s: %s); moved to %s and recomputed",
            key,
            type(error).__name__,
            str(error).splitlines()[0] if str(error) else "",
            aside,
        )
        try:
            storage.move(path, aside)
        except OSError:
            storage.remove(path)


def result_files(layout: RunLayout) -> ResultFiles:
    """The result files of a run location."""
    return ResultFiles(layout.results, layout.results_aside)
