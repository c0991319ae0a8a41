"""Ingest on Dask: read, check the contract, regularise and split every series, write one file per series."""

import difflib
import functools
import logging
import operator
from collections.abc import Callable
from dataclasses import dataclass, field

import dask.dataframe as dd
import pandas as pd
from distributed import default_client

from manymodels import storage
from manymodels.columns import PATH, SERIES_ID
from manymodels.contract import find_problems, to_contract
from manymodels.errors import InputError
from manymodels.forecasters.base import RunInputs
from manymodels.gridded import prepare_gridded
from manymodels.layout import RunLayout
from manymodels.prepare import prepare_series, profile_frame, profile_schema
from manymodels.settings import DataSpec, TuningSpec

log = logging.getLogger(__name__)

_COMPRESSED = (".gz", ".bz2", ".xz", ".zip", ".zst")


@dataclass(frozen=True)
class Ingested:
    """What the ingest step hands on: one profile row per input series, and where the series files are."""

    profiles: pd.DataFrame
    layout: RunLayout
    n_rows: int
    empty_files: list[str] = field(default_factory=list)  # skipped, and listed in the summary

    @property
    def accepted(self) -> pd.DataFrame:
        return self.profiles[self.profiles["status"] == "ok"]

    @property
    def rejected(self) -> pd.DataFrame:
        return self.profiles[self.profiles["status"] != "ok"]

    def run_inputs(self, data: DataSpec, tuning: TuningSpec, work: str) -> RunInputs:
        """What a model that learns across series learns from (manymodels.forecasters.base)."""
        return RunInputs(self.accepted, self.series_urls(), data, tuning, work)

    def series_urls(self) -> dict[str, str]:
        """series_id -> URL of its prepared file, for every accepted series."""
        return {row.series_id: self.layout.series_file(row.key) for row in self.accepted.itertuples()}


def read_raw(spec: DataSpec) -> tuple[dd.DataFrame, list[str]]:
    """Lazily read the input's needed columns and no others (a CSV's are not parsed, a Parquet file's not read),
    failing early on a missing file or column; also return the empty files that were skipped. A CSV's rows carry
    the file they came from (PATH)."""
    url, empty = spec.url, []
    needed = [*spec.id_cols, spec.time_col, spec.target_col, *spec.regressors]
    try:
        if _is_parquet(url):
            raw = dd.read_parquet(url, storage_options=storage.options(url))  # its schema: raw[needed] reads those
            columns = list(raw.columns)
        else:
            files, empty = csv_files(url)
            raw = _read_csv(files, spec, usecols=functools.partial(operator.contains, frozenset(needed)))
            missing = [col for col in needed if col not in raw.columns]
            columns = list(_read_csv(files, spec).columns.drop(PATH)) if missing else needed  # all, for the hint
    except InputError:
        raise
    except Exception as e:
        raise unreadable(spec, e) from None
    for col in needed:
        if col not in columns:
            columns = [str(c) for c in columns]
            hint = difflib.get_close_matches(col, columns, n=1, cutoff=0.5)
            also = f"; did you mean {hint[0]!r}?" if hint else f"; it has {', '.join(columns)}"
            raise InputError(f"column {col!r} is not in {url}{also}")
    # a Parquet file's own column named PATH, if it has one, is not the file a row came from
    return (raw[needed] if _is_parquet(url) else raw[[*needed, PATH]]), empty


def _read_csv(files: list[str], spec: DataSpec, usecols: Callable[[str], bool] | None = None) -> dd.DataFrame:
    """The CSV files, every value a string; only the columns usecols takes (all without it) are parsed."""
    return dd.read_csv(
        files,
        dtype=str,
        usecols=usecols,
        blocksize=None if spec.url.endswith(_COMPRESSED) else "64MB",
        compression="infer",
        encoding=spec.encoding,
        include_path_column=PATH,
        storage_options=storage.options(spec.url),
    )


def csv_files(url: str) -> tuple[list[str], list[str]]:
    """The files a path or glob names, split into those with content and the empty ones."""
    fs, paths = storage.input_paths(url)
    if not paths:
        raise InputError(f"no file matches {url}")
    sizes = {path: fs.size(path) for path in paths}
    named = {path: path if storage.is_local(url) else fs.unstrip_protocol(path) for path in paths}
    full = [named[p] for p in paths if sizes[p]]
    if not full:
        raise InputError(f"no rows in {url}: {'the file is' if len(paths) == 1 else 'every file is'} empty")
    return full, [named[p] for p in paths if not sizes[p]]


class SpillError(RuntimeError):
    """Writing the work area failed: not the input's fault, so not reported as an InputError."""


def ingest(spec: DataSpec, layout: RunLayout, on_valid: Callable[[], None] = lambda: None) -> Ingested:
    """Validate the input (then call on_valid), regularise, profile, split and write each series to the run's
    work area."""
    raw, empty_files = read_raw(spec)
    if empty_files:
        log.warning("skipped %d empty files: %s", len(empty_files), ", ".join(empty_files[:5]))
    contract_url = layout.contract  # the run's own: no other run's tasks write there
    remove_tree(contract_url, layout.output)  # parts an earlier attempt of this run left are not this input's
    try:
        n_rows = check_and_spill(raw, spec, contract_url)
        on_valid()
        contract = dd.read_parquet(contract_url, storage_options=storage.options(contract_url))
        n_parts = max(contract.npartitions, 2 * len(default_client().nthreads()))
        if contract.npartitions < n_parts or not series_partitioned(contract):
            contract = contract.shuffle(SERIES_ID, npartitions=n_parts)  # each series' rows in one partition
        profiles = (
            contract.map_partitions(prepare_partition, spec, layout, meta=profile_schema(spec))
            .compute()
            .sort_values(SERIES_ID, ignore_index=True)
        )
    finally:
        remove_tree(contract_url, layout.output)
    storage.write_parquet(layout.profiles, profiles)
    log.info("ingested %d rows into %d series (%d rejected)", n_rows, len(profiles), (profiles.status != "ok").sum())
    return Ingested(profiles=profiles, layout=layout, n_rows=n_rows, empty_files=empty_files)


