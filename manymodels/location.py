"""A run location's own records: the marker that says a folder is one, and the published sets it keeps as versions.

A published set is written whole under versions/<run> first, then copied to the top level (summary.json last, so a
reader who goes by it sees one complete set); the oldest versions beyond the number kept are removed, file by file,
by the names these records and the layout give, and nothing else under the location is ever removed."""

import logging
import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ValidationError

from manymodels import storage
from manymodels.errors import InputError
from manymodels.layout import MARKER, OUTPUT_FILES, PLOT_FILES, TABLES, RunLayout

log = logging.getLogger(__name__)

RUN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
KEEP_VERSIONS = 7


class NotALocation(InputError):
    """A folder that holds files but is not a run location: nothing in it is ours to replace."""


class Version(BaseModel):
    run: str
    published_at: datetime


class Records(BaseModel):
    """manymodels-location.json: the published set at the top level and the versions kept, newest first."""

    kind: Literal["manymodels run location"] = "manymodels run location"
    published: str | None = None
    versions: list[Version] = []

    def runs(self) -> list[str]:
        return [v.run for v in self.versions]


def read_records(layout: RunLayout) -> Records | None:
    """The location's records; None where there are none (a new folder, or files that are not a run location)."""
    try:
        return Records.model_validate(storage.read_json(layout.marker))
    except FileNotFoundError:
        return None
    except (ValidationError, ValueError) as e:
        raise NotALocation(f"{layout.marker} is not a run location's record ({type(e).__name__})") from e


def pattern_in(output: str) -> str | None:
    """Why an object-store location cannot be used, if it names a pattern: fsspec would expand it to others."""
    if storage.has_glob(output):
        return f"{output}: an object-store location cannot hold *, ?, [ or ] (they would match other locations)"
    return None


def claim(layout: RunLayout) -> Records:
    """The location's records, marking a new or empty folder as a run location; a folder that holds other files is
    refused, as is one of an earlier version of manymodels unless its summary.json is a run's."""
    if problem := pattern_in(layout.output):
        raise NotALocation(problem)
    if records := read_records(layout):
        return records
    contents = _listing(layout.output)
    if contents and not (legacy := _legacy_run(layout)):
        raise NotALocation(
            f"{layout.output} already holds files and is not a manymodels run location (no {MARKER}); "
            "choose a new or empty folder"
        )
    records = Records(published=legacy if contents else None)
    write_records(layout, records)
    return records


def write_records(layout: RunLayout, records: Records) -> None:
    storage.write_json(layout.marker, records.model_dump(mode="json"))


def publish(layout: RunLayout, run: str, keep: int = KEEP_VERSIONS) -> Records:
    """Make the version of run, already written under versions/<run>, the published set; keep the newest `keep`."""
    records = claim(layout)
    now = datetime.now(UTC)
    records.versions = [Version(run=run, published_at=now), *(v for v in records.versions if v.run != run)]
    write_records(layout, records)  # listed before it is live, so that no later run takes its files for strays
    _go_live(layout, run)
    records.published = run
    write_records(layout, records)
    return prune(layout, records, keep)


def restore(layout: RunLayout, run: str) -> Records:
    """Publish a kept version again."""
    records = read_records(layout)
    if records is None:
        raise NotALocation(f"{layout.output} is not a manymodels run location (no {MARKER})")
    if run not in records.runs():
        kept = ", ".join(records.runs()) or "none"
        raise InputError(f"{layout.output} keeps no version of run {run}; kept: {kept}")
    _go_live(layout, run)
    records.published = run
    write_records(layout, records)
    return records


def prune(layout: RunLayout, records: Records, keep: int) -> Records:
    """Remove the versions beyond the newest `keep` (never the published one), each by its files' names."""
    kept = [v for i, v in enumerate(records.versions) if i < keep or v.run == records.published]
    for version in records.versions:
        if version not in kept:
            try:
                for file in (*OUTPUT_FILES, *PLOT_FILES):
                    storage.remove(layout.version(version.run, file), root=layout.output)
                storage.remove_empty_folder(layout.version(version.run, ""), root=layout.output)
            except storage.LinkRefused as e:  # no longer the folder the run wrote: left as it is, and no longer ours
                log.warning("version %s not removed: %s", version.run, e)
    records.versions = kept
    write_records(layout, records)
    return records


def check_run_id(run: str) -> str:
    if not RUN_ID.match(run):
        raise InputError(f"not a run id: {run!r}")
    return run


def _go_live(layout: RunLayout, run: str) -> None:
    """Copy a version's set to the top level: the old summary removed first and the new one written last."""
    check_run_id(run)
    storage.remove(layout.summary, root=layout.output)
    for table in TABLES:
        storage.copy(layout.version(run, f"{table}.parquet"), layout.table(table), root=layout.output)
    storage.copy(layout.version(run, "summary.json"), layout.summary, root=layout.output)


def _listing(url: str) -> list[str]:
    fs, path = storage.url_to_fs(url)
    try:
        return fs.ls(path, detail=False)
    except FileNotFoundError:
        return []
    except NotADirectoryError as e:
        raise NotALocation(f"{url} is a file, not a folder") from e


def _legacy_run(layout: RunLayout) -> str | None:
    """The run whose summary.json an earlier version of manymodels published here, if it did."""
    try:
        summary = storage.read_json(layout.summary)
    except (FileNotFoundError, ValueError):
        return None
    run = summary.get("flow_run_id") if isinstance(summary, dict) else None
    return run if isinstance(run, str) and RUN_ID.match(run) and "counts" in summary else None
