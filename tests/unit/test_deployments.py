"""Every deployment's entrypoint loads, and its default parameters and each schedule's validate against the flow."""

from pathlib import Path

import pytest
import yaml
from prefect.flows import load_flow_from_entrypoint

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENTS = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())["deployments"]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=[d["name"] for d in DEPLOYMENTS])
def test_deployment_entrypoint_loads_and_parameters_validate(deployment):
    flow = load_flow_from_entrypoint(str(ROOT / deployment["entrypoint"]))
    pool = "manymodels-cluster" if deployment["name"].endswith("-cluster") else "manymodels-process"
    assert flow.name == "forecast" and flow.description and deployment["work_pool"]["name"] == pool
    validated = flow.validate_parameters(deployment["parameters"])
    assert validated["data"].horizon == deployment["parameters"]["data"]["horizon"]
    for schedule in deployment.get("schedules", []):
        bound = flow.validate_parameters(deployment["parameters"] | schedule["parameters"])
        assert bound["tuning"].trials == schedule["parameters"]["tuning"]["trials"]


def test_the_nightly_deployment_runs_at_night_in_a_named_time_zone():
    from prefect.client.schemas.schedules import CronSchedule

    (schedule,) = next(d for d in DEPLOYMENTS if d["name"] == "nightly")["schedules"]
    cron = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
    assert cron.timezone == "America/New_York" and cron.cron.split()[1] in {"0", "1", "2", "3", "4"}


def test_invalid_parameters_are_refused_by_the_flow():
    flow = load_flow_from_entrypoint(str(ROOT / DEPLOYMENTS[0]["entrypoint"]))
    bad = DEPLOYMENTS[0]["parameters"] | {"tuning": {"trials": 0}}
    with pytest.raises(Exception, match="trials"):
        flow.validate_parameters(bad)


def test_the_cluster_nightly_runs_one_at_a_time_fails_short_runs_and_takes_its_places_from_the_environment():
    nightly = next(d for d in DEPLOYMENTS if d["name"] == "nightly-cluster")
    assert nightly["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}
    assert nightly["parameters"]["min_forecast_share"] == 0.95 and nightly["schedules"][0]["cron"] == "0 2 * * *"
    assert nightly["parameters"]["data"]["url"] == "{{ $MANYMODELS_DATA_URL }}"
    assert nightly["parameters"]["output"].startswith("{{ $MANYMODELS_RUNS_URL }}")
    assert nightly["parameters"]["compute"]["ray_address"] == "{{ $MANYMODELS_RAY_ADDRESS }}"


def test_the_run_form_is_the_settings_fields_with_their_descriptions():
    from prefect.utilities.callables import parameter_schema

    from manymodels.settings import ComputeSpec, DataSpec, TuningSpec

    flow = load_flow_from_entrypoint(str(ROOT / DEPLOYMENTS[0]["entrypoint"]))
    schema = parameter_schema(flow).model_dump()
    for name, spec in (("data", DataSpec), ("tuning", TuningSpec), ("compute", ComputeSpec)):
        form = schema["definitions"][spec.__name__]["properties"]
        assert set(form) == set(spec.model_fields), name
        for field, info in spec.model_fields.items():
            assert info.description and form[field].get("description") == info.description, (name, field)
