"""The cluster's services as infra/ray-cluster-aws.yaml starts them, on 127.0.0.1: the secrets go from SSM (moto) into
the node's files by the config's own command, then its `ray start --head` and its Dask scheduler and worker run with
the config's options (ports, temp folder and loopback host swapped in). Ray refuses a caller without the token or
without a certificate of the cluster's CA (its gRPC is mutual TLS only), Dask one without the cluster's certificate;
with them, tasks run. Both dashboards listen on loopback only."""

import os
import shlex
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from app.processes import terminate_session
from tests.helpers import (
    BIN,
    REPO,
    free_port,
    is_loopback,
    listening_sockets,
    start_session,
    wait_for_port,
)

pytestmark = [pytest.mark.e2e, pytest.mark.ray]

CONFIG = REPO / "infra" / "ray-cluster-aws.yaml"
SECRETS = REPO / "infra" / "cluster_secrets.py"
# What a head or worker node's shell would expand in the config's commands, as it is here.
EXPANSIONS = {"$(nproc)": "1", "$(cat ~/instance-type)": "m7i.xlarge", "$RAY_HEAD_IP": "127.0.0.1"}


def config() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def simple_commands(command: str, home: Path) -> list[list[str]]:
    """The simple commands of one of the config's shell commands, as this machine runs them: the checkout for
    ~/manymodels, home for ~, and the shell's expansions of EXPANSIONS."""
    for text, value in EXPANSIONS.items():
        command = command.replace(text, value)
    command = command.replace("~/manymodels", str(REPO)).replace("~/", f"{home}/")
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    found, current = [], []
    for token in lexer:
        if set(token) <= set("();<>|&"):
            found.append(current)
            current = []
        else:
            current.append(token)
    return [c for c in [*found, current] if c]


def invocation(kind: str, program: str, home: Path) -> tuple[dict[str, str], list[str]]:
    """The environment assignments and argv of the one command under config()[kind] that runs program: words that
    its argv's first ones end with (".venv/bin/ray start --head", say)."""
    tool, *words = program.split()
    matches = []
    for command in config()[kind]:
        for simple in simple_commands(command, home):
            env = {}
            while simple and "=" in simple[0] and simple[0].split("=")[0].isidentifier():
                name, value = simple.pop(0).split("=", 1)
                env[name] = value
            if simple and simple[0] == "nohup":
                simple.pop(0)
            if len(simple) > len(words) and all(a.endswith(w) for a, w in zip(simple, [tool, *words], strict=False)):
                matches.append((env, simple))
    assert len(matches) == 1, f"{kind}: {len(matches)} commands run {program}"
    return matches[0]


