"""Ingest on Dask: read, check the contract, regularise and split every series, write one file per series."""

import contextlib
import difflib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import dask
import dask.dataframe as dd
import pandas as pd
from distributed import Client, LocalCluster, default_client

from manymodels import storage
from manymodels.contract import SERIES_ID, find_problems, to_contract
from manymodels.errors import InputError
from manymodels.features import prepare_series, profile_frame, profile_schema
from manymodels.settings import ComputeSpec, DataSpec

log = logging.getLogger(__name__)

_COMPRESSED = (".gz", ".bz2", ".xz", ".zip", ".zst")


@dataclass(frozen=True)
class Ingested:
    """What the ingest step hands on: one profile row per input series, and where the series files are."""

    profiles: pd.DataFrame
    series_dir: str
    n_rows: int

    @property
    def accepted(self) -> pd.DataFrame:
        return self.profiles[self.profiles["status"] == "ok"]

    @property
    def rejected(self) -> pd.DataFrame:
        return self.profiles[self.profiles["status"] != "ok"]

    def series_urls(self) -> dict[str, str]:
        """series_id -> URL of its prepared file, for every accepted series."""
        return {
            row.series_id: storage.join(self.series_dir, f"{row.key}.parquet") for row in self.accepted.itertuples()
        }


@contextlib.contextmanager
def dask_client(compute: ComputeSpec) -> Iterator[Client]:
    """A client on the scheduler at compute.dask_address, or on a LocalCluster bound to 127.0.0.1."""
    logging.getLogger("distributed").setLevel(logging.WARNING)
    logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)  # p2p shuffle start/stop notices
    if compute.dask_address:
        with Client(compute.dask_address) as client:
            yield client
        return
    log.info("starting a local Dask cluster")
    with (
        LocalCluster(
            n_workers=compute.workers,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        log.info("Dask dashboard: %s", client.dashboard_link)
        yield client


def read_raw(spec: DataSpec) -> dd.DataFrame:
    """Lazily read the input's needed columns, failing early on a missing file or column."""
    url = spec.url
    try:
        if _is_parquet(url):
            raw = dd.read_parquet(url)
        else:
            blocksize = None if url.endswith(_COMPRESSED) else "64MB"
            raw = dd.read_csv(url, dtype=str, blocksize=blocksize, compression="infer")
    except (FileNotFoundError, OSError) as e:
        raise InputError(f"cannot read {url}: {_first_line(e)}") from None
    except Exception as e:  # pandas/pyarrow parse errors surface as many types
        raise InputError(f"cannot read {url}: {type(e).__name__}: {_first_line(e)}") from None
    needed = [*spec.id_cols, spec.time_col, spec.target_col]
    for col in needed:
        if col not in raw.columns:
            columns = [str(c) for c in raw.columns]
            hint = difflib.get_close_matches(col, columns, n=1, cutoff=0.5)
            also = f"; did you mean {hint[0]!r}?" if hint else f"; it has {', '.join(columns)}"
            raise InputError(f"column {col!r} is not in {url}{also}")
    return raw[needed]


def ingest(spec: DataSpec, work_url: str) -> Ingested:
    """Validate the input, then regularise, profile, split and write each series to work_url/series/."""
    raw = read_raw(spec)
    problems_lazy = raw.map_partitions(find_problems, spec, meta={"problem": str, "count": int, "example": str})
    contract = raw.map_partitions(to_contract, spec)
    try:
        contract, problems_lazy = dask.persist(contract, problems_lazy)
        problems = (
            problems_lazy.compute()
            .groupby("problem", sort=False)
            .agg(count=("count", "sum"), example=("example", "first"))
        )
    except Exception as e:
        raise InputError(f"cannot read {spec.url}: {type(e).__name__}: {_first_line(e)}") from None
    n_rows = int(problems.loc["rows", "count"]) if "rows" in problems.index else 0
    if n_rows == 0:
        raise InputError(f"no rows in {spec.url}")
    blocking = problems.drop(index="rows")
    if len(blocking):
        problem, row = next(blocking.iterrows())
        raise InputError(f"{problem}: {row['count']} rows, e.g. {row['example']}")
    series_dir = storage.join(work_url, "series")
    n_parts = max(contract.npartitions, 2 * len(default_client().nthreads()))
    profiles = (
        contract.shuffle(SERIES_ID, npartitions=n_parts)
        .map_partitions(prepare_partition, spec, series_dir, meta=profile_schema(spec))
        .compute()
        .sort_values(SERIES_ID, ignore_index=True)
    )
    storage.write_parquet(storage.join(work_url, "profiles.parquet"), profiles)
    log.info("ingested %d rows into %d series (%d rejected)", n_rows, len(profiles), (profiles.status != "ok").sum())
    return Ingested(profiles=profiles, series_dir=series_dir, n_rows=n_rows)


def prepare_partition(part: pd.DataFrame, spec: DataSpec, series_dir: str) -> pd.DataFrame:
    """Prepare every series of one partition and write the accepted ones, one Parquet file each."""
    profiles = []
    for _, rows in part.groupby(SERIES_ID, sort=False, observed=True):
        frame, profile = prepare_series(rows, spec)
        if frame is not None:
            storage.write_parquet(storage.join(series_dir, f"{profile['key']}.parquet"), frame)
        profiles.append(profile)
    return profile_frame(profiles, spec)


def _is_parquet(url: str) -> bool:
    name = url.rstrip("/").lower()
    return name.endswith((".parquet", ".pq")) or "." not in name.rsplit("/", 1)[-1]


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
