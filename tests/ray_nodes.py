"""A multi-node Ray cluster on loopback, run as its own process so a test can kill one of its nodes.

Usage: python -m tests.ray_nodes NODES TEMP_DIR. Prints the head's address, then reads commands from stdin:
`kill-busy I` removes at once (as a spot node vanishes) the I-th, modulo their count, of the worker nodes that are
running a tune task right now, and answers `killed N` with the node's index, or `none busy`; end of input shuts
the cluster down. RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 must be set: Ray reads it on import and only then keeps
every node on 127.0.0.1.
"""

import sys

import psutil
from ray._private import ray_constants
from ray.cluster_utils import Cluster


def node_workers(node) -> list[psutil.Process]:
    raylet = psutil.Process(node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid)
    return raylet.children()


def running_a_tune_task(node) -> bool:
    """Ray names a worker process after the task it runs (`ray::IDLE` between tasks)."""
    for worker in node_workers(node):
        try:
            if " ".join(worker.cmdline()).startswith("ray::tune"):
                return True
        except psutil.Error:
            continue
    return False


def main(nodes: int, temp_dir: str) -> None:
    head = {"num_cpus": 0, "include_dashboard": False, "temp_dir": temp_dir}
    cluster = Cluster(initialize_head=True, head_node_args=head)
    workers = [cluster.add_node(num_cpus=1, temp_dir=temp_dir) for _ in range(nodes)]
    cluster.wait_for_nodes()
    print(cluster.address, flush=True)
    try:
        for line in sys.stdin:
            command, index = line.split()
            if command == "kill-busy":
                busy = [
                    n for n, node in enumerate(workers) if node in cluster.worker_nodes and running_a_tune_task(node)
                ]
                if not busy:
                    print("none busy", flush=True)
                    continue
                chosen = busy[int(index) % len(busy)]
                doomed = node_workers(workers[chosen])  # they would outlive their raylet for a moment
                for worker in doomed:
                    worker.kill()
                cluster.remove_node(workers[chosen], allow_graceful=False)
                psutil.wait_procs(doomed, timeout=10)
                print(f"killed {chosen}", flush=True)
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
