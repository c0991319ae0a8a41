"""Stop what a command started: every process of a session, by the session leader's pid."""

import contextlib
import os
import signal

import psutil


def session_members(sid: int) -> list[psutil.Process]:
    """The processes of the session led by sid: one started with start_new_session and all it spawned, Ray's
    workers too (they lead process groups of their own, so a process-group signal misses them)."""
    members = []
    for process in psutil.process_iter():
        with contextlib.suppress(OSError):  # gone, or not ours to look at
            if os.getsid(process.pid) == sid:
                members.append(process)
    return members


def terminate_session(pid: int, grace: float = 10, sig: int = signal.SIGTERM) -> bool:
    """Send sig to every process of the session led by pid, SIGKILL what is left after grace seconds and wait
    for it to go; True if any was alive."""
    if pid == os.getsid(0):
        raise ValueError(f"refusing to terminate our own session {pid}")
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
