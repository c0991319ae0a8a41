#!/usr/bin/env bash
# On the cluster's head (run by head_start_ray_commands): the Prefect worker of the cluster deployments.
# Everything it needs comes from the environment or, where unset, from SSM Parameter Store under /manymodels/
# (the head's instance profile may read them; SecureString for the secrets), never from this repository:
#   prefect-api-url, prefect-api-key (Prefect Cloud) or prefect-api-auth-string (a self-hosted server),
#   data-url, runs-url (s3:// locations), alert-webhook (optional: where failed runs are announced).
set -euo pipefail
cd "$(dirname "$0")/.."

from_ssm() {  # from_ssm VAR NAME: VAR from the environment, else from SSM parameter /manymodels/NAME (if it exists)
  if [ -z "${!1:-}" ]; then
    local value
    value=$(aws ssm get-parameter --name "/manymodels/$2" --with-decryption --query Parameter.Value --output text \
      2>/dev/null) || value=""
    if [ -n "$value" ]; then export "$1=$value"; fi
  fi
}

from_ssm PREFECT_API_URL prefect-api-url
from_ssm PREFECT_API_KEY prefect-api-key
from_ssm PREFECT_API_AUTH_STRING prefect-api-auth-string
from_ssm MANYMODELS_DATA_URL data-url
from_ssm MANYMODELS_RUNS_URL runs-url
from_ssm MANYMODELS_ALERT_WEBHOOK alert-webhook
export MANYMODELS_RAY_ADDRESS="${MANYMODELS_RAY_ADDRESS:-auto}"   # the head's own Ray
export MANYMODELS_DASK_ADDRESS="${MANYMODELS_DASK_ADDRESS:-tcp://127.0.0.1:8786}"  # its Dask scheduler

exec .venv/bin/manymodels deploy --cluster
