"""A run's lease on its location: one run at a time writes a run location's work area and outputs."""

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ValidationError

from manymodels import storage
from manymodels.errors import InputError
from manymodels.layout import RunLayout

STALE_SECONDS = 90.0  # a lease not renewed for this long is taken over
RENEW_SECONDS = 15.0
SETTLE_SECONDS = 0.2  # after writing a lease, how long to wait before reading back who holds it


class LocationBusy(InputError):
    """Another live run holds the run location."""


class Holder(BaseModel):
    run: str
    host: str
    pid: int
    process_start: str | None  # from /proc: tells a live process from a later one with the same pid
    renewed: float  # Unix time


def _process_start(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def me(run: str) -> Holder:
    pid = os.getpid()
    return Holder(run=run, host=socket.gethostname(), pid=pid, process_start=_process_start(pid), renewed=time.time())


def is_live(holder: Holder, now: float) -> bool:
    """Renewed lately, and not a process of this machine that is gone."""
    if now - holder.renewed > STALE_SECONDS:
        return False
    if holder.host != socket.gethostname():
        return True
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return holder.process_start is None or _process_start(holder.pid) == holder.process_start


class RunLease:
    """The lease file of a run location; the holder renews it while the run lives and removes it at the end."""

    def __init__(self, layout: RunLayout, run: str) -> None:
        self.url, self.output, self.run = storage.join(layout.work, "lease.json"), layout.output, run

    def holder(self) -> Holder | None:
        fs, path = storage.url_to_fs(self.url)
        try:
            with fs.open(path, "rb") as f:
                return Holder.model_validate_json(f.read())
        except FileNotFoundError:
            return None
        except (ValidationError, ValueError, OSError):  # torn or foreign: not a lease anyone can hold
            return None

    def acquire(self) -> None:
        """Take the lease, or raise LocationBusy naming the live run that holds it (a stale lease is taken over)."""
        current = self.holder()
        if current and current.run != self.run and is_live(current, time.time()):
            raise self._busy(current)
        self.renew()
        time.sleep(SETTLE_SECONDS)  # two runs that took a free lease at once: the last write wins, the other leaves
        current = self.holder()
        if current is None or current.run != self.run:
            raise self._busy(current)

    def renew(self) -> None:
        storage.write_bytes(self.url, me(self.run).model_dump_json().encode())

    def release(self) -> None:
        current = self.holder()
        if current and current.run == self.run:
            fs, path = storage.url_to_fs(self.url)
            with contextlib.suppress(FileNotFoundError):
                fs.rm(path)

    def _busy(self, holder: Holder | None) -> LocationBusy:
        who = f"run {holder.run} (process {holder.pid} on {holder.host})" if holder else "another run"
        return LocationBusy(f"{self.output} is in use by {who}; wait for it to end or choose another output")


@contextlib.contextmanager
def held(lease: RunLease, renew_every: float = RENEW_SECONDS) -> Iterator[RunLease]:
    """Hold the lease for the block, renewing it from a thread; release it on leaving."""
    lease.acquire()
    stop = threading.Event()

    def keep() -> None:
        while not stop.wait(renew_every):
            with contextlib.suppress(OSError):
                lease.renew()

    renewer = threading.Thread(target=keep, name="run-lease", daemon=True)
    renewer.start()
    try:
        yield lease
    finally:
        stop.set()
        renewer.join()
        lease.release()
