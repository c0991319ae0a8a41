"""Keys of what a series' tuning depends on, the per-series jobs built from them, and the run manifest."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from manymodels import storage
from manymodels.contract import SERIES_ID
from manymodels.layout import RunLayout
from manymodels.search_space import FOURIER, describe_space
from manymodels.settings import DataSpec, TuningSpec
from manymodels.studies import StudyPlace, is_database

if TYPE_CHECKING:  # the ingest module imports Dask, which Ray workers have no use for
    from manymodels.ingest import Ingested

PACKAGES = ("prefect", "prefect-ray", "ray", "dask", "distributed", "optuna", "prophet", "pandas", "numpy", "s3fs")


def digest(*parts: object) -> str:
    return hashlib.blake2b(json.dumps(parts, sort_keys=True, default=str).encode(), digest_size=8).hexdigest()


@functools.cache
def code_version() -> str:
    """A digest of this package's source: any change to the forecasting code changes every key."""
    root = Path(__file__).parent
    return digest(*[(p.name, p.read_text()) for p in sorted(root.glob("*.py"))])


@dataclass(frozen=True)
class SeriesJob:
    """One series' tuning: its prepared file, its durable study, its cache key and optional warm start."""

    series_id: str
    url: str
    place: StudyPlace
    cache_key: str
    warm_start: dict | None = None


def write_jobs(url: str, jobs: list[SeriesJob]) -> None:
    """Save jobs for the tuning flow: a flow run's parameters are capped in size (512 KiB by default), which a
    list of tens of thousands of jobs would break."""
    storage.write_json(url, {"jobs": [dataclasses.asdict(job) for job in jobs]})


def read_jobs(url: str) -> list[SeriesJob]:
    return [SeriesJob(**job | {"place": StudyPlace(**job["place"])}) for job in storage.read_json(url)["jobs"]]


def default_study_storage(layout: RunLayout) -> str:
    """Journal files beside the run's work files; for a remote run location, under the local home."""
    if storage.is_local(layout.output):
        return layout.studies
    return str(storage.local_home() / "optuna" / digest(layout.work))


def plan_jobs(
    ingested: Ingested, data: DataSpec, tuning: TuningSpec, study_storage: str, previous: dict
) -> list[SeriesJob]:
    """A job per accepted series; study_storage is an RDB URL, or a folder for one journal file per series."""
    config = [
        data.freq,
        data.horizon,
        data.folds,
        data.holidays,
        data.regressors,
        data.period,
        data.fill,
        data.duplicates,
        tuning.metric,
        tuning.seed,
        describe_space(),
    ]
    urls = ingested.series_urls()
    jobs = []
    for row in ingested.accepted.itertuples():
        study_key = digest(row.data_hash, config, code_version())
        where = study_storage if is_database(study_storage) else storage.join(study_storage, f"{row.key}.journal")
        jobs.append(
            SeriesJob(
                series_id=row.series_id,
                url=urls[row.series_id],
                place=StudyPlace(storage=where, name=f"{row.series_id}:{study_key}"),
                cache_key=f"tune-{row.key}-{digest(study_key, tuning.trials, data.levels)}",
                warm_start=previous.get(row.series_id),
            )
        )
    return jobs


def previous_best(layout: RunLayout) -> dict[str, dict]:
    """Best parameters per series from an earlier run at this location, to warm-start changed series."""
    url = layout.table("best_params")
    if not storage.filesystem(url).exists(url):
        return {}
    table = storage.read_parquet(url).set_index(SERIES_ID)
    params = [c for c in table.columns if c in describe_space()]
    out = {}
    for series_id, row in table[params].iterrows():
        values = {k: v for k, v in row.items() if not (isinstance(v, float) and np.isnan(v))}
        out[str(series_id)] = {k: int(v) if k in FOURIER else v for k, v in values.items()}
    return out


def manifest(profiles: pd.DataFrame, data: DataSpec, tuning: TuningSpec) -> dict:
    """What makes the run reproducible: data digests, seeds, search space, package and code versions."""
    hashes = dict(zip(profiles[SERIES_ID], profiles["data_hash"], strict=True))
    return {
        "input_hash": digest(sorted(hashes.items())),
        "series_hashes": hashes,
        "seed": tuning.seed,
        "sampler": "TPE, re-seeded before each trial from the seed, the series id and the complete-trial count",
        "search_space": describe_space(),
        "data": data.model_dump(),
        "packages": {name: importlib.metadata.version(name) for name in PACKAGES},
        "code_version": code_version(),
    }
