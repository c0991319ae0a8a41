#!/usr/bin/env bash
# On the cluster's head (run by head_start_ray_commands): the Prefect worker of the cluster deployments.
# Everything it needs comes from the environment or, where unset, from SSM Parameter Store under /manymodels/
# (the head's instance profile may read them; SecureString for the secrets), never from this repository:
#   prefect-api-url, prefect-api-key (Prefect Cloud) or prefect-api-auth-string (a self-hosted server),
#   data-url, runs-url (s3:// locations), alert-webhook (optional: where failed runs are announced).
# Its flow runs join the head's Ray with the token and the head's Ray certificate, and its Dask with the TLS pair, that
# infra/cluster_secrets.py fetch wrote before (the head's start commands run it first).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${AWS_DEFAULT_REGION:-}${AWS_REGION:-}" ]; then  # the aws CLI needs one: this instance's, from IMDSv2
  imds=$(curl -s -X PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 60")
  AWS_DEFAULT_REGION=$(curl -s -H "X-aws-ec2-metadata-token: $imds" \
    http://169.254.169.254/latest/meta-data/placement/region)
  export AWS_DEFAULT_REGION
fi

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
export RAY_AUTH_MODE=token  # its token: ~/.ray/auth_token
tls="$HOME/.manymodels-cluster"
# Ray's gRPC is mutual TLS only (the config's `ray start`): the cluster's CA and the head's own certificate and key
export RAY_USE_TLS=1
export RAY_TLS_CA_CERT="$tls/ray-tls-ca.crt"
export RAY_TLS_SERVER_CERT="$tls/ray-node.crt"
export RAY_TLS_SERVER_KEY="$tls/ray-node.key"
export MANYMODELS_DASK_ADDRESS="${MANYMODELS_DASK_ADDRESS:-tls://127.0.0.1:8786}"  # its Dask scheduler, over TLS
# Dask's own configuration, which every Dask client reads: the certificate authority and the client's pair
export DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION=True
export DASK_DISTRIBUTED__COMM__TLS__CA_FILE="$tls/dask-tls.crt"
export DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT="$tls/dask-tls.crt"
export DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY="$tls/dask-tls.key"

exec .venv/bin/manymodels deploy --cluster
