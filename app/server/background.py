"""The processes a command leaves running (the local server, the workers): `prefect <args>` in a session of its
own, logging to <home>/<name>.log, with its pid and identity recorded beside; a record is trusted only while its pid
still names the process started (app.processes), so that nothing else is signalled, or adopted, in its place."""

import json
import os
import subprocess
import sys
from pathlib import Path

from app.processes import Identity, terminate_session
from manymodels.storage import local_home as home


def prefect_bin() -> str:
    return str(Path(sys.executable).with_name("prefect"))


def start_background(name: str, prefect_args: list[str], env: dict[str, str], cwd: Path | None = None):
    """Start `prefect <args>` in its own session, logging to <home>/<name>.log, its pid in <name>.pid and its
    identity (start time, command line) in <name>.identity."""
    state = home()
    state.mkdir(parents=True, exist_ok=True)
    forget(name)
    with open(state / f"{name}.log", "ab") as log:
        process = subprocess.Popen(
            [prefect_bin(), *prefect_args],
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    if identity := Identity.of(process.pid):  # else it has already ended: nothing to record
        _write(state / f"{name}.identity", json.dumps(identity.to_json()))
        _write(state / f"{name}.pid", str(process.pid))
    return process


def _write(path: Path, text: str) -> None:
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    draft.write_text(text)
    draft.replace(path)


def started(name: str) -> tuple[int, Identity] | None:
    """The pid and identity of the process start_background started under name, if that process still runs. A
    record of a process that is gone, or whose pid now names another process, is removed; nothing is signalled."""
    pid_file, identity_file = home() / f"{name}.pid", home() / f"{name}.identity"
    if not pid_file.exists():
        return None
    try:
        pid = int(pid_file.read_text())
        identity = Identity.from_json(json.loads(identity_file.read_text()))
    except (OSError, ValueError, KeyError, TypeError):  # no identity recorded: nothing can be trusted
        forget(name)
        return None
    if not identity.matches(pid):
        forget(name)
        return None
    return pid, identity


def forget(name: str) -> None:
    for suffix in ("pid", "identity"):
        (home() / f"{name}.{suffix}").unlink(missing_ok=True)


def is_alive(name: str) -> bool:
    """Whether the process this machine started under name (by start_background) still runs as that process."""
    return started(name) is not None


def stop_background(name: str) -> bool:
    """Stop the session started under name, by its pid, if its leader is still the process started; True if it
    was running."""
    found = started(name)
    forget(name)
    return found is not None and terminate_session(found[0], identity=found[1])