def series_partitioned(contract: dd.DataFrame) -> bool:
    """Whether every series' rows already lie in one partition (an input written file by file per group of series,
    say), so that the shuffle has nothing to bring together; reads the series ids alone."""
    ids = contract[SERIES_ID].map_partitions(lambda part: part.drop_duplicates(), meta=contract[SERIES_ID]._meta)
    return not ids.compute().duplicated().any()


def check_and_spill(raw: dd.DataFrame, spec: DataSpec, contract_url: str) -> int:
    """Check the input against the contract and write it, mapped onto the contract, to contract_url in the same
    pass: the input is parsed once, and not held in memory until the shuffle. The number of rows if it passes.

    Raises InputError naming the first problem that stops the run, with how many rows have it and an example.
    """
    meta = {"problem": str, "count": int, "example": str}
    try:
        problems = raw.map_partitions(check_partition, spec, contract_url, meta=meta).compute()
    except SpillError:
        raise
    except Exception as e:
        raise unreadable(spec, e) from None
    problems = problems.groupby("problem", sort=False).agg(count=("count", "sum"), example=("example", "first"))
    n_rows = int(problems.loc["rows", "count"]) if "rows" in problems.index else 0
    if n_rows == 0:
        raise InputError(f"no rows in {spec.url}")
    blocking = problems.drop(index="rows")
    if len(blocking):
        problem, row = next(blocking.iterrows())
        where = "" if PATH in raw.columns else f"{spec.url}: "
        raise InputError(f"{where}{problem}: {row['count']} rows, e.g. {row['example']}")
    return n_rows


def check_partition(raw: pd.DataFrame, spec: DataSpec, contract_url: str, partition_info=None) -> pd.DataFrame:
    """The problems of one partition of the input; the partition, mapped onto the contract, goes to contract_url."""
    contract = to_contract(raw, spec, partition_info)
    number = (partition_info or {}).get("number") or 0
    try:
        storage.write_parquet(storage.join(contract_url, f"part-{number:06d}.parquet"), contract)
    except Exception as e:
        raise SpillError(f"cannot write {contract_url}: {_first_line(e)}") from e
    return find_problems(raw, spec, contract)


def remove_tree(url: str, above: str | None = None) -> None:
    """Remove url and everything under it; on a local disk, also the folders between it and above (a folder over
    it, itself kept; without it, url's parent alone) that are left empty."""
    fs, path = storage.url_to_fs(url)
    if fs.exists(path):
        fs.rm(path, recursive=True)
    if not storage.is_local(url):
        return
    stop = storage.url_to_fs(above)[1].rstrip("/") if above else path.rsplit("/", 2)[0]
    parent = path.rsplit("/", 1)[0]
    while parent.startswith(stop + "/") and fs.isdir(parent) and not fs.ls(parent):
        fs.rmdir(parent)
        parent = parent.rsplit("/", 1)[0]


def remove_run_work(layout: RunLayout) -> None:
    """Remove the run's own work folder, _work/<run>, at its end (never another run's). A failure is logged and
    not raised: the run's outcome stands, and the folder only takes space."""
    try:
        remove_tree(layout.run_work, layout.work)
    except OSError as e:
        log.warning("could not remove %s: %s", layout.run_work, _first_line(e))


def prepare_partition(part: pd.DataFrame, spec: DataSpec, layout: RunLayout) -> pd.DataFrame:
    """Prepare every series of one partition and write the accepted ones, one Parquet file each."""
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    gridded = prepare_gridded(part, spec, now)
    for profile, table in zip(gridded.profiles, gridded.tables, strict=True):
        storage.write_table(layout.series_file(profile["key"]), table)
    profiles = list(gridded.profiles)
    for _, rows in gridded.rest.groupby(SERIES_ID, sort=False, observed=True):
        frame, profile = prepare_series(rows, spec, now)
        if frame is not None:
            storage.write_parquet(layout.series_file(profile["key"]), frame)
        profiles.append(profile)
    return profile_frame(profiles, spec)


def unreadable(spec: DataSpec, error: Exception) -> InputError:
    """One line saying why the input could not be read (pandas, pyarrow and fsspec raise many types)."""
    if isinstance(error, UnicodeDecodeError):
        return InputError(f"cannot read {spec.url}: not {spec.encoding} text ({error.reason}); set its encoding")
    if isinstance(error, OSError):
        return InputError(f"cannot read {spec.url}: {_first_line(error)}")
    return InputError(f"cannot read {spec.url}: {type(error).__name__}: {_first_line(error)}")


def _is_parquet(url: str) -> bool:
    name = url.rstrip("/").lower()
    return name.endswith((".parquet", ".pq")) or "." not in name.rsplit("/", 1)[-1]


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
