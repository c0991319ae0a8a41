"""Keys of what a series' tuning depends on, the per-series jobs built from them, and the run manifest."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, TypeAdapter, field_validator, model_validator

from manymodels import storage
from manymodels.columns import SERIES_ID
from manymodels.layout import RunLayout
from manymodels.prepare import series_key
from manymodels.search_space import FOURIER, describe_space, in_space
from manymodels.settings import ComputeSpec, DataSpec, TuningSpec
from manymodels.studies import StudyPlace, is_database

if TYPE_CHECKING:  # the ingest module imports Dask, which Ray workers have no use for
    from manymodels.ingest import Ingested

log = logging.getLogger(__name__)

PACKAGES = ("prefect", "prefect-ray", "ray", "dask", "distributed", "optuna", "prophet", "pandas", "numpy", "s3fs")
# What a result depends on besides our code and the data: every key covers their versions (cmdstan ships in prophet;
# scipy solves the exact fits; lightgbm, mlforecast and their feature packages make the global model's forecasts).
MODEL_PACKAGES = (
    "prophet",
    "cmdstanpy",
    "statsforecast",
    "statsmodels",
    "holidays",
    "optuna",
    "numpy",
    "pandas",
    "scipy",
    "numba",
    "lightgbm",
    "mlforecast",
    "coreforecast",
    "utilsforecast",
)
# The settings' fields that change no series' result, and so are in no key; every other field of DataSpec and
# TuningSpec is in every key, a new one too. DataSpec: where the input is and what its columns are called (the data's
# digest and the series' id cover what they give), which series are accepted, the reconciliation after tuning.
# ComputeSpec, in no key: where the work runs. global_model: the keys name the models that learned across series.
NOT_IN_KEYS = frozenset(
    {"url", "encoding", "id_cols", "time_col", "target_col", "non_negative", "hierarchy", "global_model"}
    | {"ray_address", "dask_address", "workers", "series_per_task", "optuna_storage", "forward_credentials"}
)
# The fields a study's trials do not depend on: its study is resumed under other values, its result kept under another
# cache key.
RESULT_ONLY = frozenset({"trials", "early_stopping_rounds", "levels", "quantiles", "global_model", "solver_check"})


def digest(*parts: object) -> str:
    return hashlib.blake2b(json.dumps(parts, sort_keys=True, default=str).encode(), digest_size=8).hexdigest()


def model_versions() -> dict[str, str]:
    return {name: importlib.metadata.version(name) for name in MODEL_PACKAGES}


@functools.cache
def code_version() -> str:
    """A digest of this package's source and the modelling packages' versions: a change to either changes every
    key."""
    root = Path(__file__).parent
    sources = sorted(root.rglob("*.py"))
    return digest(*[(str(p.relative_to(root)), p.read_text()) for p in sources], model_versions())


HEX = "[0-9a-f]+"  # a digest


class SeriesJob(BaseModel):
    """One series' tuning: its prepared file, its durable study, its cache key and optional warm start; each field
    checked, as a job file is data found in a shared place."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    series_id: str
    url: str
    place: StudyPlace
    cache_key: str
    warm_start: dict[str, float | int | str] | None = None
    data_hash: str  # of the data the keys were made from, which the series file must hold
    code_version: str  # of the planning code, which the worker's must be
    learned: tuple[str, ...]  # the models that learn across series whose forecasts the keys say compete
    champion: str | None = None  # chosen with the whole run (run_selection); None: by the series' own folds
    pooled: dict[str, float] | None = None  # by level, the run's scaled correction (calibration), where given
    first: str | None = None  # the cache key of the series' first result, whose contest a job with the run keeps

    @field_validator("cache_key", "first")
    @classmethod
    def _a_cache_key(cls, key: str | None) -> str | None:
        if key is not None and not re.fullmatch(rf"tune-[0-9A-Za-z]+-{HEX}", key):  # the series' key, the result's
            raise ValueError(f"not a cache key: {key!r}")
        return key

    def with_the_run(self, champion: str, pooled: dict[str, float]) -> SeriesJob:
        """This job with its champion chosen and the pooled corrections learned across the run, under a cache key of
        its own."""
        series_key, result_key = self.cache_key.rsplit("-", 1)
        key = f"{series_key}-{digest(result_key, champion, pooled)}"
        update = {"champion": champion, "pooled": pooled, "cache_key": key, "first": self.cache_key}
        return self.model_copy(update=update)

    @field_validator("warm_start")
    @classmethod
    def _in_the_search_space(cls, params: dict | None) -> dict | None:
        if params is None:
            return None
        if not in_space(params):
            raise ValueError(f"a warm start outside the search space: {params}")
        return {k: int(v) if k in FOURIER else v for k, v in params.items()}

    @model_validator(mode="after")
    def _the_series_own_study(self) -> SeriesJob:
        if not re.fullmatch(rf"{re.escape(self.series_id)}:{HEX}(:{HEX})?", self.place.name):
            raise ValueError(f"not a study name of series {self.series_id!r}: {self.place.name!r}")
        return self


JOBS = TypeAdapter(list[SeriesJob])


def write_jobs(url: str, jobs: list[SeriesJob]) -> None:
    """Save jobs for the tuning flow: a flow run's parameters are capped in size (512 KiB by default), which a
    list of tens of thousands of jobs would break."""
    storage.write_bytes(url, JOBS.dump_json(jobs))


