"""The EC2 cluster's shared secrets in SSM Parameter Store, and its security group (infra/README.md walks through it).

    python infra/cluster_secrets.py create          # once, by the operator: a Ray token and Dask's TLS pair
    python infra/cluster_secrets.py security-group  # once, by the operator: the group ray-cluster-aws.yaml names
    python infra/cluster_secrets.py fetch           # on each node as it starts (and on a driver): files, mode 0600

Three SecureString parameters under /manymodels/: `ray-auth-token` (Ray's token authentication: every node, driver
and Ray Client caller must present it), `dask-tls-cert` and `dask-tls-key` (one self-signed certificate and its key,
which is also the certificate authority: Dask's TLS is mutual, so a peer without that key is refused, as with
`distributed.security.Security.temporary()`). `fetch` writes them where Ray and the config's Dask commands look:
~/.ray/auth_token (Ray's default token path) and ~/.manymodels-cluster/dask-tls.{crt,key}.

AWS access goes through botocore (a dependency of s3fs, so on every node), with the usual credential chain (the
instance profile on a node) and AWS_ENDPOINT_URL if set; the region from AWS_REGION / AWS_DEFAULT_REGION, else from
the instance metadata service.
"""

import argparse
import datetime
import os
import secrets
import sys
from pathlib import Path

PREFIX = "/manymodels/"
RAY_TOKEN = "ray-auth-token"
DASK_CERT = "dask-tls-cert"
DASK_KEY = "dask-tls-key"
NAMES = (RAY_TOKEN, DASK_CERT, DASK_KEY)

# Where fetch writes them, relative to the home folder; the config's start commands and start-worker.sh name them.
TOKEN_FILE = Path(".ray") / "auth_token"
TLS_DIR = Path(".manymodels-cluster")
FILES = {RAY_TOKEN: TOKEN_FILE, DASK_CERT: TLS_DIR / "dask-tls.crt", DASK_KEY: TLS_DIR / "dask-tls.key"}

GROUP_NAME = "manymodels-ray"
CERT_DAYS = 3650  # rotate with `create --rotate` and restart the cluster (`ray up --restart-only`)


def new_secrets() -> dict[str, str]:
    """A fresh token (256 bits, as `ray get-auth-token --generate` makes) and a self-signed ECDSA P-256 certificate
    with its key (PEM), the certificate doubling as the authority Dask's TLS checks every peer against."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "manymodels-dask")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("manymodels-dask")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return {
        RAY_TOKEN: secrets.token_hex(32),
        DASK_CERT: cert.public_bytes(serialization.Encoding.PEM).decode(),
        DASK_KEY: key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    }


def aws_client(service: str):
    import botocore.session

    session = botocore.session.get_session()
    region = os.environ.get("AWS_REGION") or session.get_config_variable("region")  # the latter: AWS_DEFAULT_REGION
    if not region:  # on an EC2 node nothing else names it
        from botocore.utils import IMDSRegionProvider

        region = IMDSRegionProvider(session).provide()
    return session.create_client(service, region_name=region)


def stored(ssm) -> dict[str, str]:
    """The parameters that exist, decrypted, by short name."""
    found = ssm.get_parameters(Names=[PREFIX + name for name in NAMES], WithDecryption=True)["Parameters"]
    return {p["Name"].removeprefix(PREFIX): p["Value"] for p in found}


def create(ssm, rotate: bool = False, kms_key_id: str | None = None) -> str:
    """Put a new token and TLS pair into SSM as SecureStrings, once: with all three there already, nothing changes
    unless rotate; with only some there, nothing is written (fix by hand, or rotate). Returns what it did."""
    there = set(stored(ssm))
    if there == set(NAMES) and not rotate:
        return "exists"
    if there and not rotate:
        found = ", ".join(sorted(PREFIX + name for name in there))
        raise SystemExit(f"only {found} exist: rerun with --rotate to replace all three")
    extra = {"KeyId": kms_key_id} if kms_key_id else {}
    for name, value in new_secrets().items():
        ssm.put_parameter(Name=PREFIX + name, Value=value, Type="SecureString", Overwrite=rotate, **extra)
    return "rotated" if rotate else "created"


def write_private(path: Path, text: str) -> None:
    """Write text to path, readable by its owner only, replacing any earlier file in one step (a process reading
    it never sees half a key, nor a moment of wider permissions)."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)  # a leftover of an interrupted run: a new file, made 0600, never reused
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_files(values: dict[str, str], home: Path) -> list[Path]:
    """The secrets into the files Ray and the config's Dask commands read, under home; returns their paths."""
    missing = [PREFIX + name for name in NAMES if not values.get(name)]
    if missing:
        raise SystemExit(f"missing in SSM: {', '.join(missing)} (infra/README.md: `cluster_secrets.py create`)")
    written = []
    for name, relative in FILES.items():
        write_private(home / relative, values[name].strip() if name == RAY_TOKEN else values[name])
        written.append(home / relative)
    return written


def fetch(ssm, home: Path) -> list[Path]:
    return write_files(stored(ssm), home)


def security_group(ec2, vpc_id: str | None = None, ssh_from: list[str] = (), name: str = GROUP_NAME) -> str:
    """Create the cluster's security group in vpc_id (the default VPC if None): every port open to members of the
    group itself (Ray's GCS, raylets, object managers, workers, Ray Client; Dask's scheduler and workers) and to
    nothing else, SSH included unless ssh_from names CIDRs (the operator's own address, for `ray up`). Returns its
    id, for SecurityGroupIds in infra/ray-cluster-aws.yaml. Outbound stays open (S3, SSM, package installs)."""
    if vpc_id is None:
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        if not vpcs:
            raise SystemExit("no default VPC in this region: pass --vpc-id")
        vpc_id = vpcs[0]["VpcId"]
    group = ec2.create_security_group(
        GroupName=name, VpcId=vpc_id, Description="manymodels Ray and Dask cluster: open to its own members only"
    )["GroupId"]
    rules = [{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group, "Description": "cluster members"}]}]
    if ssh_from:
        ranges = [{"CidrIp": cidr, "Description": "operator SSH (ray up, ray attach)"} for cidr in ssh_from]
        rules.append({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": ranges})
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=rules)
    return group


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("create", help="put a new Ray token and Dask TLS pair in SSM (once)")
    made.add_argument("--rotate", action="store_true", help="replace existing ones; restart the cluster after")
    made.add_argument("--kms-key-id", help="the KMS key of the SecureStrings (default: alias/aws/ssm)")
    fetched = commands.add_parser("fetch", help="write them into files of this machine, mode 0600")
    fetched.add_argument("--home", type=Path, default=Path.home(), help="the home folder to write under")
    group = commands.add_parser("security-group", help="create the cluster's security group; prints its id")
    group.add_argument("--vpc-id", help="default: the region's default VPC")
    group.add_argument("--ssh-from", action="append", default=[], metavar="CIDR", help="e.g. your address/32")
    group.add_argument("--name", default=GROUP_NAME)
    args = parser.parse_args(argv)

    if args.command == "create":
        done = create(aws_client("ssm"), rotate=args.rotate, kms_key_id=args.kms_key_id)
        print(f"{done}: {', '.join(PREFIX + n for n in NAMES)}" if done != "exists" else "already in SSM: unchanged")
    elif args.command == "fetch":
        for path in fetch(aws_client("ssm"), args.home):
            print(f"wrote {path}", file=sys.stderr)
    else:
        print(security_group(aws_client("ec2"), args.vpc_id, args.ssh_from, args.name))


if __name__ == "__main__":
    main()
