"""The EC2 cluster's shared secrets in SSM Parameter Store, and its security group (infra/README.md walks through it).

    python infra/cluster_secrets.py create          # once, by the operator: a Ray token, Dask's TLS pair, Ray's CA
    python infra/cluster_secrets.py security-group  # once, by the operator: the group ray-cluster-aws.yaml names
    python infra/cluster_secrets.py fetch           # on each node as it starts (and on a driver): files, mode 0600

Five SecureString parameters under /manymodels/: `ray-auth-token` (Ray's token authentication: every node, driver
and Ray Client caller must present it), `dask-tls-cert` and `dask-tls-key` (one self-signed certificate and its key,
which is also the certificate authority: Dask's TLS is mutual, so a peer without that key is refused, as with
`distributed.security.Security.temporary()`), `ray-tls-ca-cert` and `ray-tls-ca-key` (the authority of Ray's TLS:
`RAY_USE_TLS=1` makes every gRPC server and channel of Ray mutual TLS, and Ray's channels check that the peer's
certificate names the address they dial, so each node needs a certificate of its own, for its own address).
`fetch` writes them where Ray and the config's commands look: ~/.ray/auth_token (Ray's default token path) and
~/.manymodels-cluster/dask-tls.{crt,key} and ray-tls-ca.crt; and, with the authority's key (kept in memory, never
written), signs a new key's certificate for this machine's address as Ray advertises it and 127.0.0.1, into
~/.manymodels-cluster/ray-node.{crt,key}: RAY_TLS_SERVER_CERT and RAY_TLS_SERVER_KEY of the node (or driver).

AWS access goes through botocore (a dependency of s3fs, so on every node), with the usual credential chain (the
instance profile on a node) and AWS_ENDPOINT_URL if set; the region from AWS_REGION / AWS_DEFAULT_REGION, else from
the instance metadata service.
"""

import argparse
import datetime
import ipaddress
import os
import secrets
import sys
from pathlib import Path

PREFIX = "/manymodels/"
RAY_TOKEN = "ray-auth-token"
DASK_CERT = "dask-tls-cert"
DASK_KEY = "dask-tls-key"
RAY_CA_CERT = "ray-tls-ca-cert"
RAY_CA_KEY = "ray-tls-ca-key"
NAMES = (RAY_TOKEN, DASK_CERT, DASK_KEY, RAY_CA_CERT, RAY_CA_KEY)
# Made together and replaced together: a certificate is useless without its key. `create` adds a set that is
# missing altogether (an older cluster's three gain Ray's CA) and refuses to complete half a set.
SETS = ((RAY_TOKEN,), (DASK_CERT, DASK_KEY), (RAY_CA_CERT, RAY_CA_KEY))

# Where fetch writes them, relative to the home folder; the config's start commands and start-worker.sh name them.
TOKEN_FILE = Path(".ray") / "auth_token"
TLS_DIR = Path(".manymodels-cluster")
FILES = {
    RAY_TOKEN: TOKEN_FILE,
    DASK_CERT: TLS_DIR / "dask-tls.crt",
    DASK_KEY: TLS_DIR / "dask-tls.key",
    RAY_CA_CERT: TLS_DIR / "ray-tls-ca.crt",  # RAY_TLS_CA_CERT
}
NODE_CERT = TLS_DIR / "ray-node.crt"  # RAY_TLS_SERVER_CERT: made by fetch, for this machine
NODE_KEY = TLS_DIR / "ray-node.key"  # RAY_TLS_SERVER_KEY

GROUP_NAME = "manymodels-ray"
CERT_DAYS = 3650  # rotate with `create --rotate` and restart the cluster (`ray up --restart-only`)


