"""The EC2 cluster launcher config: valid for Ray's own schema, spot workers of several types, no keys; its nodes in
one security group that Ray leaves alone; the cluster's secrets in SSM (infra/cluster_secrets.py, against moto's
in-process AWS). tests/e2e/test_cluster_auth.py runs the config's start commands."""

import copy
import ipaddress
import json
import re
import ssl
from pathlib import Path
from unittest import mock

import jsonschema
import pytest
import ray.autoscaler
import yaml
from ray.autoscaler._private.aws import config as aws_config
from ray.autoscaler._private.util import prepare_config, validate_config

from infra import cluster_secrets

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
    tools = (".venv/bin/ray", ".venv/bin/dask", "start-worker.sh", "infra/cluster_secrets.py fetch")
    assert all(any(tool in command for tool in tools) for command in starts)
    assert "--ray-client-server-port=10001" in " ".join(config["head_start_ray_commands"])


def test_a_dask_scheduler_runs_on_the_head_and_a_worker_beside_each_ray_worker():
    config = load()
    head, workers = " ".join(config["head_start_ray_commands"]), " ".join(config["worker_start_ray_commands"])
    assert ".venv/bin/dask scheduler --protocol tls --port 8786" in head and "--dashboard-address 127.0.0.1:" in head
    assert ".venv/bin/dask worker tls://$RAY_HEAD_IP:8786" in workers and "tcp://" not in head + workers


RAY_TLS = {
    "RAY_USE_TLS": "1",
    "RAY_TLS_CA_CERT": f"~/{cluster_secrets.FILES[cluster_secrets.RAY_CA_CERT]}",
    "RAY_TLS_SERVER_CERT": f"~/{cluster_secrets.NODE_CERT}",
    "RAY_TLS_SERVER_KEY": f"~/{cluster_secrets.NODE_KEY}",
}


def test_every_node_reads_the_secrets_first_and_runs_ray_with_token_auth_and_tls_and_dask_with_the_tls_pair():
    config = load()
    for kind in ("head_start_ray_commands", "worker_start_ray_commands"):
        commands = config[kind]
        assert commands[1] == "~/manymodels/.venv/bin/python ~/manymodels/infra/cluster_secrets.py fetch"
        starts = [c for c in commands if ".venv/bin/ray start" in c]
        assert len(starts) == 1 and "RAY_AUTH_MODE=token " in starts[0]
        assignments = starts[0].split(".venv/bin/ray start")[0].split()  # the words before `ray start`
        assert all(f"{name}={value}" in assignments for name, value in RAY_TLS.items()), (kind, assignments)
        dask = [c for c in commands if ".venv/bin/dask " in c]
        assert dask and all(
            f"--tls-{flag} ~/{cluster_secrets.FILES[name]}" in c
            for c in dask
            for flag, name in (("ca-file", "dask-tls-cert"), ("cert", "dask-tls-cert"), ("key", "dask-tls-key"))
        )
    assert str(cluster_secrets.TOKEN_FILE) == ".ray/auth_token"  # Ray's default token path
    assert "--dashboard-host=127.0.0.1" in " ".join(config["head_start_ray_commands"])
    script = (CONFIG.parent / "start-worker.sh").read_text()
    assert "export RAY_AUTH_MODE=token" in script and "tls://127.0.0.1:8786" in script
    assert "export RAY_USE_TLS=1" in script  # the head's flow runs are Ray drivers: the head's own certificate
    for variable, path in list(RAY_TLS.items())[1:]:
        assert f'export {variable}="$tls/{Path(path).name}"' in script
    client = {"CA_FILE": "dask-tls-cert", "CLIENT__CERT": "dask-tls-cert", "CLIENT__KEY": "dask-tls-key"}
    for variable, name in client.items():
        path = cluster_secrets.FILES[name]
        assert f'DASK_DISTRIBUTED__COMM__TLS__{variable}="$tls/{path.name}"' in script
        assert f'tls="$HOME/{path.parent}"' in script


