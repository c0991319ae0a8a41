"""The driver's credentials that a run may hand to the workers of an existing cluster (compute.forward_credentials)."""

import logging
import os

log = logging.getLogger("manymodels.engines")

FORWARDED_SECRETS = (
    "PREFECT_API_KEY",
    "PREFECT_API_AUTH_STRING",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "PGPASSWORD",
)


# The AWS variables among them as s3fs takes them: what a Dask worker's tasks reach storage with.
S3_OPTIONS = {"AWS_ACCESS_KEY_ID": "key", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token"}


def s3_credentials(secrets: dict[str, str]) -> dict[str, str]:
    """The AWS credentials among secrets (from forwarded_secrets) as s3fs's options: key, secret and token."""
    return {option: secrets[name] for name, option in S3_OPTIONS.items() if name in secrets}


def forwarded_secrets() -> dict[str, str]:
    """The credentials in this driver's environment that forwarding hands over; a warning for long-term AWS keys."""
    secrets = {name: os.environ[name] for name in FORWARDED_SECRETS if name in os.environ}
    if {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & secrets.keys() and "AWS_SESSION_TOKEN" not in secrets:
        log.warning(
            "forwarding long-term AWS keys to the cluster's workers: prefer short-lived session credentials "
            "(aws sts get-session-token, or an assumed role's), or no forwarding and the nodes' instance profile"
        )
    return secrets