def option(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name:
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def with_options(argv: list[str], drop: tuple[str, ...] = (), **values) -> list[str]:
    """argv with the options named in values (dashes for underscores) set to those values, the ones in drop left
    out; options it lacks are added."""
    values = {"--" + k.replace("_", "-"): str(v) for k, v in values.items()}
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in values or name in drop:
            skip = "=" not in arg
            continue
        out.append(arg)
    return out + [part for name, value in values.items() for part in (name, value)]


def clean_env(home: Path) -> dict[str, str]:
    """This machine's environment without Ray's, AWS's, Prefect's or Dask's settings, with home as HOME; nodes and
    callers stay on loopback (tests/helpers.py's LOCAL_RAY_CLUSTER, without its RAY_AUTH_MODE=disabled)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "AWS_", "PREFECT_", "DASK_"))}
    return env | {"HOME": str(home), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


@pytest.fixture(scope="module")
def node(s3, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A node's home after the config's start commands read the secrets that the operator put in SSM (moto) with
    `cluster_secrets.py create`; and those secrets, as SSM holds them."""
    operator, home = tmp_path_factory.mktemp("operator"), tmp_path_factory.mktemp("node")
    aws = s3.env | {"AWS_DEFAULT_REGION": "us-east-1"}
    created = subprocess.run(
        [BIN / "python", SECRETS, "create"], env=clean_env(operator) | aws, capture_output=True, text=True, timeout=60
    )
    assert created.returncode == 0, created.stderr
    env, argv = invocation("head_start_ray_commands", ".venv/bin/python infra/cluster_secrets.py fetch", home)
    fetched = subprocess.run(argv, env=clean_env(home) | aws | env, capture_output=True, text=True, timeout=60)
    assert fetched.returncode == 0, fetched.stderr
    ssm = moto_ssm(s3.endpoint, "us-east-1")
    names = [f"/manymodels/{name}" for name in ("ray-auth-token", "dask-tls-cert", "dask-tls-key", *RAY_CA)]
    found = ssm.get_parameters(Names=names, WithDecryption=True)
    assert not found["InvalidParameters"] and {p["Type"] for p in found["Parameters"]} == {"SecureString"}
    return home, {p["Name"].rsplit("/", 1)[1]: p["Value"] for p in found["Parameters"]}


@pytest.fixture(scope="module")
def laptop(s3, tmp_path_factory) -> Path:
    """The operator's laptop after infra/README.md's `cluster_secrets.py fetch --home DIR`: a driver's files."""
    home = tmp_path_factory.mktemp("laptop")
    fetched = subprocess.run(
        [BIN / "python", SECRETS, "fetch", "--home", home],
        env=clean_env(home) | s3.env | {"AWS_DEFAULT_REGION": "us-east-1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert fetched.returncode == 0, fetched.stderr
    return home


RAY_CA = ("ray-tls-ca-cert", "ray-tls-ca-key")
TLS_FILES = {  # Ray's TLS variables, the files they name under a home
    "RAY_TLS_CA_CERT": ".manymodels-cluster/ray-tls-ca.crt",
    "RAY_TLS_SERVER_CERT": ".manymodels-cluster/ray-node.crt",
    "RAY_TLS_SERVER_KEY": ".manymodels-cluster/ray-node.key",
}


def ray_tls(home: Path) -> dict[str, str]:
    """Ray's TLS variables for the files fetch wrote under home, as start-worker.sh and infra/README.md set them."""
    return {"RAY_USE_TLS": "1"} | {name: str(home / relative) for name, relative in TLS_FILES.items()}


def test_the_nodes_read_the_secrets_into_files_only_their_user_reads(node):
    from cryptography import x509

    home, secrets = node
    files = {
        ".ray/auth_token": secrets["ray-auth-token"],
        ".manymodels-cluster/dask-tls.crt": secrets["dask-tls-cert"],
        ".manymodels-cluster/dask-tls.key": secrets["dask-tls-key"],
        ".manymodels-cluster/ray-tls-ca.crt": secrets["ray-tls-ca-cert"],
    }
    for relative, value in files.items():
        assert (home / relative).read_text().strip() == value.strip()
    for relative in [*files, *TLS_FILES.values()]:
        assert (home / relative).stat().st_mode & 0o777 == 0o600, relative
    assert len(secrets["ray-auth-token"]) == 64 and "PRIVATE KEY" in secrets["dask-tls-key"]
    # the node's own certificate, for its address (127.0.0.1 here, as Ray advertises it on this machine)
    cert = x509.load_pem_x509_certificate((home / TLS_FILES["RAY_TLS_SERVER_CERT"]).read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(secrets["ray-tls-ca-cert"].encode()))
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "127.0.0.1" in {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    assert secrets["ray-tls-ca-key"] not in "".join(p.read_text() for p in home.rglob("*") if p.is_file())


DRIVER = """
import sys
from engines.ray_engine import RayCluster
import ray

RayCluster(sys.argv[1]).connect()
print("ANSWER", ray.get(ray.remote(lambda: 6 * 7).remote()))
"""


def drive(address: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [BIN / "python", "-c", DRIVER, address],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def grpc_call(port: int, service: str, token: str | None, tls: tuple[bytes, ...] | None) -> str:
    """The status of one call to Ray's gRPC server on 127.0.0.1:port (service "gcs": GetClusterId; "client": Ray
    Client's PING), with token as its bearer (or none), over TLS with tls = (CA, key, certificate) (either of the
    last two None: no client certificate) or in plain text (tls None): OK, or the gRPC code and details."""
    import grpc
    from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc, ray_client_pb2, ray_client_pb2_grpc

    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    address = f"127.0.0.1:{port}"
    if tls is None:
        channel = grpc.insecure_channel(address)
    else:
        channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(*tls))
    with channel:
        try:
            if service == "gcs":
                stub = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)
                stub.GetClusterId(gcs_service_pb2.GetClusterIdRequest(), metadata=metadata, timeout=20)
            else:
                stub = ray_client_pb2_grpc.RayletDriverStub(channel)
                request = ray_client_pb2.ClusterInfoRequest(type=ray_client_pb2.ClusterInfoType.PING)
                stub.ClusterInfo(request, metadata=metadata, timeout=20)
            return "OK"
        except grpc.RpcError as error:
            return f"{error.code().name}: {error.details()}"


def tls_of(home: Path) -> tuple[bytes, bytes, bytes]:
    """(CA, key, certificate) from the files fetch wrote under home."""
    return tuple(
        (home / TLS_FILES[name]).read_bytes()
        for name in ("RAY_TLS_CA_CERT", "RAY_TLS_SERVER_KEY", "RAY_TLS_SERVER_CERT")
    )


def http_status(url: str, token: str | None = None) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


@dataclass
class Head:
    port: int
    client_port: int
    dashboard: int
    temp: str
    before: set  # the listening sockets before it started


@pytest.fixture(scope="module")
def ray_head(node) -> Iterator[Head]:
    """The head as the config's `ray start --head` starts it (its ports, temp folder and CPUs swapped in)."""
    home, _ = node
    env, argv = invocation("head_start_ray_commands", ".venv/bin/ray start --head", home)
    port, client_port, dashboard = free_port(), free_port(), free_port()
    temp = tempfile.mkdtemp(prefix="ray-")  # short: Ray's socket paths live under it
    argv = with_options(
        argv,
        drop=("--autoscaling-config",),  # `ray up` writes that file; its autoscaler would call AWS
        port=port,
        ray_client_server_port=client_port,
        object_manager_port=free_port(),
        dashboard_port=dashboard,
        temp_dir=temp,
        num_cpus=1,  # the config's head takes no tasks (resources: CPU 0); here it runs the drivers' one
    ) + ["--block"]
    before = listening_sockets()
    head = start_session(argv, clean_env(home) | env)
    try:
        wait_for_port(port)
        yield Head(port, client_port, dashboard, temp, before)
    finally:
        terminate_session(head.pid, grace=2)  # `ray start --block` lets its processes ignore SIGTERM for 10 s+
        shutil.rmtree(temp, ignore_errors=True)


def test_ray_as_the_config_starts_it_refuses_callers_without_the_token(node, laptop, ray_head, tmp_path):
    home, secrets = node
    token = secrets["ray-auth-token"]
    env, argv = invocation("head_start_ray_commands", ".venv/bin/ray start --head", home)
    assert env.get("RAY_AUTH_MODE") == "token", "the head's `ray start` leaves token auth to chance"
    worker_env, _ = invocation("worker_start_ray_commands", ".venv/bin/ray start", home)
    assert worker_env.get("RAY_AUTH_MODE") == "token"
    assert option(argv, "--dashboard-host") == "127.0.0.1"
    port, client_port, dashboard = ray_head.port, ray_head.client_port, ray_head.dashboard

    drivers = []
    try:
        stranger = tmp_path / "stranger"  # a HOME with no token in it, and the cluster's TLS files of the laptop
        stranger.mkdir()
        quick = {"RAY_gcs_server_port_wait_time_s": "2"}  # a refused driver gives up after 2 s, not 20
        wrong = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "0" * 64}
        refused = [
            drive(f"127.0.0.1:{port}", clean_env(stranger) | ray_tls(laptop) | quick | extra) for extra in ({}, wrong)
        ]
        drivers += refused

        wait_for_port(client_port)
        tls = tls_of(laptop)
        assert grpc_call(client_port, "client", None, tls).startswith("UNAUTHENTICATED")
        assert grpc_call(client_port, "client", "0" * 64, tls).startswith("UNAUTHENTICATED")
        assert grpc_call(client_port, "client", token, tls) == "OK"
        assert grpc_call(port, "gcs", None, tls).startswith("UNAUTHENTICATED")
        # As the head's own flow runs join it (start-worker.sh: RAY_AUTH_MODE=token, the token file in HOME, the
        # head's certificate), and as an operator's driver does through Ray Client (the token in RAY_AUTH_TOKEN, the
        # files of `cluster_secrets.py fetch --home`; infra/README.md)
        accepted = [
            drive(f"127.0.0.1:{port}", clean_env(home) | ray_tls(home) | {"RAY_AUTH_MODE": "token"}),
            drive(
                f"ray://127.0.0.1:{client_port}",
                clean_env(stranger) | ray_tls(laptop) | {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token},
            ),
        ]
        drivers += accepted

        wait_for_port(dashboard)
        assert http_status(f"http://127.0.0.1:{dashboard}/api/jobs/") == 401
        assert http_status(f"http://127.0.0.1:{dashboard}/api/jobs/", token) == 200

        for driver in refused:
            out, err = driver.communicate(timeout=60)
            assert driver.returncode != 0 and "ANSWER" not in out
            assert "InvalidAuthToken" in err, err[-2000:]
        for driver in accepted:
            out, err = driver.communicate(timeout=120)
            assert "ANSWER 42" in out, err[-3000:]
        opened = listening_sockets() - ray_head.before
        assert ("127.0.0.1", dashboard) in opened or ("::ffff:127.0.0.1", dashboard) in opened
        assert all(is_loopback(address) for address, _ in opened), opened
    finally:
        for driver in drivers:  # only those a failed assertion left running
            if driver.poll() is None:
                driver.kill()
                driver.wait()


def test_ray_as_the_config_starts_it_speaks_mutual_tls_only(node, laptop, ray_head, tmp_path):
    """Every node's `ray start` of the config runs with RAY_USE_TLS=1 and the files fetch wrote: the GCS and Ray
    Client's port take no plain-text gRPC, and no TLS peer without a certificate of the cluster's CA. A driver
    without Ray's TLS variables (the token alone), or with a CA of its own, cannot connect: the handshake fails."""
    from infra.cluster_secrets import node_certificate, self_signed

    home, secrets = node
    token = secrets["ray-auth-token"]
    for kind in ("head_start_ray_commands", "worker_start_ray_commands"):
        env, _ = invocation(kind, ".venv/bin/ray start", home)
        assert {k: v for k, v in env.items() if k.startswith("RAY_") and "TLS" in k} == ray_tls(home), kind
    port, client_port = ray_head.port, ray_head.client_port

    # A would-be driver of its own CA: a certificate as good as the cluster's, but signed by another authority
    own = tmp_path / "own"
    (own / ".manymodels-cluster").mkdir(parents=True)
    ca_cert, ca_key = self_signed("manymodels-ray-ca", authority=True)
    cert, key = node_certificate(ca_cert, ca_key, ["127.0.0.1"])
    for variable, text in (("RAY_TLS_CA_CERT", ca_cert), ("RAY_TLS_SERVER_CERT", cert), ("RAY_TLS_SERVER_KEY", key)):
        (own / TLS_FILES[variable]).write_text(text)
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    with_token = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    quick = {  # a refused driver gives up after about 10 s, not 80 (GCS) or 30 (Ray Client)
        "RAY_gcs_server_port_wait_time_s": "1",
        "RAY_gcs_rpc_server_connect_timeout_s": "2",
        "RAY_py_gcs_connect_timeout_s": "4",
        "RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S": "2",
        "RAY_CLIENT_MAX_CONNECTION_TIMEOUT_S": "4",
    }
    refused = {
        "GCS, no TLS": drive(f"127.0.0.1:{port}", clean_env(stranger) | with_token | quick),
        "Ray Client, no TLS": drive(f"ray://127.0.0.1:{client_port}", clean_env(stranger) | with_token | quick),
        "Ray Client, own CA": drive(
            f"ray://127.0.0.1:{client_port}", clean_env(stranger) | with_token | ray_tls(own) | quick
        ),
    }
    try:
        wait_for_port(client_port)
        cluster, foreign = tls_of(laptop), tls_of(own)
        for service, at in (("gcs", port), ("client", client_port)):
            assert grpc_call(at, service, token, cluster) == "OK", service  # the same call, as the cluster's peers
            plain = grpc_call(at, service, token, None)
            assert plain.startswith("UNAVAILABLE"), (service, plain)  # no plain-text gRPC
            no_certificate = grpc_call(at, service, token, cluster[:1] + (None, None))
            assert no_certificate.startswith("UNAVAILABLE"), (service, no_certificate)  # mutual: one is required
            impostor = grpc_call(at, service, token, cluster[:1] + foreign[1:])
            assert impostor.startswith("UNAVAILABLE"), (service, impostor)  # and it must be the cluster CA's
            distrustful = grpc_call(at, service, token, foreign)  # one that trusts another CA refuses the head's
            assert distrustful.startswith("UNAVAILABLE") and "handshake failed" in distrustful.lower(), distrustful

        for name, driver in refused.items():
            out, err = driver.communicate(timeout=60)
            assert driver.returncode != 0 and "ANSWER" not in out, name
            assert "ConnectionError" in err and "InvalidAuthToken" not in err, (name, err[-2000:])
        # the GCS saw the plain-text driver's and channel's attempts as failed TLS handshakes
        logs = "".join(p.read_text(errors="replace") for p in Path(ray_head.temp).glob("session_*/logs/gcs_server.*"))
        assert "Handshake failed" in logs
    finally:
        for driver in refused.values():
            if driver.poll() is None:
                driver.kill()
                driver.wait()


def test_a_head_without_the_token_refuses_to_start_rather_than_start_open(tmp_path):
    """With the token file missing (fetch skipped, say), the config's `ray start --head` stops with an error: left
    to itself, Ray would start the head with authentication off."""
    env, argv = invocation("head_start_ray_commands", ".venv/bin/ray start --head", tmp_path)
    port, temp = free_port(), tempfile.mkdtemp(prefix="ray-")
    argv = with_options(
        argv,
        drop=("--autoscaling-config",),
        port=port,
        ray_client_server_port=free_port(),
        object_manager_port=free_port(),
        include_dashboard="false",
        temp_dir=temp,
        num_cpus=1,
    ) + ["--block"]
    log = tmp_path / "head.log"
    with log.open("w") as out:
        head = subprocess.Popen(
            argv, env=clean_env(tmp_path) | env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        while head.poll() is None:
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", port)) != 0, "the head started without a token"
            time.sleep(0.2)
        assert head.returncode != 0 and "no authentication token was found" in log.read_text(), log.read_text()
    finally:
        terminate_session(head.pid, grace=2)
        shutil.rmtree(temp, ignore_errors=True)


def test_dask_as_the_config_starts_it_takes_the_clusters_certificate_only(node, tmp_path):
    from distributed import Client
    from distributed.security import Security

    from engines.dask_engine import DaskScheduler

    home, secrets = node
    _, scheduler = invocation("head_start_ray_commands", ".venv/bin/dask scheduler", home)
    _, worker = invocation("worker_start_ray_commands", ".venv/bin/dask worker", home)
    assert option(scheduler, "--dashboard-address").startswith("127.0.0.1:")
    assert option(worker, "--dashboard-address").startswith("127.0.0.1:")

    port = free_port()
    scheduler = with_options(scheduler, port=port, dashboard_address=f"127.0.0.1:{free_port()}", host="127.0.0.1")
    head_address = [arg for arg in worker if "://" in arg]
    assert head_address == ["tls://127.0.0.1:8786"], head_address
    worker = [f"tls://127.0.0.1:{port}" if arg == head_address[0] else arg for arg in worker]
    worker = with_options(worker, host="127.0.0.1")

    before = listening_sockets()
    processes = [start_session(scheduler, clean_env(home))]
    try:
        wait_for_port(port)
        processes.append(start_session(worker, clean_env(home)))
        address = f"tls://127.0.0.1:{port}"
        cert, key = (str(home / ".manymodels-cluster" / name) for name in ("dask-tls.crt", "dask-tls.key"))
        ca = cert  # the certificate is its own authority

        # a plain TCP client
        with pytest.raises(OSError):
            Client(f"tcp://127.0.0.1:{port}", timeout=5).close()
        # a TLS client that trusts the cluster's certificate but holds a key of its own
        stranger = Security.temporary()
        impostor = Security(
            tls_ca_file=ca,
            tls_client_cert=stranger.tls_client_cert,
            tls_client_key=stranger.tls_client_key,
            require_encryption=True,
        )
        with pytest.raises(OSError):
            Client(address, security=impostor, timeout=5).close()
        # a TLS client with no certificate at all: the handshake is refused
        context = ssl.create_default_context(cafile=ca)
        context.check_hostname = False
        with (
            pytest.raises((ssl.SSLError, ConnectionError)),
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw) as tls,
        ):
            tls.sendall(b"\0" * 8)
            if not tls.recv(1):  # TLS 1.3: the server's refusal comes after the client's finish
                raise ConnectionError("closed")
        # DaskScheduler without TLS settings says what is missing
        with pytest.raises(ValueError, match="DASK_DISTRIBUTED__COMM__TLS__CA_FILE"):
            DaskScheduler(address).security()

        # DaskScheduler with Dask's own settings in the environment, as start-worker.sh gives the head's flow runs
        dask_env = {
            "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
            "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": ca,
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": cert,
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": key,
        }
        script = (
            "import sys\nfrom engines.dask_engine import DaskScheduler\n"
            "with DaskScheduler(sys.argv[1]).client() as client:\n"
            "    client.wait_for_workers(1, timeout=60)\n"
            "    print('ANSWER', client.submit(lambda: 6 * 7).result(timeout=60))\n"
        )
        done = subprocess.run(
            [BIN / "python", "-c", script, address],
            cwd=REPO,
            env=clean_env(tmp_path) | dask_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "ANSWER 42" in done.stdout, done.stderr[-3000:]
        opened = listening_sockets() - before
        assert opened and all(is_loopback(a) for a, _ in opened), opened
    finally:
        for process in reversed(processes):
            terminate_session(process.pid)


def test_a_node_without_the_secrets_does_not_start(s3, tmp_path):
    """The config's fetch fails, so `ray up` stops there, when SSM lacks the parameters (another prefix here)."""
    env, argv = invocation("worker_start_ray_commands", ".venv/bin/python infra/cluster_secrets.py fetch", tmp_path)
    ssm = moto_ssm(s3.endpoint, "eu-west-3")
    assert not ssm.get_parameters(Names=["/manymodels/ray-auth-token"])["Parameters"]  # an empty region
    fetched = subprocess.run(
        argv,
        env=clean_env(tmp_path) | s3.env | {"AWS_DEFAULT_REGION": "eu-west-3"} | env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert fetched.returncode != 0 and "/manymodels/ray-auth-token" in fetched.stderr
    assert not (tmp_path / ".ray" / "auth_token").exists()


def moto_ssm(endpoint: str, region: str):
    """An SSM client of the moto server."""
    import botocore.session

    session = botocore.session.get_session()
    return session.create_client(
        "ssm", region_name=region, endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