def test_every_node_is_in_the_one_explicit_security_group_so_ray_makes_none_with_ssh_from_anywhere():
    config = load()
    groups = [n["node_config"].get("SecurityGroupIds") for n in config["available_node_types"].values()]
    assert groups[0] and all(g == groups[0] for g in groups) and len(groups[0]) == 1
    assert "security_group" not in config["provider"]  # where Ray's default group would take its rules from
    prepared = prepare_config(copy.deepcopy(config))
    with mock.patch.object(aws_config, "_upsert_security_groups", side_effect=AssertionError("Ray made a group")):
        configured = aws_config._configure_security_group(prepared)  # as `ray up` does, without calling AWS
    assert all(n["node_config"]["SecurityGroupIds"] == groups[0] for n in configured["available_node_types"].values())


def test_the_prefect_worker_runs_on_the_head_only_and_its_secrets_stay_out_of_the_config():
    config = load()
    head, workers = " ".join(config["head_start_ray_commands"]), " ".join(config["worker_start_ray_commands"])
    assert "infra/start-worker.sh" in head and "start-worker" not in workers and "prefect worker" not in workers
    script = (CONFIG.parent / "start-worker.sh").read_text()
    assert not re.search(r"PREFECT_API_(KEY|AUTH_STRING|URL)\s*[=:]\s*\S", CONFIG.read_text() + script)
    assert "aws ssm get-parameter" in script and "manymodels deploy --cluster" in script


# --- infra/cluster_secrets.py, against moto's in-process AWS ---


@pytest.fixture
def aws(monkeypatch):
    from moto import mock_aws

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


def test_the_secrets_are_created_once_as_securestrings_and_replaced_only_on_rotate(aws):
    ssm = cluster_secrets.aws_client("ssm")
    names = [cluster_secrets.PREFIX + n for n in cluster_secrets.NAMES]
    assert names == [
        "/manymodels/ray-auth-token",
        "/manymodels/dask-tls-cert",
        "/manymodels/dask-tls-key",
        "/manymodels/ray-tls-ca-cert",
        "/manymodels/ray-tls-ca-key",
    ]
    assert cluster_secrets.create(ssm) == names
    described = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": names}])["Parameters"]
    assert {p["Type"] for p in described} == {"SecureString"} and len(described) == 5
    first = cluster_secrets.stored(ssm)
    assert cluster_secrets.create(ssm) == [] and cluster_secrets.stored(ssm) == first
    assert cluster_secrets.create(ssm, rotate=True) == names
    rotated = cluster_secrets.stored(ssm)
    assert all(rotated[n] != first[n] for n in cluster_secrets.NAMES)
    assert re.fullmatch(r"[0-9a-f]{64}", rotated["ray-auth-token"])

    # A cluster set up before Ray's TLS: create adds the CA and leaves the token and Dask's pair as they are
    ca = ["/manymodels/ray-tls-ca-cert", "/manymodels/ray-tls-ca-key"]
    ssm.delete_parameters(Names=ca)
    assert cluster_secrets.create(ssm) == ca
    added = cluster_secrets.stored(ssm)
    assert all(added[n] == rotated[n] for n in ("ray-auth-token", "dask-tls-cert", "dask-tls-key"))
    assert added["ray-tls-ca-cert"] != rotated["ray-tls-ca-cert"]

    for half in ("dask-tls-key", "ray-tls-ca-cert"):  # half a set is not completed silently
        ssm.delete_parameter(Name=cluster_secrets.PREFIX + half)
        with pytest.raises(SystemExit, match="--rotate"):
            cluster_secrets.create(ssm)
        assert cluster_secrets.create(ssm, rotate=True) == names


