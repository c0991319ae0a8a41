"""Credentials for the workers of a Ray cluster a run joins: forwarded only when asked, under a key no other job can
derive from the run's job id, with a warning for long-term keys; keys of dead jobs are removed when a run connects.

The cluster is the session's Ray head (tests/conftest.py: `ray start` in a process of its own, without credentials,
as remote nodes are); each driver is a process of its own too, so no Ray state leaks into the test process.
"""

import json
import subprocess
import sys
import uuid

import pytest

from app.processes import terminate_session
from tests.helpers import LOCAL_RAY_CLUSTER, base_env

# A run's driver: joins the cluster as a run does, then reports what the store holds and what a worker sees.
RUN = """
import json, logging, os, sys, ray
from ray.experimental import internal_kv
from engines.ray_engine import SECRETS_NAMESPACE, fetch_secrets, ray_connected, ray_engine
from manymodels.settings import ComputeSpec

logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")

@ray.remote(num_cpus=0)
def worker_view():  # what LoggedRayTaskRunner does before each task
    fetch_secrets()
    return {name: os.environ.get(name) for name in NAMES}

forward = {"forward_credentials": True} if sys.argv[2] == "forward" else {}
with ray_connected(ray_engine(ComputeSpec(ray_address=sys.argv[1], **forward))):
    keys = sorted(key.decode() for key in internal_kv._internal_kv_list("", namespace=SECRETS_NAMESPACE))
    report = {"job": ray.get_runtime_context().get_job_id(), "keys": keys, "worker": ray.get(worker_view.remote())}
print(json.dumps(report))
"""

# Another driver that put a key of its job: it dies at once (killed, so nothing removed the key), or lives on
# (a run in progress) until its stdin closes. Either also puts a key of a job id the cluster never had.
OTHER_DRIVER = """
import json, os, sys, ray
from ray.experimental import internal_kv
ray.init(sys.argv[1], log_to_driver=False)
job = ray.get_runtime_context().get_job_id()
keys = [f"secrets-{job}-{sys.argv[2]}", f"secrets-{job}", f"secrets-ffffff7f-{sys.argv[2]}"]
for key in keys:
    internal_kv._internal_kv_put(key, '{"AWS_SECRET_ACCESS_KEY": "left-behind"}', namespace="manymodels")
print(json.dumps(keys), flush=True)
if sys.argv[3] == "killed":
    os._exit(1)
sys.stdin.read()
"""

SECRET = f"mm-secret-{uuid.uuid4().hex}"
LONG_TERM = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": SECRET}
SESSION = LONG_TERM | {"AWS_ACCESS_KEY_ID": "ASIAEXAMPLE", "AWS_SESSION_TOKEN": f"session-{SECRET}"}
WARNING = "prefer short-lived session credentials"


def spawn(args: list[str], env: dict) -> subprocess.Popen:
    """`python -c <args>` in a session of its own, talking on stdin and stdout (it runs until stdin closes)."""
    return subprocess.Popen(
        [sys.executable, "-c", *args],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


@pytest.fixture(scope="module")
def cluster(ray_head) -> str:
    """The GCS address of a Ray whose processes have no AWS settings."""
    return ray_head[0]


def run_driver(address: str, tmp_path, credentials: dict, mode: str) -> tuple[dict, str]:
    env = base_env(tmp_path) | LOCAL_RAY_CLUSTER | credentials
    done = subprocess.run(
        [sys.executable, "-c", RUN, address, mode], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_without_forwarding_nothing_is_stored_and_workers_keep_their_own_credentials(cluster, tmp_path):
    report, stderr = run_driver(cluster, tmp_path, LONG_TERM, "own")
    assert report["keys"] == []
    assert report["worker"] == dict.fromkeys(["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"])
    assert WARNING not in stderr


@pytest.mark.parametrize("credentials", [LONG_TERM, SESSION], ids=["long-term-keys", "session-credentials"])
def test_forwarded_credentials_reach_workers_under_a_key_the_job_id_does_not_give(cluster, tmp_path, credentials):
    report, stderr = run_driver(cluster, tmp_path, credentials, "forward")
    assert report["worker"] == {name: credentials.get(name) for name in report["worker"]}  # session token as is
    [key] = report["keys"]
    assert key.startswith(f"secrets-{report['job']}-") and len(key) >= len(f"secrets-{report['job']}-") + 16
    warned = [line for line in stderr.splitlines() if WARNING in line]
    assert len(warned) == (0 if "AWS_SESSION_TOKEN" in credentials else 1)
    assert SECRET not in stderr


def test_keys_of_dead_jobs_are_removed_when_a_run_connects_and_a_live_runs_key_stays(cluster, tmp_path):
    env = base_env(tmp_path) | LOCAL_RAY_CLUSTER
    token = uuid.uuid4().hex
    killed = subprocess.run(
        [sys.executable, "-c", OTHER_DRIVER, cluster, token, "killed"], env=env, capture_output=True, text=True
    )
    assert killed.returncode == 1 and killed.stdout.startswith("["), killed.stderr[-3000:]
    dead_keys = json.loads(killed.stdout)
    live = spawn([OTHER_DRIVER, cluster, f"live-{token}", "live"], env)
    try:
        live_keys = json.loads(live.stdout.readline())
        report, _ = run_driver(cluster, tmp_path, {}, "own")
    finally:
        live.stdin.close()
        try:
            live.wait(timeout=30)
        finally:
            terminate_session(live.pid)
    # the killed driver's keys (new and old form) and the never-alive job's are gone; the live driver's stay
    assert set(report["keys"]) & {*dead_keys, live_keys[2]} == set()
    assert set(live_keys[:2]) <= set(report["keys"])
