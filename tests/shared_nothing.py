"""A cluster of machines that share nothing but S3, on this one machine.

The Ray head (no CPUs) and the Dask scheduler run as the driver does. Each Ray worker node and each Dask worker runs
in a mount namespace of its own (`unshare -m`, as root): a private tmpfs over /tmp (Ray's session, HOME, the working
folder, and every folder the driver writes: its pytest folders, its MANYMODELS_HOME), the checkout mounted
read-only with its `.manymodels` hidden, and an environment without credentials: S3 on the moto server is the only
storage the nodes and the driver share, and what they may do there the run hands them (--forward-credentials).
Every process listens on 127.0.0.1, and each node is a session of its own, stopped (or killed, as a reclaimed spot
instance is) by its pid."""

import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from app.processes import terminate_session
from tests.helpers import BIN, LOCAL_RAY_CLUSTER, RAY_CLIENT_FORK_SAFE, REPO, base_env, free_port, wait_for_port

# Run by bash inside the new namespace, before the node's own command ("$@"). The checkout is held aside on a
# private mount while /tmp is replaced (a clone may live under /tmp), then put back read-only at its own path.
PRIVATE_MACHINE = f"""
set -e
mount -t tmpfs none /media
mkdir /media/checkout
mount --bind {REPO} /media/checkout
mount -t tmpfs -o size=4g,mode=1777 none /tmp
mkdir -p {REPO}
mount --move /media/checkout {REPO}
mount -o remount,ro,bind {REPO} {REPO}
if [ -d {REPO}/.manymodels ]; then mount -t tmpfs -o ro none {REPO}/.manymodels; fi
mkdir -p /tmp/home /tmp/work
cd /tmp/work
exec "$@"
"""


WAIT_FOR_NODES = """
import sys, time, ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
deadline = time.monotonic() + 120
while sum(n["Alive"] and n["Resources"].get("CPU", 0) > 0 for n in ray.nodes()) < int(sys.argv[2]):
    assert time.monotonic() < deadline, ray.nodes()
    time.sleep(0.2)
"""


@dataclass
class SharedNothing:
    """The cluster's addresses and processes; started by start(), stopped by stop()."""

    log_dir: Path
    s3_env: dict[str, str]  # the endpoint and region only: no keys
    ray_nodes: int = 3
    dask_workers: int = 1
    gcs: str = ""
    client: str = ""
    dask: str = ""
    head_temp: str = ""
    sessions: list[subprocess.Popen] = field(default_factory=list)
    nodes: list[subprocess.Popen] = field(default_factory=list)
    killed: list[subprocess.Popen] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return base_env(self.log_dir) | LOCAL_RAY_CLUSTER | self.s3_env

    def start(self) -> "SharedNothing":
        port, client_port, scheduler_port = free_port(), free_port(), free_port()
        self.head_temp = tempfile.mkdtemp(prefix="ray-")  # short: Ray's socket paths live under it
        head = [BIN / "ray", "start", "--head", "--block", f"--port={port}", "--num-cpus=0"]
        head += ["--include-dashboard=false", f"--ray-client-server-port={client_port}", f"--temp-dir={self.head_temp}"]
        self.sessions.append(self._start("ray-head", head, self.env() | RAY_CLIENT_FORK_SAFE, private=False))
        scheduler = [BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", str(scheduler_port)]
        self.sessions.append(self._start("dask-scheduler", [*scheduler, "--dashboard-address", "127.0.0.1:0"]))
        self.gcs, self.client, self.dask = (
            f"127.0.0.1:{port}",
            f"ray://127.0.0.1:{client_port}",
            f"tcp://127.0.0.1:{scheduler_port}",
        )
        wait_for_port(port)
        for n in range(self.dask_workers):
            worker = [BIN / "dask", "worker", self.dask, "--nworkers", "1", "--nthreads", "1", "--host", "127.0.0.1"]
            worker += ["--dashboard-address", "127.0.0.1:0", "--local-directory", "/tmp/dask"]
            self.sessions.append(self._start(f"dask-worker-{n}", worker))
        self.add_ray_nodes(self.ray_nodes)
        wait_for_port(client_port)
        wait_for_port(scheduler_port)
        return self

    def add_ray_nodes(self, count: int) -> None:
        """Start count more Ray worker nodes and wait until the cluster counts every live one."""
        for _ in range(count):
            node = [BIN / "python", "-m", "tests.cluster_node", self.gcs]
            self.nodes.append(self._start(f"ray-node-{len(self.nodes)}", node))
        wait = subprocess.run(
            [BIN / "python", "-c", WAIT_FOR_NODES, self.gcs, str(len(self.live_nodes()))],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=180,
        )
        self._check_nodes()
        assert wait.returncode == 0, f"the Ray nodes did not join ({self.log_dir}): {wait.stderr[-2000:]}"

    def live_nodes(self) -> list[subprocess.Popen]:
        return [node for node in self.nodes if node not in self.killed and node.poll() is None]

    def _check_nodes(self) -> None:
        for n, node in enumerate(self.nodes):
            if node.poll() is not None and node not in self.killed:
                log = (self.log_dir / f"ray-node-{n}.log").read_text()[-3000:]
                raise AssertionError(f"Ray node {n} ended with {node.returncode}: {log}")

    def busy_nodes(self) -> list[subprocess.Popen]:
        """The live Ray worker nodes running a tuning task now (Ray names a worker after its task)."""
        busy = []
        for node in self.live_nodes():
            for process in _descendants(node.pid):
                try:
                    if " ".join(process.cmdline()).startswith("ray::tune"):
                        busy.append(node)
                        break
                except psutil.Error:
                    continue
        return busy

    def kill(self, node: subprocess.Popen) -> None:
        """Kill a node and everything it runs at once, as a reclaimed spot instance goes."""
        self.killed.append(node)
        terminate_session(node.pid, sig=signal.SIGKILL)  # reaps it too

    def stop(self) -> None:
        for process in [*self.nodes, *reversed(self.sessions)]:
            terminate_session(process.pid, grace=2)  # `ray start --block` lets its processes ignore SIGTERM for 10 s+
        shutil.rmtree(self.head_temp, ignore_errors=True)

    def _start(self, name: str, command: list, env: dict[str, str] | None = None, private: bool = True):
        env = (env or self.env()) | ({"HOME": "/tmp/home", "TMPDIR": "/tmp"} if private else {})
        if private:
            command = ["unshare", "-m", "--propagation", "private", "bash", "-c", PRIVATE_MACHINE, "bash", *command]
        with open(self.log_dir / f"{name}.log", "wb") as log:
            return subprocess.Popen(
                list(map(str, command)),
                env=env | {"PYTHONPATH": str(REPO)},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
