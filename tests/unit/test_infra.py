"""The EC2 cluster launcher config: valid for Ray's own schema, spot workers of several types, no keys."""

import copy
import json
import re
from pathlib import Path

import jsonschema
import ray.autoscaler
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CONFIG = Path(__file__).resolve().parents[2] / "infra" / "ray-cluster-aws.yaml"


def load() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def test_cluster_config_passes_rays_schema_as_written_and_as_ray_up_prepares_it():
    config = load()
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    jsonschema.validate(config, schema)
    prepared = prepare_config(copy.deepcopy(config))  # merged with Ray's AWS defaults, as `ray up` does
    validate_config(prepared)
    assert prepared["provider"]["type"] == "aws" and prepared["head_node_type"] == "head"


def test_head_is_on_demand_and_workers_are_spot_across_instance_types():
    nodes = load()["available_node_types"]
    head, workers = nodes.pop("head"), nodes
    assert "InstanceMarketOptions" not in head["node_config"] and head["resources"] == {"CPU": 0}
    assert {w["node_config"]["InstanceMarketOptions"]["MarketType"] for w in workers.values()} == {"spot"}
    assert len({w["node_config"]["InstanceType"] for w in workers.values()}) >= 3
    assert all(w["min_workers"] == 0 and w["max_workers"] > 0 for w in workers.values())


def test_nodes_reach_s3_through_instance_profiles_and_the_file_holds_no_keys():
    config = load()
    assert all("IamInstanceProfile" in n["node_config"] for n in config["available_node_types"].values())
    text = CONFIG.read_text()
    assert "AWS_SECRET_ACCESS_KEY" not in text and "AKIA" not in text


def test_every_node_installs_the_locked_environment_and_runs_its_ray():
    config = load()
    assert any("uv sync --frozen" in command for command in config["setup_commands"])
    starts = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    assert all(
        any(tool in command for tool in (".venv/bin/ray", ".venv/bin/dask", "start-worker.sh")) for command in starts
    )
    assert "--ray-client-server-port=10001" in " ".join(config["head_start_ray_commands"])


def test_a_dask_scheduler_runs_on_the_head_and_a_worker_beside_each_ray_worker():
    config = load()
    head, workers = " ".join(config["head_start_ray_commands"]), " ".join(config["worker_start_ray_commands"])
    assert ".venv/bin/dask scheduler --port 8786" in head and "--dashboard-address 127.0.0.1:" in head
    assert ".venv/bin/dask worker tcp://$RAY_HEAD_IP:8786" in workers


def test_the_prefect_worker_runs_on_the_head_only_and_its_secrets_stay_out_of_the_config():
    config = load()
    head, workers = " ".join(config["head_start_ray_commands"]), " ".join(config["worker_start_ray_commands"])
    assert "infra/start-worker.sh" in head and "start-worker" not in workers and "prefect worker" not in workers
    script = (CONFIG.parent / "start-worker.sh").read_text()
    assert not re.search(r"PREFECT_API_(KEY|AUTH_STRING|URL)\s*[=:]\s*\S", CONFIG.read_text() + script)
    assert "aws ssm get-parameter" in script and "manymodels deploy --cluster" in script
