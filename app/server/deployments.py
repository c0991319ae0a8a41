"""The deployments of deployments/prefect.yaml on their process work pool, and a worker on the pool: locally, with
the local server, or on a Ray cluster's head, with the team's."""

import os
import subprocess
import time
from pathlib import Path

from app.server.api import is_healthy, post_json
from app.server.auth import run_env
from app.server.background import is_alive, prefect_bin, start_background, stop_background
from app.server.lifecycle import ensure_server
from manymodels.storage import local_home as home

WORK_POOL = "manymodels-process"  # the pools of deployments/prefect.yaml: this machine's, and a Ray cluster head's
CLUSTER_POOL = "manymodels-cluster"
LOCAL_DEPLOYMENTS = ("adhoc", "nightly")
CLUSTER_DEPLOYMENTS = ("adhoc-cluster", "nightly-cluster")


def deploy(root: Path, limit: int = 1, cluster: bool = False, timeout: float = 120) -> str:
    """The deployments of deployments/prefect.yaml on their process work pool, and a worker on the pool (reused if
    its pid is alive); returns the API URL. Locally: the local server (or PREFECT_API_URL's), adhoc and nightly.
    On a Ray cluster's head (cluster): PREFECT_API_URL's server, adhoc-cluster and nightly-cluster, whose flow runs
    join the head's Ray."""
    if cluster:
        env, pool, names = cluster_env(), CLUSTER_POOL, CLUSTER_DEPLOYMENTS
    else:
        env, pool, names = run_env(ensure_server()), WORK_POOL, LOCAL_DEPLOYMENTS
    env |= deploy_settings(root)
    _prefect(["work-pool", "create", pool, "--type", "process", "--overwrite"], env, root)
    chosen = [arg for name in names for arg in ("--name", f"forecast/{name}")]
    _prefect(["--no-prompt", "deploy", *chosen, "--prefect-file", "deployments/prefect.yaml"], env, root)
    worker = "cluster-worker" if cluster else "worker"
    if not is_alive(worker):
        start_background(worker, ["worker", "start", "--pool", pool, "--limit", str(limit)], env, root)
    deadline = time.monotonic() + timeout
    while not _online_workers(env["PREFECT_API_URL"], pool):
        if not is_alive(worker) or time.monotonic() > deadline:
            stop_background(worker)
            raise RuntimeError(f"the worker did not come online; see {home() / f'{worker}.log'}")
        time.sleep(0.5)
    return env["PREFECT_API_URL"]


def deploy_settings(root: Path) -> dict[str, str]:
    """What `prefect deploy` and the worker take besides the server's settings: the repository as the worker's
    $PWD (flow runs start there), and the home, under which deployments/prefect.yaml puts the demo data the local
    deployments read and the outputs they write ({{ $MANYMODELS_HOME }})."""
    return {"PWD": str(root), "MANYMODELS_HOME": str(home())}


def cluster_env() -> dict[str, str]:
    """The environment of a cluster head's worker and its flow runs: the team's Prefect API and the run locations
    from the head's environment (never from a file of this repository), the head's own Ray and Dask by default."""
    missing = [
        name for name in ("PREFECT_API_URL", "MANYMODELS_DATA_URL", "MANYMODELS_RUNS_URL") if not os.environ.get(name)
    ]
    if missing:
        raise RuntimeError(f"a cluster's worker needs {', '.join(missing)} in its environment (infra/README.md)")
    if not is_healthy(os.environ["PREFECT_API_URL"]):
        raise RuntimeError(f"the Prefect server at PREFECT_API_URL={os.environ['PREFECT_API_URL']} does not answer")
    defaults = {"MANYMODELS_RAY_ADDRESS": "auto", "MANYMODELS_DASK_ADDRESS": "tls://127.0.0.1:8786"}
    env = defaults | dict(os.environ)
    env.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "manymodels")
    return env


def _prefect(args: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run([prefect_bin(), *args], env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise RuntimeError(f"prefect {args[0] if args[0] != '--no-prompt' else args[1]} failed: {last}")


def _online_workers(api_url: str, pool: str) -> list[dict]:
    try:
        workers = post_json(f"{api_url.rstrip('/')}/work_pools/{pool}/workers/filter", {}, timeout=5)
    except OSError:
        return []
    return [w for w in workers if w.get("status") == "ONLINE"]
