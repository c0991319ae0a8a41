"""Reading and writing run files on a local path or s3:// through fsspec, each write atomic."""

import base64
import contextlib
import io
import json
import os
import shutil
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import aiohttp
import fsspec
import pandas as pd
import platformdirs
from botocore.exceptions import BotoCoreError
from fsspec.implementations.local import LocalFileSystem

# Not a series' failure but the node's or the store's: the task fails, and Prefect retries it. s3fs passes on
# botocore's connection errors and aiohttp's (a body cut off mid-read) untranslated, and they are no OSError.
STORAGE_ERRORS = (OSError, MemoryError, BotoCoreError, aiohttp.ClientError)


def _is_file_url(url: str) -> bool:
    return url[:5].lower() == "file:"


def normalise(url: str) -> str:
    """The local path a file URL names (file:///p, file://localhost/p, file:/p, in any case, percent-decoded as
    Path.as_uri() encodes it); any other URL or path as it is. Every function here takes either: pathlib, Optuna's
    journal files and fsspec would otherwise read file:///p as the relative path <cwd>/file:/p, or not at all."""
    if not _is_file_url(url):
        return url
    rest = url[5:]
    if rest.startswith("//"):
        host, _, path = rest[2:].partition("/")
        if host.lower() not in ("", "localhost"):
            raise ValueError(f"{url}: a file URL names a path on this machine (file:///path), not on {host}")
        rest = "/" + path
    if not rest.startswith("/"):
        raise ValueError(f"{url}: a file URL names an absolute path (file:///path)")
    return unquote(rest)


def join(base: str, *parts: str) -> str:
    """Join URL or path segments with '/'; a file URL base gives a local path."""
    return "/".join([normalise(base).rstrip("/"), *(p.strip("/") for p in parts)])


def is_local(url: str) -> bool:
    """A plain path or file URL, as opposed to an object store such as s3://."""
    return "://" not in url or _is_file_url(url)


def link(url: str) -> str:
    """A URL a person can open: file:// for a local path or file URL, the URL itself otherwise."""
    if is_local(url):
        return Path(normalise(url)).resolve().as_uri()
    return url


def image_url(url: str, expires_seconds: int = 7 * 24 * 3600) -> str:
    """A URL a browser shows the PNG at url from, inside a web page such as the Prefect UI: a presigned URL for an
    object store (a week, SigV4's longest), the bytes themselves as a data URL for a local file (a page served over
    http may not load file://)."""
    if is_local(url):
        return "data:image/png;base64," + base64.b64encode(Path(normalise(url)).read_bytes()).decode()
    fs, path = url_to_fs(url)
    return fs.sign(path, expiration=expires_seconds)


# Where the S3 credentials of the run calling come from when they are not this process's own: a process shared by
# runs with credentials of their own (a worker of an existing Dask cluster, compute.forward_credentials) cannot
# hold them in its environment, which every run's tasks share. Each lookup gives s3fs's key, secret and token for
# the code that calls it, or None; engines/dask_engine.py adds one. None from all: the environment, as botocore finds.
CREDENTIAL_LOOKUPS: list[Callable[[], dict[str, str] | None]] = []


def run_credentials() -> dict[str, str]:
    """The S3 credentials (s3fs's key, secret, token) of the run calling, if it brought its own; else none."""
    for lookup in CREDENTIAL_LOOKUPS:
        if (found := lookup()) is not None:
            return found
    return {}


def options(url: str) -> dict[str, Any]:
    """fsspec options for url. Object stores throttle (503 SlowDown) and drop connections under load: on S3,
    botocore's standard mode retries both with exponential backoff and jitter, up to 10 attempts a request. The
    run's own credentials, if it brought them (run_credentials), are in the options: filesystems made from them
    (and the copies a Dask graph carries to the workers) use those, never the process's environment."""
    if url.startswith(("s3://", "s3a://")):
        return {"config_kwargs": {"retries": {"mode": "standard", "total_max_attempts": 10}}, **run_credentials()}
    return {}