def test_fetch_writes_files_only_their_owner_reads_and_they_make_a_working_mutual_tls_pair(aws, tmp_path):
    from distributed.security import Security

    ssm = cluster_secrets.aws_client("ssm")
    with pytest.raises(SystemExit, match="/manymodels/ray-auth-token"):  # nothing in SSM yet: nothing written
        cluster_secrets.fetch(ssm, tmp_path)
    assert not list(tmp_path.rglob("*"))
    cluster_secrets.create(ssm)
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("stale")
    (tmp_path / ".ray" / "auth_token").chmod(0o644)
    written = cluster_secrets.fetch(ssm, tmp_path, ["10.0.3.7", "127.0.0.1"])
    values = cluster_secrets.stored(ssm)
    node = [cluster_secrets.NODE_CERT, cluster_secrets.NODE_KEY]
    assert written == [tmp_path / p for p in [*cluster_secrets.FILES.values(), *node]]
    for name, relative in cluster_secrets.FILES.items():
        assert (tmp_path / relative).read_text().strip() == values[name].strip()
    for path in written:
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert (tmp_path / cluster_secrets.TLS_DIR).stat().st_mode & 0o777 == 0o700
    in_tls_dir = sorted(p.name for p in (tmp_path / cluster_secrets.TLS_DIR).iterdir())
    assert in_tls_dir == ["dask-tls.crt", "dask-tls.key", "ray-node.crt", "ray-node.key", "ray-tls-ca.crt"]
    assert values["ray-tls-ca-key"] not in "".join(p.read_text() for p in written)  # the CA's key stays in SSM

    cert, key = (str(tmp_path / cluster_secrets.FILES[n]) for n in ("dask-tls-cert", "dask-tls-key"))
    security = Security(
        tls_ca_file=cert,
        tls_scheduler_cert=cert,
        tls_scheduler_key=key,
        tls_client_cert=cert,
        tls_client_key=key,
        require_encryption=True,
    )
    server = security.get_listen_args("scheduler")["ssl_context"]
    assert server.verify_mode == ssl.CERT_REQUIRED  # a client must show a certificate the cluster's signed
    assert security.get_connection_args("client")["ssl_context"].verify_mode == ssl.CERT_REQUIRED


def test_each_node_gets_a_certificate_of_the_clusters_ray_ca_for_its_own_addresses(aws, tmp_path):
    """What Ray's TLS checks (RFC 5280 path validation, stricter than gRPC's BoringSSL): a peer that dials a node
    gets a certificate of the cluster's CA naming the address it dialled, and the node's servers get one of the
    same CA from each client. One node's certificate does not pass for another's address."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key
    from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

    def ip(address):
        return x509.IPAddress(ipaddress.ip_address(address))

    ssm = cluster_secrets.aws_client("ssm")
    cluster_secrets.create(ssm)
    homes = {"10.0.3.7": tmp_path / "a", "10.0.3.8": tmp_path / "b"}
    for address, home in homes.items():
        cluster_secrets.fetch(ssm, home, [address, "127.0.0.1"])
    ca = x509.load_pem_x509_certificate(cluster_secrets.stored(ssm)["ray-tls-ca-cert"].encode())
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0  # it signs node certificates, and no other authority
    policy = PolicyBuilder().store(Store([ca]))
    keys = set()
    for address, home in homes.items():
        cert = x509.load_pem_x509_certificate((home / cluster_secrets.NODE_CERT).read_bytes())
        key = load_pem_private_key((home / cluster_secrets.NODE_KEY).read_bytes(), password=None)
        assert cert.public_key() == key.public_key()
        keys.add(cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))
        for name in (address, "127.0.0.1"):  # its own address, and loopback (Ray Client through an SSH tunnel)
            policy.build_server_verifier(ip(name)).verify(cert, [])
        policy.build_client_verifier().verify(cert, [])
        other = next(a for a in homes if a != address)
        with pytest.raises(VerificationError, match="subjectAltName"):
            policy.build_server_verifier(ip(other)).verify(cert, [])
        stranger = x509.load_pem_x509_certificate(cluster_secrets.self_signed("x", authority=True)[0].encode())
        with pytest.raises(VerificationError):  # another CA's holder does not take it for one of its own
            PolicyBuilder().store(Store([stranger])).build_client_verifier().verify(cert, [])
    assert len(keys) == 2  # a key of its own for each node

    assert cluster_secrets.node_addresses()[-1] == "127.0.0.1"  # fetch's default: Ray's address for it, and loopback


def test_the_security_group_admits_its_own_members_only_and_ssh_only_from_what_the_operator_names(aws):
    ec2 = cluster_secrets.aws_client("ec2")
    closed = cluster_secrets.security_group(ec2, name="closed")
    opened = cluster_secrets.security_group(ec2, ssh_from=["203.0.113.7/32"], name="ssh")

    def rules(group):
        return ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"]

    (member,) = rules(closed)
    assert member["IpProtocol"] == "-1" and [g["GroupId"] for g in member["UserIdGroupPairs"]] == [closed]
    assert not member.get("IpRanges") and not member.get("Ipv6Ranges")
    ssh = [r for r in rules(opened) if r.get("FromPort") == 22]
    assert [[r["CidrIp"] for r in rule["IpRanges"]] for rule in ssh] == [["203.0.113.7/32"]]
    assert all(r["CidrIp"] != "0.0.0.0/0" for rule in rules(opened) for r in rule.get("IpRanges", []))
