"""A multi-node Ray cluster on loopback, run as its own process so a test can kill one of its nodes.

Usage: python -m tests.ray_nodes NODES TEMP_DIR. Prints the head's address, then reads commands from stdin:
`kill I` removes worker node I at once (as a spot node vanishes) and answers `killed I`; end of input shuts
the cluster down. RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 must be set: Ray reads it on import and only then
keeps every node on 127.0.0.1.
"""

import sys

from ray.cluster_utils import Cluster


def main(nodes: int, temp_dir: str) -> None:
    head = {"num_cpus": 0, "include_dashboard": False, "temp_dir": temp_dir}
    cluster = Cluster(initialize_head=True, head_node_args=head)
    workers = [cluster.add_node(num_cpus=1, temp_dir=temp_dir) for _ in range(nodes)]
    cluster.wait_for_nodes()
    print(cluster.address, flush=True)
    try:
        for line in sys.stdin:
            command, index = line.split()
            if command == "kill":
                cluster.remove_node(workers[int(index)], allow_graceful=False)
                print(f"killed {index}", flush=True)
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