def input_paths(url: str) -> tuple[fsspec.AbstractFileSystem, list[str]]:
    """The input's filesystem and the paths its path or glob names."""
    url = normalise(url)
    fs, _, paths = fsspec.core.get_fs_token_paths(url, storage_options=options(url))
    return fs, paths


def input_bytes(url: str) -> int:
    """The input's size on its store (0 if nothing is there: reading it then says what is wrong)."""
    try:
        fs, paths = input_paths(url)
        return sum(fs.du(path) for path in paths)
    except (OSError, ValueError):
        return 0


INFLATE_CHUNK = 2**20  # what input_uncompressed_bytes decompresses at a time


def input_uncompressed_bytes(url: str, up_to: int) -> int:
    """The input's size as it is parsed, decompressed, counted up to up_to: exact below it, at least up_to
    otherwise (0 if nothing is there). A compressed file (named so: .gz, .bz2, .xz, .zip, .zst, as Dask infers
    it) is decompressed as a stream, a chunk at a time, and no further than the count needs: neither its stored
    size nor gzip's trailer (ISIZE: the last member's size alone, modulo 4 GiB) bounds what a bomb inflates to. A
    file that cannot be decompressed counts its stored size: reading it says what is wrong."""
    try:
        fs, paths = input_paths(url)
        total = 0
        for path in paths:
            for name, info in fs.find(path, detail=True).items():  # a file itself: no info (a folder's listing has)
                if total >= up_to:
                    return total
                stored = info["size"] if "size" in info else fs.size(name)
                total += _inflated_bytes(fs, name, stored, up_to - total)
        return total
    except (OSError, ValueError):
        return 0


def _inflated_bytes(fs: fsspec.AbstractFileSystem, path: str, stored: int, up_to: int) -> int:
    """The size of the file at path (stored bytes on its store) decompressed, counted up to up_to (at most a chunk
    past it)."""
    compression = fsspec.utils.infer_compression(path)
    if compression is None:
        return stored
    count = 0
    try:
        with fsspec.core.OpenFile(fs, path, mode="rb", compression=compression) as f:
            while count < up_to and (chunk := f.read(INFLATE_CHUNK)):
                count += len(chunk)
    except Exception:  # gzip, zlib, lzma, bz2, zipfile and zstandard each raise their own; not what it is named
        return stored
    return count


def url_to_fs(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    url = normalise(url)
    return fsspec.core.url_to_fs(url, **options(url))


def filesystem(url: str) -> fsspec.AbstractFileSystem:
    return url_to_fs(url)[0]


def names_in(url: str) -> set[str]:
    """The names of the files in a folder (none if there is no folder), listed afresh and kept out of the
    filesystem's listings cache: from a cached listing, s3fs takes a file written after it for missing."""
    fs, path = url_to_fs(url)
    try:
        return {name.rstrip("/").rsplit("/", 1)[-1] for name in fs.ls(path, detail=False, refresh=True)}
    except FileNotFoundError:
        return set()
    finally:
        fs.invalidate_cache(path)


def write_bytes(url: str, data: bytes) -> None:
    """Write a file so that readers see either nothing or all of it."""
    fs, path = url_to_fs(url)
    parent = path.rsplit("/", 1)[0]
    fs.makedirs(parent, exist_ok=True)
    if isinstance(fs, LocalFileSystem):
        tmp = f"{parent}/.{uuid.uuid4().hex}.tmp"
        fs.pipe_file(tmp, data)
        fs.mv(tmp, path)
    else:  # an object store's single PUT is already all-or-nothing
        fs.pipe_file(path, data)


def write_parquet(url: str, frame: pd.DataFrame, **options) -> None:
    """frame as Parquet at url, as frame.to_parquet(index=False) writes it; options go to pyarrow's writer
    (row_group_size, say). The conversion on this thread: pyarrow's default starts a thread pool per call, which
    cost more than the conversion on the ingest's small per-series frames."""
    import pyarrow as pa

    write_table(url, pa.Table.from_pandas(frame, preserve_index=False, nthreads=1), **options)


def write_table(url: str, table, **options) -> None:
    """An Arrow table as Parquet at url; options go to pyarrow's writer."""
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer, **options)
    write_bytes(url, buffer.getvalue())


