"""Stop what a command started: every process of a session, by the session leader's pid, and only while that pid
still names the process that was started (a pid is reused once its process and session are gone)."""

import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

# where a start time is only known in wall-clock time (psutil's create_time off Linux), a second of slack
CREATE_TIME_TOLERANCE = 1.0


def started_at(process: psutil.Process) -> float:
    """When the process started: on Linux in seconds since boot, from /proc (psutil's create_time adds the boot
    time, which moves whenever the clock is stepped, and a long test suite saw a server's identity change with it)."""
    if sys.platform != "linux":
        return process.create_time()
    stat = Path(f"/proc/{process.pid}/stat").read_bytes()
    fields = stat[stat.rindex(b")") + 2 :].split()  # the command's name may hold spaces and parentheses
    return int(fields[19]) / os.sysconf("SC_CLK_TCK")  # starttime, the 22nd field of proc_pid_stat(5)


def _command_line(process: psutil.Process, wait: float = 2.0) -> tuple[str, ...]:
    """The process's command line. One caught inside its exec (Popen can return then) shows an empty one for a
    moment, which would be recorded as its identity and never match again: wait for it."""
    deadline = time.monotonic() + wait
    while not (cmdline := process.cmdline()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return tuple(cmdline)


@dataclass(frozen=True)
class Identity:
    """What tells a process from a later one given the same pid: when it started and its command line."""

    started: float
    cmdline: tuple[str, ...]

    @classmethod
    def of(cls, pid: int) -> "Identity | None":
        """The identity of the live process at pid; None if there is none (or only its zombie)."""
        try:
            process = psutil.Process(pid)
            if process.status() == psutil.STATUS_ZOMBIE:
                return None
            return cls(started_at(process), _command_line(process))
        except (psutil.Error, OSError):
            return None

    def matches(self, pid: int) -> bool:
        """Whether the live process at pid is this one."""
        now = Identity.of(pid)
        return (
            now is not None and abs(now.started - self.started) <= CREATE_TIME_TOLERANCE and now.cmdline == self.cmdline
        )

    def to_json(self) -> dict:
        return {"started": self.started, "cmdline": list(self.cmdline)}

    @classmethod
    def from_json(cls, record: dict) -> "Identity":
        return cls(float(record["started"]), tuple(map(str, record["cmdline"])))


def session_members(sid: int) -> list[psutil.Process]:
    """The processes of the session led by sid: one started with start_new_session and all it spawned, Ray's
    workers too (they lead process groups of their own, so a process-group signal misses them)."""
    members = []
    for process in psutil.process_iter():
        with contextlib.suppress(OSError):  # gone, or not ours to look at
            if os.getsid(process.pid) == sid:
                members.append(process)
    return members


def terminate_session(pid: int, grace: float = 10, sig: int = signal.SIGTERM, identity: Identity | None = None) -> bool:
    """Send sig to every process of the session led by pid, SIGKILL what is left after grace seconds and wait
    for it to go; True if any was alive. Given the leader's identity, signal nothing unless the leader is still
    that process: a gone leader's pid, or one the kernel gave to another process, is left alone."""
    if pid == os.getsid(0):
        raise ValueError(f"refusing to terminate our own session {pid}")
    if identity is not None and not identity.matches(pid):
        return False
    members = session_members(pid)
    for process in members:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(sig)
    _, alive = psutil.wait_procs(members, timeout=grace)  # reaps our own children, whose zombies would linger
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=10)
    return bool(members)
