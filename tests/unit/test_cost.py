"""The EC2 cost estimate: node-seconds from sampled node lists, priced by instance type."""

from pathlib import Path

import pytest
import yaml

from engines.ray_engine import INSTANCE_TYPE_LABEL, NodeClock
from manymodels.cost import PriceTable, estimate

ROOT = Path(__file__).resolve().parents[2]
PRICES = PriceTable.load()


def node(node_id: str, cpus: float, instance_type: str | None = None, alive: bool = True) -> dict:
    labels = {INSTANCE_TYPE_LABEL: instance_type} if instance_type else {}
    return {"NodeID": node_id, "Alive": alive, "Resources": {"CPU": cpus}, "Labels": labels}


def test_nodes_count_from_first_to_last_sighting_by_their_labelled_or_equivalent_type():
    clock = NodeClock()
    clock.observe([node("head", 0, "m7i.xlarge"), node("w1", 8, "c7i.2xlarge")], now=100)
    clock.observe([node("head", 0, "m7i.xlarge"), node("w1", 8, "c7i.2xlarge"), node("w2", 8, "c6a.2xlarge")], 160)
    clock.observe([node("head", 0, "m7i.xlarge"), node("w1", 8, alive=False), node("w2", 8, "c6a.2xlarge")], 400)
    clock.observe([node("laptop", 2)], 400)
    clock.observe([node("laptop", 2)], 430)
    assert clock.node_seconds(PRICES) == {"m7i.xlarge": 300, "c7i.2xlarge": 60, "c6a.2xlarge": 240, "c7i.large": 30}


def test_estimate_prices_each_type_on_demand_and_on_spot_per_hour():
    cost = estimate({"c7i.2xlarge": 3600, "c6a.2xlarge": 1800}, series=1000, prices=PRICES)
    c7i, c6a = PRICES.instance_types["c7i.2xlarge"], PRICES.instance_types["c6a.2xlarge"]
    assert cost["on_demand_usd"] == pytest.approx(c7i.on_demand + c6a.on_demand / 2, abs=1e-6)
    assert cost["spot_usd"] == pytest.approx(c7i.spot + c6a.spot / 2, abs=1e-6)
    assert cost["spot_usd_per_series"] == pytest.approx(cost["spot_usd"] / 1000, rel=1e-4)
    assert cost["prices_read_on"] == PRICES.read_on and cost["node_seconds"]["c6a.2xlarge"] == 1800


def test_no_series_no_cost_per_series_and_an_unpriced_type_is_named():
    assert estimate({}, series=0, prices=PRICES)["on_demand_usd_per_series"] is None
    cost = estimate({"x9.huge": 1}, series=1, prices=PRICES)  # named, and never a failed run
    assert cost["unpriced"] == {"x9.huge": 1} and cost["on_demand_usd"] == cost["spot_usd"] == 0


def test_equivalent_type_is_the_cheapest_with_enough_vcpus():
    assert PRICES.equivalent(2) == "c7i.large"
    assert PRICES.equivalent(3) == "c7i.xlarge"
    assert PRICES.equivalent(1000) == "c7i.4xlarge"


def test_every_instance_type_of_the_cluster_config_has_a_price():
    config = yaml.safe_load((ROOT / "infra" / "ray-cluster-aws.yaml").read_text())
    types = {t["node_config"]["InstanceType"] for t in config["available_node_types"].values()}
    assert types <= set(PRICES.instance_types)


def test_the_instance_type_label_is_a_valid_ray_label():
    from ray._private.label_utils import parse_node_labels_string

    assert parse_node_labels_string(f"{INSTANCE_TYPE_LABEL}=c7i.2xlarge") == {INSTANCE_TYPE_LABEL: "c7i.2xlarge"}