def read_jobs(url: str, layout: RunLayout, study_storage: str) -> list[SeriesJob]:
    """The jobs saved at url, each checked against what this run would plan for its series: a job file is data
    found in a shared place, and may not point a series at another file, study or cache key."""
    fs, path = storage.url_to_fs(url)
    with fs.open(path, "rb") as f:
        jobs = JOBS.validate_json(f.read())
    for job in jobs:
        key = series_key(job.series_id)
        expected = (layout.series_file(key), study_place(study_storage, key), f"tune-{key}-")
        if (job.url, job.place.storage) != expected[:2] or not job.cache_key.startswith(expected[2]):
            raise ValueError(f"{url}: the job of series {job.series_id!r} does not match this run's layout")
    return jobs


def study_storage(compute: ComputeSpec, layout: RunLayout) -> str:
    """The studies' RDB URL, or the folder of their journal files in the run's work area (on S3 for a remote run
    location, where every node and every rerun reaches them)."""
    return compute.optuna_storage or layout.studies


def study_place(study_storage: str, key: str) -> str:
    """Where a series' study lives: the RDB itself, or its own journal file."""
    return study_storage if is_database(study_storage) else storage.join(study_storage, f"{key}.journal")


def settings_key(data: DataSpec, tuning: TuningSpec, leave_out: frozenset[str] = frozenset()) -> dict:
    """The settings' fields but those in NOT_IN_KEYS and leave_out."""
    return {
        "data": data.model_dump(mode="json", exclude=NOT_IN_KEYS | leave_out),
        "tuning": tuning.model_dump(mode="json", exclude=NOT_IN_KEYS | leave_out),
    }


class PlannedElsewhere(RuntimeError):
    """Jobs whose keys would not say what this worker computes: retrying them here fails the same way."""


class RunContext(BaseModel):
    """What every series of a run is tuned with: the settings, and what each model that learns across series
    learned (small and JSON-able: the global model's is the place of its forecasts)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: DataSpec
    tuning: TuningSpec
    learned: dict[str, Any] = {}


def check_planned(jobs: list[SeriesJob], learned: dict[str, Any]) -> None:
    """Refuse jobs whose keys would not say what is computed here: planned by other code or with other modelling
    packages than this worker's, or with other models that learn across series than those that learned."""
    here = code_version()
    if other := sorted({job.code_version for job in jobs} - {here}):
        raise PlannedElsewhere(
            f"the jobs were planned by other code than this worker's ({', '.join(other)}, here {here}): install the "
            "driver's manymodels and modelling packages on the cluster"
        )
    if other := sorted({job.learned for job in jobs} - {tuple(sorted(learned))}):
        raise PlannedElsewhere(
            f"the jobs were planned with what {', '.join(other[0]) or 'no model'} learned across series, and are "
            f"given what {', '.join(sorted(learned)) or 'no model'} learned"
        )


def plan_jobs(
    ingested: Ingested, data: DataSpec, tuning: TuningSpec, study_storage: str, previous: dict, learned=()
) -> list[SeriesJob]:
    """A job per accepted series; study_storage is an RDB URL, or a folder for one journal file per series;
    learned: the models that learn across series whose forecasts compete."""
    learned = tuple(sorted(learned))
    study_config = [settings_key(data, tuning, leave_out=RESULT_ONLY), describe_space()]
    result_config = [settings_key(data, tuning), learned]
    urls = ingested.series_urls()
    # one database may hold the studies of many run locations: each location's studies are its own
    owner = f":{digest(ingested.layout.output)}" if is_database(study_storage) else ""
    jobs = []
    for row in ingested.accepted.itertuples():
        study_key = digest(row.data_hash, study_config, code_version())
        result_key = digest(study_key, result_config)
        jobs.append(
            SeriesJob(
                series_id=row.series_id,
                url=urls[row.series_id],
                place=StudyPlace(
                    storage=study_place(study_storage, row.key), name=f"{row.series_id}:{study_key}{owner}"
                ),
                cache_key=f"tune-{row.key}-{result_key}",
                warm_start=previous.get(row.series_id),
                data_hash=row.data_hash,
                code_version=code_version(),
                learned=learned,
            )
        )
    return jobs


def previous_best(layout: RunLayout) -> dict[str, dict]:
    """Best parameters per series from an earlier run at this location, to warm-start changed series."""
    url = layout.table("best_params")
    if not storage.filesystem(url).exists(url):
        return {}
    try:
        table = storage.read_parquet(url).set_index(SERIES_ID)
        params = [c for c in table.columns if c in describe_space()]
        out, outside = {}, []
        for series_id, row in table[params].iterrows():
            values = {k: v for k, v in row.items() if not (isinstance(v, float) and np.isnan(v))}
            if in_space(values):
                out[str(series_id)] = {k: int(v) if k in FOURIER else v for k, v in values.items()}
            else:
                outside.append(str(series_id))
    except Exception as e:  # a warm start is an optimisation: a file that cannot give one is passed over
        log.warning("no warm starts: %s is unreadable (%s: %s)", url, type(e).__name__, str(e).splitlines()[:1])
        return {}
    if outside:
        log.warning(
            "no warm start for %d series whose parameters in %s are outside the search space", len(outside), url
        )
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
        "packages": {name: importlib.metadata.version(name) for name in sorted({*PACKAGES, *MODEL_PACKAGES})},
        "code_version": code_version(),
    }
