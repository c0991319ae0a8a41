"""Reading and writing run files on a local path or s3:// through fsspec, each write atomic."""

import io
import json
import os
import uuid
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
from fsspec.implementations.local import LocalFileSystem


def join(base: str, *parts: str) -> str:
    """Join URL or path segments with '/'."""
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def is_local(url: str) -> bool:
    """A plain path or file:// URL, as opposed to an object store such as s3://."""
    return "://" not in url or url.startswith("file://")


def link(url: str) -> str:
    """A URL a person can open: file:// for a local path, the URL itself otherwise."""
    if "://" in url:
        return url
    return Path(url).resolve().as_uri()


def options(url: str) -> dict[str, Any]:
    """fsspec options for url. Object stores throttle (503 SlowDown) and drop connections under load: on S3,
    botocore's standard mode retries both with exponential backoff and jitter, up to 10 attempts a request."""
    if url.startswith(("s3://", "s3a://")):
        return {"config_kwargs": {"retries": {"mode": "standard", "total_max_attempts": 10}}}
    return {}


def input_paths(url: str) -> tuple[fsspec.AbstractFileSystem, list[str]]:
    """The input's filesystem and the paths its path or glob names."""
    fs, _, paths = fsspec.core.get_fs_token_paths(url, storage_options=options(url))
    return fs, paths


def input_bytes(url: str) -> int:
    """The input's size on its store (0 if nothing is there: reading it then says what is wrong)."""
    try:
        fs, paths = input_paths(url)
        return sum(fs.du(path) for path in paths)
    except (OSError, ValueError):
        return 0


def url_to_fs(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    return fsspec.core.url_to_fs(url, **options(url))


def filesystem(url: str) -> fsspec.AbstractFileSystem:
    return url_to_fs(url)[0]


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


def write_parquet(url: str, frame: pd.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    write_bytes(url, buffer.getvalue())


def read_parquet(url: str) -> pd.DataFrame:
    fs, path = url_to_fs(url)
    with fs.open(path, "rb") as f:
        return pd.read_parquet(f)


def write_json(url: str, payload: dict[str, Any]) -> None:
    write_bytes(url, json.dumps(payload, indent=2, default=str).encode())


def read_json(url: str) -> dict[str, Any]:
    fs, path = url_to_fs(url)
    with fs.open(path, "rb") as f:
        return json.load(f)


def local_home() -> Path:
    """Where manymodels keeps local state (MANYMODELS_HOME, default .manymodels): the Prefect server's database,
    pid files and logs, the demo data."""
    return Path(os.environ.get("MANYMODELS_HOME", ".manymodels")).resolve()