def read_parquets(urls: list[str]) -> pd.DataFrame:
    """The Parquet files at urls, stacked; read concurrently (their reads wait on storage, S3 most of all)."""
    with ThreadPoolExecutor(16) as pool:
        return pd.concat(pool.map(read_parquet, urls), ignore_index=True)


def read_parquet(url: str, **options) -> pd.DataFrame:
    """The Parquet file at url; options go to pyarrow's reader (filters, columns)."""
    fs, path = url_to_fs(url)
    with fs.open(path, "rb") as f:
        return pd.read_parquet(f, **options)


def write_json(url: str, payload: dict[str, Any]) -> None:
    write_bytes(url, json.dumps(payload, indent=2, default=str).encode())


def read_json(url: str) -> dict[str, Any]:
    fs, path = url_to_fs(url)
    with fs.open(path, "rb") as f:
        return json.load(f)


def remove(url: str, root: str | None = None) -> None:
    """Remove the one file at url, if there is one. Its name is taken literally (an object store's rm expands glob
    characters), and on a local disk no link is followed from root (a folder above url) down to it."""
    fs, path = url_to_fs(url)
    if isinstance(fs, LocalFileSystem):
        _refuse_links(path, root)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    else:
        fs.rm_file(path)  # one DELETE of that key; none there is no error


def move(source: str, target: str, root: str | None = None) -> None:
    """Move one file within one store, names taken literally: a rename on a local disk (no link followed from
    root), a copy and delete on an object store."""
    fs, source_path = url_to_fs(source)
    target_path = url_to_fs(target)[1]
    if isinstance(fs, LocalFileSystem):
        _refuse_links(source_path, root)
        _refuse_links(target_path, root)
        os.makedirs(target_path.rsplit("/", 1)[0], exist_ok=True)
        os.replace(source_path, target_path)
    else:
        fs.cp_file(source_path, target_path)
        fs.rm_file(source_path)


def copy(source: str, target: str, root: str | None = None) -> None:
    """Copy one file within one store, names taken literally; a reader of target sees the old file or the new."""
    fs, source_path = url_to_fs(source)
    target_path = url_to_fs(target)[1]
    if isinstance(fs, LocalFileSystem):
        _refuse_links(source_path, root)
        _refuse_links(target_path, root)
        parent = target_path.rsplit("/", 1)[0]
        os.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/.{uuid.uuid4().hex}.tmp"
        shutil.copyfile(source_path, tmp)
        os.replace(tmp, target_path)
    else:  # a server-side copy of one key
        fs.cp_file(source_path, target_path)


def remove_empty_folder(url: str, root: str | None = None) -> None:
    """Remove a local folder if it is empty (an object store has no folders)."""
    fs, path = url_to_fs(url)
    if isinstance(fs, LocalFileSystem):
        path = path.rstrip("/")
        _refuse_links(path, root)
        with contextlib.suppress(OSError):  # not there, or not empty
            os.rmdir(path)


class LinkRefused(OSError):
    """A local path under a run location passes through a symbolic link, which the run did not make."""


def _refuse_links(path: str, root: str | None) -> None:
    if root is None:
        return
    base = Path(normalise(root)).absolute()
    current = base
    for part in Path(path).absolute().relative_to(base).parts:
        current = current / part
        if current.is_symlink():
            raise LinkRefused(f"{current} is a symbolic link: manymodels does not remove or replace through one")


def has_glob(url: str) -> bool:
    """Whether an object-store URL holds characters that fsspec would expand as a pattern."""
    return not is_local(url) and any(c in url for c in "*?[]")


def local_home() -> Path:
    """Where manymodels keeps local state: the Prefect server's database, auth string, pid files and logs, the demo
    data and runs. MANYMODELS_HOME, else the user's data folder (~/.local/share/manymodels on Linux), so that every
    working folder finds the one local server."""
    home = os.environ.get("MANYMODELS_HOME") or platformdirs.user_data_dir("manymodels", appauthor=False)
    return Path(home).resolve()
