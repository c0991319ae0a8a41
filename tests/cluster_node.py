"""One Ray worker node with one CPU, run in the foreground until it is killed: python -m tests.cluster_node GCS.

It joins on 127.0.0.1 (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 must be set: `ray start --address` then refuses, so the
node is started as ray.cluster_utils starts its nodes) and keeps its session under /tmp/ray, which the
shared-nothing cluster makes private to it."""

import signal
import sys

from ray._private.node import Node
from ray._private.parameter import RayParams


def main(gcs_address: str) -> None:
    params = RayParams(
        gcs_address=gcs_address,
        node_ip_address="127.0.0.1",
        num_cpus=1,
        include_log_monitor=False,
        node_manager_port=0,
        min_worker_port=0,
        max_worker_port=0,
        temp_dir="/tmp/ray",
    )
    node = Node(params, head=False, shutdown_at_exit=True, spawn_reaper=True)
    print(f"node {node.node_id} up", flush=True)
    signal.pause()  # its session is stopped by pid, every process of it at once


if __name__ == "__main__":
    main(sys.argv[1])
