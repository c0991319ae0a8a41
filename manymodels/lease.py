"""A run's lease on its location: one run at a time writes a run location's work area and outputs.

The store says who holds it. The lease file is created only where there is none (S3: If-None-Match; a local disk: an
exclusive link), and renewed, taken over or removed only as the version last read or written (S3: If-Match on its
ETag; a local disk: under a lock), so two runs never both see their own lease. Staleness goes by the store's clock
alone: the lease's last-modified time against the time of the read. A lease that cannot be read is not free, and a
run whose renewal finds another holder stops before it publishes (publishing checks the lease once more)."""

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ValidationError

from manymodels import conditional, storage
from manymodels.errors import InputError
from manymodels.layout import RunLayout

STALE_SECONDS = 90.0  # a lease the store has not seen written for this long is taken over
RENEW_SECONDS = 15.0

log = logging.getLogger(__name__)


class LocationBusy(InputError):
    """Another live run holds the run location."""


class LeaseUnreadable(LocationBusy):
    """The lease could not be read: whether a live run holds it is not known, so it is not taken."""


class LeaseLost(LocationBusy):
    """Another run holds this run's lease now: the run must not publish."""


class Holder(BaseModel):
    run: str
    host: str
    pid: int
    process_start: str | None  # from /proc: tells a live process from a later one with the same pid
    renewed: float  # Unix time by the holder's clock, for people to read: staleness goes by the store's clock
    token: str = ""  # the holding's own, unlike the run id: tells its writes from any other's
    seq: int = 0  # counts the holding's writes, each a new version


