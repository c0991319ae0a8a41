import subprocess
import sys

import psutil

from app.processes import Identity, session_members, terminate_session

# a leader whose child leads a process group of its own, as Ray's workers do under their raylet
LEADER = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], preexec_fn=os.setpgrp)
print(child.pid, flush=True)
time.sleep(300)
"""


def test_terminating_a_session_stops_children_that_left_its_process_group():
    leader = subprocess.Popen([sys.executable, "-c", LEADER], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        child = psutil.Process(int(leader.stdout.readline()))
        assert child.pid in {p.pid for p in session_members(leader.pid)}
        assert terminate_session(leader.pid, grace=5)
        assert not child.is_running() and leader.poll() is not None
        assert session_members(leader.pid) == [] and not terminate_session(leader.pid)
    finally:
        leader.kill()
        leader.wait()


def test_a_session_whose_leader_is_not_the_process_recorded_is_not_signalled():
    leader = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        now = Identity.of(leader.pid)
        assert now is not None and now.matches(leader.pid)
        earlier = Identity(started=now.started - 3600, cmdline=now.cmdline)  # the pid's previous owner
        other = Identity(started=now.started, cmdline=("prefect", "server", "start"))
        for recorded in (earlier, other):
            assert not recorded.matches(leader.pid)
            assert not terminate_session(leader.pid, grace=1, identity=recorded)
            assert leader.poll() is None
        assert terminate_session(leader.pid, grace=5, identity=now) and leader.poll() is not None
    finally:
        leader.kill()
        leader.wait()


def test_an_identity_still_matches_after_the_clock_is_stepped(monkeypatch):
    leader = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        recorded, before = Identity.of(leader.pid), psutil.Process(leader.pid).create_time()
        stepped = psutil.boot_time() + 30  # what /proc/stat's btime reads once the wall clock is set 30 s ahead
        monkeypatch.setattr(psutil._pslinux, "boot_time", lambda: stepped)
        assert psutil.Process(leader.pid).create_time() - before > 29  # psutil's own start time moved with it
        assert Identity.of(leader.pid) == recorded and recorded.matches(leader.pid)
        assert terminate_session(leader.pid, grace=5, identity=recorded) and leader.poll() is not None
    finally:
        leader.kill()
        leader.wait()


def test_the_identity_of_a_process_just_started_has_its_command_line():
    """Popen can return while the child is still inside its exec, its command line empty for a moment (about one
    start in a hundred here); an identity recorded then never matched again, and its server was never stopped."""
    command = [sys.executable, "-c", "import time; time.sleep(300)", "--port", "1"]
    for _ in range(200):
        process = subprocess.Popen(command, start_new_session=True)
        try:
            assert Identity.of(process.pid).cmdline == tuple(command)
        finally:
            process.kill()
            process.wait()
