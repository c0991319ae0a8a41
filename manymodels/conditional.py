"""Writes the store decides: create only where nothing is, replace or remove only the version last seen (S3:
If-None-Match and If-Match on the ETag; a local disk: an exclusive link, and a lock), and reads that carry the
store's own clock. What the run lease is built on."""

import contextlib
import fcntl
import hashlib
import os
import tempfile
import threading
import uuid
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import fsspec
import fsspec.asyn
from fsspec.implementations.local import LocalFileSystem

from manymodels.storage import url_to_fs


class WriteConflict(Exception):
    """A conditional write or removal whose condition did not hold: a file is there already (create), or the one
    there is not the version named (replace, remove)."""


@dataclass(frozen=True)
class Stamped:
    """A file's bytes and version tag (on S3 its ETag), with two times on the store's own clock, in Unix seconds:
    when the file was last written, and when it was read. Their difference never compares two machines' clocks."""

    data: bytes
    tag: str
    modified: float
    read_at: float

    @property
    def age(self) -> float:
        return self.read_at - self.modified


def read_stamped(url: str) -> Stamped | None:
    """The file at url with its version and times, or None if there is none; any other failure is raised."""
    fs, path = url_to_fs(url)
    if isinstance(fs, LocalFileSystem):
        return _read_stamped_local(path)
    bucket, key, _ = _s3(fs, path)

    async def get() -> tuple[dict, bytes]:
        response = await fs._call_s3("get_object", Bucket=bucket, Key=key)
        try:
            return response, await response["Body"].read()
        finally:
            response["Body"].close()

    try:
        response, data = _s3_transport(url, fsspec.asyn.sync, fs.loop, get)
    except FileNotFoundError:
        return None
    date = response["ResponseMetadata"].get("HTTPHeaders", {}).get("date")
    if not date:  # every S3 answer carries the server's time; without it there is no store clock to go by
        raise OSError(f"cannot read {url}: the store's answer has no Date")
    return Stamped(
        data, response["ETag"], response["LastModified"].timestamp(), parsedate_to_datetime(date).timestamp()
    )


def write_if(url: str, data: bytes, tag: str | None) -> str:
    """Write data at url only if no file is there (tag None), or only if the file there is still version tag;
    return the new version's tag, or raise WriteConflict. S3: a PUT with If-None-Match: * or If-Match: <ETag>; a
    local disk: an exclusive link of the complete file, or a rename over it while its version is checked under a
    lock (two processes of one machine; a network file system's locks only as far as it keeps them)."""
    fs, path = url_to_fs(url)
    if isinstance(fs, LocalFileSystem):
        return _write_if_local(path, data, tag)
    bucket, key, _ = _s3(fs, path)
    condition = {"IfNoneMatch": "*"} if tag is None else {"IfMatch": tag}
    try:
        response = _s3_call(url, fs, "put_object", Bucket=bucket, Key=key, Body=data, **condition)
    except FileNotFoundError:  # If-Match on a key that is gone
        raise WriteConflict(f"{url} is not there to replace") from None
    finally:
        fs.invalidate_cache(path)
    return response["ETag"]


def remove_if(url: str, tag: str) -> None:
    """Remove the file at url only if it is still version tag (none there is no error), or raise WriteConflict."""
    fs, path = url_to_fs(url)
    if isinstance(fs, LocalFileSystem):
        with _locked(path):
            current = _read_local(path)
            if current is not None and _tag(current) != tag:
                raise WriteConflict(f"{url} is another version")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        return
    bucket, key, _ = _s3(fs, path)
    try:
        _s3_call(url, fs, "delete_object", Bucket=bucket, Key=key, IfMatch=tag)
    except FileNotFoundError:
        pass
    finally:
        fs.invalidate_cache(path)


def _tag(data: bytes) -> str:
    """A local file's version: the MD5 of its bytes, as S3 tags a file written in one PUT."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _read_local(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _read_stamped_local(path: str) -> Stamped | None:
    try:
        with open(path, "rb") as f:
            data, modified = f.read(), os.fstat(f.fileno()).st_mtime
    except FileNotFoundError:
        return None
    return Stamped(data, _tag(data), modified, _local_store_now(os.path.dirname(path)))


def _local_store_now(folder: str) -> float:
    """The disk's clock now: the modification time of a file made just now in folder (the file server's clock on a
    network file system, as for the files beside it)."""
    fd, probe = tempfile.mkstemp(prefix=".clock-", suffix=".tmp", dir=folder)
    try:
        return os.fstat(fd).st_mtime
    finally:
        os.close(fd)
        os.unlink(probe)


_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def _locked(path: str):
    """Hold the lock of path's conditional writes: a thread lock against this process's other threads, and flock on
    a lock file beside path against other processes (kept: removing a lock file would let two holders in)."""
    with _THREAD_LOCKS_GUARD:
        in_process = _THREAD_LOCKS.setdefault(path, threading.Lock())
    folder, name = os.path.split(path)
    with in_process:
        fd = os.open(os.path.join(folder, f".{name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _write_if_local(path: str, data: bytes, tag: str | None) -> str:
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    tmp = f"{folder}/.{uuid.uuid4().hex}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    try:
        with _locked(path):
            if tag is None:
                try:  # a link, unlike a rename, fails where the name exists; readers see the whole file or none
                    os.link(tmp, path)
                except FileExistsError:
                    raise WriteConflict(f"{path} exists") from None
            else:
                current = _read_local(path)
                if current is None or _tag(current) != tag:
                    raise WriteConflict(f"{path} is {'gone' if current is None else 'another version'}")
                os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return _tag(data)


def _s3(fs: fsspec.AbstractFileSystem, path: str) -> tuple[str, str, str | None]:
    if not hasattr(fs, "call_s3"):
        raise ValueError(f"conditional writes need a local path or s3://, not {fs.protocol}")
    return fs.split_path(path)


def _s3_call(url: str, fs: fsspec.AbstractFileSystem, method: str, **kwargs) -> dict:
    """One call through the filesystem's own S3 client (its endpoint, credentials and retries); a failed condition
    (412 Precondition Failed, 409 ConditionalRequestConflict) raised as WriteConflict."""
    from botocore.exceptions import ClientError

    try:
        return _s3_transport(url, fs.call_s3, method, **kwargs)
    except OSError as e:
        cause = e.__cause__
        if isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") in (
            "PreconditionFailed",
            "ConditionalRequestConflict",
        ):
            raise WriteConflict(f"{url}: {cause.response['Error']['Code']}") from e
        raise


def _s3_transport(url: str, call, *args, **kwargs):
    """call(*args, **kwargs), with the connection errors s3fs passes on untranslated (botocore's, aiohttp's) raised
    as OSError, as the others are."""
    import aiohttp
    from botocore.exceptions import BotoCoreError

    try:
        return call(*args, **kwargs)
    except (BotoCoreError, aiohttp.ClientError) as e:
        raise OSError(f"cannot reach {url}: {type(e).__name__}: {e}") from e
