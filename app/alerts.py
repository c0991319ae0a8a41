"""A Prefect automation that posts to a webhook when a flow run of the given deployments ends Failed (a run that
fails, or forecasts under its required share of series)."""

from urllib.parse import urlsplit, urlunsplit

from prefect.automations import Automation
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import get_client
from prefect.events.actions import SendNotification
from prefect.events.schemas.automations import EventTrigger, Posture

BLOCK = "manymodels-failures"
AUTOMATION = "manymodels: a cluster run failed"
SECRET = "webhook"  # the block's secret value that holds the webhook URL's token


def secret_part(webhook_url: str) -> tuple[str, str]:
    """The webhook URL as the part the block may show (its scheme and host) and the part it keeps secret: the rest,
    where a webhook's token is (path or query); all of it when it names a user (user:password@host) or has no
    host to show."""
    parts = urlsplit(webhook_url)
    if not parts.scheme or not parts.hostname or "@" in parts.netloc:
        return "", webhook_url
    return f"{parts.scheme}://{parts.netloc}", urlunsplit(("", "", parts.path, parts.query, parts.fragment))


def alert_on_failure(webhook_url: str, deployments: list[str]) -> Automation:
    """The webhook block and the automation (replacing earlier ones of the same names) for flow runs of
    deployments ("flow/deployment" names) that end Failed. The block shows the webhook's host only: the rest of
    its URL is one of its secret values, which the API and the UI show masked, put back when a notice is sent."""
    shown, secret = secret_part(webhook_url)
    block = CustomWebhookNotificationBlock(
        name=BLOCK,
        url=f"{shown}{{{{{SECRET}}}}}",
        method="POST",
        json_data={"subject": "{{subject}}", "text": "{{body}}"},
        secrets={SECRET: secret},
    )
    block_id = block.save(BLOCK, overwrite=True)
    with get_client(sync_client=True) as client:
        ids = [str(client.read_deployment_by_name(name).id) for name in deployments]
        for old in client.read_automations_by_name(AUTOMATION):
            client.delete_automation(old.id)
    automation = Automation(
        name=AUTOMATION,
        description=f"Posts to the {BLOCK} webhook when a run of {', '.join(deployments)} ends Failed.",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Failed"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.id": [f"prefect.deployment.{i}" for i in ids]},
            posture=Posture.Reactive,
            threshold=1,
            within=0,
        ),
        actions=[
            SendNotification(
                block_document_id=block_id,
                subject="manymodels: flow run {{ flow_run.name }} failed",
                body="Flow run {{ flow_run.name }} of {{ deployment.name }} ended {{ flow_run.state.name }}: "
                "{{ flow_run.state.message }}",
            )
        ],
    )
    return automation.create()
