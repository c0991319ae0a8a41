"""Every deployment's entrypoint loads and its default parameters validate against the flow's signature."""

from pathlib import Path

import pytest
import yaml
from prefect.flows import load_flow_from_entrypoint

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENTS = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())["deployments"]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=[d["name"] for d in DEPLOYMENTS])
def test_deployment_entrypoint_loads_and_parameters_validate(deployment):
    flow = load_flow_from_entrypoint(str(ROOT / deployment["entrypoint"]))
    assert flow.name == "forecast" and flow.description
    validated = flow.validate_parameters(deployment["parameters"])
    assert validated["data"].horizon == deployment["parameters"]["data"]["horizon"]


def test_invalid_parameters_are_refused_by_the_flow():
    flow = load_flow_from_entrypoint(str(ROOT / DEPLOYMENTS[0]["entrypoint"]))
    bad = DEPLOYMENTS[0]["parameters"] | {"tuning": {"trials": 0}}
    with pytest.raises(Exception, match="trials"):
        flow.validate_parameters(bad)