def _pem_key(key) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _pem_cert(cert) -> str:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_usage(**allowed):
    from cryptography import x509

    flags = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement")
    flags += ("key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{flag: allowed.get(flag, False) for flag in flags})


def self_signed(common_name: str, authority: bool) -> tuple[str, str]:
    """A new ECDSA P-256 key and a certificate for it, signed by itself, valid CERT_DAYS (PEM, PEM). authority: a
    certificate authority that may sign node certificates and nothing below them (basic constraints CA, path length
    0, key usage certificate signing only); else Dask's, a certificate naming common_name that is its own authority
    (no basic constraints: OpenSSL would refuse it as the issuer of another certificate)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
    )
    if authority:
        builder = (
            builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
    return _pem_cert(builder.sign(key, hashes.SHA256())), _pem_key(key)


def new_secrets() -> dict[str, str]:
    """A fresh token (256 bits, as `ray get-auth-token --generate` makes), Dask's self-signed certificate with its
    key, and the authority of Ray's TLS with its key (PEM)."""
    dask_cert, dask_key = self_signed("manymodels-dask", authority=False)
    ca_cert, ca_key = self_signed("manymodels-ray-ca", authority=True)
    return {
        RAY_TOKEN: secrets.token_hex(32),
        DASK_CERT: dask_cert,
        DASK_KEY: dask_key,
        RAY_CA_CERT: ca_cert,
        RAY_CA_KEY: ca_key,
    }


def node_addresses() -> list[str]:
    """The address Ray advertises for this machine, found as `ray start` finds it (the source address of the route to
    the head, RAY_HEAD_IP, which Ray's launcher sets on worker nodes, or out to the internet on the head: the
    private IP on EC2; 127.0.0.1 where RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps Ray on loopback), and 127.0.0.1
    (Ray Client through an SSH tunnel, a driver joining its own node's Ray by loopback)."""
    from ray._private.services import get_node_ip_address

    head = os.environ.get("RAY_HEAD_IP")
    return list(dict.fromkeys([get_node_ip_address(f"{head}:6379" if head else None), "127.0.0.1"]))


def node_certificate(ca_cert: str, ca_key: str, addresses: list[str]) -> tuple[str, str]:
    """A new ECDSA P-256 key and its certificate, signed by the authority, for addresses (IPs; names too): what a
    node presents to every Ray peer as server and as client. Valid until the authority expires; each start makes a
    new one."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    authority = x509.load_pem_x509_certificate(ca_cert.encode())
    signer = serialization.load_pem_private_key(ca_key.encode(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    names = []
    for address in addresses:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            names.append(x509.DNSName(address))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"manymodels-ray-node {addresses[0]}")]))
        .issuer_name(authority.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(authority.not_valid_after_utc)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
        .sign(signer, hashes.SHA256())
    )
    return _pem_cert(cert), _pem_key(key)


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


def create(ssm, rotate: bool = False, kms_key_id: str | None = None) -> list[str]:
    """Put new secrets into SSM as SecureStrings, once: the sets (SETS) none of which exists, leaving the others as
    they are; with half a set there, nothing is written (fix by hand, or rotate). rotate: replace all five. Returns
    the names of the parameters written (none if all exist)."""
    there = set(stored(ssm))
    halves = [name for group in SETS if 0 < len(there & set(group)) < len(group) for name in group if name in there]
    if halves and not rotate:
        found = ", ".join(PREFIX + name for name in halves)
        raise SystemExit(f"only {found} of a set exist: rerun with --rotate to replace all five")
    missing = NAMES if rotate else [name for group in SETS if not there & set(group) for name in group]
    extra = {"KeyId": kms_key_id} if kms_key_id else {}
    values = new_secrets() if missing else {}
    for name in missing:
        ssm.put_parameter(Name=PREFIX + name, Value=values[name], Type="SecureString", Overwrite=rotate, **extra)
    return [PREFIX + name for name in missing]


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


def write_files(values: dict[str, str], home: Path, addresses: list[str] | None = None) -> list[Path]:
    """The secrets into the files Ray and the config's Dask commands read, under home, and a certificate for this
    machine's addresses (default: node_addresses()) signed by Ray's authority; returns their paths."""
    missing = [PREFIX + name for name in NAMES if not values.get(name)]
    if missing:
        raise SystemExit(f"missing in SSM: {', '.join(missing)} (infra/README.md: `cluster_secrets.py create`)")
    written = []
    for name, relative in FILES.items():
        write_private(home / relative, values[name].strip() if name == RAY_TOKEN else values[name])
        written.append(home / relative)
    cert, key = node_certificate(values[RAY_CA_CERT], values[RAY_CA_KEY], addresses or node_addresses())
    for relative, text in ((NODE_CERT, cert), (NODE_KEY, key)):
        write_private(home / relative, text)
        written.append(home / relative)
    return written


def fetch(ssm, home: Path, addresses: list[str] | None = None) -> list[Path]:
    return write_files(stored(ssm), home, addresses)


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
    made = commands.add_parser("create", help="put a new Ray token, Dask TLS pair and Ray CA in SSM (once)")
    made.add_argument("--rotate", action="store_true", help="replace existing ones; restart the cluster after")
    made.add_argument("--kms-key-id", help="the KMS key of the SecureStrings (default: alias/aws/ssm)")
    fetched = commands.add_parser("fetch", help="write them, and this machine's Ray certificate, into files (0600)")
    fetched.add_argument("--home", type=Path, default=Path.home(), help="the home folder to write under")
    fetched.add_argument(
        "--address",
        action="append",
        default=[],
        metavar="IP",
        help="another address the certificate names (a `ray start --node-ip-address`), besides Ray's and 127.0.0.1",
    )
    group = commands.add_parser("security-group", help="create the cluster's security group; prints its id")
    group.add_argument("--vpc-id", help="default: the region's default VPC")
    group.add_argument("--ssh-from", action="append", default=[], metavar="CIDR", help="e.g. your address/32")
    group.add_argument("--name", default=GROUP_NAME)
    args = parser.parse_args(argv)

    if args.command == "create":
        written = create(aws_client("ssm"), rotate=args.rotate, kms_key_id=args.kms_key_id)
        verb = "rotated" if args.rotate else "created"
        print(f"{verb}: {', '.join(written)}" if written else "already in SSM: unchanged")
    elif args.command == "fetch":
        addresses = list(dict.fromkeys(node_addresses() + args.address))
        for path in fetch(aws_client("ssm"), args.home, addresses):
            print(f"wrote {path}", file=sys.stderr)
        print(f"Ray's certificate names {', '.join(addresses)}", file=sys.stderr)
    else:
        print(security_group(aws_client("ec2"), args.vpc_id, args.ssh_from, args.name))


if __name__ == "__main__":
    main()