def _process_start(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def me(run: str, token: str = "", seq: int = 0) -> Holder:
    pid = os.getpid()
    return Holder(
        run=run,
        host=socket.gethostname(),
        pid=pid,
        process_start=_process_start(pid),
        renewed=time.time(),
        token=token,
        seq=seq,
    )


def is_live(holder: Holder | None, age: float) -> bool:
    """Written within STALE_SECONDS by the store's clock (age), and not by a process of this machine that is gone.
    A lease whose content is not a holder's is live while it is fresh: someone wrote it."""
    if age > STALE_SECONDS:
        return False
    if holder is None or holder.host != socket.gethostname():
        return True
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return holder.process_start is None or _process_start(holder.pid) == holder.process_start


def _parse(lease: conditional.Stamped | None) -> Holder | None:
    if lease is None:
        return None
    try:
        return Holder.model_validate_json(lease.data)
    except (ValidationError, ValueError):  # torn or foreign: no holder to name
        return None


_HELD: dict[tuple[str, str], "RunLease"] = {}  # (lease URL, run) -> the holding of this process


class RunLease:
    """The lease file of a run location; the holder renews it while the run lives and removes it at the end."""

    def __init__(self, layout: RunLayout, run: str) -> None:
        self.url, self.output, self.run = storage.join(layout.work, "lease.json"), layout.output, run
        self.token = uuid.uuid4().hex
        self.tag: str | None = None  # the version this holding last wrote, while it holds the lease
        self.lost: str | None = None  # why the holding ended, if another run took the lease
        self._seq = 0
        self._lock = threading.Lock()  # the renewer thread and confirm() write in turn

    def holder(self) -> Holder | None:
        return _parse(self._read())

    def _read(self) -> conditional.Stamped | None:
        try:
            return conditional.read_stamped(self.url)
        except OSError as e:
            reason = (str(e).strip() or type(e).__name__).splitlines()[0]
            raise LeaseUnreadable(
                f"cannot read the lease of {self.output} ({type(e).__name__}: {reason}); whether another run holds "
                "it is not known: try again"
            ) from e

    def acquire(self) -> None:
        """Take the lease, or raise LocationBusy naming the live run that holds it. A free lease is created only if
        still free, a stale one taken over only if still the version read; an unreadable one is not taken."""
        with self._lock:
            current = self._read()
            if current is not None and is_live(_parse(current), current.age):
                raise self._busy(_parse(current))
            taken, other = self._write(None if current is None else current.tag)
            if not taken:  # another run wrote it between our read and our write
                raise self._busy(_parse(other))
            _HELD[(self.url, self.run)] = self

    def renew(self) -> None:
        """Write the lease again over the version this holding last wrote; if another run holds it now, remember
        that (confirm() raises from then on) and raise LeaseLost."""
        with self._lock:
            if self.lost:
                raise LeaseLost(self.lost)
            if self.tag is None:
                raise LeaseLost(f"{self.output}: run {self.run} does not hold the lease")
            taken, other = self._write(self.tag)
            if taken:
                return
            self.lost = (
                f"{self.output} is no longer this run's: {self._holder_name(_parse(other))} took its lease; "
                f"run {self.run} stops without publishing"
            )
            _HELD.pop((self.url, self.run), None)
            raise LeaseLost(self.lost)

    def confirm(self) -> None:
        """Raise LeaseLost unless this run holds the lease now, as the store says. The holding of this process (this
        one, or the one held() keeps for the run) proves it with a renewal, a write conditional on its last version;
        otherwise the lease must name the run and be fresh by the store's clock."""
        held = self if self.tag is not None or self.lost else _HELD.get((self.url, self.run))
        if held is not None:
            held.renew()
            return
        current = self._read()
        holder = _parse(current)
        if current is None or holder is None or holder.run != self.run or current.age > STALE_SECONDS:
            name = "no run" if current is None else self._holder_name(holder)
            raise LeaseLost(f"{self.output} is no longer run {self.run}'s: {name} holds its lease")

    def release(self) -> None:
        """Remove the lease if it is still the version this holding wrote; another run's is left alone."""
        with self._lock:
            if _HELD.get((self.url, self.run)) is self:
                del _HELD[(self.url, self.run)]
            tag, self.tag = self.tag, None
            if tag is not None:
                with contextlib.suppress(conditional.WriteConflict):
                    conditional.remove_if(self.url, tag)

    def _write(self, tag: str | None) -> tuple[bool, conditional.Stamped | None]:
        """Write this holding's record over version tag (None: only where there is no lease). Whether it is in
        place, and if not the lease found instead. A condition that failed because of this holding's own write (a
        request retried after its answer was lost) is no conflict."""
        self._seq += 1
        data = me(self.run, self.token, self._seq).model_dump_json().encode()
        for _ in range(3):
            try:
                self.tag = conditional.write_if(self.url, data, tag)
                return True, None
            except conditional.WriteConflict:
                current = self._read()
                holder = _parse(current)
                if current is None or holder is None or holder.token != self.token:
                    return False, current
                self.tag = tag = current.tag  # this holding's, written by an earlier request
                if current.data == data:
                    return True, None
        raise OSError(f"{self.url}: changed under every write; tried again later")

    def _holder_name(self, holder: Holder | None) -> str:
        return f"run {holder.run} (process {holder.pid} on {holder.host})" if holder else "another run"

    def _busy(self, holder: Holder | None) -> LocationBusy:
        who = self._holder_name(holder)
        return LocationBusy(f"{self.output} is in use by {who}; wait for it to end or choose another output")


@contextlib.contextmanager
def held(lease: RunLease, renew_every: float = RENEW_SECONDS) -> Iterator[RunLease]:
    """Hold the lease for the block, renewing it from a thread; release it on leaving. A renewal that finds another
    holder ends the renewals and sets lease.lost: the block checks it, and confirm() raises, before publishing."""
    lease.acquire()
    stop = threading.Event()

    def keep() -> None:
        while not stop.wait(renew_every):
            try:
                lease.renew()
            except LeaseLost:
                log.error("%s", lease.lost)
                return
            except (OSError, LeaseUnreadable) as e:  # the store is out of reach for now: the next renewal tries
                log.warning("could not renew the lease of %s: %s", lease.output, e)

    renewer = threading.Thread(target=keep, name="run-lease", daemon=True)
    renewer.start()
    try:
        yield lease
    finally:
        stop.set()
        renewer.join()
        try:
            lease.release()
        except OSError as e:  # left to go stale
            log.warning("could not remove the lease of %s: %s", lease.output, e)
